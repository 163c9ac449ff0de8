"""Checkers of notebook 09_efficient_attention: one online-softmax step, and the KV-cache mask.

>>> reference_kv_cache_mask(2, 4, mistake="top_left").int()  # the new queries treated as the first ones
tensor([[1, 0, 0, 0],
        [1, 1, 0, 0]], dtype=torch.int32)
"""

from typing import Annotated

import torch
from torch import Tensor

from mha_lib.checks.runner import Case, Exercise, generator, make_checkers, randn
from mha_lib.efficient import causal_lower_right, online_softmax_step


def reference_online_softmax_step(
    run_max: Annotated[Tensor, "rows"], run_sum: Annotated[Tensor, "rows"], chunk: Annotated[Tensor, "rows b"],
    mistake: str | None = None,
) -> tuple[Annotated[Tensor, "rows"], Annotated[Tensor, "rows"]]:  # fmt: skip
    """mha_lib's step; ``mistake`` forgets to rescale the old sum, or subtracts the block's own max."""
    if mistake is None:
        return online_softmax_step(run_max, run_sum, chunk)
    new_max = torch.maximum(run_max, chunk.amax(-1))  # (rows,)
    if mistake == "forgot_rescale":  # the old sum stays relative to the old max
        return new_max, run_sum + torch.exp(chunk - new_max.unsqueeze(-1)).sum(-1)
    if mistake == "block_max":  # the block's terms relative to its own max, not the running one
        block = torch.exp(chunk - chunk.amax(-1, keepdim=True)).sum(-1)  # (rows,)
        return new_max, run_sum * torch.exp(run_max - new_max) + block
    raise ValueError(f"unknown mistake {mistake!r}")


def reference_kv_cache_mask(n_new: int, t_total: int, mistake: str | None = None) -> Annotated[Tensor, "n t"]:
    """The mask of ``n_new`` new queries over ``t_total`` cached keys; ``mistake`` aligns it top-left or flips it."""
    if mistake == "top_left":
        return torch.ones(n_new, t_total, dtype=torch.bool).tril()  # (n, t) as SDPA's is_causal would
    mask = causal_lower_right(n_new, t_total)  # (n, t)
    return ~mask if mistake == "mask_inverted" else mask


def _step_cases() -> list[Case]:
    g = generator(9)
    run_max = torch.tensor([0.5, 2.0, -1.0, 1.0], dtype=torch.float64)  # (rows,)
    run_sum = torch.tensor([1.5, 3.0, 1.0, 2.2], dtype=torch.float64)  # (rows,)
    rises = randn(g, 4, 3) + torch.tensor([[2.0], [3.0], [1.0], [4.0]], dtype=torch.float64)  # the max goes up
    stays = randn(g, 4, 5) - 3.0  # the max stays: only the block's terms are added
    return [(run_max, run_sum, rises), (run_max, run_sum, stays), (run_max[:2], run_sum[:2], randn(g, 2, 1) * 3)]


def _mask_cases() -> list[Case]:
    return [(1, 5), (3, 7), (4, 4), (2, 6)]


diagnose_online_softmax_step, check_online_softmax_step = make_checkers(
    Exercise(
        name="online_softmax_step",
        signature="``fn(run_max (R,), run_sum (R,), chunk (R, b)) -> (new_max (R,), new_sum (R,))``: one block of "
        "the online softmax.",
        example=(
            ">>> from mha_lib.efficient import online_softmax_step\n"
            ">>> diagnose_online_softmax_step(online_softmax_step).mistake is None\n"
            "True"
        ),
        solve=reference_online_softmax_step,
        variants=("forgot_rescale", "block_max"),
        cases=_step_cases,
        args=("run_max", "run_sum", "chunk"),
        outputs=("new_max", "new_sum"),
        done="Your step keeps the running max and the running sum of exp(x - max) exact",
        hint="new_max = max(run_max, chunk.amax(-1)); the old sum was relative to run_max, so multiply it by "
        "exp(run_max - new_max), then add exp(chunk - new_max).sum(-1).",
        messages={
            "forgot_rescale": "your running sum was not rescaled when the max went up: the old terms are "
            "exp(x - old_max), so multiply run_sum by exp(run_max - new_max) before adding the new block.",
            "block_max": "you subtracted the block's own max inside the exponent; every term of the sum must be "
            "relative to the same (running) max: exp(chunk - new_max).",
        },
    )
)
diagnose_kv_cache_mask, check_kv_cache_mask = make_checkers(
    Exercise(
        name="kv_cache_mask",
        signature="``fn(n_new: int, t_total: int) -> bool mask (n_new, t_total)``: the new queries are the last "
        "n_new positions; True = may attend.",
        example=(
            ">>> diagnose_kv_cache_mask(lambda n, t: torch.ones(n, t, dtype=torch.bool).tril()).mistake\n'top_left'"
        ),
        solve=reference_kv_cache_mask,
        variants=("top_left", "mask_inverted"),
        cases=_mask_cases,
        args=("n_new", "t_total"),
        outputs=("mask",),
        done="Your mask lets new query i (position t_total - n_new + i) see every key up to itself",
        hint="new query i sits at position t_total - n_new + i and may see keys 0 … that position: "
        "torch.ones(n_new, t_total).tril(diagonal=t_total - n_new), as bool.",
        messages={
            "top_left": "your mask is aligned top-left, as if the new queries were the first tokens: with a cache "
            "they are the last ones, so shift the diagonal by t_total - n_new (lower-right alignment, "
            "torch.nn.attention.bias.causal_lower_right).",
            "mask_inverted": "your mask is inverted: True must mean 'may attend'; flip it with ~mask.",
        },
    )
)
