"""Notebook 05: English target queries over a Chinese source's keys and values, with source padding."""

from dataclasses import dataclass
from typing import Annotated

from torch import Tensor

from mha_lib._validate import require_heads, require_int
from mha_lib.masks import padding_mask_2d
from mha_lib.scenarios._common import MAX_TOKENS_EN, MAX_TOKENS_ZH, SEED_RANGE, embed_prefix
from mha_lib.scenarios.head_splitting import HeadsScenario, head_choices, multi_head_weights

CROSS_D_MODEL = 16
Q_LEN_RANGE = (1, MAX_TOKENS_EN)
SRC_LEN_RANGE = (1, MAX_TOKENS_ZH)


@dataclass(frozen=True, eq=False)
class CrossScenario(HeadsScenario):
    """Cross-attention weights (H, Tq, Tk) with the target and source embeddings."""

    target: Annotated[Tensor, "1 q_len d_model"]
    source: Annotated[Tensor, "1 k_len d_model"]


def cross_compute(
    q_len: int = 4, src_len: int = 6, num_heads: int = 2, src_valid_len: int | None = None, seed: int = 0
) -> CrossScenario:
    """Cross-attention weights (H, Tq, Tk); source positions ≥ ``src_valid_len`` are padding (None: none).

    >>> s = cross_compute(q_len=2, src_len=5, src_valid_len=3)
    >>> s.weights.shape, s.weights[..., 3:].abs().max().item()
    (torch.Size([2, 2, 5]), 0.0)
    """
    q_len = require_int("q_len", q_len, *Q_LEN_RANGE)
    src_len = require_int("src_len", src_len, *SRC_LEN_RANGE)
    seed = require_int("seed", seed, *SEED_RANGE)
    num_heads = require_heads(num_heads, CROSS_D_MODEL, head_choices(CROSS_D_MODEL))
    src_valid_len = require_int("src_valid_len", src_len if src_valid_len is None else src_valid_len, 1, src_len)
    mask = padding_mask_2d(src_valid_len, q_len, src_len)  # (Tq, Tk)
    target = embed_prefix(q_len, "en", CROSS_D_MODEL, seed)  # (1, Tq, D)
    source = embed_prefix(src_len, "zh", CROSS_D_MODEL, seed + 1)  # (1, Tk, D), not the target's numbers
    (w_q, w_k, w_v), weights = multi_head_weights(target, source, num_heads, seed, mask)  # (H, Tq, Tk)
    return CrossScenario(w_q, w_k, w_v, mask, weights, target, source)
