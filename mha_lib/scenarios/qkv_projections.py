"""Notebook 01: tokens → X → Q, K, V = X W → scores → weights → the weighted sum of V, for one sentence."""

import math
from dataclasses import dataclass
from typing import Annotated

from torch import Tensor

from mha_lib._validate import require_int
from mha_lib.attention import masked_softmax
from mha_lib.scenarios._common import MAX_TOKENS_ZH, SEED_RANGE, embed_prefix, projections

QKV_D_MODEL = 16  # embedding size (d_k is the knob)
SEQ_LEN_RANGE = (2, MAX_TOKENS_ZH)
D_K_RANGE = (2, 64)


@dataclass(frozen=True, eq=False)
class QKVScenario:
    """Every tensor of single-head self-attention for one sentence (no batch axis)."""

    x: Annotated[Tensor, "seq d_model"]
    w_q: Annotated[Tensor, "d_model d_k"]
    w_k: Annotated[Tensor, "d_model d_k"]
    w_v: Annotated[Tensor, "d_model d_k"]
    q: Annotated[Tensor, "seq d_k"]
    k: Annotated[Tensor, "seq d_k"]
    v: Annotated[Tensor, "seq d_k"]
    scores: Annotated[Tensor, "q_len k_len"]
    weights: Annotated[Tensor, "q_len k_len"]
    out: Annotated[Tensor, "q_len d_k"]
    contributions: Annotated[Tensor, "k_len d_k"]  # weights[query, j] · V[j]; they add up to out[query]
    query: int


def qkv_compute(seq_len: int = 6, d_k: int = 8, seed: int = 0, query: int = 0) -> QKVScenario:
    """Tokens → X → Q, K, V = X W → scores → weights → out, for the first ``seq_len`` tokens of 我想吃酸菜鱼….

    >>> s = qkv_compute(seq_len=3, d_k=4)
    >>> s.x.shape, s.q.shape, s.weights.shape, s.out.shape
    (torch.Size([3, 16]), torch.Size([3, 4]), torch.Size([3, 3]), torch.Size([3, 4]))
    """
    seq_len = require_int("seq_len", seq_len, *SEQ_LEN_RANGE)
    d_k = require_int("d_k", d_k, *D_K_RANGE)
    seed = require_int("seed", seed, *SEED_RANGE)
    query = require_int("query", query, 0, seq_len - 1)
    x = embed_prefix(seq_len, "zh", QKV_D_MODEL, seed)[0]  # (T, D)
    w_q, w_k, w_v = projections(QKV_D_MODEL, d_k, seed, 3)  # 3 × (D, Dk)
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (T, Dk) each
    scores = q @ k.T / math.sqrt(d_k)  # (Tq, Tk)
    weights = masked_softmax(scores)  # (Tq, Tk)
    out = weights @ v  # (Tq, Dk)
    contributions = weights[query].unsqueeze(-1) * v  # (Tk, Dk); sums over keys to out[query]
    return QKVScenario(x, w_q, w_k, w_v, q, k, v, scores, weights, out, contributions, query)
