"""Checkers of notebook 06_positional_encoding: the sinusoidal formula, RoPE by hand, attention with RoPE.

>>> reference_sinusoidal(torch.arange(2.0), 4, mistake="swapped_sin_cos")[0].tolist()  # cos first at p = 0
[1.0, 0.0, 1.0, 0.0]
"""

from typing import Annotated

import torch
from torch import Tensor

from mha_lib.attention import scaled_dot_product_attention
from mha_lib.checks.runner import Case, Exercise, generator, make_checkers, randn
from mha_lib.positions import apply_rope

BASE = 10000.0
WRONG_BASES = {"wrong_base": 1000.0, "wrong_base:1e5": 1e5}  # base 100 would be the exponent i/D mistake

SINUSOIDAL_MESSAGES = {
    "swapped_sin_cos": "sin and cos are swapped: even dimensions 2i hold sin(p·ω_i), odd dimensions 2i+1 hold cos(p·ω_i), so PE(0) = [0, 1, 0, 1, …].",
    "exponent_i_over_d": "your frequencies use the exponent i/D with i = 0, 1, 2, …; the paper's ω_i = 10000^(−2i/D): the exponent runs over the even dimensions 0, 2, 4, … divided by D (torch.arange(0, D, 2) / D).",
    "inverted_frequencies": "your frequencies grow with i (p · 10000^(+2i/D)); they must shrink: ω_i = 10000^(−2i/D), so the first pair turns fastest and the last one slowest.",
    "wrong_base": "your base is not 10000: ω_i = 10000^(−2i/D), as in 'Attention Is All You Need'.",
    "concatenated_layout": "you put all sines first and all cosines after them (a concatenated layout); this exercise asks for the interleaved one of the paper: sin, cos, sin, cos, … (PE[:, 0::2] = sin, PE[:, 1::2] = cos).",
    "wrong_shape": "Return one (T, D) tensor: one row per position, one column per dimension.",
}
ROPE_MESSAGES = {
    "wrong_pairing": "you rotated the pairs (i, i + D/2) — the 'half' layout of GPT-NeoX and Llama code's rotate_half; this exercise asks for the interleaved pairs (2i, 2i + 1) of the RoFormer paper: x[..., 0::2] with x[..., 1::2].",
    "positions_not_applied": "your rotation does not use the positions argument (it turns token t by its index t, or not at all); turn the pair (x_2i, x_2i+1) of token t by positions[t]·ω_i — positions need not be 0, 1, 2, ….",
    "rotation_reversed": "you rotate the wrong way (by −p·ω_i): (a, b) → (a·cos − b·sin, a·sin + b·cos).",
    "exponent_i_over_d": "your frequencies use the exponent i/D; RoPE uses ω_i = 10000^(−2i/D) for pair i, as the sinusoidal encoding does.",
    "wrong_shape": "Return a tensor of the shape of x.",
}
ROPE_ATTENTION_MESSAGES = {
    "rotated_v": "you rotated v as well: RoPE turns only q and k, so that their scores depend on the offset m − n; v carries the content that the weights average, untouched.",
    "rotated_only_q": "you rotated q but not k: then a score depends on the query's absolute position; rotate both, q by the query positions and k by the key positions.",
    "rotated_only_k": "you rotated k but not q: then a score depends on the key's absolute position; rotate both.",
    "wrong_pairing": "you used pairing='half' (GPT-NeoX / Llama's rotate_half); this exercise uses the interleaved pairs of the paper, apply_rope's default.",
    "positions_not_applied": "your weights do not use the positions argument (apply_rope without it turns by 0, 1, 2, …; or nothing was rotated); rotate with apply_rope(q, positions) and apply_rope(k, positions).",
    "forgot_scale": "your scores are not scaled; divide the rotated q kᵀ by √d_head.",
    "wrong_shape": "Return (out, weights) with out (B, H, T, Dh) and weights (B, H, T, T).",
}


def reference_sinusoidal(
    positions: Annotated[Tensor, "seq"], d_model: int, mistake: str | None = None
) -> Annotated[Tensor, "seq d_model"]:
    """The paper's encoding of ``positions`` (float) in their dtype; ``mistake`` swaps sin and cos, changes the
    exponent or the base, or lays the sines and cosines out one after the other."""
    base = WRONG_BASES.get(mistake, BASE)
    i = torch.arange(0, d_model, 2, dtype=positions.dtype) / 2  # (D/2,): 0, 1, 2, …
    exponent = {"exponent_i_over_d": i / d_model, "inverted_frequencies": -2 * i / d_model}.get(
        mistake, 2 * i / d_model
    )
    angles = positions[:, None] * base**-exponent  # (T, D/2)
    first, second = angles.sin(), angles.cos()  # (T, D/2) each
    if mistake == "swapped_sin_cos":
        first, second = second, first
    if mistake == "concatenated_layout":
        return torch.cat((first, second), dim=-1)  # (T, D): all sines, then all cosines
    return torch.stack((first, second), dim=-1).flatten(-2)  # (T, D): sin, cos, sin, cos, …


def reference_rope(
    x: Annotated[Tensor, "... seq d"], positions: Annotated[Tensor, "seq"], mistake: str | None = None
) -> Annotated[Tensor, "... seq d"]:
    """RoPE with the interleaved pairs; ``mistake`` pairs (i, i + D/2), ignores the positions, turns the wrong
    way or uses the exponent i/D."""
    if mistake == "positions_not_applied:identity":
        return x.clone()
    if mistake == "positions_not_applied":
        positions = torch.arange(x.shape[-2])  # (T,)
    if mistake == "wrong_pairing":
        return apply_rope(x, positions, pairing="half")  # (..., T, D)
    if mistake == "rotation_reversed":
        positions = -positions
    if mistake == "exponent_i_over_d":
        return apply_rope(x, positions, base=BASE**0.5)  # 10000^(−i/D) = (10000^½)^(−2i/D)
    return apply_rope(x, positions)  # (..., T, D)


def reference_rope_attention(
    q: Annotated[Tensor, "batch heads seq d_head"],
    k: Annotated[Tensor, "batch heads seq d_head"],
    v: Annotated[Tensor, "batch heads seq d_head"],
    positions: Annotated[Tensor, "seq"],
    mistake: str | None = None,
) -> tuple[Annotated[Tensor, "batch heads seq d_head"], Annotated[Tensor, "batch heads seq seq"]]:
    """Rotate q and k (never v) by ``positions``, then attend; ``mistake`` rotates v too, only q or only k,
    uses the other pairing, ignores the positions or forgets the scale."""
    pairing = "half" if mistake == "wrong_pairing" else "interleaved"
    if mistake == "positions_not_applied":
        positions = torch.arange(q.shape[-2])  # (T,): what apply_rope does without positions
    if mistake == "positions_not_applied:none":
        turn = lambda x: x  # noqa: E731
    else:
        turn = lambda x: apply_rope(x, positions, pairing=pairing)  # noqa: E731
    q_rot = q if mistake == "rotated_only_k" else turn(q)  # (B, H, T, Dh)
    k_rot = k if mistake == "rotated_only_q" else turn(k)  # (B, H, T, Dh)
    v_used = turn(v) if mistake == "rotated_v" else v  # (B, H, T, Dh)
    scale = 1.0 if mistake == "forgot_scale" else None
    return scaled_dot_product_attention(q_rot, k_rot, v_used, scale=scale)  # (B, H, T, Dh), (B, H, T, T)


def _sinusoidal_cases() -> list[Case]:
    positions = (torch.arange(6.0), torch.arange(20.0, 30.0), torch.tensor([0.0, 3.0, 7.0, 50.0]))
    return [(p.double(), d) for p, d in zip(positions, (8, 4, 16))]


GAPPED_POSITIONS = (torch.tensor([0, 1, 2, 5, 6]), torch.tensor([3, 4, 9, 10, 11, 20]), torch.tensor([7, 2, 0, 4]))


def _rope_cases() -> list[Case]:
    g = generator(60)
    shapes = ((5, 8), (2, 6, 4), (2, 3, 4, 6))  # (..., T, D)
    return [(randn(g, *shape), p) for shape, p in zip(shapes, GAPPED_POSITIONS)]


def _rope_attention_cases() -> list[Case]:
    g = generator(61)
    shapes = ((1, 2, 5, 8), (2, 1, 6, 4), (1, 3, 4, 6))  # (B, H, T, Dh)
    return [(randn(g, *s), randn(g, *s), randn(g, *s), p) for s, p in zip(shapes, GAPPED_POSITIONS)]


diagnose_sinusoidal, check_sinusoidal = make_checkers(
    Exercise(
        name="sinusoidal",
        signature="``fn(positions (T,) float, d_model: int) -> PE (T, d_model)`` with PE[p, 2i] = sin(p·ω_i), "
        "PE[p, 2i+1] = cos(p·ω_i), ω_i = 10000^(−2i/D).",
        example=(
            ">>> from mha_lib.positions import sinusoidal\n"
            ">>> diagnose_sinusoidal(lambda p, d: sinusoidal(int(p.max()) + 1, d, dtype=p.dtype)[p.long()]).mistake is None\n"
            "True"
        ),
        solve=reference_sinusoidal,
        variants=(
            "swapped_sin_cos",
            "exponent_i_over_d",
            "inverted_frequencies",
            *WRONG_BASES,
            "concatenated_layout",
        ),
        cases=_sinusoidal_cases,
        args=("positions", "d_model"),
        outputs=("PE",),
        done="Your encoding equals sin/cos(p · 10000^(−2i/D)), interleaved",
        hint="angles = positions[:, None] * 10000 ** (-torch.arange(0, D, 2, dtype=positions.dtype) / D), (T, D/2); "
        "then sin(angles) into the even columns and cos(angles) into the odd ones. Keep positions.dtype (float64).",
        messages=SINUSOIDAL_MESSAGES,
    )
)
diagnose_rope, check_rope = make_checkers(
    Exercise(
        name="rope",
        signature="``fn(x (..., T, D), positions (T,) int) -> (..., T, D)``: feature pair (2i, 2i+1) of token t "
        "turned by positions[t]·ω_i, ω_i = 10000^(−2i/D).",
        example=(
            ">>> from mha_lib.positions import apply_rope\n"
            ">>> diagnose_rope(lambda x, p: apply_rope(x, p, pairing='half')).mistake\n"
            "'wrong_pairing'"
        ),
        solve=reference_rope,
        variants=(
            "wrong_pairing",
            "positions_not_applied",
            "positions_not_applied:identity",
            "rotation_reversed",
            "exponent_i_over_d",
        ),
        cases=_rope_cases,
        args=("x", "positions"),
        outputs=("rotated",),
        done="Your rotation equals RoPE with the interleaved pairs of the paper",
        hint="a, b = x[..., 0::2], x[..., 1::2] (the pairs); angles = positions[:, None] * ω (T, D/2); "
        "then (a·cos − b·sin, a·sin + b·cos) put back in interleaved order with torch.stack(..., dim=-1).flatten(-2).",
        messages=ROPE_MESSAGES,
    )
)
diagnose_rope_attention, check_rope_attention = make_checkers(
    Exercise(
        name="rope_attention",
        signature="``fn(q, k, v (B, H, T, Dh), positions (T,) int) -> (out (B, H, T, Dh), weights (B, H, T, T))`` "
        "with q and k rotated by RoPE (interleaved), v not.",
        example=(
            ">>> from mha_lib.attention import scaled_dot_product_attention\n"
            ">>> from mha_lib.positions import apply_rope\n"
            ">>> rotate_all = lambda q, k, v, p: scaled_dot_product_attention(*(apply_rope(x, p) for x in (q, k, v)))\n"
            ">>> diagnose_rope_attention(rotate_all).mistake\n"
            "'rotated_v'"
        ),
        solve=reference_rope_attention,
        variants=(
            "rotated_v",
            "rotated_only_q",
            "rotated_only_k",
            "wrong_pairing",
            "positions_not_applied",
            "positions_not_applied:none",
            "forgot_scale",
        ),
        cases=_rope_attention_cases,
        args=("q", "k", "v", "positions"),
        outputs=("out", "weights"),
        done="Rotating q and k (not v) by their positions gives the expected weights and output",
        hint="q_rot = apply_rope(q, positions), k_rot = apply_rope(k, positions), then "
        "scaled_dot_product_attention(q_rot, k_rot, v). Return (out, weights).",
        messages=ROPE_ATTENTION_MESSAGES,
    )
)
