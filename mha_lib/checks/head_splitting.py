"""Checkers of notebook 04_head_splitting: split the features into heads, merge them back, multi-head attention.

>>> reference_split_heads(torch.zeros(2, 5, 12), 3).shape
torch.Size([2, 3, 5, 4])
"""

import math
from typing import Annotated

from torch import Tensor

from mha_lib.checks.runner import Case, Exercise, generator, make_checkers, randn
from mha_lib.checks.scaling import reference_attention
from mha_lib.heads import merge_heads, split_heads, wrong_split_heads


def reference_split_heads(
    x: Annotated[Tensor, "batch seq d_model"], num_heads: int, mistake: str | None = None
) -> Annotated[Tensor, "batch heads seq d_head"]:
    """mha_lib's split_heads; ``mistake="wrong_head_split"`` is the classic ``x.view(B, H, T, Dh)``."""
    if mistake == "wrong_head_split":
        return wrong_split_heads(x, num_heads)  # (B, H, T, Dh), tokens mixed
    return split_heads(x, num_heads)  # (B, H, T, Dh)


def reference_merge_heads(
    x: Annotated[Tensor, "batch heads seq d_head"], mistake: str | None = None
) -> Annotated[Tensor, "batch seq d_model"]:
    """mha_lib's merge_heads; ``mistake="wrong_merge"`` reshapes without moving the head axis."""
    batch, heads, seq, d_head = x.shape
    if mistake == "wrong_merge":
        return x.reshape(batch, seq, heads * d_head)  # (B, T, D), heads and tokens mixed
    return merge_heads(x)  # (B, T, D)


def reference_multi_head_attention(
    x: Annotated[Tensor, "batch seq d_model"],
    w_q: Annotated[Tensor, "d_model d_model"],
    w_k: Annotated[Tensor, "d_model d_model"],
    w_v: Annotated[Tensor, "d_model d_model"],
    w_o: Annotated[Tensor, "d_model d_model"],
    num_heads: int,
    mistake: str | None = None,
) -> Annotated[Tensor, "batch seq d_model"]:
    """Project, split, attend per head, merge, project out; ``mistake`` is passed to the step it concerns."""
    split = "wrong_head_split" if mistake in ("wrong_head_split", "wrong_head_split:both") else None
    merge = "wrong_merge" if mistake in ("wrong_merge", "wrong_head_split:both") else None
    q, k, v = (reference_split_heads(x @ w, num_heads, split) for w in (w_q, w_k, w_v))  # (B, H, T, Dh) each
    heads, _ = reference_attention(q, k, v, d_model=x.shape[-1], mistake=mistake)  # (B, H, T, Dh)
    return reference_merge_heads(heads, merge) @ w_o  # (B, T, D)


def _split_cases() -> list[Case]:
    g = generator(6)
    return [(randn(g, b, t, d), h) for b, t, d, h in ((2, 5, 12, 3), (1, 4, 8, 2), (3, 3, 12, 4))]


def _merge_cases() -> list[Case]:
    g = generator(7)
    return [(randn(g, b, h, t, dh),) for b, h, t, dh in ((2, 3, 5, 4), (1, 2, 4, 3), (3, 4, 2, 2))]


def _mha_cases() -> list[Case]:
    g = generator(8)
    shapes = ((2, 5, 12, 3), (1, 4, 8, 2), (2, 3, 12, 4))  # (B, T, D, H)
    return [(randn(g, b, t, d), *(randn(g, d, d) / math.sqrt(d) for _ in range(4)), h) for b, t, d, h in shapes]


diagnose_split_heads, check_split_heads = make_checkers(
    Exercise(
        name="split_heads",
        signature="``fn(x (B, T, D), num_heads: int) -> (B, H, T, D / H)``.",
        example=">>> diagnose_split_heads(lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1)).mistake\n'wrong_head_split'",
        solve=reference_split_heads,
        variants=("wrong_head_split",),
        cases=_split_cases,
        args=("x", "num_heads"),
        outputs=("heads",),
        done="Each head gets its own slice of every token's features",
        hint="reshape to (B, T, H, D // H) so each token keeps its own features, then .transpose(1, 2) to get (B, H, T, Dh).",
        messages={"wrong_shape": "Reshape to (B, T, H, Dh), then .transpose(1, 2) to get (B, H, T, Dh)."},
    )
)
diagnose_merge_heads, check_merge_heads = make_checkers(
    Exercise(
        name="merge_heads",
        signature="``fn(x (B, H, T, Dh)) -> (B, T, H * Dh)``.",
        example=">>> diagnose_merge_heads(lambda x: x.reshape(x.shape[0], x.shape[2], -1)).mistake\n'wrong_merge'",
        solve=reference_merge_heads,
        variants=("wrong_merge",),
        cases=_merge_cases,
        args=("x",),
        outputs=("merged",),
        done="Your merge puts the heads back side by side, the inverse of split_heads",
        hint="undo split_heads: x.transpose(1, 2) gives (B, T, H, Dh), then .reshape(B, T, H * Dh) (.view fails on a transposed tensor).",
        messages={
            "wrong_shape": "Move the head axis with .transpose(1, 2), then join the last two axes with .reshape(B, T, H * Dh)."
        },
    )
)
diagnose_multi_head_attention, check_multi_head_attention = make_checkers(
    Exercise(
        name="multi_head_attention",
        signature="``fn(x (B, T, D), w_q, w_k, w_v, w_o (D, D), num_heads: int) -> out (B, T, D)``.",
        example=(
            ">>> def unfinished(x, w_q, w_k, w_v, w_o, num_heads):\n"
            "...     raise NotImplementedError\n"
            ">>> diagnose_multi_head_attention(unfinished).mistake\n"
            "'not_attempted'"
        ),
        solve=reference_multi_head_attention,
        variants=(
            "scaled_by_d_model",
            "forgot_scale",
            "wrong_head_split",
            "wrong_head_split:both",
            "wrong_merge",
            "wrong_softmax_axis",
        ),
        cases=_mha_cases,
        args=("x", "w_q", "w_k", "w_v", "w_o", "num_heads"),
        outputs=("out",),
        done="Your multi-head attention matches split → attention per head (÷√d_head) → merge → w_o",
        hint="project q = x @ w_q (and k, v), split each into heads, attend per head dividing by √d_head, merge the heads and multiply by w_o.",
        messages={
            "forgot_scale": "your scores are not scaled; divide each head's q @ kᵀ by √d_head (d_head = d_model // num_heads).",
            "wrong_shape": "Merge the heads back to (B, T, D) before multiplying by w_o.",
        },
    )
)
