"""Checkers of notebook 03_masking: a padding mask, a causal mask, and attention that respects a mask.

>>> reference_causal_mask(3, mistake="off_by_one").int()  # the diagonal left out
tensor([[0, 0, 0],
        [1, 0, 0],
        [1, 1, 0]], dtype=torch.int32)
"""

from typing import Annotated

import torch
from torch import Tensor

from mha_lib.checks.runner import Case, Exercise, generator, make_checkers
from mha_lib.checks.scaling import ATTENTION_SHAPES, qkv_cases, reference_attention
from mha_lib.masks import causal_mask, padding_mask

MASK_INVERTED = "your mask is inverted: True must mean 'may attend' and False 'blocked'; flip it with ~mask."


def reference_padding_mask(
    valid_lens: Annotated[Tensor, "batch"], t_k: int, mistake: str | None = None
) -> Annotated[Tensor, "batch 1 k_len"]:
    """mha_lib's padding mask; ``mistake`` inverts it, shifts it by one key or transposes it."""
    shift = {"off_by_one": 1, "off_by_one:short": -1}.get(mistake, 0)  # `<=` and `< valid - 1`
    mask = padding_mask((valid_lens + shift).clamp(0, t_k), t_k)  # (B, 1, Tk)
    mask = ~mask if mistake == "mask_inverted" else mask
    return mask.mT if mistake == "transposed_output" else mask  # (B, Tk, 1) when transposed


def reference_causal_mask(t: int, mistake: str | None = None) -> Annotated[Tensor, "seq seq"]:
    """mha_lib's causal mask; ``mistake`` inverts it, transposes it or moves its diagonal by one."""
    mask = causal_mask(t)  # (T, T)
    diagonal = {"off_by_one": -1, "off_by_one:above": 1}.get(mistake, 0)  # diagonal left out or one too many
    mask = torch.ones_like(mask).tril(diagonal) if diagonal else mask  # (T, T)
    mask = ~mask if mistake == "mask_inverted" else mask
    return mask.mT if mistake == "transposed_output" else mask  # (T, T)


def _padding_cases() -> list[Case]:
    return [(torch.tensor([2, 5]), 5), (torch.tensor([0, 3, 1]), 4), (torch.tensor([6]), 7)]


def _causal_cases() -> list[Case]:
    return [(4,), (6,), (1,)]


def _masked_cases() -> list[Case]:
    (q1, k1, v1), (q2, k2, v2), (q3, k3, v3) = qkv_cases(4)
    custom = torch.rand(3, 6, 2, generator=generator(5)) > 0.4  # (B, Tq, Tk)
    custom[0, 1] = False  # a fully masked row
    return [
        (q1, k1, v1, padding_mask(torch.tensor([5, 2]), 5)),  # (B, 1, Tk)
        (q2, k2, v2, causal_mask(4)),  # (Tq, Tk)
        (q3, k3, v3, custom),  # (B, Tq, Tk)
        (q1, k1, v1, padding_mask(torch.tensor([0, 3]), 5) & causal_mask(3, 5)),  # (B, Tq, Tk), batch 0 all masked
    ]


diagnose_padding_mask, check_padding_mask = make_checkers(
    Exercise(
        name="padding_mask",
        signature="``fn(valid_lens (B,), t_k: int) -> bool mask (B, 1, Tk)``, True = may attend.",
        example=(
            ">>> diagnose_padding_mask(lambda valid_lens, t_k: torch.arange(t_k) >= valid_lens[:, None, None]).mistake\n"
            "'mask_inverted'"
        ),
        solve=reference_padding_mask,
        variants=("mask_inverted", "off_by_one", "off_by_one:short", "transposed_output"),
        cases=_padding_cases,
        args=("valid_lens", "t_k"),
        outputs=("mask",),
        done="Your padding mask keeps exactly the first valid_len keys of each sequence",
        hint="key position j may be attended when j < valid_lens[b]: compare torch.arange(t_k) with the lengths by broadcasting, then add a query axis of size 1.",
        messages={
            "mask_inverted": MASK_INVERTED,
            "off_by_one": "your mask is off by one: key j is valid when j < valid_len, so exactly valid_len keys are True.",
            "transposed_output": "your mask looks transposed: the keys belong on the last axis, (B, 1, Tk), so it broadcasts over the queries.",
            "wrong_shape": "Add the query axis with .unsqueeze(1) so the mask broadcasts over the queries.",
        },
    )
)
diagnose_causal_mask, check_causal_mask = make_checkers(
    Exercise(
        name="causal_mask",
        signature="``fn(t: int) -> bool mask (T, T)``, True on and below the diagonal.",
        example=">>> diagnose_causal_mask(lambda t: torch.ones(t, t, dtype=torch.bool).triu()).mistake\n'transposed_output'",
        solve=reference_causal_mask,
        variants=("mask_inverted", "transposed_output", "off_by_one", "off_by_one:above"),
        cases=_causal_cases,
        args=("t",),
        outputs=("mask",),
        done="Your causal mask lets query i see keys 0..i",
        hint="query i may look at keys 0 … i: the mask is True on and below the diagonal (look up torch.tril).",
        messages={
            "mask_inverted": MASK_INVERTED,
            "transposed_output": "your mask is transposed: row i is query i and may see the columns (keys) 0..i, so use torch.tril, not torch.triu.",
            "off_by_one": "your mask is off by one: query i may see keys 0..i, the diagonal included and nothing above it (torch.tril with diagonal=0).",
        },
    )
)
diagnose_masked_attention, check_masked_attention = make_checkers(
    Exercise(
        name="masked_attention",
        signature="``fn(q, k, v, mask) -> (out, weights)``: bool mask, fully masked rows give zeros, inputs unchanged.",
        example=(
            ">>> from mha_lib.attention import scaled_dot_product_attention\n"
            ">>> diagnose_masked_attention(lambda q, k, v, mask: scaled_dot_product_attention(q, k, v, mask)).mistake is None\n"
            "True"
        ),
        solve=reference_attention,
        variants=(
            "mask_inverted",
            "mask_after_softmax",
            "nan_rows",
            "uniform_masked_rows",
            "forgot_scale",
            "wrong_softmax_axis",
            "transposed_output",
        ),
        cases=_masked_cases,
        args=("q", "k", "v", "mask"),
        outputs=("out", "weights"),
        done="Your masked attention matches, and fully masked rows give zeros",
        hint="block the masked scores before the softmax (-inf where the mask is False), softmax over the keys, then make sure a row with no allowed key comes out as zeros, not NaN.",
        messages={"wrong_shape": ATTENTION_SHAPES},
    )
)
