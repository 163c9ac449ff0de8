"""mha_lib.attention against torch.nn.functional.scaled_dot_product_attention, in float64."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from mha_lib import causal_mask, masked_softmax, scaled_dot_product_attention, to_additive

TOL = {"atol": 1e-12, "rtol": 1e-10}


def _qkv(batch_dims, t_q, t_k, d, d_v, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*batch_dims, t_q, d, generator=g, dtype=torch.float64)  # (..., Tq, D)
    k = torch.randn(*batch_dims, t_k, d, generator=g, dtype=torch.float64)  # (..., Tk, D)
    v = torch.randn(*batch_dims, t_k, d_v, generator=g, dtype=torch.float64)  # (..., Tk, Dv)
    return q, k, v


@given(
    batch_dims=st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple),
    t_q=st.integers(1, 7),
    t_k=st.integers(1, 7),
    d=st.integers(1, 9),
    d_v=st.integers(1, 9),
    scale=st.one_of(st.none(), st.floats(0.05, 3.0)),
    mask_kind=st.sampled_from(["none", "random", "broadcast_rows", "causal"]),
    seed=st.integers(0, 2**16),
)
def test_matches_torch_sdpa(batch_dims, t_q, t_k, d, d_v, scale, mask_kind, seed):
    q, k, v = _qkv(batch_dims, t_q, t_k, d, d_v, seed)
    g = torch.Generator().manual_seed(seed + 1)
    mask = {
        "none": None,
        "random": torch.rand(*batch_dims, t_q, t_k, generator=g) > 0.3,  # (..., Tq, Tk)
        "broadcast_rows": torch.rand(*batch_dims, 1, t_k, generator=g) > 0.3,  # (..., 1, Tk)
        "causal": causal_mask(t_q, t_k),  # (Tq, Tk)
    }[mask_kind]
    out, weights = scaled_dot_product_attention(q, k, v, mask, scale=scale)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)  # zeros in empty rows
    torch.testing.assert_close(out, expected, **TOL)
    assert weights.shape == (*batch_dims, t_q, t_k)
    fused, none = scaled_dot_product_attention(q, k, v, mask, scale=scale, need_weights=False)
    assert none is None
    torch.testing.assert_close(fused, out, **TOL)


@pytest.mark.parametrize("temperature", [0.25, 1.0, 3.0])
@pytest.mark.parametrize("scale", [None, 1.0, 0.1])
def test_temperature_divides_scaled_scores(temperature, scale):
    q, k, v = _qkv((2, 3), 4, 6, 8, 5, seed=7)
    s = (8**-0.5 if scale is None else scale) / temperature
    out, weights = scaled_dot_product_attention(q, k, v, scale=scale, temperature=temperature)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=s), **TOL)
    torch.testing.assert_close(weights, torch.softmax(q @ k.transpose(-2, -1) * s, dim=-1), **TOL)
    fused, _ = scaled_dot_product_attention(q, k, v, scale=scale, temperature=temperature, need_weights=False)
    torch.testing.assert_close(fused, out, **TOL)


def test_scale_one_is_unscaled():
    q, k, v = _qkv((1,), 3, 3, 16, 4, seed=1)
    _, weights = scaled_dot_product_attention(q, k, v, scale=1.0)
    torch.testing.assert_close(weights, torch.softmax(q @ k.transpose(-2, -1), dim=-1), **TOL)


@pytest.mark.parametrize("need_weights", [True, False])
def test_fully_masked_rows_give_zeros_not_nan(need_weights):
    q, k, v = _qkv((2,), 3, 4, 5, 6, seed=3)
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[0, 1] = False  # query 1 of batch 0 may attend to nothing
    out, weights = scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)
    assert not torch.isnan(out).any()
    assert torch.equal(out[0, 1], torch.zeros(6, dtype=torch.float64))
    if need_weights:
        assert torch.equal(weights[0, 1], torch.zeros(4, dtype=torch.float64))
        torch.testing.assert_close(weights[0, 0].sum(), torch.tensor(1.0, dtype=torch.float64))


def test_masked_softmax_without_mask_is_softmax():
    scores = torch.randn(3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(masked_softmax(scores), torch.softmax(scores, dim=-1), **TOL)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_additive_mask_blocks_exactly(dtype):
    g = torch.Generator().manual_seed(0)
    scores = (torch.randn(2, 4, 6, 6, generator=g) * 8).to(dtype)  # (B, H, Tq, Tk)
    mask = torch.rand(2, 1, 6, 6, generator=g) > 0.4  # (B, 1, Tq, Tk)
    mask[..., 0] = True  # every row keeps at least one key
    weights = torch.softmax(scores + to_additive(mask, dtype), dim=-1)  # (B, H, Tq, Tk)
    assert weights.dtype == dtype
    assert torch.isfinite(weights).all()
    assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()
    torch.testing.assert_close(weights.float().sum(-1), torch.ones(2, 4, 6), atol=1e-2, rtol=0)


def test_literal_minus_1e9_overflows_float16_but_to_additive_fits():
    mask = torch.tensor([True, False])
    with pytest.raises(RuntimeError):
        torch.zeros(2, dtype=torch.float16).masked_fill(~mask, -1e9)
    assert to_additive(mask, torch.float16).tolist() == [0.0, torch.finfo(torch.float16).min]
