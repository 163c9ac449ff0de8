"""Scaled dot-product attention, the one formula every notebook builds on.

weights = softmax(Q Kᵀ · scale / temperature + attn_bias, masked)    out = weights V
"""

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from mha_lib._validate import require_bool_mask, require_broadcast_mask, require_number, require_tensor

# Inputs whose scores would overflow (float16: q·k > 65504) or lose the softmax's precision: computed in float32.
HALF_DTYPES = (torch.float16, torch.bfloat16)


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
    blocked = ~mask  # (..., Tq, Tk), broadcastable
    return _softmax_owned(scores.masked_fill(blocked, float("-inf")), blocked)  # (..., Tq, Tk)


def row_entropy(weights: Annotated[Tensor, "... q_len k_len"]) -> Annotated[Tensor, "... q_len"]:
    """Entropy in nats (natural log) of each row of attention weights; 0 · log 0 counts as 0.

    ln(Tk) means uniform attention, 0 means all weight on one key; an all-zero (fully masked) row gives 0.

    >>> row_entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
    tensor([0.6931, 0.0000])
    """
    require_tensor("weights", weights)
    return torch.special.entr(weights).sum(-1)  # (..., Tq)


def _softmax_owned(
    scores: Annotated[Tensor, "... q_len k_len"], blocked: Annotated[Tensor, "... q_len k_len"] | None
) -> Annotated[Tensor, "... q_len k_len"]:
    """Softmax of ``scores``, a fresh tensor nobody else holds, whose blocked cells are already -inf.

    Overwritten in place (no second Tq×Tk buffer) unless autograd needs it or it is strided; blocked cells end at
    exactly 0, so a row with no allowed key (NaN after softmax) becomes zeros. ``blocked=None``: no clean-up pass.
    """
    if scores.requires_grad or not scores.is_contiguous():  # softmax's backward reads its own output
        weights = torch.softmax(scores, dim=-1)  # (..., Tq, Tk)
        return weights if blocked is None else weights.masked_fill(blocked, 0.0)  # (..., Tq, Tk)
    weights = torch.softmax(scores, dim=-1, out=scores)  # (..., Tq, Tk), in place
    return weights if blocked is None else weights.masked_fill_(blocked, 0.0)  # (..., Tq, Tk), in place


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        require_tensor(name, x)
        if x.dim() < 2:
            raise ValueError(
                f"{name} must have shape (..., T, D), got {tuple(x.shape)}; add a sequence axis with .unsqueeze(0)"
            )
    qs, ks, vs = q.shape, k.shape, v.shape
    if qs[-1] != ks[-1]:
        raise ValueError(
            f"q and k must share their last dimension D: q {tuple(qs)} vs k {tuple(ks)}; "
            f"project them to the same size (q_proj and k_proj with equal out_features)"
        )
    if ks[-2] != vs[-2]:
        raise ValueError(f"k and v need one value per key: k {tuple(ks)} vs v {tuple(vs)} differ in Tk (axis -2)")
    if qs[:-2] != ks[:-2] or ks[:-2] != vs[:-2]:
        raise ValueError(
            f"q, k, v must have the same batch dims: q {tuple(qs)}, k {tuple(ks)}, v {tuple(vs)}; "
            f"expand a shared k/v explicitly with .expand(...)"
        )
    if not (qs[-2] and ks[-2] and qs[-1]):
        raise ValueError(
            f"empty sequence or feature axis: q {tuple(qs)}, k {tuple(ks)}; attention needs Tq, Tk, D >= 1"
        )
    dtype = q.dtype
    if not (dtype == k.dtype == v.dtype and dtype.is_floating_point):
        raise TypeError(
            f"q, k, v must share one floating dtype, got {dtype}, {k.dtype}, {v.dtype}; convert with .to(torch.float32)"
        )


def _check_attn_bias(bias: object, target: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """Raise unless ``bias`` is a float tensor of ``dtype``, finite or −inf, broadcasting to ``target`` unenlarged."""
    require_tensor("attn_bias", bias)
    if bias.dtype == torch.bool:
        raise TypeError(
            f"attn_bias of shape {tuple(bias.shape)} is a bool tensor: that is a mask (True = may attend), pass it as mask"
        )
    if bias.dtype != dtype:
        raise TypeError(
            f"attn_bias must be a float tensor of the scores' dtype {dtype}, got {bias.dtype}; "
            f"convert it with attn_bias.to({dtype})"
        )
    ok = bias.dim() <= len(target) and all(b in (1, t) for b, t in zip(reversed(bias.shape), reversed(target)))
    if not ok:
        raise ValueError(
            f"attn_bias of shape {tuple(bias.shape)} does not broadcast to the scores shape {target} "
            f"(PyTorch aligns shapes from the right: an (H, Tq, Tk) bias such as alibi_bias fits (B, H, Tq, Tk) scores)"
        )
    nan, pos_inf = int(bias.isnan().sum()), int(bias.isposinf().sum())
    if nan or pos_inf:
        raise ValueError(
            f"attn_bias of shape {tuple(bias.shape)} holds {nan} NaN and {pos_inf} +inf values: a bias must be "
            f"finite or -inf (= blocked); NaN or +inf would make every weight of its row NaN"
        )
    return bias


def _with_bias_mask(bias: Tensor | None, mask: Tensor | None) -> Tensor | None:
    """``mask`` with the −inf cells of ``bias`` blocked as well, so a row whose bias is all −inf gets zeros, not NaN."""
    if bias is None or not bias.isneginf().any():
        return mask
    allowed = ~bias.isneginf()  # (..., Tq, Tk), broadcastable
    return allowed if mask is None else mask & allowed


def _effective_scale(d: int, scale: float | None, temperature: float) -> float:
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ValueError(
            f"scale must be a positive finite number or None (= 1/sqrt(D) = {1 / math.sqrt(d):.4g}), got {scale!r}"
        )
    return scale / require_number("temperature", temperature, "1.0 = plain softmax")


def scaled_dot_product_attention(
    q: Annotated[Tensor, "... q_len d"],
    k: Annotated[Tensor, "... k_len d"],
    v: Annotated[Tensor, "... k_len d_v"],
    mask: Annotated[Tensor, "... q_len k_len"] | None = None,
    *,
    attn_bias: Annotated[Tensor, "... q_len k_len"] | None = None,
    scale: float | None = None,
    temperature: float = 1.0,
    need_weights: bool = True,
) -> tuple[Annotated[Tensor, "... q_len d_v"], Annotated[Tensor, "... q_len k_len"] | None]:
    """Attention of every query over every key: ``(out, weights)``.

    ``mask`` is bool, True = may attend, broadcastable to ``(..., Tq, Tk)``. ``scale=None`` means
    ``1/sqrt(D)``; scores are divided by ``temperature`` after scaling. ``attn_bias`` (float, finite or
    −inf, broadcastable to ``(..., Tq, Tk)``, e.g. ``positions.alibi_bias``) is added after that. With
    ``need_weights=False`` the fused PyTorch kernel runs and ``(out, None)`` comes back.

    A query with no allowed key gets zero weights and a zero output on both paths. The fused path owes its
    zeros to PyTorch: SDPA returns zeros there since 2.5 (an undocumented ``_safe_softmax``; NaN before), on
    every CPU backend and dtype (pinned by tests/test_torch_behaviour.py). float16 and bfloat16 inputs are
    computed in float32 and returned in their own dtype, as SDPA's MATH backend does.

    >>> q = k = v = torch.eye(2).unsqueeze(0)                      # (1, 2, 2)
    >>> out, w = scaled_dot_product_attention(q, k, v, scale=1.0)
    >>> w.shape, w.sum(-1)
    (torch.Size([1, 2, 2]), tensor([[1., 1.]]))
    """
    _check_qkv(q, k, v)
    s = _effective_scale(q.shape[-1], scale, temperature)
    if mask is not None:
        require_bool_mask(mask)
        require_broadcast_mask(mask, (*q.shape[:-1], k.shape[-2]), "scores")
    if attn_bias is not None:
        _check_attn_bias(attn_bias, (*q.shape[:-1], k.shape[-2]), q.dtype)
    return _attend(q, k, v, mask, s, need_weights, bias=attn_bias)


def _attend(
    q: Annotated[Tensor, "... q_len d"],
    k: Annotated[Tensor, "... k_len d"],
    v: Annotated[Tensor, "... k_len d_v"],
    mask: Annotated[Tensor, "... q_len k_len"] | None,
    scale: float,
    need_weights: bool,
    *,
    bias: Annotated[Tensor, "... q_len k_len"] | None = None,
) -> tuple[Annotated[Tensor, "... q_len d_v"], Annotated[Tensor, "... q_len k_len"] | None]:
    """The computation of :func:`scaled_dot_product_attention` for inputs already checked; ``scale`` is final.

    >>> q = k = v = torch.eye(2).unsqueeze(0)                      # (1, 2, 2)
    >>> _attend(q, k, v, None, 1.0, need_weights=False)[1] is None
    True
    """
    mask = _with_bias_mask(bias, mask)  # (..., Tq, Tk): the bias's −inf cells count as blocked
    if not need_weights:
        if bias is not None:  # SDPA takes one float attn_mask: the bias, −inf where blocked
            mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))  # (..., Tq, Tk)
        if mask is not None and mask.dim() < 2:  # SDPA wants (…, Tq or 1, Tk or 1)
            mask = mask.view(*(1,) * (2 - mask.dim()), *mask.shape)  # (1, Tk) or (1, 1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale), None  # (..., Tq, Dv), fused
    if q.dtype in HALF_DTYPES:  # like SDPA's MATH backend: scores, softmax and sum in float32, then back
        out, weights = _attend(q.float(), k.float(), v.float(), mask, scale, need_weights)  # float32
        return out.to(q.dtype), weights.to(q.dtype)  # (..., Tq, Dv), (..., Tq, Tk)
    t_q, t_k = q.shape[-2], k.shape[-2]
    q3, k3 = q.reshape(-1, t_q, q.shape[-1]), k.reshape(-1, t_k, k.shape[-1])  # (N, Tq, D), (N, Tk, D)
    scores = torch.baddbmm(q.new_zeros(()), q3, k3.mT, beta=0.0, alpha=scale)  # (N, Tq, Tk), scale inside the matmul
    scores = scores.view(*q.shape[:-2], t_q, t_k)  # (..., Tq, Tk), fresh: no pass over Tq·Tk just to scale
    if bias is not None:
        scores.add_(bias)  # (..., Tq, Tk), in place on our own tensor
    blocked = None if mask is None else ~mask  # (..., Tq, Tk), broadcastable
    if blocked is not None:
        scores.masked_fill_(blocked, float("-inf"))  # (..., Tq, Tk), in place on our own tensor
    weights = _softmax_owned(scores, blocked)  # (..., Tq, Tk)
    return torch.matmul(weights, v), weights  # (..., Tq, Dv), (..., Tq, Tk)
