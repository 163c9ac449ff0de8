"""Notebook 03: a bool mask (True = may attend) beside the weights it gives; blocked cells get exactly 0."""

from dataclasses import dataclass
from typing import Annotated

from torch import Tensor

from mha_lib._validate import require_int
from mha_lib.attention import scaled_dot_product_attention
from mha_lib.data import random_qkv
from mha_lib.masks import mask_of_kind
from mha_lib.scenarios._common import DTYPE, MAX_TOKENS_ZH, SEED_RANGE

MASK_D = 8  # feature size of the random q, k, v
SEQ_LEN_RANGE = (2, MAX_TOKENS_ZH)


@dataclass(frozen=True, eq=False)
class MaskingScenario:
    """Random q, k, v of one sequence, the mask applied, and the weights and output it gives."""

    q: Annotated[Tensor, "seq d"]
    k: Annotated[Tensor, "seq d"]
    v: Annotated[Tensor, "seq d"]
    mask: Annotated[Tensor, "q_len k_len"]
    weights: Annotated[Tensor, "q_len k_len"]
    out: Annotated[Tensor, "q_len d"]


def masking_compute(
    kind: str = "padding", seq_len: int = 6, valid_len: int = 4, seed: int = 0, custom: Tensor | None = None
) -> MaskingScenario:
    """Masked attention of random q, k, v; a fully blocked row is all 0 (never NaN).

    ``valid_len`` counts only for ``kind="padding"``; ``custom`` only for ``kind="custom"``.

    >>> masking_compute("causal", seq_len=3).weights[0].tolist()
    [1.0, 0.0, 0.0]
    """
    seq_len = require_int("seq_len", seq_len, *SEQ_LEN_RANGE)
    seed = require_int("seed", seed, *SEED_RANGE)
    mask = mask_of_kind(kind, seq_len, valid_len, custom)  # (Tq, Tk)
    q, k, v = random_qkv(1, seq_len, seq_len, MASK_D, seed, dtype=DTYPE)  # (1, T, D) each
    out, weights = scaled_dot_product_attention(q[0], k[0], v[0], mask)  # (Tq, D), (Tq, Tk)
    return MaskingScenario(q[0], k[0], v[0], mask, weights, out)
