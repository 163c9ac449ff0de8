"""Checkers of notebook 02_scaling: scaled dot-product attention, then with a temperature.

:func:`reference_attention` is the answer every later attention exercise builds on (masking, heads, cross
attention), with the known mistakes of all of them.

>>> out, weights = reference_attention(torch.zeros(1, 1, 2), torch.zeros(1, 3, 2), torch.ones(1, 3, 1))
>>> weights.shape
torch.Size([1, 1, 3])
"""

import math
from typing import Annotated

from torch import Tensor

from mha_lib.attention import masked_softmax, scaled_dot_product_attention
from mha_lib.checks.runner import Case, Exercise, generator, make_checkers, randn

ATTENTION_SHAPES = "Return (out, weights) with out (B, Tq, Dv) and weights (B, Tq, Tk)."


def reference_attention(
    q: Annotated[Tensor, "batch q_len d"],
    k: Annotated[Tensor, "batch k_len d"],
    v: Annotated[Tensor, "batch k_len d_v"],
    mask: Annotated[Tensor, "batch q_len k_len"] | None = None,
    *,
    temperature: float = 1.0,
    d_model: int | None = None,
    mistake: str | None = None,
) -> tuple[Annotated[Tensor, "batch q_len d_v"], Annotated[Tensor, "batch q_len k_len"]]:
    """mha_lib's attention; ``mistake`` names a flaw in scale, temperature, softmax axis or masking."""
    d = d_model if mistake == "scaled_by_d_model" else q.shape[-1]
    scale = 1.0 if mistake == "forgot_scale" else 1 / math.sqrt(d)
    temperature = {"wrong_temperature": 1 / temperature, "wrong_temperature:ignored": 1.0}.get(mistake, temperature)
    if mistake == "mask_inverted":
        mask = ~mask
    if mistake == "wrong_softmax_axis":
        scores = (q * scale / temperature) @ k.mT  # (B, Tq, Tk)
        weights = masked_softmax(scores.mT, None if mask is None else mask.mT).mT  # (B, Tq, Tk), columns sum to 1
        return weights @ v, weights  # (B, Tq, Dv), (B, Tq, Tk)
    applied = None if mistake == "mask_after_softmax" else mask
    _, weights = scaled_dot_product_attention(q, k, v, applied, scale=scale, temperature=temperature)  # (B, Tq, Tk)
    if mistake == "mask_after_softmax":
        weights = weights.masked_fill(~mask, 0.0)  # (B, Tq, Tk), rows no longer sum to 1
    if mistake == "uniform_masked_rows":
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), 1 / k.shape[-2])  # (B, Tq, Tk), 1/Tk in empty rows
    if mistake == "nan_rows":
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), math.nan)  # (B, Tq, Tk), NaN in empty rows
    return weights @ v, (weights.mT if mistake == "transposed_output" else weights)  # (B, Tq, Dv), (B, Tq, Tk)


def reference_temperature_attention(
    q: Annotated[Tensor, "batch q_len d"],
    k: Annotated[Tensor, "batch k_len d"],
    v: Annotated[Tensor, "batch k_len d_v"],
    temperature: float,
    mistake: str | None = None,
) -> tuple[Annotated[Tensor, "batch q_len d_v"], Annotated[Tensor, "batch q_len k_len"]]:
    """:func:`reference_attention` with the temperature as a positional argument, as the exercise takes it."""
    return reference_attention(q, k, v, temperature=temperature, mistake=mistake)


def qkv_cases(seed: int) -> list[Case]:
    """Three seeded float64 (q, k, v) batches with Tq ≠ Tk and B > 1 where they can differ."""
    g = generator(seed)
    shapes = ((2, 3, 5, 4, 6), (1, 4, 4, 8, 3), (3, 6, 2, 5, 5))  # (B, Tq, Tk, D, Dv)
    return [(randn(g, b, tq, d), randn(g, b, tk, d), randn(g, b, tk, dv)) for b, tq, tk, d, dv in shapes]


def _temperature_cases() -> list[Case]:
    return [(*case, t) for case, t in zip(qkv_cases(3), (0.5, 2.0, 4.0))]


diagnose_scaled_attention, check_scaled_attention = make_checkers(
    Exercise(
        name="scaled_attention",
        signature="``fn(q (B, Tq, D), k (B, Tk, D), v (B, Tk, Dv)) -> (out (B, Tq, Dv), weights (B, Tq, Tk))``.",
        example=(
            ">>> from mha_lib.attention import scaled_dot_product_attention\n"
            ">>> diagnose_scaled_attention(lambda q, k, v: scaled_dot_product_attention(q, k, v, scale=1.0)).mistake\n"
            "'forgot_scale'"
        ),
        solve=reference_attention,
        variants=("forgot_scale", "wrong_softmax_axis", "transposed_output"),
        cases=lambda: qkv_cases(10),
        args=("q", "k", "v"),
        outputs=("out", "weights"),
        done="Your attention equals softmax(q kᵀ / √d) v, with the weights",
        hint="three steps: scores from q and the keys (transpose the last two axes of k; k.T does not work on batches) scaled by 1/√d; a softmax over the keys; the weights times v. Return (out, weights).",
        messages={"wrong_shape": ATTENTION_SHAPES},
    )
)
diagnose_temperature_attention, check_temperature_attention = make_checkers(
    Exercise(
        name="temperature_attention",
        signature="``fn(q, k, v, temperature: float) -> (out, weights)`` with softmax(q kᵀ / √D / temperature).",
        example=(
            ">>> from mha_lib.attention import scaled_dot_product_attention\n"
            ">>> diagnose_temperature_attention(lambda q, k, v, t: scaled_dot_product_attention(q, k, v, temperature=t)).mistake is None\n"
            "True"
        ),
        solve=reference_temperature_attention,
        variants=(
            "wrong_temperature",
            "wrong_temperature:ignored",
            "forgot_scale",
            "wrong_softmax_axis",
            "transposed_output",
        ),
        cases=_temperature_cases,
        args=("q", "k", "v", "temperature"),
        outputs=("out", "weights"),
        done="Dividing the scaled scores by the temperature gives the expected weights and output",
        hint="start from scaled attention and divide the scaled scores by the temperature before the softmax.",
        messages={"wrong_shape": ATTENTION_SHAPES},
    )
)
