"""Multi-head attention as an ``nn.Module``: project, split into heads, attend, merge, project."""

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mha_lib._validate import require_bool_mask, require_broadcast_mask, require_count, require_heads, require_tensor
from mha_lib.attention import _attend
from mha_lib.heads import merge_heads, split_heads


class MultiHeadAttention(nn.Module):
    """Self- or cross-attention with ``num_heads`` heads of size ``d_model // num_heads``.

    ``forward(query, key=None, value=None, mask=None)``: ``key`` defaults to ``query`` (self-attention)
    and ``value`` to ``key`` (cross-attention passes the encoder states once). Returns ``(out, weights)``
    with per-head weights (B, H, Tq, Tk), never averaged. Self-attention projects Q, K, V with one packed
    matmul; ``need_weights=False`` runs PyTorch's fused kernel and returns ``(out, None)``.

    A query with no allowed key gets a zero attention output (so ``out`` = ``out_proj.bias``) on both paths, in
    training and eval alike. ``nn.MultiheadAttention`` differs (torch 2.13, tests/test_torch_behaviour.py): NaN with
    ``need_weights=True``; with ``need_weights=False``, zeros in training mode or with grad enabled, NaN on its
    ``eval()`` + ``no_grad`` fast path. float16/bfloat16 attention is computed in float32, so large scores stay finite.

    >>> mha = MultiHeadAttention(d_model=8, num_heads=2)
    >>> out, w = mha(torch.randn(1, 5, 8))
    >>> out.shape, w.shape
    (torch.Size([1, 5, 8]), torch.Size([1, 2, 5, 5]))
    """

    def __init__(self, d_model: int, num_heads: int, *, bias: bool = True) -> None:
        super().__init__()
        d_model = require_count("d_model", d_model, "MultiHeadAttention(d_model=8, num_heads=2)")
        num_heads = require_count("num_heads", num_heads, "MultiHeadAttention(d_model=8, num_heads=2)")
        require_heads(num_heads, d_model)
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)  # W_Q
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)  # W_K
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)  # W_V
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W_O
        self._pack_in_proj()

    def _pack_in_proj(self) -> None:
        """Move W_Q, W_K, W_V (and their biases) side by side into one buffer, so self-attention can read them
        as one (3D, D) matrix without copying. They stay three separate parameters of three ``nn.Linear``."""
        projs = (self.q_proj, self.k_proj, self.v_proj)
        with torch.no_grad():
            for name in ("weight", "bias"):
                if getattr(self.q_proj, name) is not None:
                    packed = torch.cat([getattr(p, name) for p in projs])  # (3D, D) or (3D,)
                    for proj, part in zip(projs, packed.chunk(3)):
                        setattr(proj, name, nn.Parameter(part))  # a view into the packed buffer

    def _in_proj(self, name: str) -> Tensor | None:
        """W_Q, W_K, W_V stacked, (3D, D), or their biases, (3D,); None without bias.

        A free view of the shared buffer while the three still lie there in order and autograd is off;
        otherwise (training, or after ``.to()`` / ``.double()`` separated them) a concatenated copy.
        """
        a, b, c = (getattr(p, name) for p in (self.q_proj, self.k_proj, self.v_proj))
        if a is None:
            return None
        n, start = a.numel(), a.storage_offset()
        side_by_side = (
            a.is_contiguous()
            and b.is_contiguous()
            and c.is_contiguous()
            and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr() == c.untyped_storage().data_ptr()
            and b.storage_offset() == start + n
            and c.storage_offset() == start + 2 * n
        )
        if side_by_side and not torch.is_grad_enabled():
            return a.as_strided((3 * a.shape[0], *a.shape[1:]), a.stride())  # (3D, D) or (3D,), no copy
        return torch.cat([a, b, c])  # (3D, D) or (3D,)

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

    def _project(self, query: Tensor, key: Tensor, value: Tensor, contiguous: bool) -> tuple[Tensor, Tensor, Tensor]:
        """Q, K, V split into heads: (B, H, Tq, Dh), (B, H, Tk, Dh), (B, H, Tk, Dh).

        Views of the projections, or (``contiguous=True``, for the matmuls of the weights path) copies laid out
        head by head, made in one pass for self-attention.
        """
        h = self.num_heads
        if key is query and value is query:  # self-attention: one packed matmul instead of three
            qkv = F.linear(query, self._in_proj("weight"), self._in_proj("bias"))  # (B, T, 3D)
            heads = qkv.unflatten(-1, (3, h, self.d_head)).permute(2, 0, 3, 1, 4)  # (3, B, H, T, Dh)
            return (heads.contiguous() if contiguous else heads).unbind(0)  # 3 × (B, H, T, Dh)
        projected = (
            split_heads(F.linear(x, proj.weight, proj.bias), h)  # (B, H, T, Dh)
            for x, proj in ((query, self.q_proj), (key, self.k_proj), (value, self.v_proj))
        )
        q, k, v = (x.contiguous() if contiguous else x for x in projected)  # (B, H, Tq or Tk, Dh)
        return q, k, v

    def forward(
        self,
        query: Annotated[Tensor, "batch q_len d_model"],
        key: Annotated[Tensor, "batch k_len d_model"] | None = None,
        value: Annotated[Tensor, "batch k_len d_model"] | None = None,
        mask: Tensor | None = None,
        *,
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
        q, k, v = self._project(query, key, value, contiguous=need_weights)  # (B, H, Tq or Tk, Dh)
        out, weights = _attend(q, k, v, mask, self.d_head**-0.5, need_weights)  # (B, H, Tq, Dh), (B, H, Tq, Tk)
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
