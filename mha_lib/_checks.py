"""Input validation shared by the pure modules: every error names the shapes and the fix."""

import torch
from torch import Tensor


def require_tensor(name: str, x: object) -> Tensor:
    """Raise a TypeError unless ``x`` is a torch tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}; wrap it with torch.as_tensor(...)")
    return x


def require_bool_mask(mask: Tensor, name: str = "mask") -> Tensor:
    """Raise a TypeError unless ``mask`` is a bool tensor (True = may attend), pointing to the converters."""
    require_tensor(name, mask)
    if mask.dtype == torch.bool:
        return mask
    if mask.is_floating_point():
        hint = (
            "an additive float mask (0 / -inf) converts with mha_lib.masks.from_additive(mask); "
            "a 1.0-means-blocked mask with mha_lib.masks.from_block_mask(mask)"
        )
    else:
        hint = (
            "a 0/1 mask where 1 means 'blocked' converts with mha_lib.masks.from_block_mask(mask); "
            "where 1 means 'may attend', use mask.bool()"
        )
    raise TypeError(
        f"{name} must be a bool tensor (True = may attend), got dtype {mask.dtype} with shape {tuple(mask.shape)}: {hint}"
    )


def require_broadcast_mask(mask: Tensor, target: tuple[int, ...], what: str) -> None:
    """Raise a ValueError unless ``mask`` broadcasts to ``target`` without enlarging it."""
    ok = mask.dim() <= len(target) and all(m in (1, t) for m, t in zip(reversed(mask.shape), reversed(target)))
    if not ok:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the {what} shape {target} "
            f"(PyTorch aligns shapes from the right: a (B, 1, Tk) mask against (B, H, Tq, Tk) scores "
            f"needs mask.unsqueeze(1))"
        )
