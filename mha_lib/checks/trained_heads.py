"""Checkers of notebook 07_trained_heads: the scores that find a previous-token head and an induction head, and
switching one head off.

>>> w = torch.tensor([[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.0, 0.5, 0.5]]).expand(1, 1, 3, 3)
>>> reference_previous_token_score(w), reference_previous_token_score(w, mistake="current_position")
(tensor([0.3750]), tensor([0.7500]))
"""

from typing import Annotated

import torch
from torch import Tensor

from mha_lib.checks.runner import Case, Exercise, generator, make_checkers, randn
from mha_lib.masks import causal_mask
from mha_lib.toy_tasks import earlier_occurrences, induction_score, make_batch, previous_token_score

CURRENT_POSITION = (
    "you scored the weight a query puts on its own position (the diagonal); a previous-token head looks one "
    "position back: weights[..., i, i - 1], i.e. weights.diagonal(offset=-1, dim1=-2, dim2=-1)."
)


def reference_previous_token_score(
    weights: Annotated[Tensor, "batch heads q_len k_len"], mistake: str | None = None
) -> Annotated[Tensor, "heads"]:
    """mha_lib's previous-token score; ``mistake`` scores the diagonal, or averages over all T queries."""
    if mistake == "current_position":
        return weights.diagonal(dim1=-2, dim2=-1).mean(dim=(0, 2))  # (H,): weight of i on i
    if mistake == "query_zero_counted":  # query 0 has no previous token but is counted as 0
        previous = weights.diagonal(offset=-1, dim1=-2, dim2=-1)  # (B, H, T-1)
        return previous.sum(dim=(0, 2)) / (weights.shape[0] * weights.shape[-1])  # (H,)
    return previous_token_score(weights)  # (H,)


def _position_weights(weights: Tensor, index: Tensor) -> Tensor:
    """(B, H, T): the weight of each query i on key ``index[b, i]``."""
    return weights.gather(-1, index[:, None, :, None].expand(-1, weights.shape[1], -1, 1)).squeeze(-1)


def reference_induction_score(
    weights: Annotated[Tensor, "batch heads q_len k_len"],
    inputs: Annotated[Tensor, "batch seq"],
    scored: Annotated[Tensor, "batch seq"],
    mistake: str | None = None,
) -> Annotated[Tensor, "heads"]:
    """mha_lib's induction score; ``mistake`` looks at the earlier occurrence itself, the query's own position
    or the previous position, or averages over every query instead of the scored ones."""
    if mistake is None:
        return induction_score(weights, inputs, scored)  # (H,)
    t = inputs.shape[1]
    earlier = earlier_occurrences(inputs).int().argmax(-1)  # (B, T): j, where the token occurred before
    position = torch.arange(t).expand_as(inputs)  # (B, T): i
    index = {
        "earlier_occurrence": earlier,
        "current_position": position,
        "previous_position": (position - 1).clamp(min=0),
        "all_positions": (earlier + 1).clamp(max=t - 1),
    }[mistake]
    on = _position_weights(weights, index)  # (B, H, T)
    keep = torch.ones_like(scored) if mistake == "all_positions" else scored  # (B, T)
    keep = keep[:, None, :].to(weights.dtype)  # (B, 1, T)
    return (on * keep).sum(dim=(0, 2)) / keep.sum()  # (H,)


def reference_ablate_head(
    out_weight: Annotated[Tensor, "d_model d_model"], head: int, num_heads: int, mistake: str | None = None
) -> Annotated[Tensor, "d_model d_model"]:
    """W_O of ``nn.Linear`` (out, in) with the columns that read head ``head`` zeroed; ``mistake`` zeroes rows,
    or every column from that head on."""
    d_head = out_weight.shape[1] // num_heads
    cut = slice(head * d_head, (head + 1) * d_head)
    result = out_weight.clone()  # (D, D)
    if mistake == "zeroed_rows":
        result[cut, :] = 0.0  # output features, not the head's inputs
    elif mistake == "zeroed_from_head_on":
        result[:, head * d_head :] = 0.0
    else:
        result[:, cut] = 0.0  # (D, Dh) block: the weights that read head `head`'s output
    return result


def _causal_weights(g: torch.Generator, batch: int, heads: int, t: int) -> Tensor:
    scores = randn(g, batch, heads, t, t) * 2.0  # (B, H, T, T)
    return scores.masked_fill(~causal_mask(t), float("-inf")).softmax(-1)  # (B, H, T, T), causal rows sum to 1


def _previous_cases() -> list[Case]:
    g = generator(70)
    return [
        (_causal_weights(g, 2, 4, 6),),
        (_causal_weights(g, 1, 2, 5),),
        (torch.rand(3, 3, 4, 4, generator=g).double(),),
    ]


def _induction_cases() -> list[Case]:
    g = generator(71)
    cases = []
    for seed, batch, heads in ((1, 4, 4), (2, 2, 3), (3, 3, 2)):
        inputs, targets = make_batch("induction", batch, seed=seed)  # (B, T)
        cases.append((_causal_weights(g, batch, heads, inputs.shape[1]), inputs, targets.scored))
    return cases


def _ablate_cases() -> list[Case]:
    g = generator(72)
    return [(randn(g, 8, 8), 1, 4), (randn(g, 12, 12), 0, 3), (randn(g, 6, 6), 2, 3)]


diagnose_toy_previous_token_score, check_toy_previous_token_score = make_checkers(
    Exercise(
        name="toy_previous_token_score",
        signature="``fn(weights (B, H, T, T)) -> (H,)``: each head's mean weight on the position just before the query.",
        example=(
            ">>> diagnose_toy_previous_token_score(lambda w: w.diagonal(dim1=-2, dim2=-1).mean(dim=(0, 2))).mistake\n"
            "'current_position'"
        ),
        solve=reference_previous_token_score,
        variants=("current_position", "query_zero_counted"),
        cases=_previous_cases,
        args=("weights",),
        outputs=("score",),
        done="Your score is each head's mean weight on the previous position, over queries 1..T-1",
        hint="query i looks one back at key i-1: weights.diagonal(offset=-1, dim1=-2, dim2=-1) is (B, H, T-1); "
        "average it over the batch and the queries, keep the heads.",
        messages={
            "current_position": CURRENT_POSITION,
            "query_zero_counted": "you averaged over all T queries, counting query 0 (which has no previous token) "
            "as 0; average over the T-1 queries 1..T-1 only.",
            "wrong_shape": "Keep one score per head: average over the batch axis and the query axis only.",
        },
    )
)
diagnose_induction_score, check_induction_score = make_checkers(
    Exercise(
        name="induction_score",
        signature="``fn(weights (B, H, T, T), inputs (B, T), scored (B, T) bool) -> (H,)``: each head's mean weight "
        "on the token after the earlier occurrence of the query's token, over the scored queries.",
        example=(
            ">>> from mha_lib.toy_tasks import induction_score\n"
            ">>> diagnose_induction_score(induction_score).mistake is None\n"
            "True"
        ),
        solve=reference_induction_score,
        variants=("earlier_occurrence", "current_position", "previous_position", "all_positions"),
        cases=_induction_cases,
        args=("weights", "inputs", "scored"),
        outputs=("score",),
        done="Your score is each head's mean weight on the token right after the earlier occurrence of the "
        "query's token",
        hint="for each scored query i find j < i with inputs[b, j] == inputs[b, i] (compare inputs[:, :, None] "
        "with inputs[:, None, :] below the diagonal), read weights[b, h, i, j + 1], average over the scored queries.",
        messages={
            "earlier_occurrence": "you scored the weight on the earlier occurrence j of the query's token; an "
            "induction head looks at j + 1, the token that followed it — that is the one it copies.",
            "current_position": "you scored the weight a query puts on its own position; an induction head looks "
            "at j + 1, right after the earlier occurrence j of the query's token.",
            "previous_position": "you scored the weight on the previous position (that is the previous-token score); "
            "an induction head looks at j + 1, right after the earlier occurrence j of the query's token.",
            "all_positions": "you averaged over every query; keep only the scored ones (scored[b, i] True): elsewhere "
            "the token has no unique earlier occurrence whose successor predicts the next token.",
            "wrong_shape": "Keep one score per head: average over the batch and the scored queries only.",
        },
    )
)
diagnose_ablate_head, check_ablate_head = make_checkers(
    Exercise(
        name="ablate_head",
        signature="``fn(out_weight (D, D), head, num_heads) -> (D, D)``: W_O with the columns reading that head zeroed.",
        example=(
            ">>> def zero_rows(w, h, n):\n"
            "...     d_head = w.shape[1] // n\n"
            "...     return w.clone().index_fill(0, torch.arange(h * d_head, (h + 1) * d_head), 0.0)\n"
            ">>> diagnose_ablate_head(zero_rows).mistake\n"
            "'zeroed_rows'"
        ),
        solve=reference_ablate_head,
        variants=("zeroed_rows", "zeroed_from_head_on"),
        cases=_ablate_cases,
        args=("out_weight", "head", "num_heads"),
        outputs=("out_weight",),
        done="Your copy of W_O ignores exactly that head: its d_head input columns are zero, the rest untouched",
        hint="nn.Linear stores W_O as (out, in) and computes merged @ W_Oᵀ, so head h is read by the input columns "
        "h·d_head … (h+1)·d_head - 1: clone the weight and set result[:, h * d_head:(h + 1) * d_head] = 0.",
        messages={
            "zeroed_rows": "you zeroed rows, i.e. output features of every head; nn.Linear's weight is (out, in) and "
            "head h is read by the input columns h·d_head … (h+1)·d_head - 1: zero result[:, cut].",
            "zeroed_from_head_on": "you zeroed every column from head h on; only d_head = D / num_heads columns "
            "belong to head h.",
        },
    )
)
