"""Notebook 04: multi-head self-attention of the course sentence, every head on one scale, and the wrong split."""

from dataclasses import dataclass
from typing import Annotated

from torch import Tensor

from mha_lib._validate import divisors, require_choice, require_heads, require_int
from mha_lib.attention import row_entropy, scaled_dot_product_attention
from mha_lib.heads import split_heads, wrong_split_heads
from mha_lib.masks import mask_of_kind
from mha_lib.scenarios._common import MAX_TOKENS_ZH, SEED_RANGE, embed_prefix, projections

HEAD_MASKS = ("none", "causal", "padding")
SEQ_LEN_RANGE = (2, MAX_TOKENS_ZH)
D_MODEL_RANGE = (1, 1024)
MAX_HEADS = 16  # head-count choices stop here: a 4 × 4 grid of heatmaps still fits a projected screen
# Unit-variance random projections give nearly uniform heads (entropy ≈ 0.9 · ln T): nn.Linear's init makes
# scores small. Scaling W_Q by this factor spreads the scores, so the heads differ visibly; it is a choice
# for the picture, not what training does.
HEAD_SHARPNESS = 2.5


def head_choices(d_model: int) -> list[int]:
    """Head counts an explorer offers: the divisors of ``d_model`` up to ``MAX_HEADS``.

    >>> head_choices(32)
    [1, 2, 4, 8, 16]
    """
    return [h for h in divisors(d_model) if h <= MAX_HEADS]


@dataclass(frozen=True, eq=False)
class HeadsScenario:
    """Per-head attention weights (H, Tq, Tk) with the projections and mask that made them."""

    w_q: Annotated[Tensor, "d_model d_model"]
    w_k: Annotated[Tensor, "d_model d_model"]
    w_v: Annotated[Tensor, "d_model d_model"]
    mask: Annotated[Tensor, "q_len k_len"]
    weights: Annotated[Tensor, "heads q_len k_len"]

    @property
    def num_heads(self) -> int:
        return self.weights.shape[0]

    @property
    def entropy(self) -> Annotated[Tensor, "heads"]:
        """Mean row entropy (nats) of each head."""
        return row_entropy(self.weights).mean(-1)  # (H,)


@dataclass(frozen=True, eq=False)
class SelfHeadsScenario(HeadsScenario):
    """Multi-head self-attention of the course sentence."""

    x: Annotated[Tensor, "1 seq d_model"]


def multi_head_weights(
    x_q: Annotated[Tensor, "1 q_len d_model"],
    x_kv: Annotated[Tensor, "1 k_len d_model"],
    num_heads: int,
    seed: int,
    mask: Annotated[Tensor, "q_len k_len"],
    wrong_split: bool = False,
) -> tuple[list[Tensor], Annotated[Tensor, "heads q_len k_len"]]:
    """Project with seeded W_Q, W_K, W_V (D, D), split into heads, attend: ([W_Q, W_K, W_V], weights (H, Tq, Tk)).

    >>> x = embed_prefix(3, "zh", 8, 0)
    >>> multi_head_weights(x, x, 2, 0, mask_of_kind("none", 3))[1].shape
    torch.Size([2, 3, 3])
    """
    d_model = x_q.shape[-1]
    w_q, w_k, w_v = projections(d_model, d_model, seed, 3)  # 3 × (D, D)
    w_q = w_q * HEAD_SHARPNESS  # (D, D)
    split = wrong_split_heads if wrong_split else split_heads
    q = split(x_q @ w_q, num_heads)  # (1, H, Tq, Dh)
    k = split(x_kv @ w_k, num_heads)  # (1, H, Tk, Dh)
    v = split(x_kv @ w_v, num_heads)  # (1, H, Tk, Dh)
    _, weights = scaled_dot_product_attention(q, k, v, mask)  # (1, H, Tq, Tk)
    return [w_q, w_k, w_v], weights[0]  # (H, Tq, Tk)


def heads_compute(
    num_heads: int = 4,
    d_model: int = 32,
    seq_len: int = 6,
    mask: str = "none",
    seed: int = 0,
    wrong_split: bool = False,
) -> SelfHeadsScenario:
    """Multi-head self-attention weights (H, T, T) of the course sentence, with per-head mean row entropy.

    ``mask="padding"`` blocks the last third of the keys. ``wrong_split=True`` splits with ``view(B, H, T, Dh)``.

    >>> s = heads_compute(num_heads=2, d_model=8, seq_len=3)
    >>> s.weights.shape, s.entropy.shape
    (torch.Size([2, 3, 3]), torch.Size([2]))
    """
    d_model = require_int("d_model", d_model, *D_MODEL_RANGE)
    num_heads = require_heads(num_heads, d_model, head_choices(d_model))
    seq_len = require_int("seq_len", seq_len, *SEQ_LEN_RANGE)
    seed = require_int("seed", seed, *SEED_RANGE)
    require_choice("mask", mask, HEAD_MASKS)
    mask_tensor = mask_of_kind(mask, seq_len, valid_len=seq_len - seq_len // 3)  # (Tq, Tk)
    x = embed_prefix(seq_len, "zh", d_model, seed)  # (1, T, D)
    (w_q, w_k, w_v), weights = multi_head_weights(x, x, num_heads, seed, mask_tensor, wrong_split)  # (H, T, T)
    return SelfHeadsScenario(w_q, w_k, w_v, mask_tensor, weights, x)
