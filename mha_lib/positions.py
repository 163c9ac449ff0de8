"""Where a token sits: sinusoidal encodings, rotary embeddings (RoPE) and ALiBi biases.

Attention alone sees a bag of tokens. ``sinusoidal`` adds a position vector to each embedding,
``apply_rope`` rotates q and k by their positions, ``alibi_bias`` penalises distance in the scores
(pass it as ``attn_bias``). Every frequency is ``ω_i = base^(−2i/D)``, computed in float64.
"""

import math
from typing import Annotated, Literal

import torch
from torch import Tensor

from mha_lib._validate import require_tensor

PAIRINGS = ("interleaved", "half")


def _require_base(base: float) -> None:
    if not (isinstance(base, int | float) and math.isfinite(base) and base > 1):
        raise ValueError(f"base must be a finite number > 1 (the papers use 10000.0), got {base!r}")


def _frequencies(d: int, base: float, device: torch.device | str | None = None) -> Annotated[Tensor, "half_d"]:
    """ω_i = base^(−2i/D) for i = 0 .. D/2 − 1, in float64: pair i turns by p·ω_i radians at position p."""
    return base ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)  # (D/2,)


def sinusoidal(
    seq_len: int, d_model: int, *, base: float = 10000.0, dtype: torch.dtype | None = None
) -> Annotated[Tensor, "seq_len d_model"]:
    """The sine/cosine encoding of "Attention Is All You Need": ``PE[p, 2i] = sin(p·ω_i)``, ``PE[p, 2i+1] = cos(p·ω_i)``.

    ``d_model`` must be even; ``dtype=None`` gives the default dtype (computed in float64, then cast).

    >>> pe = sinusoidal(4, 6)
    >>> pe.shape, pe[0].tolist()
    (torch.Size([4, 6]), [0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    """
    if not (isinstance(seq_len, int) and seq_len >= 0):
        raise ValueError(f"seq_len must be a whole number >= 0, got {seq_len!r}")
    if not (isinstance(d_model, int) and d_model > 0 and d_model % 2 == 0):
        raise ValueError(f"d_model must be even and > 0 (one sin and one cos per frequency), got {d_model!r}")
    _require_base(base)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] * _frequencies(d_model, base)  # (T, D/2)
    pe = torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)  # (T, D/2, 2) → (T, D): sin, cos, sin, …
    return pe.to(dtype or torch.get_default_dtype())  # (T, D)


def apply_rope(
    x: Annotated[Tensor, "... seq_len d"],
    positions: Annotated[Tensor, "seq_len"] | None = None,
    *,
    base: float = 10000.0,
    pairing: Literal["interleaved", "half"] = "interleaved",
) -> Annotated[Tensor, "... seq_len d"]:
    """Rotary position embedding: rotate feature pair i of the token at position p by the angle ``p·ω_i``.

    ``pairing="interleaved"`` pairs features (2i, 2i+1) as the RoFormer paper does; ``"half"`` pairs
    (i, i + D/2) as GPT-NeoX and Llama code do (``rotate_half``). Apply it to q and k, never to v:
    then ``q_m · k_n`` depends on m − n only. ``positions`` (T,) are integers, None = ``arange(T)``.

    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0]])     # (T=2, D=2), the same vector at positions 0 and 1
    >>> apply_rope(x).round(decimals=4)                 # position 1 turns by 1 radian
    tensor([[1.0000, 0.0000],
            [0.5403, 0.8415]])
    """
    require_tensor("x", x)
    if x.dim() < 2 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor (..., T, D), got {x.dtype} of shape {tuple(x.shape)}")
    t, d = x.shape[-2], x.shape[-1]
    if d == 0 or d % 2:
        raise ValueError(f"RoPE rotates pairs of features: D must be even and > 0, got x of shape {tuple(x.shape)}")
    if pairing not in PAIRINGS:
        raise ValueError(
            f"pairing must be 'interleaved' (RoFormer: 2i, 2i+1) or 'half' (Llama: i, i+D/2), got {pairing!r}"
        )
    _require_base(base)
    if positions is None:
        positions = torch.arange(t, device=x.device)  # (T,)
    require_tensor("positions", positions)
    if positions.dtype == torch.bool or positions.is_floating_point() or positions.is_complex():
        raise TypeError(f"positions must be an integer tensor (T,), got {positions.dtype}; use positions.long()")
    if positions.shape != (t,):
        raise ValueError(
            f"positions must have shape (T,) = ({t},) for x of shape {tuple(x.shape)}, got {tuple(positions.shape)}"
        )
    angles = positions.to(torch.float64)[:, None] * _frequencies(d, base, x.device)  # (T, D/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)  # (T, D/2) each
    if pairing == "interleaved":
        a, b = x[..., 0::2], x[..., 1::2]  # (..., T, D/2): features 2i and 2i+1
        return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)  # (..., T, D)
    a, b = x[..., : d // 2], x[..., d // 2 :]  # (..., T, D/2): features i and i + D/2
    return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)  # (..., T, D)


def alibi_slopes(num_heads: int) -> list[float]:
    """ALiBi's per-head slopes m_h: ``2^(−8(h+1)/H)`` for H a power of two; otherwise the paper's rule,
    the slopes of the largest power of two below H, then every other slope of twice that many.

    >>> alibi_slopes(4)
    [0.25, 0.0625, 0.015625, 0.00390625]
    """
    if not (isinstance(num_heads, int) and num_heads >= 1):
        raise ValueError(f"num_heads must be a whole number >= 1, got {num_heads!r}")
    n = 2 ** math.floor(math.log2(num_heads))  # the largest power of two <= H
    slopes = [2 ** (-8 * (h + 1) / n) for h in range(n)]
    return slopes + [2 ** (-8 * (h + 1) / (2 * n)) for h in range(0, 2 * n, 2)][: num_heads - n]


def alibi_bias(
    num_heads: int, t_q: int, t_k: int | None = None, *, dtype: torch.dtype | None = None
) -> Annotated[Tensor, "heads q_len k_len"]:
    """ALiBi's attention bias ``−m_h · |i − j|`` for query i and key j (top-left aligned), one slope per head.

    A bias, not a mask: add it to the scores (``attn_bias=``). ``dtype=None`` gives the default dtype.

    >>> alibi_bias(2, 3)[1]                             # head 1, slope 2^-8
    tensor([[ 0.0000, -0.0039, -0.0078],
            [-0.0039,  0.0000, -0.0039],
            [-0.0078, -0.0039,  0.0000]])
    """
    t_k = t_q if t_k is None else t_k
    if not (isinstance(t_q, int) and isinstance(t_k, int) and t_q >= 1 and t_k >= 1):
        raise ValueError(f"alibi_bias needs t_q, t_k >= 1, got t_q={t_q!r}, t_k={t_k!r}")
    slopes = torch.tensor(alibi_slopes(num_heads), dtype=torch.float64)  # (H,)
    distance = (torch.arange(t_q)[:, None] - torch.arange(t_k)).abs().to(torch.float64)  # (Tq, Tk)
    bias = 0.0 - slopes[:, None, None] * distance  # (H, Tq, Tk); 0 − x, not −x: the diagonal is +0.0, not −0.0
    return bias.to(dtype or torch.get_default_dtype())  # (H, Tq, Tk)
