"""Splitting the model dimension into heads and merging it back.

The right split keeps each token's features together: ``(B, T, D) → (B, T, H, Dh) → (B, H, T, Dh)``.
``x.view(B, H, T, Dh)`` has the same shape but mixes features of different tokens into one "token".
"""

from typing import Annotated

from torch import Tensor

from mha_lib._validate import require_heads, require_tensor


def split_heads(
    x: Annotated[Tensor, "batch seq d_model"], num_heads: int
) -> Annotated[Tensor, "batch heads seq d_head"]:
    """(B, T, D) → (B, H, T, D/H): head h sees features h·Dh … (h+1)·Dh - 1 of every token.

    >>> split_heads(torch.zeros(2, 5, 12), 3).shape
    torch.Size([2, 3, 5, 4])
    """
    require_tensor("x", x)
    if x.dim() != 3:
        raise ValueError(f"split_heads expects (B, T, D), got shape {tuple(x.shape)}")
    batch, seq, d_model = x.shape
    require_heads(num_heads, d_model)
    d_head = d_model // num_heads
    x = x.reshape(batch, seq, num_heads, d_head)  # (B, T, H, Dh), a view when x is contiguous
    return x.transpose(1, 2)  # (B, H, T, Dh)


def wrong_split_heads(
    x: Annotated[Tensor, "batch seq d_model"], num_heads: int
) -> Annotated[Tensor, "batch heads seq d_head"]:
    """The classic bug, kept for explorers and exercise checkers: ``x.view(B, H, T, Dh)`` straight away.

    Same shape as :func:`split_heads`, but each "token" of a head is a slice of the flat (T·D) row-major
    memory, so it mixes features of different tokens.

    >>> x = torch.arange(8.0).view(1, 2, 4)                           # (B, T, D): token 0 = 0..3, token 1 = 4..7
    >>> wrong_split_heads(x, 2)[0, 0].tolist()                        # head 0 holds all of token 0
    [[0.0, 1.0], [2.0, 3.0]]
    """
    batch, seq, d_model = x.shape
    return x.reshape(batch, num_heads, seq, d_model // num_heads)  # (B, H, T, Dh), tokens mixed


def merge_heads(x: Annotated[Tensor, "batch heads seq d_head"]) -> Annotated[Tensor, "batch seq d_model"]:
    """(B, H, T, Dh) → (B, T, H·Dh), the inverse of :func:`split_heads`.

    >>> x = torch.randn(2, 5, 12)
    >>> torch.equal(merge_heads(split_heads(x, 3)), x)
    True
    """
    require_tensor("x", x)
    if x.dim() != 4:
        raise ValueError(f"merge_heads expects (B, H, T, Dh), got shape {tuple(x.shape)}")
    batch, heads, seq, d_head = x.shape
    x = x.transpose(1, 2)  # (B, T, H, Dh)
    return x.reshape(batch, seq, heads * d_head)  # (B, T, D)
