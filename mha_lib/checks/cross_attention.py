"""Checkers of notebook 05_cross_attention: the source padding mask, and target queries over source keys.

>>> reference_source_padding_mask(torch.tensor([2]), 2, 3).int()
tensor([[[1, 1, 0],
         [1, 1, 0]]], dtype=torch.int32)
"""

from typing import Annotated

import torch
from torch import Tensor

from mha_lib.checks.masking import MASK_INVERTED, reference_padding_mask
from mha_lib.checks.runner import Case, Exercise, generator, make_checkers, randn
from mha_lib.checks.scaling import reference_attention
from mha_lib.masks import padding_mask

SOURCE_OFF_BY_ONE = (
    "your mask is off by one: source key j is valid when j < src_valid_len, so exactly src_valid_len keys are True."
)


def reference_source_padding_mask(
    src_valid_lens: Annotated[Tensor, "batch"], q_len: int, src_len: int, mistake: str | None = None
) -> Annotated[Tensor, "batch q_len k_len"]:
    """The source keys' padding mask expanded over the queries; ``mistake`` as in the padding mask, or rows."""
    if mistake == "padded_queries_not_keys":
        rows = padding_mask(src_valid_lens.clamp(max=q_len), q_len).mT  # (B, Tq, 1), queries ≥ length blocked
        return rows.expand(-1, -1, src_len)  # (B, Tq, Tk)
    keys = reference_padding_mask(
        src_valid_lens, src_len, None if mistake == "transposed_output" else mistake
    )  # (B, 1, Tk)
    mask = keys.expand(-1, q_len, -1)  # (B, Tq, Tk)
    return mask.mT if mistake == "transposed_output" else mask  # (B, Tk, Tq) when transposed


def reference_cross_attention(
    target: Annotated[Tensor, "batch q_len d_model"],
    source: Annotated[Tensor, "batch k_len d_model"],
    w_q: Annotated[Tensor, "d_model d_model"],
    w_k: Annotated[Tensor, "d_model d_model"],
    w_v: Annotated[Tensor, "d_model d_model"],
    src_valid_lens: Annotated[Tensor, "batch"],
    mistake: str | None = None,
) -> tuple[Annotated[Tensor, "batch q_len d_model"], Annotated[Tensor, "batch q_len k_len"]]:
    """Queries from the target, keys and values from the source, padded source keys blocked."""
    queries = source if mistake == "swapped_query_source" else target  # (B, Tq, D)
    q, k, v = queries @ w_q, source @ w_k, source @ w_v  # (B, Tq, D), (B, Tk, D), (B, Tk, D)
    mask_mistake = mistake if mistake in ("padded_queries_not_keys", "off_by_one") else None
    mask = reference_source_padding_mask(src_valid_lens, q.shape[-2], k.shape[-2], mask_mistake)  # (B, Tq, Tk)
    return reference_attention(q, k, v, mask, mistake=mistake)  # (B, Tq, D), (B, Tq, Tk)


def _source_mask_cases() -> list[Case]:
    return [(torch.tensor([4, 2]), 3, 5), (torch.tensor([1, 6, 3]), 4, 6), (torch.tensor([2]), 5, 2)]


def _cross_cases() -> list[Case]:
    g = generator(9)
    shapes = ((2, 3, 5, 4, [5, 2]), (1, 4, 6, 8, [3]), (3, 5, 2, 6, [2, 1, 2]))  # (B, Tq, Tk, D, lens)
    return [
        (randn(g, b, tq, d), randn(g, b, tk, d), *(randn(g, d, d) for _ in range(3)), torch.tensor(lens))
        for b, tq, tk, d, lens in shapes
    ]


diagnose_source_padding_mask, check_source_padding_mask = make_checkers(
    Exercise(
        name="source_padding_mask",
        signature="``fn(src_valid_lens (B,), q_len: int, src_len: int) -> bool mask (B, Tq, Tk)``.",
        example=(
            ">>> from mha_lib.masks import padding_mask\n"
            ">>> diagnose_source_padding_mask(lambda lens, q_len, src_len: padding_mask(lens, src_len)).message\n"
            "'Not quite: the shape of mask is (2, 1, 5), expected (2, 3, 5) (case 1). Expand it over the queries with .expand(-1, q_len, -1).'"
        ),
        solve=reference_source_padding_mask,
        variants=("mask_inverted", "padded_queries_not_keys", "off_by_one", "off_by_one:short", "transposed_output"),
        cases=_source_mask_cases,
        args=("src_valid_lens", "q_len", "src_len"),
        outputs=("mask",),
        done="Your mask blocks the padded source keys for every query",
        hint="source key j is real when j < src_valid_lens[b]; every query row gets the same key mask, so build it as (B, 1, Tk) and expand it over the Tq rows.",
        messages={
            "mask_inverted": MASK_INVERTED,
            "off_by_one": SOURCE_OFF_BY_ONE,
            "transposed_output": "your mask looks transposed: the keys belong on the last axis, (B, Tq, Tk), not (B, Tk, Tq).",
            "wrong_shape": "Expand it over the queries with .expand(-1, q_len, -1).",
        },
    )
)
diagnose_cross_attention, check_cross_attention = make_checkers(
    Exercise(
        name="cross_attention",
        signature="``fn(target (B, Tq, D), source (B, Tk, D), w_q, w_k, w_v (D, D), src_valid_lens (B,)) -> (out, weights)``.",
        example=">>> diagnose_cross_attention(lambda *args: None).mistake\n'wrong_shape'",
        solve=reference_cross_attention,
        variants=(
            "swapped_query_source",
            "padded_queries_not_keys",
            "mask_inverted",
            "off_by_one",
            "mask_after_softmax",
            "forgot_scale",
            "wrong_softmax_axis",
            "transposed_output",
        ),
        cases=_cross_cases,
        args=("target", "source", "w_q", "w_k", "w_v", "src_valid_lens"),
        outputs=("out", "weights"),
        done="Queries from the target attend over the unpadded source keys",
        hint="queries come from the target, keys and values from the source; block the padded source keys before the softmax over the keys.",
        messages={
            "off_by_one": SOURCE_OFF_BY_ONE,
            "wrong_shape": "Return (out, weights) with out (B, Tq, D) and weights (B, Tq, Tk): one row per target token.",
        },
    )
)
