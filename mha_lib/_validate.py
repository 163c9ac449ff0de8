"""Input validation shared by the library and the scenarios: every error names the value and the fix."""

import math
import operator
from numbers import Integral

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


def require_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int if it is a whole number in [low, high] (bool excluded), else a ValueError.

    >>> require_int("seq_len", 4, 2, 16)
    4
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def require_count(name: str, value: object, example: str) -> int:
    """``value`` as an int >= 1 (a length, a size, a head count); a TypeError or ValueError naming it otherwise.

    >>> require_count("t_q", 3, "causal_mask(3)")
    3
    """
    try:
        count = None if isinstance(value, bool) else operator.index(value)  # ints, numpy ints, 0-d int tensors
    except TypeError:
        count = None
    if count is None:
        raise TypeError(f"{name} must be a whole number >= 1, got {value!r} ({type(value).__name__}); e.g. {example}")
    if count < 1:
        raise ValueError(f"{name} must be >= 1, got {count}; e.g. {example}")
    return count


def require_number(name: str, value: object, meaning: str, limits: tuple[float, float] | None = None) -> float:
    """``value`` if it is a finite number, positive or (given ``limits``) in [low, high]; else a ValueError.

    ``meaning`` says what the usual value means, e.g. "1.0 = plain softmax".

    >>> require_number("temperature", 2.0, "1.0 = plain softmax", (0.1, 10))
    2.0
    """
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if limits is None:
        if not (number and value > 0):
            raise ValueError(f"{name} must be a positive finite number ({meaning}), got {value!r}")
    elif not (number and limits[0] <= value <= limits[1]):
        raise ValueError(f"{name} must be a number in [{limits[0]:g}, {limits[1]:g}] ({meaning}), got {value!r}")
    return value


def require_choice(name: str, value: object, choices: tuple) -> object:
    """``value`` if it is one of ``choices``, else a ValueError listing them.

    >>> require_choice("kind", "causal", ("none", "causal"))
    'causal'
    """
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def divisors(n: int) -> list[int]:
    """Every head count that splits ``n`` features evenly.

    >>> divisors(12)
    [1, 2, 3, 4, 6, 12]
    """
    return [h for h in range(1, n + 1) if n % h == 0]


def require_heads(num_heads: object, d_model: int, choices: list[int] | None = None) -> int:
    """``num_heads`` if it is one of ``choices`` (default: every divisor of ``d_model``), else a ValueError.

    >>> require_heads(4, 32)
    4
    """
    offered = divisors(d_model) if choices is None else choices
    whole = isinstance(num_heads, Integral) and not isinstance(num_heads, bool)
    if whole and num_heads in offered:
        return int(num_heads)
    if whole and num_heads >= 1 and d_model % num_heads == 0:
        raise ValueError(f"num_heads={num_heads} is not offered here for d_model={d_model}; pick one of {offered}")
    raise ValueError(
        f"d_model={d_model} is not divisible by num_heads={num_heads!r}: every head needs d_model/num_heads "
        f"features; pick num_heads from {offered}"
    )
