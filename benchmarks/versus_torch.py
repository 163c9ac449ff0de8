"""mha_lib against PyTorch on the same inputs and weights: speed ratios and peak memory.

Conditions (issue 7): float32, CPU, B=2, d_model=256, h=8, ``torch.inference_mode()``, modules in ``eval()``,
``batch_first=True``, no mask, ``torch.set_num_threads(2)``, warm-up before timing.
"""

import ctypes
import ctypes.util
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from benchmarks.timing import paired
from mha_lib import MultiHeadAttention, scaled_dot_product_attention

BATCH, D_MODEL, HEADS = 2, 256, 8
THREADS = 2
_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))


def _inputs(seq_len: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seq_len)
    x = torch.randn(BATCH, seq_len, D_MODEL, generator=g)  # (B, L, D)
    q, k, v = (torch.randn(BATCH, HEADS, seq_len, D_MODEL // HEADS, generator=g) for _ in range(3))  # (B, H, L, Dh)
    return x, q, k, v


def _modules() -> tuple[nn.MultiheadAttention, MultiHeadAttention]:
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True).eval()
    return ref, MultiHeadAttention.from_torch(ref).eval()


def _compare_at(
    seq_len: int, ref: nn.MultiheadAttention, ours: MultiHeadAttention, budget_s: float
) -> dict[str, dict[str, float]]:
    x, q, k, v = _inputs(seq_len)
    with sdpa_kernel(SDPBackend.MATH):  # PyTorch's own SDPA path that materialises the weights
        attention = paired(
            lambda: scaled_dot_product_attention(q, k, v), lambda: F.scaled_dot_product_attention(q, k, v), budget_s
        )
    return {
        "attention": attention,
        "mha": paired(lambda: ours(x), lambda: ref(x, x, x, need_weights=True, average_attn_weights=False), budget_s),
        "attention_fused": paired(
            lambda: scaled_dot_product_attention(q, k, v, need_weights=False),
            lambda: F.scaled_dot_product_attention(q, k, v),
            budget_s,
        ),
        "mha_fused": paired(lambda: ours(x, need_weights=False), lambda: ref(x, x, x, need_weights=False), budget_s),
    }


def speed(lengths: tuple[int, ...], budget_s: float) -> dict[str, list[dict[str, float]]]:
    """Rows ``{"L", "ours_ms", "torch_ms", "ratio", ...}`` of the four comparisons, ``budget_s`` seconds per row.

    ``nn.MultiheadAttention`` returns weights by default (``need_weights=True``); ours runs on the same weights.
    """
    torch.set_num_threads(THREADS)
    ref, ours = _modules()
    rows: dict[str, list[dict[str, float]]] = {"attention": [], "mha": [], "attention_fused": [], "mha_fused": []}
    with torch.inference_mode():
        for seq_len in lengths:
            for name, result in _compare_at(seq_len, ref, ours, budget_s).items():
                rows[name].append({"L": seq_len, **result})
    return rows


def _status_mb(field: str) -> float:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in MB."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _peak_rss_growth_mb(fn: Callable[[], object]) -> float:
    """How far resident memory rose above its level before ``fn()`` at its peak during the call (Linux)."""
    _LIBC.malloc_trim(0)  # hand freed heap pages back, so the call cannot hide in memory that is already resident
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current RSS
    before = _status_mb("VmRSS")
    fn()
    return _status_mb("VmHWM") - before


def peak_memory(lengths: tuple[int, ...]) -> list[dict[str, float]]:
    """Peak extra resident memory (MB) of one forward per path and L, ours and ``nn.MultiheadAttention`` (Linux).

    The kernel's own high-water mark: ``/proc/self/clear_refs`` resets ``VmHWM`` to the current RSS, the forward
    runs, and ``VmHWM`` minus the RSS before is the peak growth. That counts every page PyTorch touched
    (tracemalloc cannot see torch's allocations); it agrees with the allocator events of
    ``torch.profiler.profile(profile_memory=True)`` to a few percent.
    """
    torch.set_num_threads(THREADS)
    ref, ours = _modules()
    rows = []
    with torch.inference_mode():
        small = _inputs(8)[0]  # kernels and thread pools are loaded before anything is measured
        (
            ours(small),
            ours(small, need_weights=False),
            ref(small, small, small),
            ref(small, small, small, need_weights=False),
        )
        for seq_len in lengths:
            x = _inputs(seq_len)[0]
            rows.append(
                {
                    "L": seq_len,
                    "weights_path_mb": _peak_rss_growth_mb(lambda: ours(x)),  # noqa: B023 (called at once)
                    "fused_path_mb": _peak_rss_growth_mb(lambda: ours(x, need_weights=False)),  # noqa: B023
                    "torch_weights_path_mb": _peak_rss_growth_mb(
                        lambda: ref(x, x, x, average_attn_weights=False)  # noqa: B023
                    ),
                    "torch_fused_path_mb": _peak_rss_growth_mb(lambda: ref(x, x, x, need_weights=False)),  # noqa: B023
                    "weights_tensor_mb": BATCH * HEADS * seq_len * seq_len * 4 / 2**20,  # float32 (B, H, L, L)
                }
            )
    return rows
