"""Explorers of notebook 09: the FlashAttention forward one tile at a time; a KV cache one token at a time.

>>> explore_tiling(seq_len=4, block_q=2, block_k=2, step=4).state.exact
True
>>> explore_kv_cache(num_tokens=3, num_kv_heads=1).state.cache_bytes
192
"""

from typing import Any

import ipywidgets as widgets

from mha_lib.data import tokens
from mha_lib.scenarios.efficient_attention import (
    BLOCK_RANGE,
    D_HEAD,
    KV_HEAD_CHOICES,
    KV_QUERY_HEADS,
    REAL_D_HEAD,
    REAL_LAYERS,
    REAL_QUERY_HEADS,
    SEQ_LEN_RANGE,
    KVCacheScenario,
    TilingScenario,
    kv_cache_compute,
    tile_order,
    tiling_compute,
)
from mha_lib.viz.efficient_attention import KVCacheFigure, TilingFigure
from mha_lib.viz.live import LiveFigure
from mha_lib.widgets.base import STYLE, Explorer, choice_slider, readout, seed_slider, slider


class TilingExplorer(Explorer):
    """Sequence length, block sizes, causal: step through the tiles and watch the output become exact."""

    name = "tiling"
    state: TilingScenario

    def __init__(self, seq_len: int, block_q: int, block_k: int, step: int, causal: bool, seed: int) -> None:
        tiling_compute(seq_len, block_q, block_k, step, causal, seed)  # checks every argument, naming it
        controls = {
            "seq_len": slider("sequence length T", seq_len, *SEQ_LEN_RANGE),
            "block_q": slider("query block", block_q, *BLOCK_RANGE),
            "block_k": slider("key block", block_k, *BLOCK_RANGE),
            "causal": widgets.Checkbox(value=causal, description="causal (skips tiles)", style=STYLE),
            "step": slider("tiles read", step, 0, len(tile_order(seq_len, block_q, block_k, causal))),
            "seed": seed_slider(seed),
        }
        self.next_button = widgets.Button(description="next tile ▶")
        self.next_button.on_click(lambda _: self._advance())
        self.summary = readout()
        super().__init__(controls, extra=(self.next_button, self.summary))

    def _advance(self) -> None:
        step = self.controls["step"]
        step.value = 0 if step.value == step.max else step.value + 1  # after the last tile: start again

    def _sync_controls(self, change: dict) -> None:
        c = self.controls
        if change["owner"] is not c["step"]:
            count = len(tile_order(c["seq_len"].value, c["block_q"].value, c["block_k"].value, c["causal"].value))
            c["step"].max = count
            c["step"].value = min(c["step"].value, count)

    def _labels(self) -> tuple[list[str], list[str]]:
        words = tokens(self.state.scores.shape[0], "zh")
        return words, words

    def _compute(self) -> TilingScenario:
        return tiling_compute(**self.values())

    def _layout_key(self) -> tuple:
        return (self.state.scores.shape[0], self.state.block_q, self.state.block_k)

    def _make_figure(self) -> LiveFigure:
        return TilingFigure(tokens(self.state.scores.shape[0], "zh"), self.state.block_q, self.state.block_k, D_HEAD)

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        title = "exact at the end: = SDPA ✓" if s.exact else f"partial output: max error {s.error:.2f}"
        return {
            "scores": s.scores_read,
            "current": s.current,
            "running_max": s.running_max,
            "running_sum": s.running_sum,
            "partial": s.partial,
            "final": s.final,
            "title": title,
        }

    def _after_update(self) -> None:
        s = self.state
        t = s.scores.shape[0]
        where = ""
        if s.current is not None:
            row, col, rows, cols = s.current
            where = f": queries {row}–{row + rows - 1} × keys {col}–{col + cols - 1}"
        self.summary.value = (
            f"tile {s.step} of {len(s.tiles)}{where}. Scores held at once: {s.block_q}×{s.block_k} = "
            f"{s.scores_held} (the full matrix: {t}×{t} = {t * t})."
        )


class KVCacheExplorer(Explorer):
    """Tokens decoded so far and the number of KV heads: what the cache holds and what the newest token sees."""

    name = "kv_cache"
    state: KVCacheScenario

    def __init__(self, num_tokens: int, num_kv_heads: int, seed: int) -> None:
        kv_cache_compute(num_tokens, num_kv_heads, seed)  # checks every argument, naming it
        controls = {
            "num_tokens": slider("tokens decoded", num_tokens, *SEQ_LEN_RANGE),
            "num_kv_heads": choice_slider(f"KV heads (of {KV_QUERY_HEADS} query heads)", KV_HEAD_CHOICES, num_kv_heads),
            "seed": seed_slider(seed),
        }
        self.summary = readout()
        super().__init__(controls, extra=(self.summary,))

    def _labels(self) -> tuple[list[str], list[str]]:
        return [f"q{h}" for h in range(KV_QUERY_HEADS)], tokens(self.state.num_tokens, "zh")

    def _predict_weights(self):
        return self.state.weights  # (Hq, T): one row per query head

    def _compute(self) -> KVCacheScenario:
        return kv_cache_compute(**self.values())

    def _layout_key(self) -> tuple:
        return ()

    def _make_figure(self) -> LiveFigure:
        return KVCacheFigure(tokens(SEQ_LEN_RANGE[1], "zh"), KV_QUERY_HEADS, D_HEAD)

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        keys = s.keys.reshape(s.num_tokens, -1)  # (T, Hkv·Dh)
        return {"keys": keys, "weights": s.weights, "title": f"KV cache: {s.cache_bytes} bytes (float64)"}

    def _after_update(self) -> None:
        s = self.state
        group = KV_QUERY_HEADS // s.num_kv_heads
        kind = "MQA" if s.num_kv_heads == 1 else "MHA" if group == 1 else "GQA"
        real_heads = REAL_QUERY_HEADS // group
        self.summary.value = (
            f"{kind}: {group} query head(s) share each KV head. Cache = {s.num_tokens} tokens × 2 (K, V) × "
            f"{s.num_kv_heads} heads × {D_HEAD} × 8 bytes = {s.cache_bytes} bytes; every step equals causal SDPA: "
            f"{s.matches_causal}.<br>Llama-style ({REAL_LAYERS} layers, {REAL_QUERY_HEADS} query heads of "
            f"{REAL_D_HEAD}, float16) with {real_heads} KV heads: {s.real_bytes_per_token // 1024} KiB per token, "
            f"{s.real_bytes_per_token * 8192 / 2**30:.1f} GiB for 8192 tokens."
        )


def explore_tiling(
    seq_len: int = 8, block_q: int = 3, block_k: int = 3, step: int = 1, causal: bool = False, seed: int = 0
) -> TilingExplorer:
    """Explorer 9: the FlashAttention forward one (query block, key block) tile at a time.

    Controls: ``seq_len``, ``block_q``, ``block_k``, ``causal``, ``step`` (tiles read), ``seed``; the button
    reads the next tile.
    """
    return TilingExplorer(seq_len, block_q, block_k, step, causal, seed)


def explore_kv_cache(num_tokens: int = 6, num_kv_heads: int = 2, seed: int = 0) -> KVCacheExplorer:
    """Explorer 9b: a KV cache one decoded token at a time; fewer KV heads, a smaller cache (GQA, MQA).

    Controls: ``num_tokens``, ``num_kv_heads``, ``seed``.
    """
    return KVCacheExplorer(num_tokens, num_kv_heads, seed)
