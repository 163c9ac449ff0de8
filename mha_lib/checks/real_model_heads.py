"""Checkers of notebook 08_real_model_heads: find the previous-token head by a score, weight by the value norm.

>>> reference_previous_token_score(torch.eye(3).expand(1, 2, 3, 3)).tolist()
[[0.0, 0.0]]
"""

from typing import Annotated

import torch
from torch import Tensor

from mha_lib.checks.runner import Case, Exercise, generator, make_checkers, randn
from mha_lib.heads import split_heads
from mha_lib.scenarios.real_model_heads import previous_token_score, value_weighted


def reference_previous_token_score(
    attentions: Annotated[Tensor, "layers heads q_len k_len"], mistake: str | None = None
) -> Annotated[Tensor, "layers heads"]:
    """Mean of ``A[i, i-1]`` over the queries i = 1 … T-1, per head; ``mistake`` gives a known-wrong score."""
    if mistake == "off_by_one":
        return attentions.diagonal(offset=1, dim1=-2, dim2=-1).mean(-1)  # A[i, i+1]: the next token
    if mistake == "diagonal":
        return attentions.diagonal(dim1=-2, dim2=-1).mean(-1)  # A[i, i]: the token itself
    if mistake == "wrapped":
        t = attentions.shape[-1]
        previous = (torch.arange(t) - 1) % t  # query 0's "previous" key wraps to T-1
        return attentions[..., torch.arange(t), previous].mean(-1)
    if mistake == "summed":
        return attentions.diagonal(offset=-1, dim1=-2, dim2=-1).sum(-1)
    return previous_token_score(attentions)  # (L, H)


def reference_value_weighted(
    weights: Annotated[Tensor, "heads q_len k_len"],
    x: Annotated[Tensor, "seq d_model"],
    w_v: Annotated[Tensor, "d_model d_model"],
    b_v: Annotated[Tensor, "d_model"],
    w_o: Annotated[Tensor, "d_model d_model"],
    mistake: str | None = None,
) -> Annotated[Tensor, "heads q_len k_len"]:
    """Each key's share of ‖A[i, j]·f_h(x_j)‖ with f_h(x_j) = (x_j W_V + b_V)[head h] · W_O[head h rows]."""
    heads, d_model = weights.shape[0], x.shape[-1]
    v = split_heads((x @ w_v + b_v).unsqueeze(0), heads)[0]  # (H, T, Dh)
    w_o_heads = w_o.view(heads, d_model // heads, d_model)  # (H, Dh, D): the rows of W_O that head h feeds
    if mistake == "norm_of_input":
        norms = x.norm(dim=-1).expand(heads, -1)  # (H, T): ‖x_j‖, before the value projection
    elif mistake == "no_output_projection":
        norms = v.norm(dim=-1)  # (H, T): ‖v_j‖ of the head's slice, W_O left out
    elif mistake == "whole_value":
        norms = (x @ w_v + b_v).norm(dim=-1).expand(heads, -1)  # (H, T): every head's features at once
    else:
        norms = (v @ w_o_heads).norm(dim=-1)  # (H, T, D) → (H, T)
    if mistake == "query_norm":
        weighted = weights * norms.unsqueeze(-1)  # rows scaled: after renormalising, the raw weights again
        return weighted / weighted.sum(-1, keepdim=True)
    if mistake == "not_renormalised":
        return weights * norms.unsqueeze(-2)  # (H, T, T)
    return value_weighted(weights, norms)  # (H, T, T), rows sum to 1


def _attention_cases() -> list[Case]:
    g = generator(81)
    return [(torch.softmax(2 * randn(g, n, h, t, t), dim=-1),) for n, h, t in ((2, 3, 5), (1, 4, 7), (3, 2, 4))]


def _value_cases() -> list[Case]:
    g = generator(82)
    cases = []
    for heads, t, d in ((2, 5, 8), (3, 4, 6), (4, 6, 8)):
        weights = torch.softmax(2 * randn(g, heads, t, t), dim=-1)  # (H, T, T)
        scale = torch.linspace(0.2, 3.0, t, dtype=torch.float64).unsqueeze(-1)  # tokens of different lengths
        cases.append((weights, randn(g, t, d) * scale, randn(g, d, d) / d**0.5, randn(g, d), randn(g, d, d) / d**0.5))
    return cases


diagnose_previous_token_score, check_previous_token_score = make_checkers(
    Exercise(
        name="previous_token_score",
        signature="``fn(attentions (L, H, T, T)) -> score (L, H)``: the mean weight on the previous token.",
        example=(
            ">>> diagnose_previous_token_score(lambda a: a.diagonal(dim1=-2, dim2=-1).mean(-1)).mistake\n'diagonal'"
        ),
        solve=reference_previous_token_score,
        variants=("off_by_one", "diagonal", "wrapped", "summed"),
        cases=_attention_cases,
        args=("attentions",),
        outputs=("score",),
        done="Your score averages A[i, i-1] over the queries that have a previous token",
        hint="the previous token of query i is key i-1: attentions.diagonal(offset=-1, dim1=-2, dim2=-1) holds "
        "A[1, 0], A[2, 1], …; average it over the last axis.",
        messages={
            "off_by_one": "your score is off by one: it reads A[i, i+1], the *next* token (offset=+1); the previous "
            "token of query i is key i-1, i.e. diagonal(offset=-1, dim1=-2, dim2=-1).",
            "diagonal": "you scored the main diagonal A[i, i], each token attending to itself; the previous token "
            "sits one below it: diagonal(offset=-1, dim1=-2, dim2=-1).",
            "wrapped": "your score also counts query 0 → key T-1 (torch.roll wraps around): [CLS] has no previous "
            "token, so average only over the T-1 queries i ≥ 1.",
            "summed": "you summed A[i, i-1] over the queries; take the mean, so that sentences of different "
            "lengths give comparable scores between 0 and 1.",
            "wrong_shape": "Return one score per head: shape (L, H), i.e. reduce the query axis.",
        },
    )
)
diagnose_value_weighted, check_value_weighted = make_checkers(
    Exercise(
        name="value_weighted",
        signature=(
            "``fn(weights (H, T, T), x (T, D), w_v (D, D), b_v (D,), w_o (D, D)) -> shares (H, T, T)``: "
            "A[i, j]·‖f_h(x_j)‖ renormalised per row, f_h(x_j) = v_j^h W_O^h."
        ),
        example=(
            ">>> def unfinished(weights, x, w_v, b_v, w_o):\n"
            "...     raise NotImplementedError\n"
            ">>> diagnose_value_weighted(unfinished).mistake\n"
            "'not_attempted'"
        ),
        solve=reference_value_weighted,
        variants=("norm_of_input", "no_output_projection", "whole_value", "query_norm", "not_renormalised"),
        cases=_value_cases,
        args=("weights", "x", "w_v", "b_v", "w_o"),
        outputs=("shares",),
        done="Your shares weigh each key by the length of what it adds through the head, v_j W_O^h",
        hint="v = x @ w_v + b_v, split into heads (H, T, Dh); head h's rows of w_o are w_o.view(H, Dh, D)[h]; "
        "norms = (v @ those rows).norm(dim=-1) gives (H, T); scale column j by norms[:, j], then divide each "
        "row by its sum.",
        messages={
            "norm_of_input": "you weighted by ‖x_j‖, the length of the token *before* the value projection; what a "
            "key adds is its value vector mapped by W_O: v_j = x_j W_V + b_V, then v_j^h W_O^h.",
            "no_output_projection": "you used ‖v_j^h‖ but left out W_O; a head's output reaches the residual stream "
            "only through its rows of W_O, which stretch some directions more than others: use ‖v_j^h W_O^h‖.",
            "whole_value": "you took the norm of the whole value vector (all heads' features); each head moves "
            "only its own slice v_j^h: split v into heads first.",
            "query_norm": "you scaled the rows (queries) instead of the columns (keys), so after renormalising you "
            "get the raw weights back; multiply column j by key j's norm.",
            "not_renormalised": "your products A[i, j]·‖f(x_j)‖ are right but not renormalised: divide each row by "
            "its sum, so each entry is key j's share and all heads share one 0..1 scale.",
            "wrong_shape": "Return one (T, T) matrix per head: shape (H, T, T).",
        },
    )
)
