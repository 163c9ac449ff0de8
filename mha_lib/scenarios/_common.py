"""Seeded inputs shared by the scenarios: the course sentence embedded, and random projection matrices."""

import math
from typing import Annotated

import torch
from torch import Tensor

from mha_lib.data import embed, tokens

DTYPE = torch.float64  # explorers compute in float64: what they show equals PyTorch's float64 reference
MAX_TOKENS_ZH = len(tokens(None, "zh"))  # 16
MAX_TOKENS_EN = len(tokens(None, "en"))  # 15
SEED_RANGE = (0, 99)  # the seed slider of every explorer
PROJECTION_SEED_OFFSET = 10_000  # projections use seed + offset, so they never repeat the embedding numbers


def projections(d_in: int, d_out: int, seed: int, count: int) -> list[Annotated[Tensor, "d_in d_out"]]:
    """``count`` seeded weight matrices (D_in, D_out) with entries of variance 1/D_in (unit-variance outputs).

    >>> [tuple(w.shape) for w in projections(4, 2, seed=0, count=2)]
    [(4, 2), (4, 2)]
    """
    generator = torch.Generator().manual_seed(seed + PROJECTION_SEED_OFFSET)
    return [torch.randn(d_in, d_out, generator=generator, dtype=DTYPE) / math.sqrt(d_in) for _ in range(count)]


def embed_prefix(n: int, lang: str, d_model: int, seed: int) -> Annotated[Tensor, "1 seq d_model"]:
    """The first ``n`` tokens of the course sentence, embedded as part of the whole sentence.

    ``embed`` draws one vector per distinct token of the words it is given, so embedding the full sentence and
    keeping a prefix means a token keeps its vector when a length slider adds or removes tokens after it.

    >>> torch.equal(embed_prefix(3, "zh", 4, 0), embed_prefix(5, "zh", 4, 0)[:, :3])
    True
    """
    return embed(tokens(None, lang), d_model, seed).to(DTYPE)[:, :n]  # (1, T, D)
