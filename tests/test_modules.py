"""MultiHeadAttention against nn.MultiheadAttention, weights copied with from_torch, in float64."""

import pytest
import torch
from torch import nn

from mha_lib import MultiHeadAttention, from_key_padding_mask, scaled_dot_product_attention

TOL = {"atol": 1e-12, "rtol": 1e-10}


def _reference(d_model, heads, bias=True, seed=0):
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(d_model, heads, bias=bias, batch_first=True, dtype=torch.float64)
    if bias:  # PyTorch initialises biases to zero; make them count
        nn.init.normal_(ref.in_proj_bias)
        nn.init.normal_(ref.out_proj.bias)
    return ref.eval(), MultiHeadAttention.from_torch(ref)


def _compare(ours, theirs, keep_rows):
    """Compare (B, Tq, …) tensors on the query rows that keep at least one key (PyTorch gives NaN elsewhere)."""
    torch.testing.assert_close(ours[keep_rows], theirs[keep_rows], **TOL)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("d_model", "heads"), [(8, 1), (12, 3), (16, 4)])
def test_self_attention_matches_torch(d_model, heads, bias):
    ref, ours = _reference(d_model, heads, bias)
    x = torch.randn(2, 5, d_model, dtype=torch.float64)
    out, weights = ours(x)
    ref_out, ref_w = ref(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(weights, ref_w, **TOL)
    assert weights.shape == (2, heads, 5, 5)


def test_cross_attention_with_key_padding_and_attn_mask_matches_torch():
    batch, t_q, t_k, d_model, heads = 3, 4, 6, 12, 3
    ref, ours = _reference(d_model, heads)
    query = torch.randn(batch, t_q, d_model, dtype=torch.float64)
    source = torch.randn(batch, t_k, d_model, dtype=torch.float64)
    key_padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2, [True] * 6])  # (B, Tk), True = pad
    attn_block = torch.zeros(t_q, t_k, dtype=torch.bool)  # (Tq, Tk), PyTorch: True = not allowed
    attn_block[0, :3] = True
    mask = from_key_padding_mask(key_padding) & ~attn_block  # (B, Tq, Tk), True = may attend
    out, weights = ours(query, source, mask=mask)
    ref_out, ref_w = ref(
        query, source, source, key_padding_mask=key_padding, attn_mask=attn_block, average_attn_weights=False
    )
    keep_rows = mask.any(-1)  # (B, Tq)
    _compare(out, ref_out, keep_rows)
    _compare(weights.transpose(1, 2), ref_w.transpose(1, 2), keep_rows)  # (B, Tq, H, Tk)
    assert torch.isnan(ref_out[2]).all(), "PyTorch returns NaN for the fully padded sequence"
    assert torch.equal(weights[2], torch.zeros_like(weights[2])), "mha_lib returns zero weights there"


def test_distinct_key_and_value():
    ref, ours = _reference(8, 2)
    query, key, value = (torch.randn(2, t, 8, dtype=torch.float64) for t in (3, 5, 5))
    out, _ = ours(query, key, value)
    torch.testing.assert_close(out, ref(query, key, value)[0], **TOL)


@pytest.mark.parametrize("mask_shape", [(4, 4), (2, 4, 4), (2, 1, 4), (2, 2, 4, 4), (2, 1, 4, 4)])
def test_mask_ranks(mask_shape):
    _, ours = _reference(8, 2)
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    mask = torch.rand(mask_shape) > 0.3
    mask[..., 0] = True
    _, weights = ours(x, mask=mask)
    full = mask.unsqueeze(1) if mask.dim() == 3 else mask
    assert (weights.masked_select(~full.expand_as(weights)) == 0).all()


@pytest.mark.parametrize("cross", [False, True])
def test_need_weights_false_equals_weights_path(cross):
    _, ours = _reference(16, 4)
    query = torch.randn(2, 5, 16, dtype=torch.float64)
    key = torch.randn(2, 7, 16, dtype=torch.float64) if cross else None
    mask = torch.rand(2, 1, 7 if cross else 5) > 0.4
    out, _ = ours(query, key, mask=mask)
    fused, none = ours(query, key, mask=mask, need_weights=False)
    assert none is None
    torch.testing.assert_close(fused, out, **TOL)


def test_one_head_is_single_head_attention():
    _, ours = _reference(8, 1)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    q, k, v = ours.q_proj(x), ours.k_proj(x), ours.v_proj(x)
    single, weights = scaled_dot_product_attention(q, k, v)
    out, w = ours(x)
    torch.testing.assert_close(out, ours.out_proj(single), **TOL)
    torch.testing.assert_close(w[:, 0], weights, **TOL)


def test_parameter_count_does_not_depend_on_heads():
    counts = {sum(p.numel() for p in MultiHeadAttention(64, h).parameters()) for h in (1, 2, 4, 8, 16)}
    assert counts == {4 * (64 * 64 + 64)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kdim": 4}, "kdim=4"),
        ({"vdim": 4}, "vdim=4"),
        ({"add_bias_kv": True}, "add_bias_kv"),
        ({"add_zero_attn": True}, "add_zero_attn"),
    ],
)
def test_from_torch_refuses_what_it_cannot_copy(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, batch_first=True, **kwargs))


def test_from_torch_copies_dtype_and_leaves_reference_alone():
    ref, ours = _reference(8, 2)
    before = {name: p.clone() for name, p in ref.named_parameters()}
    ours.q_proj.weight.data.add_(1.0)
    assert ours.q_proj.weight.dtype == torch.float64
    assert all(torch.equal(p, before[name]) for name, p in ref.named_parameters())
