"""Notebook 09: the FlashAttention forward one tile at a time, and a KV cache one token at a time.

Both explorers call the algorithms of :mod:`mha_lib.efficient` themselves (``tile_scores``, ``fold_tile``,
``KVCache``), so what they show is what the library computes.
"""

import math
from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from mha_lib._validate import divisors, require_choice, require_int
from mha_lib.data import random_qkv
from mha_lib.efficient import KVCache, TileState, fold_tile, tile_mask, tile_scores
from mha_lib.scenarios._common import DTYPE, MAX_TOKENS_ZH, SEED_RANGE

SEQ_LEN_RANGE = (2, MAX_TOKENS_ZH)
BLOCK_RANGE = (1, 8)
D_HEAD = 4  # head size of the toy tensors shown
# Tile states: what the tile grid shows for each (query block, key block).
PENDING, DONE, CURRENT, SKIPPED = 0, 1, 2, 3

KV_QUERY_HEADS = 8  # the toy decoder: 8 query heads of size D_HEAD
KV_HEAD_CHOICES = tuple(divisors(KV_QUERY_HEADS))  # 1 (MQA), 2, 4 (GQA), 8 (MHA)
# A Llama-style configuration for the bytes readout (Llama-3-8B shape: 32 layers, 32 query / 8 KV heads of 128).
REAL_LAYERS, REAL_QUERY_HEADS, REAL_D_HEAD, REAL_BYTES = 32, 32, 128, 2  # float16/bfloat16 cache


@dataclass(frozen=True, eq=False)
class TilingScenario:
    """The state of the tiled attention forward after ``step`` of ``len(tiles)`` tiles."""

    block_q: int
    block_k: int
    causal: bool
    step: int
    tiles: tuple[tuple[int, int], ...]  # (query block, key block) in the order they are read
    grid: Annotated[Tensor, "q_blocks k_blocks"]  # PENDING, DONE, CURRENT or SKIPPED per tile
    scores: Annotated[Tensor, "q_len k_len"]  # every score (−inf where causal blocks), for display only
    running_max: Annotated[Tensor, "q_len"]  # −inf where a row has seen no key yet
    running_sum: Annotated[Tensor, "q_len"]
    partial: Annotated[Tensor, "q_len d_v"]  # acc / sum so far (0 for rows not started)
    final: Annotated[Tensor, "q_len d_v"]  # PyTorch's SDPA on the same q, k, v

    @property
    def exact(self) -> bool:
        """Every tile read: the partial output is the final one."""
        return self.step == len(self.tiles)

    @property
    def error(self) -> float:
        """Largest |partial − final| over all rows."""
        return (self.partial - self.final).abs().max().item()

    @property
    def scores_read(self) -> Annotated[Tensor, "q_len k_len"]:
        """The scores of the tiles read so far; NaN elsewhere (not read yet, or skipped)."""
        read = (self.grid == DONE) | (self.grid == CURRENT)  # (Bq, Bk)
        cells = read.repeat_interleave(self.block_q, 0).repeat_interleave(self.block_k, 1)  # (≥T, ≥T)
        t_q, t_k = self.scores.shape
        return self.scores.masked_fill(~cells[:t_q, :t_k], float("nan"))  # (Tq, Tk)

    @property
    def current(self) -> tuple[int, int, int, int] | None:
        """(first row, first column, rows, columns) of the tile read last; None before the first."""
        if not self.step:
            return None
        a, b = self.tiles[self.step - 1]
        t_q, t_k = self.scores.shape
        row, col = a * self.block_q, b * self.block_k
        return row, col, min(self.block_q, t_q - row), min(self.block_k, t_k - col)

    @property
    def scores_held(self) -> int:
        """Scores alive at once: one tile, against Tq · Tk for the naive matrix."""
        return self.block_q * self.block_k


def _blocks(seq_len: int, block: int) -> list[slice]:
    return [slice(i, min(i + block, seq_len)) for i in range(0, seq_len, block)]


def tile_order(seq_len: int, block_q: int, block_k: int, causal: bool) -> tuple[tuple[int, int], ...]:
    """The (query block, key block) tiles in the order ``tiled_attention`` reads them; causal skips those wholly
    above the diagonal.

    >>> tile_order(4, 2, 2, causal=True)
    ((0, 0), (1, 0), (1, 1))
    """
    rows, cols = _blocks(seq_len, block_q), _blocks(seq_len, block_k)
    return tuple((a, b) for a, r in enumerate(rows) for b, c in enumerate(cols) if not (causal and c.start >= r.stop))


def tiling_compute(
    seq_len: int = 8, block_q: int = 3, block_k: int = 3, step: int = 1, causal: bool = False, seed: int = 0
) -> TilingScenario:
    """Run the FlashAttention forward of seeded q, k, v (T, 4) for ``step`` tiles and report what it holds.

    >>> s = tiling_compute(seq_len=6, block_q=3, block_k=2, step=6)
    >>> len(s.tiles), s.exact, s.error < 1e-12
    (6, True, True)
    """
    seq_len = require_int("seq_len", seq_len, *SEQ_LEN_RANGE)
    block_q = require_int("block_q", block_q, *BLOCK_RANGE)
    block_k = require_int("block_k", block_k, *BLOCK_RANGE)
    if not isinstance(causal, bool):
        raise ValueError(f"causal must be True or False, got {causal!r}")
    seed = require_int("seed", seed, *SEED_RANGE)
    q, k, v = (x[0] for x in random_qkv(1, seq_len, seq_len, D_HEAD, seed, dtype=DTYPE))  # (T, D) each
    scale = 1 / math.sqrt(D_HEAD)
    row_blocks, col_blocks = _blocks(seq_len, block_q), _blocks(seq_len, block_k)
    tiles = tile_order(seq_len, block_q, block_k, causal)
    skipped = {(a, b) for a in range(len(row_blocks)) for b in range(len(col_blocks))} - set(tiles)
    step = require_int("step", step, 0, len(tiles))
    run_max = torch.full((seq_len,), float("-inf"), dtype=DTYPE)  # (T,)
    run_sum = torch.zeros(seq_len, dtype=DTYPE)  # (T,)
    acc = torch.zeros(seq_len, D_HEAD, dtype=DTYPE)  # (T, Dv)
    for a, b in tiles[:step]:
        rows, cols = row_blocks[a], col_blocks[b]
        allowed = tile_mask(None, causal, rows, cols, q.device)  # (bq, bk) or None
        scores = tile_scores(q[rows], k[cols], scale, allowed)  # (bq, bk)
        state = fold_tile(TileState(run_max[rows], run_sum[rows], acc[rows]), scores, v[cols])
        run_max[rows], run_sum[rows], acc[rows] = state  # (bq,), (bq,), (bq, Dv)
    grid = torch.full((len(row_blocks), len(col_blocks)), PENDING)  # (Bq, Bk)
    for a, b in skipped:
        grid[a, b] = SKIPPED
    for a, b in tiles[:step]:
        grid[a, b] = DONE
    if step:
        grid[tiles[step - 1]] = CURRENT
    full = tile_mask(None, causal, slice(0, seq_len), slice(0, seq_len), q.device)  # (T, T) or None, display only
    return TilingScenario(
        block_q,
        block_k,
        causal,
        step,
        tiles,
        grid,
        tile_scores(q, k, scale, full),  # (T, T)
        run_max,
        run_sum,
        TileState(run_max, run_sum, acc).output(),  # (T, Dv)
        F.scaled_dot_product_attention(q, k, v, is_causal=causal),  # (T, Dv)
    )


@dataclass(frozen=True, eq=False)
class KVCacheScenario:
    """A toy decoder layer after ``num_tokens`` steps of one token each, with ``num_kv_heads`` cached heads."""

    num_kv_heads: int
    keys: Annotated[Tensor, "tokens kv_heads d_head"]  # the cached keys
    weights: Annotated[Tensor, "q_heads tokens"]  # the newest token's attention, one row per query head
    cache_bytes: int  # what the toy cache holds (float64)
    matches_causal: bool  # the outputs of every step equal SDPA with is_causal=True

    @property
    def num_tokens(self) -> int:
        return self.keys.shape[0]

    @property
    def real_bytes_per_token(self) -> int:
        """Cache bytes per token of the Llama-style configuration with the same query/KV head ratio."""
        kv_heads = REAL_QUERY_HEADS * self.num_kv_heads // KV_QUERY_HEADS
        return 2 * REAL_LAYERS * kv_heads * REAL_D_HEAD * REAL_BYTES  # K and V, every layer


def kv_cache_compute(num_tokens: int = 6, num_kv_heads: int = 2, seed: int = 0) -> KVCacheScenario:
    """Decode ``num_tokens`` seeded tokens one at a time through a :class:`~mha_lib.efficient.KVCache`.

    >>> s = kv_cache_compute(num_tokens=4, num_kv_heads=2)
    >>> tuple(s.weights.shape), s.cache_bytes, s.matches_causal
    ((8, 4), 512, True)
    """
    num_tokens = require_int("num_tokens", num_tokens, *SEQ_LEN_RANGE)
    num_kv_heads = require_choice("num_kv_heads", num_kv_heads, KV_HEAD_CHOICES)
    seed = require_int("seed", seed, *SEED_RANGE)
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, KV_QUERY_HEADS, num_tokens, D_HEAD, generator=g, dtype=DTYPE)  # (1, Hq, T, Dh)
    k = torch.randn(1, num_kv_heads, num_tokens, D_HEAD, generator=g, dtype=DTYPE)  # (1, Hkv, T, Dh)
    v = torch.randn(1, num_kv_heads, num_tokens, D_HEAD, generator=g, dtype=DTYPE)  # (1, Hkv, T, Dh)
    cache = KVCache()
    outs = []
    for t in range(num_tokens):
        new = slice(t, t + 1)
        out, weights = cache.step(q[..., new, :], k[..., new, :], v[..., new, :])  # (1, Hq, 1, Dh), (1, Hq, 1, t+1)
        outs.append(out)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)  # (1, Hq, T, Dh)
    return KVCacheScenario(
        num_kv_heads,
        cache.k[0].transpose(0, 1),  # (T, Hkv, Dh)
        weights[0, :, 0],  # (Hq, T)
        cache.nbytes,
        torch.allclose(torch.cat(outs, dim=-2), expected, atol=1e-12, rtol=1e-10),
    )
