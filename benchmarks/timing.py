"""Timing that survives a noisy machine: warm-up, interleaved repetitions, medians, paired ratios."""

import gc
import statistics
import time
from collections.abc import Callable


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by linear interpolation.

    >>> percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9)
    4.6
    """
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def time_once(fn: Callable[[], object]) -> float:
    """Wall time of one call in milliseconds."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def paired(
    ours: Callable[[], object], theirs: Callable[[], object], budget_s: float, min_reps: int = 7, max_reps: int = 2000
) -> dict[str, float]:
    """Time ``ours`` and ``theirs`` alternately (order flipped every repetition) so both share the same noise.

    Two warm-up calls each, then as many repetitions as fit in ``budget_s`` (within the bounds). ``ratio`` is
    the median of the per-repetition ratios ours/theirs; ``ratio_of_medians`` and ``ratio_of_minimums`` (the
    least disturbed repetitions, a hint of what a quiet machine would show) are given too.

    >>> r = paired(lambda: sum(range(1000)), lambda: sum(range(1000)), 0.01)
    >>> sorted(r) == ["ours_ms", "ratio", "ratio_of_medians", "ratio_of_minimums", "reps", "torch_ms"]
    True
    >>> r["reps"] >= 7
    True
    """
    warm = [time_once(f) for f in (ours, theirs, ours, theirs)]
    per_rep_s = max(sum(warm[2:]), 1e-6) / 1e3
    reps = max(min_reps, min(max_reps, int(budget_s / per_rep_s)))
    a: list[float] = []
    b: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(reps):
            if i % 2:
                b.append(time_once(theirs))
                a.append(time_once(ours))
            else:
                a.append(time_once(ours))
                b.append(time_once(theirs))
    finally:
        if gc_was_enabled:
            gc.enable()
    ours_ms, torch_ms = statistics.median(a), statistics.median(b)
    return {
        "ours_ms": ours_ms,
        "torch_ms": torch_ms,
        "ratio": statistics.median(x / y for x, y in zip(a, b)),
        "ratio_of_medians": ours_ms / torch_ms,
        "ratio_of_minimums": min(a) / min(b),
        "reps": reps,
    }
