"""mha_lib.efficient against PyTorch in float64: online softmax, tiled attention, the KV cache, grouped queries."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch.nn.attention.bias import causal_lower_right as torch_causal_lower_right

from mha_lib import causal_mask, masked_softmax, scaled_dot_product_attention
from mha_lib.efficient import (
    KVCache,
    causal_lower_right,
    grouped_query_attention,
    largest_tensor_bytes,
    online_softmax,
    online_softmax_step,
    tiled_attention,
)

TOL = {"atol": 1e-12, "rtol": 1e-10}
F64 = torch.float64


def _qkv(*, batch=(2, 3), t_q=7, t_k=7, d=8, d_v=None, seed=0, q_scale=1.0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*batch, t_q, d, generator=g, dtype=F64) * q_scale  # (B, H, Tq, D)
    k = torch.randn(*batch, t_k, d, generator=g, dtype=F64)  # (B, H, Tk, D)
    v = torch.randn(*batch, t_k, d if d_v is None else d_v, generator=g, dtype=F64)  # (B, H, Tk, Dv)
    return q, k, v


# --- online softmax ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 2, 3, 5, 8, 100])
def test_online_softmax_equals_softmax(block):
    x = torch.randn(3, 4, 8, dtype=F64) * 10  # (..., n) large spread: the max changes block to block
    torch.testing.assert_close(online_softmax(x, block=block), torch.softmax(x, -1), **TOL)


def test_online_softmax_infinite_entries_and_empty_rows():
    x = torch.randn(4, 6, dtype=F64)
    x[0, :3] = float("-inf")  # the first block of row 0 is all -inf: the running max stays -inf there
    x[1, 2] = float("-inf")
    x[2] = float("-inf")  # nothing allowed: zeros, never NaN
    mask = x > float("-inf")
    out = online_softmax(x, block=3)
    torch.testing.assert_close(out, masked_softmax(x.masked_fill(~mask, 0.0), mask), **TOL)
    assert (out[2] == 0).all()


def test_online_softmax_step_rescales_the_running_sum():
    start = torch.tensor(float("-inf"), dtype=F64), torch.tensor(0.0, dtype=F64)
    run_max, run_sum = online_softmax_step(*start, torch.zeros(2, dtype=F64))
    run_max, run_sum = online_softmax_step(run_max, run_sum, torch.tensor([1.0], dtype=F64))
    # two entries at 0 seen before, then one at 1: sum of exp(x - 1) = 2/e + 1
    assert run_max.item() == 1.0
    torch.testing.assert_close(run_sum, torch.tensor(2 * torch.e**-1 + 1, dtype=F64), **TOL)


@given(
    st.integers(1, 4),
    st.integers(1, 20),
    st.integers(1, 25),
    st.sampled_from([0.1, 1.0, 30.0]),
    st.integers(0, 2**16),
)
def test_online_softmax_property(rows, n, block, spread, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, n, generator=g, dtype=F64) * spread
    before = x.clone()
    out = online_softmax(x, block=block)
    torch.testing.assert_close(out, torch.softmax(x, -1), **TOL)
    assert torch.equal(x, before)


# --- tiled attention --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("block_q", "block_k"), [(1, 1), (7, 7), (2, 3), (4, 4), (3, 5), (64, 64), (7, 2)])
@pytest.mark.parametrize(("t_q", "t_k"), [(7, 7), (4, 9), (9, 4), (1, 8)])
def test_tiled_equals_sdpa(block_q, block_k, t_q, t_k):
    q, k, v = _qkv(t_q=t_q, t_k=t_k, d_v=5)
    out = tiled_attention(q, k, v, block_q=block_q, block_k=block_k)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL)


@pytest.mark.parametrize(("block_q", "block_k"), [(2, 3), (4, 4), (1, 8), (5, 1)])
@pytest.mark.parametrize(("t_q", "t_k"), [(8, 8), (5, 8), (8, 5)])
def test_tiled_is_causal_equals_sdpa(block_q, block_k, t_q, t_k):
    q, k, v = _qkv(t_q=t_q, t_k=t_k)
    out = tiled_attention(q, k, v, block_q=block_q, block_k=block_k, is_causal=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)


@pytest.mark.parametrize("mask_shape", [(6, 9), (2, 1, 6, 9), (2, 3, 6, 9), (1, 9), (9,), (2, 3, 1, 9), (6, 1)])
@pytest.mark.parametrize(("block_q", "block_k"), [(2, 4), (6, 9), (4, 3)])
def test_tiled_bool_mask_equals_sdpa(mask_shape, block_q, block_k):
    q, k, v = _qkv(t_q=6, t_k=9, seed=1)
    g = torch.Generator().manual_seed(2)
    mask = torch.rand(mask_shape, generator=g) > 0.4
    out = tiled_attention(q, k, v, mask, block_q=block_q, block_k=block_k)
    full = mask.expand(2, 3, 6, 9)  # SDPA takes no 1-D mask
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=full), **TOL)


def test_tiled_rows_with_no_allowed_key_are_zero():
    q, k, v = _qkv(t_q=6, t_k=8)
    mask = torch.rand(6, 8, generator=torch.Generator().manual_seed(3)) > 0.3
    mask[1] = False  # no key at all
    mask[4, :4] = False  # nothing in the first key block: the running max stays -inf for one tile
    out = tiled_attention(q, k, v, mask, block_q=4, block_k=4)
    assert torch.isfinite(out).all()
    assert (out[..., 1, :] == 0).all()
    torch.testing.assert_close(out, scaled_dot_product_attention(q, k, v, mask)[0], **TOL)


def test_tiled_mask_with_is_causal_combines_both():
    q, k, v = _qkv(t_q=7, t_k=7)
    mask = torch.rand(7, 7, generator=torch.Generator().manual_seed(4)) > 0.3
    out = tiled_attention(q, k, v, mask, block_q=3, block_k=2, is_causal=True)
    expected, _ = scaled_dot_product_attention(q, k, v, mask & causal_mask(7))
    torch.testing.assert_close(out, expected, **TOL)


def test_tiled_scale_and_large_scores():
    q, k, v = _qkv(q_scale=300.0)  # scores in the thousands: exp would overflow without the running max
    for scale in (None, 1.0, 0.01):
        out = tiled_attention(q, k, v, block_q=3, block_k=2, scale=scale)
        torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=scale), **TOL)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_tiled_half_precision_is_as_accurate_as_sdpa(dtype):
    """Tiles accumulate in float32: against a float64 reference, no worse than PyTorch's SDPA in that dtype."""
    q, k, v = _qkv(t_q=64, t_k=64, d=32, q_scale=4.0)
    reference = F.scaled_dot_product_attention(q, k, v)  # (B, H, Tq, D), float64
    half = [x.to(dtype) for x in (q, k, v)]
    tiled = tiled_attention(*half, block_q=16, block_k=16)
    assert tiled.dtype == dtype and torch.isfinite(tiled).all()
    tiled_error = (tiled.double() - reference).abs().max()
    sdpa_error = (F.scaled_dot_product_attention(*half).double() - reference).abs().max()
    assert tiled_error <= 1.25 * sdpa_error


def test_tiled_holds_only_one_tile_of_scores(monkeypatch):
    """Every matmul that makes scores is block_q × block_k per batch·head: the L × L matrix never exists."""
    import mha_lib.efficient as eff

    shapes = []
    original = eff.tile_scores

    def spy(q_block, k_block, scale, allowed):
        scores = original(q_block, k_block, scale, allowed)
        shapes.append(tuple(scores.shape))
        return scores

    monkeypatch.setattr(eff, "tile_scores", spy)
    q, k, v = _qkv(t_q=10, t_k=11)
    eff.tiled_attention(q, k, v, block_q=4, block_k=3)
    assert len(shapes) == 3 * 4
    assert max(s[-2] for s in shapes) == 4 and max(s[-1] for s in shapes) == 3


def test_tiled_causal_skips_tiles_above_the_diagonal(monkeypatch):
    import mha_lib.efficient as eff

    calls = []
    original = eff.tile_scores
    monkeypatch.setattr(eff, "tile_scores", lambda *a: calls.append(1) or original(*a))
    q, k, v = _qkv(t_q=8, t_k=8)
    eff.tiled_attention(q, k, v, block_q=2, block_k=2, is_causal=True)
    assert len(calls) == 1 + 2 + 3 + 4  # the lower triangle of a 4 × 4 grid of tiles


@st.composite
def tiled_inputs(draw):
    batch = draw(st.integers(1, 2))
    t_q, t_k, d = draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 6))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    q = torch.randn(batch, t_q, d, generator=g, dtype=F64) * draw(st.sampled_from([0.1, 1.0, 20.0]))
    k = torch.randn(batch, t_k, d, generator=g, dtype=F64)  # (B, Tk, D)
    v = torch.randn(batch, t_k, d, generator=g, dtype=F64)  # (B, Tk, D)
    mask = torch.rand(batch, t_q, t_k, generator=g) > draw(st.floats(0.0, 0.95))
    return q, k, v, mask, draw(st.integers(1, 13)), draw(st.integers(1, 13)), draw(st.booleans())


@given(tiled_inputs())
def test_tiled_property_equals_attention_and_leaves_inputs_alone(inputs):
    q, k, v, mask, block_q, block_k, is_causal = inputs
    before = [t.clone() for t in (q, k, v, mask)]
    out = tiled_attention(q, k, v, mask, block_q=block_q, block_k=block_k, is_causal=is_causal)
    full = mask & causal_mask(q.shape[-2], k.shape[-2]) if is_causal else mask
    expected, _ = scaled_dot_product_attention(q, k, v, full)
    torch.testing.assert_close(out, expected, **TOL)
    assert torch.isfinite(out).all()
    assert all(torch.equal(a, b) for a, b in zip(before, (q, k, v, mask)))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"block_q": 0}, ValueError, "block_q"),
        ({"block_k": 2.5}, ValueError, "block_k"),
        ({"scale": -1.0}, ValueError, "scale"),
        ({"mask": torch.zeros(7, 7)}, TypeError, "bool"),
        ({"mask": torch.ones(3, 7, dtype=torch.bool)}, ValueError, "broadcast"),
    ],
)
def test_tiled_bad_input(kwargs, error, message):
    q, k, v = _qkv()
    with pytest.raises(error, match=message):
        tiled_attention(q, k, v, **kwargs)


def test_online_softmax_bad_input():
    with pytest.raises(ValueError, match="block"):
        online_softmax(torch.zeros(3), block=0)
    with pytest.raises(TypeError, match="floating"):
        online_softmax(torch.zeros(3, dtype=torch.long), block=2)


# --- KV cache -----------------------------------------------------------------------------------------------


def test_causal_lower_right_equals_torch():
    q, k, v = _qkv(t_q=3, t_k=8)
    ours, _ = scaled_dot_product_attention(q, k, v, causal_lower_right(3, 8))
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=torch_causal_lower_right(3, 8)))
    assert torch.equal(causal_lower_right(5, 5), causal_mask(5))


def test_cache_one_token_at_a_time_equals_causal_attention():
    q, k, v = _qkv(t_q=9, t_k=9)
    cache = KVCache()
    outs, rows = [], []
    for t in range(9):
        out, weights = cache.step(q[..., t : t + 1, :], k[..., t : t + 1, :], v[..., t : t + 1, :])
        assert weights.shape == (2, 3, 1, t + 1) and len(cache) == t + 1
        outs.append(out)
        rows.append(F.pad(weights, (0, 8 - t)))
    _, expected_w = scaled_dot_product_attention(q, k, v, causal_mask(9))
    torch.testing.assert_close(torch.cat(outs, -2), F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)
    torch.testing.assert_close(torch.cat(rows, -2), expected_w, **TOL)
    torch.testing.assert_close(cache.k, k, rtol=0, atol=0)
    assert cache.nbytes == 2 * k.nelement() * k.element_size()


@pytest.mark.parametrize("prefill", [1, 4, 9])
def test_cache_after_a_prefill_equals_causal_attention(prefill):
    q, k, v = _qkv(t_q=10, t_k=10, seed=5)
    cache = KVCache()
    first, _ = cache.step(q[..., :prefill, :], k[..., :prefill, :], v[..., :prefill, :])
    rest = [cache.step(q[..., t : t + 1, :], k[..., t : t + 1, :], v[..., t : t + 1, :])[0] for t in range(prefill, 10)]
    torch.testing.assert_close(
        torch.cat([first, *rest], -2), F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL
    )


def test_cache_chunks_use_the_lower_right_mask_not_top_left():
    q, k, v = _qkv(t_q=6, t_k=6, seed=6)
    cache = KVCache()
    cache.step(q[..., :4, :], k[..., :4, :], v[..., :4, :])
    out, weights = cache.step(q[..., 4:, :], k[..., 4:, :], v[..., 4:, :])  # 2 new queries over 6 keys
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q[..., 4:, :], k, v, attn_mask=torch_causal_lower_right(2, 6)), **TOL
    )
    assert (weights[..., 0, :5] > 0).all() and (weights[..., 0, 5] == 0).all()  # top-left would see 1 key only


def test_cache_with_fewer_kv_heads_equals_grouped_attention():
    q, _, _ = _qkv(batch=(1, 4), t_q=5, t_k=5)
    _, k, v = _qkv(batch=(1, 2), t_q=5, t_k=5, seed=7)
    cache = KVCache()
    outs = [cache.step(q[..., t : t + 1, :], k[..., t : t + 1, :], v[..., t : t + 1, :])[0] for t in range(5)]
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    torch.testing.assert_close(torch.cat(outs, -2), expected, **TOL)
    assert cache.k.shape == (1, 2, 5, 8)


def test_cache_rejects_what_does_not_continue_it():
    cache = KVCache()
    x = torch.randn(1, 2, 1, 4)
    cache.step(x, x, x)
    with pytest.raises(ValueError, match="continue the cache"):
        cache.step(torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4))
    with pytest.raises(ValueError, match="one new key"):
        cache.step(torch.randn(1, 2, 2, 4), x, x)
    assert len(cache) == 1


# --- grouped-query attention --------------------------------------------------------------------------------


@pytest.mark.parametrize(("h_q", "h_kv"), [(4, 4), (4, 2), (4, 1), (6, 3), (8, 2)])
@pytest.mark.parametrize("need_weights", [True, False])
def test_gqa_equals_enable_gqa_and_repeat_interleave(h_q, h_kv, need_weights):
    q, _, _ = _qkv(batch=(2, h_q), t_q=5, t_k=7)
    _, k, v = _qkv(batch=(2, h_kv), t_q=5, t_k=7, d_v=6, seed=1)
    out, weights = grouped_query_attention(q, k, v, need_weights=need_weights)
    g = h_q // h_kv
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, enable_gqa=True), **TOL)
    repeated, repeated_w = scaled_dot_product_attention(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1))
    torch.testing.assert_close(out, repeated, **TOL)
    if need_weights:
        torch.testing.assert_close(weights, repeated_w, **TOL)
    else:
        assert weights is None


@pytest.mark.parametrize("mask_shape", [(5, 7), (2, 1, 5, 7), (2, 6, 5, 7), (1, 7), (2, 6, 1, 7)])
@pytest.mark.parametrize("need_weights", [True, False])
def test_gqa_with_bool_mask(mask_shape, need_weights):
    q, _, _ = _qkv(batch=(2, 6), t_q=5, t_k=7)
    _, k, v = _qkv(batch=(2, 2), t_q=5, t_k=7, seed=1)
    mask = torch.rand(mask_shape, generator=torch.Generator().manual_seed(8)) > 0.4
    out, _ = grouped_query_attention(q, k, v, mask, need_weights=need_weights)
    expected, _ = scaled_dot_product_attention(q, k.repeat_interleave(3, 1), v.repeat_interleave(3, 1), mask)
    torch.testing.assert_close(out, expected, **TOL)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True), **TOL)


@given(
    st.sampled_from([(1, 1), (2, 1), (4, 2), (6, 2), (6, 3)]),
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(0, 2**16),
)
def test_gqa_property(heads, t_q, t_k, seed):
    h_q, h_kv = heads
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, h_q, t_q, 4, generator=g, dtype=F64)  # (B, Hq, Tq, D)
    k = torch.randn(1, h_kv, t_k, 4, generator=g, dtype=F64)  # (B, Hkv, Tk, D)
    v = torch.randn(1, h_kv, t_k, 3, generator=g, dtype=F64)  # (B, Hkv, Tk, Dv)
    mask = torch.rand(1, h_q, t_q, t_k, generator=g) > 0.5
    before = [t.clone() for t in (q, k, v, mask)]
    out, weights = grouped_query_attention(q, k, v, mask)
    reps = h_q // h_kv
    expected, expected_w = scaled_dot_product_attention(
        q, k.repeat_interleave(reps, 1), v.repeat_interleave(reps, 1), mask
    )
    torch.testing.assert_close(out, expected, **TOL)
    torch.testing.assert_close(weights, expected_w, **TOL)
    assert all(torch.equal(a, b) for a, b in zip(before, (q, k, v, mask)))


def test_gqa_heads_that_do_not_divide_raise():
    q, k, v = torch.randn(1, 6, 3, 4), torch.randn(1, 4, 3, 4), torch.randn(1, 4, 3, 4)
    with pytest.raises(ValueError, match=r"6 query heads cannot be shared evenly by 4 .*\[1, 2, 3, 6\]"):
        grouped_query_attention(q, k, v)
    with pytest.raises(ValueError, match="same number of heads"):
        grouped_query_attention(q, k[:, :3], v[:, :2])
    with pytest.raises(ValueError, match=r"\(B, H, T, D\)"):
        grouped_query_attention(q[0], k[0], v[0])


def test_largest_tensor_is_the_score_matrix_only_for_naive_attention():
    q, k, v = (torch.randn(1, 2, 256, 16) for _ in range(3))  # (B, H, L, D) float32
    naive = largest_tensor_bytes(lambda: scaled_dot_product_attention(q, k, v))
    tiled = largest_tensor_bytes(lambda: tiled_attention(q, k, v, block_q=32, block_k=32))
    assert naive == 2 * 256 * 256 * 4  # the (B, H, L, L) weights
    assert tiled == max(2 * 256 * 16 * 4, 2 * 32 * 32 * 4)  # the output, larger than one tile here
