"""Hypothesis property tests (200 examples each, derandomized in CI; see conftest.py)."""

import torch
from hypothesis import given
from hypothesis import strategies as st

from mha_lib import MultiHeadAttention, merge_heads, scaled_dot_product_attention, split_heads


@st.composite
def attention_inputs(draw, with_mask=True):
    batch, t_q, t_k, d = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 6)),
        draw(st.integers(1, 6)),
        draw(st.integers(1, 8)),
    )
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    q = torch.randn(batch, t_q, d, generator=g, dtype=torch.float64) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    k = torch.randn(batch, t_k, d, generator=g, dtype=torch.float64)  # (B, Tk, D)
    v = torch.randn(batch, t_k, d, generator=g, dtype=torch.float64)  # (B, Tk, D)
    mask = torch.rand(batch, t_q, t_k, generator=g) > draw(st.floats(0.0, 0.9)) if with_mask else None
    return q, k, v, mask, g


@given(attention_inputs())
def test_rows_sum_to_one_or_are_all_zero(inputs):
    q, k, v, mask, _ = inputs
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    sums = weights.sum(-1)  # (B, Tq)
    has_key = mask.any(-1)  # (B, Tq)
    torch.testing.assert_close(sums[has_key], torch.ones_like(sums[has_key]), atol=1e-12, rtol=0)
    assert (weights[~has_key] == 0).all()
    assert (weights >= 0).all()


@given(attention_inputs())
def test_masked_positions_get_exactly_zero(inputs):
    q, k, v, mask, _ = inputs
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert (weights[~mask] == 0).all()
    assert torch.isfinite(out).all()


@given(attention_inputs())
def test_permuting_keys_and_values_leaves_output_unchanged(inputs):
    q, k, v, mask, g = inputs
    perm = torch.randperm(k.shape[1], generator=g)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    out_p, weights_p = scaled_dot_product_attention(q, k[:, perm], v[:, perm], mask[..., perm])
    torch.testing.assert_close(out_p, out, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(weights_p, weights[..., perm], atol=1e-12, rtol=1e-10)


@given(attention_inputs())
def test_permuting_queries_permutes_output(inputs):
    q, k, v, mask, g = inputs
    perm = torch.randperm(q.shape[1], generator=g)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    out_p, _ = scaled_dot_product_attention(q[:, perm], k, v, mask[:, perm])
    torch.testing.assert_close(out_p, out[:, perm], atol=1e-12, rtol=1e-10)


@given(attention_inputs(), st.booleans())
def test_inputs_are_not_modified(inputs, need_weights):
    q, k, v, mask, _ = inputs
    before = [t.clone() for t in (q, k, v, mask)]
    scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)
    assert all(torch.equal(a, b) for a, b in zip(before, (q, k, v, mask)))


@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 8), st.integers(0, 2**16))
def test_one_head_equals_single_head_attention(batch, seq, d_model, seed):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(d_model, 1).double()
    x = torch.randn(batch, seq, d_model, dtype=torch.float64)
    before = x.clone()
    out, weights = mha(x)
    single, single_w = scaled_dot_product_attention(mha.q_proj(x), mha.k_proj(x), mha.v_proj(x))
    torch.testing.assert_close(out, mha.out_proj(single), atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(weights[:, 0], single_w, atol=1e-12, rtol=1e-10)
    assert torch.equal(x, before)


@given(st.integers(1, 3), st.integers(1, 6), st.sampled_from([1, 2, 3, 4, 6]), st.integers(1, 4))
def test_merge_heads_inverts_split_heads(batch, seq, heads, d_head):
    x = torch.randn(batch, seq, heads * d_head)
    before = x.clone()
    split = split_heads(x, heads)  # (B, H, T, Dh)
    assert split.shape == (batch, heads, seq, d_head)
    assert torch.equal(merge_heads(split), x)
    assert torch.equal(x, before)
