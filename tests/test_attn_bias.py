"""attn_bias: an additive float bias on the scores, equal to SDPA's float attn_mask (bool mask on top), in float64."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from mha_lib import MultiHeadAttention, masked_softmax, scaled_dot_product_attention
from mha_lib.masks import causal_mask, from_key_padding_mask
from mha_lib.positions import alibi_bias

TOL = {"atol": 1e-12, "rtol": 1e-10}
F64 = torch.float64


def _qkv(batch_dims, t_q, t_k, d, seed):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*batch_dims, t, d, generator=g, dtype=F64) for t in (t_q, t_k, t_k))


@given(
    batch_dims=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    t_q=st.integers(1, 6),
    t_k=st.integers(1, 6),
    d=st.integers(1, 6),
    keep=st.lists(st.booleans(), min_size=4, max_size=4),
    drop=st.integers(0, 3),
    with_mask=st.booleans(),
    with_neg_inf=st.booleans(),
    scale=st.one_of(st.none(), st.floats(0.1, 2.0)),
    temperature=st.floats(0.25, 4.0),
    seed=st.integers(0, 2**16),
)
def test_bias_equals_sdpa_float_attn_mask(
    batch_dims, t_q, t_k, d, keep, drop, with_mask, with_neg_inf, scale, temperature, seed
):
    q, k, v = _qkv(batch_dims, t_q, t_k, d, seed)
    full = (*batch_dims, t_q, t_k)
    shape = tuple(n if kept else 1 for n, kept in zip(full, keep))[min(drop, len(full) - 1) :]  # broadcastable
    g = torch.Generator().manual_seed(seed + 1)
    bias = torch.randn(shape, generator=g, dtype=F64) * 3  # (..., Tq or 1, Tk or 1)
    if with_neg_inf:
        bias = bias.masked_fill(torch.rand(shape, generator=g) < 0.3, float("-inf"))
    mask = torch.rand(full, generator=g) > 0.3 if with_mask else None  # (..., Tq, Tk)
    bias_before = bias.clone()

    out, weights = scaled_dot_product_attention(q, k, v, mask, attn_bias=bias, scale=scale, temperature=temperature)
    fused, _ = scaled_dot_product_attention(
        q, k, v, mask, attn_bias=bias, scale=scale, temperature=temperature, need_weights=False
    )
    s = (d**-0.5 if scale is None else scale) / temperature
    attn_mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))  # SDPA's one float mask
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask.expand(full), scale=s)
    torch.testing.assert_close(out, expected, **TOL)
    torch.testing.assert_close(fused, expected, **TOL)
    allowed = torch.isfinite(attn_mask).expand(full)  # (..., Tq, Tk)
    torch.testing.assert_close(weights, masked_softmax(q @ k.mT * s + bias, allowed), **TOL)
    assert torch.isfinite(weights).all() and torch.isfinite(fused).all()
    assert torch.equal(bias, bias_before), "the caller's bias is never modified"


def test_all_minus_inf_row_gives_zeros_like_a_fully_masked_row():
    q, k, v = _qkv((2,), 3, 4, 5, seed=2)
    bias = torch.zeros(3, 4, dtype=F64)
    bias[1] = float("-inf")  # query 1 may attend to nothing
    for need_weights in (True, False):
        out, weights = scaled_dot_product_attention(q, k, v, attn_bias=bias, need_weights=need_weights)
        assert torch.equal(out[:, 1], torch.zeros(2, 5, dtype=F64))
        if need_weights:
            assert torch.equal(weights[:, 1], torch.zeros(2, 4, dtype=F64))


def test_zero_bias_changes_nothing_and_constant_bias_per_row_cancels():
    q, k, v = _qkv((2, 3), 4, 6, 8, seed=5)
    plain, w = scaled_dot_product_attention(q, k, v, causal_mask(4, 6))
    row_constant = torch.randn(4, 1, dtype=F64).expand(4, 6)  # the same value for every key of a row
    for bias in (torch.zeros(4, 6, dtype=F64), row_constant):
        out, weights = scaled_dot_product_attention(q, k, v, causal_mask(4, 6), attn_bias=bias)
        torch.testing.assert_close(out, plain, **TOL)
        torch.testing.assert_close(weights, w, **TOL)


def test_bias_gradients_match_autograd_reference():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, 2, t, 3, generator=g, dtype=F64, requires_grad=True) for t in (3, 4, 4))
    bias = torch.randn(2, 3, 4, generator=g, dtype=F64, requires_grad=True)  # (H, Tq, Tk), e.g. a learned bias
    mask = causal_mask(3, 4)
    assert torch.autograd.gradcheck(
        lambda a, b, c, e: scaled_dot_product_attention(a, b, c, mask, attn_bias=e)[0], (q, k, v, bias)
    )


def _pair(d_model=12, heads=4, seed=0):
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(d_model, heads, batch_first=True, dtype=F64)
    nn.init.normal_(ref.in_proj_bias)
    return ref.eval(), MultiHeadAttention.from_torch(ref)


@pytest.mark.parametrize("bias_shape", ["alibi", "per_batch", "shared"])
def test_module_alibi_matches_nn_multihead_attention(bias_shape):
    """nn.MultiheadAttention takes a float attn_mask of shape (B·H, Tq, Tk): ALiBi repeated for every batch item."""
    batch, t, heads = 3, 6, 4
    ref, ours = _pair(heads=heads)
    x = torch.randn(batch, t, 12, dtype=F64)  # (B, T, D)
    alibi = alibi_bias(heads, t, dtype=F64)  # (H, T, T)
    bias = {
        "alibi": alibi,  # (H, Tq, Tk)
        "per_batch": alibi * torch.tensor([1.0, 2.0, 0.5], dtype=F64)[:, None, None, None],  # (B, H, Tq, Tk)
        "shared": alibi[:1],  # (1, Tq, Tk): one bias for every head
    }[bias_shape]
    key_padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2, [False] * 5 + [True]])  # (B, Tk), True = pad
    ref_mask = bias.expand(batch, heads, t, t).reshape(batch * heads, t, t)  # (B·H, Tq, Tk)
    ref_padding = torch.zeros(batch, t, dtype=F64).masked_fill(key_padding, float("-inf"))  # float, like attn_mask
    ref_out, ref_w = ref(x, x, x, key_padding_mask=ref_padding, attn_mask=ref_mask, average_attn_weights=False)
    out, weights = ours(x, mask=from_key_padding_mask(key_padding), attn_bias=bias)
    fused, _ = ours(x, mask=from_key_padding_mask(key_padding), attn_bias=bias, need_weights=False)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(weights, ref_w, **TOL)
    torch.testing.assert_close(fused, ref_out, **TOL)


def test_alibi_heads_with_small_slopes_look_further():
    """Equal scores everywhere: the weights are the bias alone; the largest slope keeps the most weight nearby."""
    q = k = v = torch.zeros(1, 4, 10, 2, dtype=F64)  # (B, H, T, Dh): every score is 0
    _, weights = scaled_dot_product_attention(q, k, v, causal_mask(10), attn_bias=alibi_bias(4, 10, dtype=F64))
    last = weights[0, :, -1]  # (H, Tk): the last query over its keys
    mean_distance = (last * torch.arange(9, -1, -1, dtype=F64)).sum(-1)  # (H,), slopes from large to small
    assert (mean_distance.diff() > 0).all()


@pytest.mark.parametrize(
    ("bias", "error", "message"),
    [
        (torch.full((3, 5), float("nan")), ValueError, r"\(3, 5\) holds 15 NaN and 0 \+inf values.*finite or -inf"),
        (torch.tensor(float("inf")).expand(3, 5), ValueError, r"holds 0 NaN and 15 \+inf values"),
        (torch.ones(3, 5, dtype=torch.bool), TypeError, r"bool tensor.*a mask.*pass it as mask"),
        (
            torch.zeros(3, 5, dtype=torch.long),
            TypeError,
            r"dtype torch.float32, got torch.int64.*\.to\(torch.float32\)",
        ),
        (torch.zeros(3, 5, dtype=F64), TypeError, r"dtype torch.float32, got torch.float64"),
        (torch.zeros(5, 3), ValueError, r"attn_bias of shape \(5, 3\) does not broadcast .* \(2, 3, 5\)"),
        (torch.zeros(4, 2, 3, 5), ValueError, r"\(4, 2, 3, 5\) does not broadcast .* \(2, 3, 5\)"),
        ([[0.0]], TypeError, "attn_bias must be a torch.Tensor"),
    ],
)
def test_bad_bias_raises(bias, error, message):
    q, k = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    for need_weights in (True, False):
        with pytest.raises(error, match=message):
            scaled_dot_product_attention(q, k, k, attn_bias=bias, need_weights=need_weights)


def test_module_bad_bias_raises():
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 3, 8)
    with pytest.raises(ValueError, match=r"attn_bias must be \(H or 1, Tq, Tk\).*got \(3, 3\).*unsqueeze\(0\)"):
        mha(x, attn_bias=torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"\(4, 3, 3\) does not broadcast .* \(2, 2, 3, 3\)"):
        mha(x, attn_bias=alibi_bias(4, 3))
    with pytest.raises(TypeError, match="a mask"):
        mha(x, attn_bias=torch.ones(2, 3, 3, dtype=torch.bool))
