"""Notebook 02: unit-variance q, k give scores of spread √d_k; scaling (or a temperature) keeps softmax soft."""

import math
from dataclasses import dataclass
from typing import Annotated

from torch import Tensor

from mha_lib._validate import require_int, require_number
from mha_lib.attention import masked_softmax, row_entropy
from mha_lib.data import random_qkv
from mha_lib.scenarios._common import DTYPE, MAX_TOKENS_ZH, SEED_RANGE

D_K_CHOICES = (4, 8, 16, 32, 64, 128, 256, 512)  # the explorer's d_k steps
D_K_RANGE = (1, 4096)
SEQ_LEN_RANGE = (2, MAX_TOKENS_ZH)
TEMPERATURE_RANGE = (0.1, 10.0)


@dataclass(frozen=True, eq=False)
class ScalingScenario:
    """Scores of random q, k and what softmax makes of them."""

    q: Annotated[Tensor, "seq d_k"]
    k: Annotated[Tensor, "seq d_k"]
    scale: float
    temperature: float
    scores: Annotated[Tensor, "q_len k_len"]
    weights: Annotated[Tensor, "q_len k_len"]
    max_weight: Annotated[Tensor, "q_len"]
    entropy: Annotated[Tensor, "q_len"]  # nats

    @property
    def scores_std(self) -> float:
        """The spread of the scores: ≈ √d_k unscaled, ≈ 1 scaled (for temperature 1)."""
        return self.scores.std().item()


def scaling_compute(
    d_k: int = 64, scaled: bool = True, temperature: float = 1.0, seed: int = 0, seq_len: int = 8
) -> ScalingScenario:
    """scores = q·k (× 1/√d_k if ``scaled``) / temperature for random unit-variance q, k; softmax of them.

    >>> s = scaling_compute(d_k=512, scaled=False)
    >>> bool(s.max_weight.mean() > scaling_compute(d_k=512, scaled=True).max_weight.mean())
    True
    """
    d_k = require_int("d_k", d_k, *D_K_RANGE)
    seq_len = require_int("seq_len", seq_len, *SEQ_LEN_RANGE)
    seed = require_int("seed", seed, *SEED_RANGE)
    temperature = require_number("temperature", temperature, "1.0 = plain softmax", TEMPERATURE_RANGE)
    q, k, _ = random_qkv(1, seq_len, seq_len, d_k, seed, dtype=DTYPE)  # (1, T, Dk) each
    scale = 1 / math.sqrt(d_k) if scaled else 1.0
    scores = (q[0] @ k[0].T) * scale / temperature  # (Tq, Tk)
    weights = masked_softmax(scores)  # (Tq, Tk)
    return ScalingScenario(
        q[0], k[0], scale, temperature, scores, weights, weights.max(-1).values, row_entropy(weights)
    )
