"""Seeded toy tokens and embeddings, so every notebook and test shows the same numbers.

The Chinese sentence 我想吃酸菜鱼 ("I want to eat pickled-cabbage fish") is tokenised by character.
"""

from typing import Annotated

import torch
from torch import Tensor

from mha_lib.positions import sinusoidal as sinusoidal_positions  # noqa: F401  (its first-wave name)

SENTENCE_ZH = "我想吃酸菜鱼"
SENTENCE_EN = "I want to eat pickled fish"
# Longer continuations for explorers whose sequence-length slider goes past six tokens.
TOKENS_ZH = list("我想吃酸菜鱼因为它又酸又辣很好吃")
TOKENS_EN = "I want to eat pickled fish because it is sour and spicy and really tasty".split()


def tokens(n: int | None = None, lang: str = "zh") -> list[str]:
    """The first ``n`` tokens of the course sentence (``lang`` "zh" by character or "en" by word).

    >>> tokens(3), tokens(2, "en")
    (['我', '想', '吃'], ['I', 'want'])
    """
    pool = {"zh": TOKENS_ZH, "en": TOKENS_EN}.get(lang)
    if pool is None:
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    n = len(pool) if n is None else n
    if not 1 <= n <= len(pool):
        raise ValueError(f"n must lie in [1, {len(pool)}] for lang={lang!r}, got {n}")
    return pool[:n]


def embed(words: list[str], d_model: int, seed: int = 0) -> Annotated[Tensor, "1 seq d_model"]:
    """A seeded random embedding per distinct token: equal tokens get equal vectors.

    >>> x = embed(["酸", "菜", "酸"], d_model=4)
    >>> x.shape, torch.equal(x[0, 0], x[0, 2])
    (torch.Size([1, 3, 4]), True)
    """
    vocab = sorted(set(words))
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(len(vocab), d_model, generator=generator)  # (V, D)
    ids = torch.tensor([vocab.index(w) for w in words])  # (T,)
    return table[ids].unsqueeze(0)  # (1, T, D)


def random_qkv(
    batch: int, t_q: int, t_k: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor, Tensor]:
    """Seeded standard-normal q (B, Tq, D), k and v (B, Tk, D).

    >>> [t.shape[1] for t in random_qkv(1, 2, 3, 4)]
    [2, 3, 3]
    """
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, t_q, d, generator=generator, dtype=dtype)  # (B, Tq, D)
    k = torch.randn(batch, t_k, d, generator=generator, dtype=dtype)  # (B, Tk, D)
    v = torch.randn(batch, t_k, d, generator=generator, dtype=dtype)  # (B, Tk, D)
    return q, k, v
