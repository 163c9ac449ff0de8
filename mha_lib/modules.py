"""Multi-head attention as an ``nn.Module``: project, split into heads, attend, merge, project."""

from typing import Annotated

import torch
from torch import Tensor, nn

from mha_lib._checks import require_bool_mask, require_broadcast_mask, require_tensor
from mha_lib.attention import scaled_dot_product_attention
from mha_lib.heads import merge_heads, split_heads


class MultiHeadAttention(nn.Module):
    """Self- or cross-attention with ``num_heads`` heads of size ``d_model // num_heads``.

    ``forward(query, key=None, value=None, mask=None)``: ``key`` defaults to ``query`` (self-attention)
    and ``value`` to ``key`` (cross-attention passes the encoder states once). Returns ``(out, weights)``
    with per-head weights (B, H, Tq, Tk), never averaged.

    >>> mha = MultiHeadAttention(d_model=8, num_heads=2)
    >>> out, w = mha(torch.randn(1, 5, 8))
    >>> out.shape, w.shape
    (torch.Size([1, 5, 8]), torch.Size([1, 2, 5, 5]))
    """

    def __init__(self, d_model: int, num_heads: int, *, bias: bool = True) -> None:
        super().__init__()
        if num_heads < 1 or d_model % num_heads:
            raise ValueError(
                f"d_model={d_model} is not divisible by num_heads={num_heads}: every head needs d_model/num_heads "
                f"features; pick num_heads from {[h for h in range(1, d_model + 1) if d_model % h == 0]}"
            )
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)  # W_Q
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)  # W_K
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)  # W_V
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W_O

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

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if key is query and value is query:  # self-attention: one packed matmul instead of three
            weight = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])  # (3D, D)
            bias = (
                None if self.q_proj.bias is None else torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
            )
            return nn.functional.linear(query, weight, bias).chunk(3, dim=-1)  # 3 × (B, T, D)
        return self.q_proj(query), self.k_proj(key), self.v_proj(value)  # (B, Tq, D), (B, Tk, D), (B, Tk, D)

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
        if key.shape[:2] != value.shape[:2] or query.shape[0] != key.shape[0]:
            raise ValueError(
                f"query (B, Tq, D), key and value (B, Tk, D) must agree: query {tuple(query.shape)}, "
                f"key {tuple(key.shape)}, value {tuple(value.shape)}"
            )
        batch, t_q, t_k = query.shape[0], query.shape[1], key.shape[1]
        if mask is not None:
            mask = self._head_mask(mask, batch, t_q, t_k)  # broadcastable to (B, H, Tq, Tk)
        q, k, v = self._project(query, key, value)  # (B, Tq, D), (B, Tk, D), (B, Tk, D)
        q = split_heads(q, self.num_heads)  # (B, H, Tq, Dh)
        k = split_heads(k, self.num_heads)  # (B, H, Tk, Dh)
        v = split_heads(v, self.num_heads)  # (B, H, Tk, Dh)
        out, weights = scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)  # (B, H, Tq, Dh)
        return self.out_proj(merge_heads(out)), weights  # (B, Tq, D), (B, H, Tq, Tk) or None

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
        if not m._qkv_same_embed_dim:
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
        return ours
