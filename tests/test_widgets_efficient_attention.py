"""Notebook 09's explorers without a browser: set control values, check the state and that the image changes."""

import pytest
import torch
import torch.nn.functional as F

from mha_lib.data import random_qkv
from mha_lib.efficient import tiled_attention
from mha_lib.scenarios.efficient_attention import CURRENT, DONE, PENDING, SKIPPED, kv_cache_compute, tiling_compute
from mha_lib.viz import PNG_SIGNATURE
from mha_lib.widgets import explore_kv_cache, explore_tiling


@pytest.mark.parametrize(
    ("seq_len", "block_q", "block_k", "causal"), [(8, 3, 3, False), (7, 2, 3, True), (5, 8, 1, True)]
)
def test_tiling_converges_to_sdpa_exactly_at_the_end(seq_len, block_q, block_k, causal):
    total = len(tiling_compute(seq_len, block_q, block_k, 0, causal).tiles)
    errors = [tiling_compute(seq_len, block_q, block_k, s, causal).error for s in range(total + 1)]
    end = tiling_compute(seq_len, block_q, block_k, total, causal)
    assert end.exact and errors[-1] < 1e-12
    assert not any(tiling_compute(seq_len, block_q, block_k, s, causal).exact for s in range(total))
    q, k, v = (x[0] for x in random_qkv(1, seq_len, seq_len, 4, 0, dtype=torch.float64))
    torch.testing.assert_close(end.final, F.scaled_dot_product_attention(q, k, v, is_causal=causal))
    torch.testing.assert_close(
        end.partial, tiled_attention(q, k, v, block_q=block_q, block_k=block_k, is_causal=causal)
    )


def test_tiling_state_after_each_step():
    s = tiling_compute(seq_len=6, block_q=3, block_k=2, step=2)  # tiles (0, 0), (0, 1) read
    assert s.grid.tolist() == [[DONE, CURRENT, PENDING], [PENDING] * 3]
    assert torch.isfinite(s.running_max[:3]).all() and (s.running_max[3:] == float("-inf")).all()
    assert torch.isnan(s.scores_read[:, 4:]).all() and not torch.isnan(s.scores_read[:3, :4]).any()
    assert s.current == (0, 2, 3, 2) and s.scores_held == 6
    row_max = s.scores[:3, :4].amax(-1)
    torch.testing.assert_close(s.running_max[:3], row_max)
    torch.testing.assert_close(s.running_sum[:3], torch.exp(s.scores[:3, :4] - row_max[:, None]).sum(-1))
    causal = tiling_compute(seq_len=6, block_q=2, block_k=2, step=0, causal=True)
    assert (causal.grid == SKIPPED).sum() == 3 and len(causal.tiles) == 6 and causal.current is None


def test_tiling_explorer_steps_and_follows_the_block_sizes():
    explorer = explore_tiling(seq_len=8, block_q=3, block_k=3, step=0)
    images = [bytes(explorer.image.value)]
    assert images[0].startswith(PNG_SIGNATURE)
    for _ in range(9):
        explorer.next_button.click()
        images.append(bytes(explorer.image.value))
    assert explorer.state.step == 9 and explorer.state.exact
    assert len(set(images)) == len(images)
    assert "tile 9 of 9" in explorer.summary.value and "3×3 = 9" in explorer.summary.value
    explorer.controls["causal"].value = True
    assert explorer.controls["step"].max == 6 and explorer.state.step == 6 and explorer.state.exact
    explorer.controls["block_k"].value = 1
    assert explorer.controls["step"].max == len(explorer.state.tiles) == 3 + 6 + 8
    explorer.controls["step"].value = explorer.controls["step"].max
    explorer.next_button.click()  # past the last tile: back to the start
    assert explorer.state.step == 0


def test_kv_cache_scenario_bytes_and_grouping():
    for kv_heads in (1, 2, 4, 8):
        s = kv_cache_compute(num_tokens=5, num_kv_heads=kv_heads)
        assert s.cache_bytes == 5 * 2 * kv_heads * 4 * 8 and s.matches_causal
        assert s.real_bytes_per_token == 2 * 32 * (4 * kv_heads) * 128 * 2
        torch.testing.assert_close(s.weights.sum(-1), torch.ones(8, dtype=torch.float64))
    mqa = kv_cache_compute(num_tokens=5, num_kv_heads=1)
    assert mqa.keys.shape == (5, 1, 4)
    with pytest.raises(ValueError, match="num_kv_heads must be one of"):
        kv_cache_compute(num_kv_heads=3)


def test_kv_cache_explorer_redraws_on_every_control():
    explorer = explore_kv_cache(num_tokens=4, num_kv_heads=2)
    seen = {bytes(explorer.image.value)}
    for name, value in (("num_tokens", 9), ("num_kv_heads", 8), ("num_kv_heads", 1), ("seed", 3)):
        explorer.controls[name].value = value
        seen.add(bytes(explorer.image.value))
    assert len(seen) == 5
    assert explorer.state.cache_bytes == 9 * 2 * 1 * 4 * 8
    assert "MQA" in explorer.summary.value and "8 query head(s) share each KV head" in explorer.summary.value


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (explore_tiling, {"block_q": 0}, "block_q"),
        (explore_tiling, {"seq_len": 40}, "seq_len"),
        (explore_tiling, {"step": 99}, "step"),
        (explore_tiling, {"causal": "yes"}, "causal"),
        (explore_kv_cache, {"num_tokens": 1}, "num_tokens"),
    ],
)
def test_bad_arguments_name_themselves(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)
