"""Boolean attention masks, True = may attend, and converters from the other conventions.

PyTorch alone uses three conventions: SDPA's bool mask (True = attend, the one used here),
``nn.MultiheadAttention``'s ``key_padding_mask`` (True = ignore) and additive float masks
(0 = attend, -inf = ignore). Other code adds ``mask * -1e9`` (1 = blocked). Convert at the border.
"""

from typing import Annotated

import torch
from torch import Tensor

from mha_lib._validate import require_choice, require_count, require_int, require_tensor

# An additive value at or below this counts as "blocked" in from_additive (d2l uses -1e6, others -1e9).
BLOCKED_AT_OR_BELOW = -1e4
MASK_KINDS = ("none", "padding", "causal", "custom")  # what mask_of_kind builds


def causal_mask(
    t_q: int, t_k: int | None = None, *, device: torch.device | str | None = None
) -> Annotated[Tensor, "q_len k_len"]:
    """Lower-triangular mask: query i may attend to keys 0..i (top-left aligned, like SDPA's is_causal).

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    """
    t_q = require_count("t_q", t_q, "causal_mask(3)")
    t_k = t_q if t_k is None else require_count("t_k", t_k, "causal_mask(3, 5)")
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril()  # (Tq, Tk)


def padding_mask(valid_lens: Tensor | list[int], t_k: int) -> Annotated[Tensor, "batch q_len_or_1 k_len"]:
    """Keys at positions >= valid length are blocked (the two cases of d2l's ``masked_softmax``).

    ``valid_lens`` of shape (B,) gives (B, 1, Tk), one length per sequence; of shape (B, Tq) gives
    (B, Tq, Tk), one length per query.

    >>> padding_mask(torch.tensor([2, 3]), 4).int()
    tensor([[[1, 1, 0, 0]],
    <BLANKLINE>
            [[1, 1, 1, 0]]], dtype=torch.int32)
    """
    valid_lens = torch.as_tensor(valid_lens)
    if valid_lens.dtype == torch.bool:
        example = [t_k] * len(valid_lens) if valid_lens.dim() == 1 else [t_k]
        raise TypeError(
            f"valid_lens holds lengths (whole numbers), got the bool tensor {valid_lens.tolist()}: a bool tensor is "
            f"a mask already; use it as the mask (True = may attend), or pass integer lengths, e.g. "
            f"padding_mask(torch.tensor({example}), {t_k})"
        )
    if valid_lens.dim() not in (1, 2):
        raise ValueError(f"valid_lens must have shape (B,) or (B, Tq), got {tuple(valid_lens.shape)}")
    if valid_lens.is_floating_point() and not torch.equal(valid_lens, valid_lens.round()):
        raise ValueError(f"valid_lens must be whole numbers, got {valid_lens.tolist()}")
    if valid_lens.numel() and (valid_lens.min() < 0 or valid_lens.max() > t_k):
        raise ValueError(f"valid_lens must lie in [0, Tk] = [0, {t_k}], got {valid_lens.tolist()}")
    positions = torch.arange(t_k, device=valid_lens.device)  # (Tk,)
    mask = positions < valid_lens.unsqueeze(-1)  # (B, Tk) or (B, Tq, Tk)
    return mask.unsqueeze(1) if valid_lens.dim() == 1 else mask  # (B, 1, Tk) or (B, Tq, Tk)


def from_key_padding_mask(key_padding_mask: Annotated[Tensor, "batch k_len"]) -> Annotated[Tensor, "batch 1 k_len"]:
    """``nn.MultiheadAttention``'s key_padding_mask (True = padding, ignore) → keep-mask (B, 1, Tk).

    >>> from_key_padding_mask(torch.tensor([[False, True]])).tolist()
    [[[True, False]]]
    """
    require_tensor("key_padding_mask", key_padding_mask)
    if key_padding_mask.dtype != torch.bool:
        raise TypeError(
            f"key_padding_mask must be bool (True = padding), got {key_padding_mask.dtype}; "
            f"a float one (0 / -inf) converts with from_additive(kpm).unsqueeze(1)"
        )
    if key_padding_mask.dim() != 2:
        raise ValueError(f"key_padding_mask must have shape (B, Tk), got {tuple(key_padding_mask.shape)}")
    return (~key_padding_mask).unsqueeze(1)  # (B, 1, Tk)


def from_block_mask(block: Tensor) -> Tensor:
    """A 1/True-means-blocked mask (as in ``scores += mask * -1e9``) → keep-mask, True = may attend.

    >>> from_block_mask(torch.tensor([[0., 1.]])).tolist()
    [[True, False]]
    """
    require_tensor("block mask", block)
    if block.dtype == torch.bool:
        return ~block
    bad = (block != 0) & (block != 1)
    if bad.any():
        raise ValueError(
            f"a block mask holds only 0 (attend) and 1 (blocked); got {block[bad].unique().tolist()[:5]} "
            f"in shape {tuple(block.shape)}; an additive 0/-inf mask converts with from_additive"
        )
    return block == 0


def from_additive(additive: Tensor) -> Tensor:
    """An additive float mask → keep-mask: 0 → True, -inf or <= -1e4 → False; anything else raises.

    Values such as -0.5 are a bias (e.g. ALiBi), not a mask: they change weights without blocking.

    >>> from_additive(torch.tensor([0.0, float("-inf"), -1e9])).tolist()
    [True, False, False]
    """
    require_tensor("additive mask", additive)
    if not additive.is_floating_point():
        raise TypeError(
            f"an additive mask is a float tensor (0 / -inf), got {additive.dtype}; for 0/1 blocks use from_block_mask"
        )
    keep = additive == 0
    blocked = additive <= BLOCKED_AT_OR_BELOW  # -inf included
    other = ~(keep | blocked)
    if other.any():
        raise ValueError(
            f"additive mask of shape {tuple(additive.shape)} holds values that are neither 0 nor <= {BLOCKED_AT_OR_BELOW:g} "
            f"(e.g. {additive[other].unique().tolist()[:5]}): that is a bias, not a mask; add it to the scores instead"
        )
    return keep


def to_additive(mask: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Keep-mask → additive float mask: True → 0, False → ``torch.finfo(dtype).min`` (never a literal -1e9).

    ``finfo.min`` is finite and representable in float16 (-65504), where -1e9 overflows. Add it once: two
    such masks added together overflow to -inf in any dtype, and in float16 ``finfo.min`` plus a score
    below about -16 is -inf too. Combine bool masks with ``&`` first, then convert.

    >>> to_additive(torch.tensor([True, False]), torch.float16).tolist()
    [0.0, -65504.0]
    """
    require_tensor("mask", mask)
    if mask.dtype != torch.bool:
        raise TypeError(f"to_additive takes a bool keep-mask, got {mask.dtype}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(
            f"to_additive needs a floating dtype (the mask holds 0 and finfo(dtype).min), got {dtype!r}; "
            f"pass the scores' dtype, e.g. to_additive(mask, scores.dtype) or torch.float32"
        )
    zeros = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return zeros.masked_fill(~mask, torch.finfo(dtype).min)


def padding_mask_2d(valid_len: int, t_q: int, t_k: int) -> Annotated[Tensor, "q_len k_len"]:
    """One sequence's padding mask over every query: keys at positions >= ``valid_len`` blocked in all rows.

    >>> padding_mask_2d(2, 2, 3).int()
    tensor([[1, 1, 0],
            [1, 1, 0]], dtype=torch.int32)
    """
    valid_len = require_int("valid_len", valid_len, 0, t_k)
    return padding_mask(torch.tensor([valid_len]), t_k)[0].expand(t_q, t_k).clone()  # (Tq, Tk), its own memory


def mask_of_kind(
    kind: str, seq_len: int, valid_len: int | None = None, custom: Tensor | None = None
) -> Annotated[Tensor, "q_len k_len"]:
    """The (T, T) mask of one kind in ``MASK_KINDS``: none, padding (keys >= valid_len), causal, custom.

    ``valid_len`` counts only for "padding" (None = seq_len); ``custom`` only for "custom" (None = all allowed).

    >>> mask_of_kind("padding", 3, 2).int()
    tensor([[1, 1, 0],
            [1, 1, 0],
            [1, 1, 0]], dtype=torch.int32)
    """
    require_choice("mask kind", kind, MASK_KINDS)
    if kind == "padding":
        return padding_mask_2d(seq_len if valid_len is None else valid_len, seq_len, seq_len)  # (T, T)
    if kind == "causal":
        return causal_mask(seq_len)  # (T, T)
    if kind == "custom" and custom is not None:
        if custom.dtype != torch.bool or tuple(custom.shape) != (seq_len, seq_len):
            raise ValueError(
                f"custom mask must be a bool (T, T) = ({seq_len}, {seq_len}) tensor, got {custom.dtype} "
                f"{tuple(custom.shape)}"
            )
        return custom.clone()  # (T, T), never the caller's tensor
    return torch.ones(seq_len, seq_len, dtype=torch.bool)  # (T, T): none, or custom with nothing blocked yet
