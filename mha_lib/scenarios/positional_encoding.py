"""Notebook 06: one head over 我想吃酸菜鱼…, told where each token sits in five ways (or not told at all).

``positions_compute`` returns what the explorer shows: the encoding (or bias) as a heatmap, the attention
weights with it, and the score of one query/key pair as a function of their distance. Shifting every
position by ``offset`` leaves the rotary and ALiBi weights exactly as they were; added encodings change.

>>> s = positions_compute("rotary", offset=7)
>>> s.weights.shape, s.shift_change < 1e-12
(torch.Size([6, 6]), True)
>>> positions_compute("sinusoidal", offset=7).shift_change > 0.01
True
"""

import math
from dataclasses import dataclass
from typing import Annotated

import torch
from torch import Tensor

from mha_lib._validate import require_choice, require_int
from mha_lib.attention import scaled_dot_product_attention
from mha_lib.data import tokens
from mha_lib.positions import _frequencies, alibi_bias, alibi_slopes, apply_rope, sinusoidal
from mha_lib.scenarios._common import DTYPE, MAX_TOKENS_ZH, SEED_RANGE, embed_prefix, projections
from mha_lib.scenarios.head_splitting import HEAD_SHARPNESS

KINDS = ("none", "sinusoidal", "learned", "rotary", "alibi")
D_MODEL_CHOICES = (8, 16, 32, 64)
SEQ_LEN_RANGE = (2, MAX_TOKENS_ZH)
OFFSET_RANGE = (0, 40)
ALIBI_HEADS = 8  # the head selector picks one of ALiBi's 8 slopes, 1/2 … 1/256
HEAD_RANGE = (0, ALIBI_HEADS - 1)
LEARNED_MAX_LEN = 24  # the learned table's rows: positions 0 … 23 (BERT has 512, GPT-2 1024)
MAX_DISTANCE = 32  # the score curve runs over distances 0 … 32
QUERY_TOKEN, KEY_TOKEN = 0, 1  # the curve's pair: 我 asks, 想 answers
LEARNED_SEED_OFFSET = 20_000  # the learned table's numbers never repeat the embeddings' or projections'


@dataclass(frozen=True, eq=False)
class PositionsScenario:
    """What one encoding kind does to one head's attention over the course sentence."""

    kind: str
    tokens: tuple[str, ...]
    positions: Annotated[Tensor, "seq"]  # offset … offset + T − 1
    encoding: Annotated[Tensor, "seq d_model"]  # what the kind brings, as a heatmap (see ``encoding_axes``)
    weights: Annotated[Tensor, "q_len k_len"] | None  # None: a learned table has no row for some position
    shift_change: float | None  # largest |weights − weights at offset 0|; None when weights are None
    distances: Annotated[Tensor, "n"]  # Δ = m − n = 0 … MAX_DISTANCE
    curve: Annotated[Tensor, "n"]  # score of 我 at position offset + Δ with 想 at offset; NaN: no learned row
    slope: float | None  # ALiBi's slope m of the selected head
    head: int

    @property
    def encoding_axes(self) -> tuple[str, str]:
        """(rows, columns) of ``encoding``: (position, dimension) for added vectors, (position, pair) for the
        rotation angles of RoPE, (query, key) for ALiBi's bias."""
        return {"rotary": ("position", "pair i"), "alibi": ("query", "key")}.get(self.kind, ("position", "dimension"))


def _learned_table(d_model: int, seed: int) -> Annotated[Tensor, "max_len d_model"]:
    """A stand-in for ``nn.Embedding(LEARNED_MAX_LEN, d_model).weight`` at initialisation: N(0, 1) entries."""
    generator = torch.Generator().manual_seed(seed + LEARNED_SEED_OFFSET)
    return torch.randn(LEARNED_MAX_LEN, d_model, generator=generator, dtype=DTYPE)  # (L, D)


def _added(kind: str, positions: Tensor, d_model: int, seed: int) -> Annotated[Tensor, "seq d_model"]:
    """The vectors added to the token embeddings at ``positions``: zeros, sinusoidal, or learned rows (NaN where
    the table has none)."""
    if kind == "sinusoidal":
        return sinusoidal(int(positions.max()) + 1, d_model, dtype=DTYPE)[positions]  # (T, D)
    if kind == "learned":
        table = _learned_table(d_model, seed)  # (L, D)
        rows = torch.full((len(positions), d_model), math.nan, dtype=DTYPE)  # (T, D)
        inside = positions < LEARNED_MAX_LEN  # (T,)
        rows[inside] = table[positions[inside]]
        return rows  # (T, D)
    return torch.zeros(len(positions), d_model, dtype=DTYPE)  # (T, D): none, rotary and alibi add nothing


def _scores_and_bias(
    kind: str,
    x_q: Annotated[Tensor, "q_len d_model"],
    x_k: Annotated[Tensor, "k_len d_model"],
    q_positions: Annotated[Tensor, "q_len"],
    k_positions: Annotated[Tensor, "k_len"],
    w_q: Tensor,
    w_k: Tensor,
    slope: float,
    seed: int,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """q (Tq, D), k (Tk, D) and the ALiBi bias (Tq, Tk) or None, for tokens ``x_q``, ``x_k`` at their positions."""
    d = x_q.shape[-1]
    x_q = x_q + _added(kind, q_positions, d, seed)  # (Tq, D)
    x_k = x_k + _added(kind, k_positions, d, seed)  # (Tk, D)
    q, k = x_q @ w_q, x_k @ w_k  # (Tq, D), (Tk, D)
    if kind == "rotary":
        q, k = apply_rope(q, q_positions), apply_rope(k, k_positions)  # (Tq, D), (Tk, D): v would stay as it is
    bias = None
    if kind == "alibi":
        bias = -slope * (q_positions[:, None] - k_positions).abs().to(DTYPE)  # (Tq, Tk), = alibi_bias for one head
    return q, k, bias


def _weights(
    kind: str, x: Tensor, positions: Tensor, w_q: Tensor, w_k: Tensor, slope: float, seed: int
) -> Annotated[Tensor, "q_len k_len"] | None:
    """Self-attention weights of tokens ``x`` (T, D) at ``positions``; None if a learned row is missing."""
    q, k, bias = _scores_and_bias(kind, x, x, positions, positions, w_q, w_k, slope, seed)  # (T, D) ×2, (T, T)
    if q.isnan().any():
        return None
    _, weights = scaled_dot_product_attention(q, k, k, attn_bias=bias)  # (Tq, Tk); v does not matter here
    return weights


def positions_compute(
    kind: str = "sinusoidal", d_model: int = 16, seq_len: int = 6, offset: int = 0, head: int = 0, seed: int = 0
) -> PositionsScenario:
    """One head (W_Q, W_K seeded, d_head = d_model) over the first ``seq_len`` tokens at positions
    ``offset … offset + seq_len − 1``, with ``kind`` telling it the positions; ``head`` picks ALiBi's slope.

    >>> s = positions_compute("alibi", head=0)
    >>> s.slope, s.encoding[0, :3].tolist()
    (0.5, [0.0, -0.5, -1.0])
    """
    kind = require_choice("kind", kind, KINDS)
    d_model = require_choice("d_model", d_model, D_MODEL_CHOICES)
    seq_len = require_int("seq_len", seq_len, *SEQ_LEN_RANGE)
    offset = require_int("offset", offset, *OFFSET_RANGE)
    head = require_int("head", head, *HEAD_RANGE)
    seed = require_int("seed", seed, *SEED_RANGE)
    slope = alibi_slopes(ALIBI_HEADS)[head]
    x = embed_prefix(seq_len, "zh", d_model, seed)[0]  # (T, D)
    w_q, w_k = projections(d_model, d_model, seed, 2)  # (D, D) each
    w_q = w_q * HEAD_SHARPNESS  # (D, D): score spreads like a trained head's, so patterns show
    positions = offset + torch.arange(seq_len)  # (T,)
    weights = _weights(kind, x, positions, w_q, w_k, slope, seed)  # (T, T) or None
    unshifted = _weights(kind, x, torch.arange(seq_len), w_q, w_k, slope, seed)  # (T, T) or None
    shift_change = None if weights is None else (weights - unshifted).abs().max().item()

    distances = torch.arange(MAX_DISTANCE + 1)  # (N,)
    key_at = torch.full((1,), offset)  # (1,): 想 stays at the offset …
    q, k, bias = _scores_and_bias(
        kind,
        x[QUERY_TOKEN].expand(len(distances), -1),
        x[KEY_TOKEN : KEY_TOKEN + 1],
        offset + distances,
        key_at,
        w_q,
        w_k,
        slope,
        seed,
    )  # … while 我 moves away: q (N, D), k (1, D), bias (N, 1) or None
    curve = (q @ k.T)[:, 0] / math.sqrt(d_model)  # (N,), NaN where a learned row is missing
    if bias is not None:
        curve = curve + bias[:, 0]  # (N,)

    if kind == "rotary":
        angles = positions[:, None].to(DTYPE) * _frequencies(d_model, 10000.0)  # (T, D/2): p·ω_i
        encoding = angles.cos()  # (T, D/2): cos of the angle each feature pair turns by
    elif kind == "alibi":
        encoding = alibi_bias(ALIBI_HEADS, seq_len, dtype=DTYPE)[head]  # (T, T): −m·|i − j|
    else:
        encoding = _added(kind, positions, d_model, seed)  # (T, D)
    return PositionsScenario(
        kind=kind,
        tokens=tuple(tokens(seq_len, "zh")),
        positions=positions,
        encoding=encoding,
        weights=weights,
        shift_change=shift_change,
        distances=distances,
        curve=curve,
        slope=slope if kind == "alibi" else None,
        head=head,
    )
