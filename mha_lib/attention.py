"""Scaled dot-product attention, the one formula every notebook builds on.

weights = softmax(Q Kᵀ · scale / temperature, masked)    out = weights V
"""

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from mha_lib._checks import require_bool_mask, require_broadcast_mask, require_tensor


def masked_softmax(
    scores: Annotated[Tensor, "... q_len k_len"],
    mask: Annotated[Tensor, "... q_len k_len"] | None = None,
) -> Annotated[Tensor, "... q_len k_len"]:
    """Softmax over the last axis (the keys), ignoring keys where ``mask`` is False.

    A row with no allowed key gets all-zero weights, never NaN.

    >>> masked_softmax(torch.zeros(1, 3), torch.tensor([[True, True, False]]))
    tensor([[0.5000, 0.5000, 0.0000]])
    """
    require_tensor("scores", scores)
    if mask is None:
        return torch.softmax(scores, dim=-1)  # (..., Tq, Tk)
    require_bool_mask(mask)
    require_broadcast_mask(mask, tuple(scores.shape), "scores")
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # (..., Tq, Tk), NaN in empty rows
    return weights.masked_fill(~mask, 0.0)  # (..., Tq, Tk), empty rows become zeros


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        require_tensor(name, x)
        if x.dim() < 2:
            raise ValueError(
                f"{name} must have shape (..., T, D), got {tuple(x.shape)}; add a sequence axis with .unsqueeze(0)"
            )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must share their last dimension D: q {tuple(q.shape)} vs k {tuple(k.shape)}; "
            f"project them to the same size (q_proj and k_proj with equal out_features)"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v need one value per key: k {tuple(k.shape)} vs v {tuple(v.shape)} differ in Tk (axis -2)"
        )
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
        raise ValueError(
            f"q, k, v must have the same batch dims: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}; "
            f"expand a shared k/v explicitly with .expand(...)"
        )
    if q.shape[-2] == 0 or k.shape[-2] == 0 or q.shape[-1] == 0:
        raise ValueError(
            f"empty sequence or feature axis: q {tuple(q.shape)}, k {tuple(k.shape)}; attention needs Tq, Tk, D >= 1"
        )
    if not (q.dtype == k.dtype == v.dtype) or not q.is_floating_point():
        raise TypeError(
            f"q, k, v must share one floating dtype, got {q.dtype}, {k.dtype}, {v.dtype}; convert with .to(torch.float32)"
        )


def _effective_scale(d: int, scale: float | None, temperature: float) -> float:
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ValueError(
            f"scale must be a positive finite number or None (= 1/sqrt(D) = {1 / math.sqrt(d):.4g}), got {scale!r}"
        )
    if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number (1.0 = plain softmax), got {temperature!r}")
    return scale / temperature


def scaled_dot_product_attention(
    q: Annotated[Tensor, "... q_len d"],
    k: Annotated[Tensor, "... k_len d"],
    v: Annotated[Tensor, "... k_len d_v"],
    mask: Annotated[Tensor, "... q_len k_len"] | None = None,
    *,
    scale: float | None = None,
    temperature: float = 1.0,
    need_weights: bool = True,
) -> tuple[Annotated[Tensor, "... q_len d_v"], Annotated[Tensor, "... q_len k_len"] | None]:
    """Attention of every query over every key: ``(out, weights)``.

    ``mask`` is bool, True = may attend, broadcastable to ``(..., Tq, Tk)``. ``scale=None`` means
    ``1/sqrt(D)``; scores are divided by ``temperature`` after scaling. With ``need_weights=False`` the
    fused PyTorch kernel runs and ``(out, None)`` comes back.

    >>> q = k = v = torch.eye(2).unsqueeze(0)                      # (1, 2, 2)
    >>> out, w = scaled_dot_product_attention(q, k, v, scale=1.0)
    >>> w.shape, w.sum(-1)
    (torch.Size([1, 2, 2]), tensor([[1., 1.]]))
    """
    _check_qkv(q, k, v)
    s = _effective_scale(q.shape[-1], scale, temperature)
    scores_shape = (*q.shape[:-1], k.shape[-2])  # (..., Tq, Tk)
    if mask is not None:
        require_bool_mask(mask)
        require_broadcast_mask(mask, scores_shape, "scores")
    if not need_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=s)  # (..., Tq, Dv), fused
        return out, None
    scores = (q * s) @ k.transpose(-2, -1)  # (..., Tq, Tk); scaling q costs Tq·D, not Tq·Tk
    weights = masked_softmax(scores, mask)  # (..., Tq, Tk)
    return weights @ v, weights  # (..., Tq, Dv), (..., Tq, Tk)
