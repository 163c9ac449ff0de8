"""Checkers of notebook 01_qkv_projections: the q, k, v projections and the scaled scores q kᵀ / √d_k.

>>> reference_scores(torch.ones(1, 4), torch.ones(2, 4)).tolist()  # 1·1·4 / √4
[[2.0, 2.0]]
"""

import math
from typing import Annotated

from torch import Tensor

from mha_lib.checks.runner import Case, Exercise, generator, make_checkers, randn


def reference_projection(
    x: Annotated[Tensor, "seq d_model"],
    w_q: Annotated[Tensor, "d_model d_k"],
    w_k: Annotated[Tensor, "d_model d_k"],
    w_v: Annotated[Tensor, "d_model d_v"],
    mistake: str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v = x @ w_q, x @ w_k, x @ w_v; ``mistake="transposed_output"`` returns them transposed."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (T, Dk), (T, Dk), (T, Dv)
    return (q.mT, k.mT, v.mT) if mistake == "transposed_output" else (q, k, v)  # (Dk, T) ... when transposed


def reference_scores(
    q: Annotated[Tensor, "q_len d_k"], k: Annotated[Tensor, "k_len d_k"], mistake: str | None = None
) -> Annotated[Tensor, "q_len k_len"]:
    """q @ kᵀ / √d_k; ``mistake`` leaves out the scale or transposes the result."""
    scale = 1.0 if mistake == "forgot_scale" else 1 / math.sqrt(q.shape[-1])
    scores = (q * scale) @ k.mT  # (Tq, Tk)
    return scores.mT if mistake == "transposed_output" else scores  # (Tk, Tq) when transposed


def _projection_cases() -> list[Case]:
    g = generator(1)
    return [
        (randn(g, t, d), randn(g, d, dk), randn(g, d, dk), randn(g, d, dv))
        for t, d, dk, dv in ((4, 6, 3, 5), (5, 4, 4, 2), (3, 8, 2, 4))
    ]


def _scores_cases() -> list[Case]:
    g = generator(2)
    return [(randn(g, tq, dk), randn(g, tk, dk)) for tq, tk, dk in ((3, 5, 4), (4, 4, 8), (6, 2, 3))]


diagnose_qkv_projection, check_qkv_projection = make_checkers(
    Exercise(
        name="qkv_projection",
        signature="``fn(x (T, D), w_q (D, Dk), w_k (D, Dk), w_v (D, Dv)) -> (q, k, v)``.",
        example=">>> diagnose_qkv_projection(lambda x, w_q, w_k, w_v: (x @ w_q, x @ w_k, x @ w_v)).mistake is None\nTrue",
        solve=reference_projection,
        variants=("transposed_output",),
        cases=_projection_cases,
        args=("x", "w_q", "w_k", "w_v"),
        outputs=("q", "k", "v"),
        done="q = x @ w_q, k = x @ w_k and v = x @ w_v have the right shapes and values",
        hint="multiply the tokens by each weight matrix: q = x @ w_q is (T, D) @ (D, d_k) = (T, d_k); do the same for k and v and return (q, k, v).",
        messages={
            "transposed_output": "your projections look transposed: x @ w_q gives one row per token, shape (T, d_k); do not transpose it."
        },
    )
)
diagnose_scores, check_scores = make_checkers(
    Exercise(
        name="scores",
        signature="``fn(q (Tq, Dk), k (Tk, Dk)) -> scores (Tq, Tk)``, scores = q @ kᵀ / √Dk.",
        example=">>> diagnose_scores(lambda q, k: k @ q.T / q.shape[-1] ** 0.5).mistake\n'transposed_output'",
        solve=reference_scores,
        variants=("forgot_scale", "transposed_output"),
        cases=_scores_cases,
        args=("q", "k"),
        outputs=("scores",),
        done="Your scores equal q @ kᵀ / √d_k",
        hint="compare every query with every key in one matrix product (shape (Tq, Tk)), then scale it by 1/√d_k, where d_k = q.shape[-1].",
        messages={"wrong_shape": "Return one (Tq, Tk) matrix: q @ k.T / math.sqrt(d_k)."},
    )
)
