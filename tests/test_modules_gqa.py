"""MultiHeadAttention(num_kv_heads=…): grouped-query and multi-query attention, against SDPA in float64."""

import pytest
import torch
import torch.nn.functional as F

from mha_lib import MultiHeadAttention, causal_mask, merge_heads, split_heads

TOL = {"atol": 1e-12, "rtol": 1e-10}


def _module(d_model=24, heads=6, kv_heads=2, bias=True, seed=0):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(d_model, heads, num_kv_heads=kv_heads, bias=bias).double()
    if bias:
        with torch.no_grad():
            for proj in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):
                proj.bias.normal_()
    return mha


def _reference(mha, query, key, mask=None):
    """The module by hand: project, split, SDPA with enable_gqa=True, merge, project."""
    q = split_heads(mha.q_proj(query), mha.num_heads)  # (B, H, Tq, Dh)
    k = split_heads(mha.k_proj(key), mha.num_kv_heads)  # (B, Hkv, Tk, Dh)
    v = split_heads(mha.v_proj(key), mha.num_kv_heads)  # (B, Hkv, Tk, Dh)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)  # (B, H, Tq, Dh)
    return mha.out_proj(merge_heads(out))  # (B, Tq, D)


@pytest.mark.parametrize("kv_heads", [1, 2, 3, 6])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mode", ["grad", "no_grad"])
def test_self_attention_equals_enable_gqa(kv_heads, need_weights, mode):
    mha = _module(kv_heads=kv_heads)
    x = torch.randn(2, 5, 24, dtype=torch.float64)
    context = torch.enable_grad if mode == "grad" else torch.no_grad
    with context():
        out, weights = mha(x, mask=causal_mask(5), need_weights=need_weights)
        expected = _reference(mha, x, x, causal_mask(5))
    torch.testing.assert_close(out, expected, **TOL)
    if need_weights:
        assert weights.shape == (2, 6, 5, 5)  # one map per query head
        group = 6 // kv_heads
        q = split_heads(mha.q_proj(x), 6)  # (B, H, T, Dh)
        k = split_heads(mha.k_proj(x), kv_heads).repeat_interleave(group, 1)  # (B, H, T, Dh)
        scores = (q @ k.mT / 2).masked_fill(~causal_mask(5), float("-inf"))  # (B, H, T, T), d_head = 4
        torch.testing.assert_close(weights, torch.softmax(scores, -1), **TOL)
    else:
        assert weights is None


@pytest.mark.parametrize("mask_shape", [(4, 7), (2, 4, 7), (2, 1, 7), (2, 6, 4, 7), (2, 1, 4, 7)])
@pytest.mark.parametrize("need_weights", [True, False])
def test_cross_attention_with_masks(mask_shape, need_weights):
    mha = _module(kv_heads=3)
    query = torch.randn(2, 4, 24, dtype=torch.float64)
    source = torch.randn(2, 7, 24, dtype=torch.float64)
    mask = torch.rand(mask_shape, generator=torch.Generator().manual_seed(1)) > 0.4
    mask[..., 0, :] = False  # a query with no allowed key: zeros, never NaN
    out, _ = mha(query, source, mask=mask, need_weights=need_weights)
    full = mask.unsqueeze(1) if mask.dim() == 3 else mask
    torch.testing.assert_close(out, _reference(mha, query, source, full), **TOL)
    assert torch.isfinite(out).all()


def test_kv_projections_and_parameter_count():
    d_model, heads = 64, 8
    for kv_heads in (1, 2, 4, 8):
        mha = MultiHeadAttention(d_model, heads, num_kv_heads=kv_heads)
        assert mha.k_proj.out_features == mha.v_proj.out_features == kv_heads * 8
        expected = 2 * (64 * 64 + 64) + 2 * (64 * kv_heads * 8 + kv_heads * 8)
        assert sum(p.numel() for p in mha.parameters()) == expected
    assert MultiHeadAttention(64, 8).num_kv_heads == 8


def test_packed_projection_is_a_view_for_grouped_heads():
    mha = MultiHeadAttention(24, 6, num_kv_heads=2)  # float32 as built: .double() would separate the buffer
    with torch.no_grad():
        packed = mha._in_proj("weight")
    assert packed.shape == (24 + 2 * 8, 24)
    assert packed.data_ptr() == mha.q_proj.weight.data_ptr()  # no copy
    torch.testing.assert_close(packed, torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))


def test_gradients_reach_every_projection():
    mha = _module(kv_heads=2)
    x = torch.randn(2, 5, 24, dtype=torch.float64)
    out, _ = mha(x)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mha.parameters())


@pytest.mark.parametrize("kv_heads", [4, 5, 0, -2, 2.0, True])
def test_kv_heads_that_do_not_divide_raise(kv_heads):
    with pytest.raises(ValueError, match=r"must divide num_heads=6.*\[1, 2, 3, 6\]"):
        MultiHeadAttention(24, 6, num_kv_heads=kv_heads)


@pytest.mark.parametrize("need_weights", [True, False])
def test_attn_bias_with_grouped_heads(need_weights):
    mha = _module(kv_heads=2)
    x = torch.randn(2, 5, 24, dtype=torch.float64)
    bias = torch.randn(6, 5, 5, dtype=torch.float64)  # (H, Tq, Tk): one bias per query head
    out, _ = mha(x, attn_bias=bias, mask=causal_mask(5), need_weights=need_weights)
    q = split_heads(mha.q_proj(x), 6)  # (B, H, T, Dh)
    k, v = (split_heads(p(x), 2).repeat_interleave(3, 1) for p in (mha.k_proj, mha.v_proj))  # (B, H, T, Dh)
    additive = bias.masked_fill(~causal_mask(5), float("-inf"))  # (H, Tq, Tk)
    expected = mha.out_proj(merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=additive)))  # (B, T, D)
    torch.testing.assert_close(out, expected, **TOL)
