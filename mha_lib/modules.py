"""Multi-head attention as an ``nn.Module``: project, split into heads, attend, merge, project."""

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mha_lib._validate import (
    divisors,
    require_bool_mask,
    require_broadcast_mask,
    require_count,
    require_heads,
    require_tensor,
)
from mha_lib.attention import _attend, _check_attn_bias
from mha_lib.efficient import _attend_grouped
from mha_lib.heads import merge_heads, split_heads


class MultiHeadAttention(nn.Module):
    """Self- or cross-attention with ``num_heads`` heads of size ``d_model // num_heads``.

    ``forward(query, key=None, value=None, mask=None, *, attn_bias=None)``: ``key`` defaults to ``query``
    (self-attention) and ``value`` to ``key`` (cross-attention passes the encoder states once); ``attn_bias``
    (H or 1, Tq, Tk) or (B, H or 1, Tq, Tk) is added to the scaled scores (e.g. ``positions.alibi_bias``).
    Returns ``(out, weights)`` with per-head weights (B, H, Tq, Tk), never averaged. Self-attention projects Q, K, V with one packed
    matmul; ``need_weights=False`` runs PyTorch's fused kernel and returns ``(out, None)``.

    ``num_kv_heads`` (a divisor of ``num_heads``) gives grouped-query attention: ``k_proj``/``v_proj`` produce
    ``num_kv_heads · d_head`` features and each group of ``num_heads / num_kv_heads`` query heads shares one
    key/value head (1 = multi-query attention; None = ``num_heads``, ordinary multi-head attention).

    A query with no allowed key gets a zero attention output (so ``out`` = ``out_proj.bias``) on both paths, in
    training and eval alike. ``nn.MultiheadAttention`` differs (torch 2.13, tests/test_torch_behaviour.py): NaN with
    ``need_weights=True``; with ``need_weights=False``, zeros in training mode or with grad enabled, NaN on its
    ``eval()`` + ``no_grad`` fast path. float16/bfloat16 attention is computed in float32, so large scores stay finite.

    >>> mha = MultiHeadAttention(d_model=8, num_heads=2)
    >>> out, w = mha(torch.randn(1, 5, 8))
    >>> out.shape, w.shape
    (torch.Size([1, 5, 8]), torch.Size([1, 2, 5, 5]))
    """

    def __init__(self, d_model: int, num_heads: int, *, num_kv_heads: int | None = None, bias: bool = True) -> None:
        super().__init__()
        d_model = require_count("d_model", d_model, "MultiHeadAttention(d_model=8, num_heads=2)")
        num_heads = require_count("num_heads", num_heads, "MultiHeadAttention(d_model=8, num_heads=2)")
        require_heads(num_heads, d_model)
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if type(num_kv_heads) is not int or num_kv_heads not in divisors(num_heads):
            raise ValueError(
                f"num_kv_heads={num_kv_heads!r} must divide num_heads={num_heads}: each key/value head serves an equal "
                f"group of query heads; pick num_kv_heads from {divisors(num_heads)}"
            )
        self.d_model = d_model
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.d_head = d_model // num_heads
        d_kv = num_kv_heads * self.d_head  # key/value features: d_model for ordinary multi-head attention
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)  # W_Q
        self.k_proj = nn.Linear(d_model, d_kv, bias=bias)  # W_K
        self.v_proj = nn.Linear(d_model, d_kv, bias=bias)  # W_V
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W_O
        self._pack_in_proj()

    def _pack_in_proj(self) -> None:
        """Move W_Q, W_K, W_V (and their biases) side by side into one buffer, so self-attention can read them
        as one (D + 2·Dkv, D) matrix without copying. They stay three separate parameters of three ``nn.Linear``."""
        projs = (self.q_proj, self.k_proj, self.v_proj)
        sizes = [p.out_features for p in projs]  # [D, Dkv, Dkv]
        with torch.no_grad():
            for name in ("weight", "bias"):
                if getattr(self.q_proj, name) is not None:
                    packed = torch.cat([getattr(p, name) for p in projs])  # (D + 2·Dkv, D) or (D + 2·Dkv,)
                    for proj, part in zip(projs, packed.split(sizes)):
                        setattr(proj, name, nn.Parameter(part))  # a view into the packed buffer

    def _in_proj(self, name: str) -> Tensor | None:
        """W_Q, W_K, W_V stacked, (D + 2·Dkv, D), or their biases, (D + 2·Dkv,); None without bias.

        A free view of the shared buffer while the three still lie there in order and autograd is off;
        otherwise (training, or after ``.to()`` / ``.double()`` separated them) a concatenated copy.
        """
        a, b, c = (getattr(p, name) for p in (self.q_proj, self.k_proj, self.v_proj))
        if a is None:
            return None
        start = a.storage_offset()
        side_by_side = (
            a.is_contiguous()
            and b.is_contiguous()
            and c.is_contiguous()
            and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr() == c.untyped_storage().data_ptr()
            and b.storage_offset() == start + a.numel()
            and c.storage_offset() == start + a.numel() + b.numel()
        )
        if side_by_side and not torch.is_grad_enabled():
            rows = a.shape[0] + b.shape[0] + c.shape[0]  # D + 2·Dkv
            return a.as_strided((rows, *a.shape[1:]), a.stride())  # (D + 2·Dkv, D) or (D + 2·Dkv,), no copy
        return torch.cat([a, b, c])  # (D + 2·Dkv, D) or (D + 2·Dkv,)

    def _head_mask(self, mask: Tensor, batch: int, t_q: int, t_k: int) -> Tensor:
        require_bool_mask(mask)
        target = (batch, self.num_heads, t_q, t_k)
        if mask.dim() == 3:  # (B, Tq or 1, Tk): insert the head axis
            require_broadcast_mask(mask, (batch, t_q, t_k), "(B, Tq, Tk) batch-mask")
            mask = mask.unsqueeze(1)  # (B, 1, Tq or 1, Tk)
        elif mask.dim() not in (2, 4):
            raise ValueError(
                f"mask must be (Tq, Tk), (B, Tq or 1, Tk) or (B, H or 1, Tq, Tk) = {target}, got {tuple(mask.shape)}"
            )
        require_broadcast_mask(mask, target, "(B, H, Tq, Tk) weights")
        return mask

    def _head_bias(self, bias: Tensor, batch: int, t_q: int, t_k: int, dtype: torch.dtype) -> Tensor:
        target = (batch, self.num_heads, t_q, t_k)
        if bias.dim() not in (3, 4):
            raise ValueError(
                f"attn_bias must be (H or 1, Tq, Tk) or (B, H or 1, Tq, Tk) = {target}, got {tuple(bias.shape)}; "
                f"a (Tq, Tk) bias shared by all heads needs .unsqueeze(0)"
            )
        return _check_attn_bias(bias, target, dtype)  # broadcasts to (B, H, Tq, Tk)

    def _project(self, query: Tensor, key: Tensor, value: Tensor, contiguous: bool) -> tuple[Tensor, Tensor, Tensor]:
        """Q, K, V split into heads: (B, H, Tq, Dh), (B, Hkv, Tk, Dh), (B, Hkv, Tk, Dh).

        Views of the projections, or (``contiguous=True``, for the matmuls of the weights path) copies laid out
        head by head, made in one pass for self-attention.
        """
        h, h_kv = self.num_heads, self.num_kv_heads
        self_attention = key is query and value is query
        if self_attention and h_kv == h:  # one packed matmul instead of three
            qkv = F.linear(query, self._in_proj("weight"), self._in_proj("bias"))  # (B, T, 3D)
            heads = qkv.unflatten(-1, (3, h, self.d_head)).permute(2, 0, 3, 1, 4)  # (3, B, H, T, Dh)
            return (heads.contiguous() if contiguous else heads).unbind(0)  # 3 × (B, H, T, Dh)
        if self_attention:  # grouped: one packed matmul, then Q, K, V of different widths
            d_kv = h_kv * self.d_head
            qkv = F.linear(query, self._in_proj("weight"), self._in_proj("bias"))  # (B, T, D + 2·Dkv)
            parts = qkv.split([self.d_model, d_kv, d_kv], dim=-1)  # (B, T, D), (B, T, Dkv), (B, T, Dkv)
        else:
            parts = tuple(
                F.linear(x, proj.weight, proj.bias)  # (B, T, D) or (B, T, Dkv)
                for x, proj in ((query, self.q_proj), (key, self.k_proj), (value, self.v_proj))
            )
        projected = (split_heads(x, n) for x, n in zip(parts, (h, h_kv, h_kv)))  # (B, H or Hkv, T, Dh)
        q, k, v = (x.contiguous() if contiguous else x for x in projected)  # (B, H or Hkv, Tq or Tk, Dh)
        return q, k, v

    def forward(
        self,
        query: Annotated[Tensor, "batch q_len d_model"],
        key: Annotated[Tensor, "batch k_len d_model"] | None = None,
        value: Annotated[Tensor, "batch k_len d_model"] | None = None,
        mask: Tensor | None = None,
        *,
        attn_bias: Tensor | None = None,
        need_weights: bool = True,
    ) -> tuple[Annotated[Tensor, "batch q_len d_model"], Annotated[Tensor, "batch heads q_len k_len"] | None]:
        key = query if key is None else key
        value = key if value is None else value
        for name, x in (("query", query), ("key", key), ("value", value)):
            require_tensor(name, x)
            if x.dim() != 3 or x.shape[-1] != self.d_model:
                raise ValueError(f"{name} must be (B, T, d_model={self.d_model}), got {tuple(x.shape)}")
        dtype = self.out_proj.weight.dtype
        if not query.dtype == key.dtype == value.dtype == dtype:
            raise TypeError(
                f"query, key, value are {query.dtype}, {key.dtype}, {value.dtype} but the module's weights are {dtype}; "
                f"convert the inputs (x.to({dtype})) or the module (mha.to({query.dtype}))"
            )
        if key.shape[:2] != value.shape[:2] or query.shape[0] != key.shape[0]:
            raise ValueError(
                f"query (B, Tq, D), key and value (B, Tk, D) must agree: query {tuple(query.shape)}, "
                f"key {tuple(key.shape)}, value {tuple(value.shape)}"
            )
        if not (query.shape[1] and key.shape[1]):
            raise ValueError(
                f"empty sequence: query {tuple(query.shape)}, key {tuple(key.shape)}; attention needs Tq, Tk >= 1"
            )
        if mask is not None:
            mask = self._head_mask(mask, query.shape[0], query.shape[1], key.shape[1])  # to (B, H, Tq, Tk)
        if attn_bias is not None:
            attn_bias = self._head_bias(attn_bias, query.shape[0], query.shape[1], key.shape[1], query.dtype)
        q, k, v = self._project(query, key, value, contiguous=need_weights)  # (B, H or Hkv, Tq or Tk, Dh)
        scale, group = self.d_head**-0.5, self.num_heads // self.num_kv_heads
        if group == 1:
            out, weights = _attend(q, k, v, mask, scale, need_weights, bias=attn_bias)  # (B, H, Tq, Dh), …
        elif attn_bias is None:
            out, weights = _attend_grouped(q, k, v, mask, scale, need_weights)  # (B, H, Tq, Dh), …
        else:  # a bias per query head: give each query head its own copy of its group's K, V
            k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)  # (B, H, Tk, Dh)
            out, weights = _attend(q, k, v, mask, scale, need_weights, bias=attn_bias)  # (B, H, Tq, Dh), …
        out = F.linear(merge_heads(out), self.out_proj.weight, self.out_proj.bias)  # (B, Tq, D)
        return out, weights  # (B, Tq, D), (B, H, Tq, Tk) or None

    @classmethod
    def from_torch(cls, m: nn.MultiheadAttention) -> "MultiHeadAttention":
        """Copy the weights of an ``nn.MultiheadAttention``; outputs then match it.

        Our module is batch-first: with ``batch_first=False`` transpose inputs yourself.

        >>> ref = nn.MultiheadAttention(8, 2, batch_first=True)
        >>> MultiHeadAttention.from_torch(ref).num_heads
        2
        """
        if not isinstance(m, nn.MultiheadAttention):
            raise TypeError(f"from_torch expects nn.MultiheadAttention, got {type(m).__name__}")
        if m.kdim != m.embed_dim or m.vdim != m.embed_dim:
            raise ValueError(
                f"cannot copy kdim={m.kdim}, vdim={m.vdim} != embed_dim={m.embed_dim}: this module projects all inputs from d_model"
            )
        if m.bias_k is not None:
            raise ValueError("cannot copy add_bias_kv=True: this module has no learned extra key/value")
        if m.add_zero_attn:
            raise ValueError("cannot copy add_zero_attn=True: this module adds no zero key/value")
        w = m.out_proj.weight
        ours = cls(m.embed_dim, m.num_heads, bias=m.in_proj_bias is not None).to(dtype=w.dtype, device=w.device)
        with torch.no_grad():
            for proj, weight in zip((ours.q_proj, ours.k_proj, ours.v_proj), m.in_proj_weight.chunk(3)):
                proj.weight.copy_(weight)
            if m.in_proj_bias is not None:
                for proj, b in zip((ours.q_proj, ours.k_proj, ours.v_proj), m.in_proj_bias.chunk(3)):
                    proj.bias.copy_(b)
                ours.out_proj.bias.copy_(m.out_proj.bias)
            ours.out_proj.weight.copy_(w)
        ours._pack_in_proj()  # .to() above may have separated W_Q, W_K, W_V
        return ours
