"""float16 and bfloat16: the weights path computes in float32 like SDPA's MATH backend, so large scores stay finite."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from mha_lib import MultiHeadAttention, causal_mask, scaled_dot_product_attention

HALF = [torch.float16, torch.bfloat16]
TOL = {torch.float16: {"atol": 1e-3, "rtol": 1e-3}, torch.bfloat16: {"atol": 1e-2, "rtol": 1e-2}}


def _large_qkv(dtype, seed=0):
    """q, k ~ 1000: scores q·k ~ 1e7, far past float16's largest finite value 65504."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, t, 8, generator=g, dtype=torch.float64) for t in (5, 6, 6))  # (B, H, T, D)
    return (1000 * q).to(dtype), (1000 * k).to(dtype), v.to(dtype)


def _math_sdpa(q, k, v, mask=None):
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, Tq, Dv)


def test_plain_half_softmax_of_these_scores_is_nan():
    """The inputs below really overflow: computed in float16 throughout, attention gives NaN."""
    q, k, _ = _large_qkv(torch.float16)
    scores = q @ k.mT * 8**-0.5  # (B, H, Tq, Tk), float16
    assert torch.isinf(scores).any()
    assert torch.softmax(scores, dim=-1).isnan().any()


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("masked", [False, True])
def test_weights_path_matches_sdpa_math_with_large_scores(dtype, masked):
    q, k, v = _large_qkv(dtype)
    mask = causal_mask(5, 6) if masked else None
    expected = _math_sdpa(q, k, v, mask)
    assert torch.isfinite(expected).all()
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert out.dtype == weights.dtype == dtype
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    torch.testing.assert_close(out, expected, **TOL[dtype])
    scores = q.double() @ k.double().mT * 8**-0.5  # (B, H, Tq, Tk), float64: exact for these inputs
    if masked:
        scores = scores.masked_fill(~mask, float("-inf"))
    exact = torch.softmax(scores, dim=-1)  # (B, H, Tq, Tk)
    torch.testing.assert_close(weights, exact.to(dtype), **TOL[dtype])


@pytest.mark.parametrize("dtype", HALF)
def test_fused_path_in_half_is_finite_too(dtype):
    q, k, v = _large_qkv(dtype)
    out, none = scaled_dot_product_attention(q, k, v, causal_mask(5, 6), need_weights=False)
    assert none is None and out.dtype == dtype
    torch.testing.assert_close(out, _math_sdpa(q, k, v, causal_mask(5, 6)), **TOL[dtype])


@pytest.mark.parametrize("dtype", HALF)
def test_half_rows_with_no_allowed_key_are_zero(dtype):
    q, k, v = _large_qkv(dtype)
    mask = causal_mask(5, 6)
    mask[2] = False  # query 2 may attend to nothing
    for need_weights in (True, False):
        out, _ = scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)
        assert (out[..., 2, :] == 0).all() and torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", HALF)
def test_half_gradients_are_finite_and_match_float32(dtype):
    q, k, v = (t.requires_grad_() for t in _large_qkv(dtype))
    out, _ = scaled_dot_product_attention(q, k, v)
    out.float().square().sum().backward()
    q32, k32, v32 = (t.detach().float().requires_grad_() for t in (q, k, v))
    ref, _ = scaled_dot_product_attention(q32, k32, v32)
    ref.square().sum().backward()
    for half in (q, k, v):
        assert half.grad.dtype == dtype and torch.isfinite(half.grad).all()
    torch.testing.assert_close(v.grad.float(), v32.grad, atol=5e-2, rtol=5e-2)


def _identity_module(dtype):
    """d_model 16, 4 heads, every projection the identity: scores are plain dot products of the inputs."""
    mha = MultiHeadAttention(16, 4)
    with torch.no_grad():
        for proj in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):
            proj.weight.copy_(torch.eye(16))
            proj.bias.zero_()
    return mha.to(dtype)


@pytest.mark.parametrize("dtype", HALF)
def test_module_in_half_precision_with_large_inputs(dtype):
    g = torch.Generator().manual_seed(1)
    x = (300 * torch.randn(2, 5, 16, generator=g)).to(dtype)  # per-head scores ~ 4 · 300² = 360 000
    ours = _identity_module(dtype)
    ref = nn.MultiheadAttention(16, 4, batch_first=True, dtype=dtype)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.eye(16).repeat(3, 1))
        ref.out_proj.weight.copy_(torch.eye(16))
        ref.in_proj_bias.zero_()
        ref.out_proj.bias.zero_()
        ref_out, _ = ref(x, x, x, need_weights=True)
    if dtype == torch.float16:
        assert ref_out.isnan().any()  # nn.MultiheadAttention's own float16 softmax overflows (torch 2.13)
    heads = x.unflatten(-1, (4, 4)).transpose(1, 2)  # (B, H, T, Dh): the identity projections
    expected = _math_sdpa(heads, heads, heads).transpose(1, 2).flatten(2)  # (B, T, D)
    mask = causal_mask(5)
    for need_weights in (True, False):
        out, _ = ours(x, need_weights=need_weights)
        assert out.dtype == dtype and torch.isfinite(out).all()
        torch.testing.assert_close(out, expected, **TOL[dtype])
        masked, _ = ours(x, mask=mask, need_weights=need_weights)
        assert torch.isfinite(masked).all()
    _, weights = ours(x)
    assert weights.dtype == dtype
    torch.testing.assert_close(weights.float().sum(-1), torch.ones(2, 4, 5), **TOL[dtype])
