"""`make bench` rows for notebook 09: what efficient attention saves, measured.

- peak memory of naive attention (mha_lib's weights path, the (B, H, L, L) matrix) vs ``tiled_attention``
  for L up to 8192, with growth exponents (peak ∝ L^k);
- time of ``tiled_attention`` (pure torch, a Python loop over tiles) vs PyTorch's fused SDPA, reported plainly;
- decoding 1024 tokens through one attention layer with a ``KVCache`` vs recomputing every step from scratch.

Run alone with ``python -m benchmarks.efficient``.
"""

import math
import time

import torch
import torch.nn.functional as F

from benchmarks.timing import paired
from benchmarks.versus_torch import THREADS, _peak_rss_growth_mb
from mha_lib import MultiHeadAttention, causal_mask, merge_heads, scaled_dot_product_attention, split_heads
from mha_lib.efficient import KVCache, tiled_attention

BATCH, HEADS, D_HEAD = 1, 4, 64  # memory and speed: float32 q, k, v of shape (1, 4, L, 64)
BLOCK = 128  # block_q = block_k in the measurements
MEMORY_LENGTHS = (512, 1024, 2048, 4096, 8192)
SPEED_LENGTHS = (512, 2048)
DECODE_TOKENS, DECODE_D_MODEL, DECODE_HEADS = 1024, 256, 8

TARGETS = {
    "tiled_memory_exponent": 1.2,  # tiled peak ∝ L^k, k ≤ 1.2 (naive is ≈ 2)
    "tiled_memory_fraction_at_8192": 0.1,  # tiled peak ≤ 1/10 of naive at L = 8192
    "decode_speedup": 5.0,  # recomputing ÷ cached, 1024 tokens
}


def _qkv(seq_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seq_len)
    q, k, v = (torch.randn(BATCH, HEADS, seq_len, D_HEAD, generator=g) for _ in range(3))  # (B, H, L, Dh)
    return q, k, v


def growth_exponent(lengths: list[int], peaks_mb: list[float]) -> float:
    """k of peak ∝ L^k: the least-squares slope of log(peak) against log(L).

    >>> round(growth_exponent([1, 2, 4], [3.0, 12.0, 48.0]), 3)
    2.0
    """
    xs = [math.log(x) for x in lengths]
    ys = [math.log(max(y, 1e-3)) for y in peaks_mb]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def peak_memory(lengths: tuple[int, ...] = MEMORY_LENGTHS) -> dict:
    """Peak extra resident memory (MB) of one forward: naive, tiled, and fused SDPA (for information).

    Same method as ``versus_torch.peak_memory`` (``VmHWM`` after a reset). The growth exponents are fitted
    over the L ≥ 2048 rows, where the fixed costs no longer dominate.
    """
    torch.set_num_threads(THREADS)
    rows = []
    with torch.inference_mode():
        small = _qkv(8)
        scaled_dot_product_attention(*small), tiled_attention(*small), F.scaled_dot_product_attention(*small)
        for seq_len in lengths:
            q, k, v = _qkv(seq_len)
            rows.append(
                {
                    "L": seq_len,
                    "naive_mb": _peak_rss_growth_mb(lambda: scaled_dot_product_attention(q, k, v)),  # noqa: B023
                    "tiled_mb": _peak_rss_growth_mb(
                        lambda: tiled_attention(q, k, v, block_q=BLOCK, block_k=BLOCK)  # noqa: B023
                    ),
                    "sdpa_fused_mb": _peak_rss_growth_mb(lambda: F.scaled_dot_product_attention(q, k, v)),  # noqa: B023
                    "scores_tensor_mb": BATCH * HEADS * seq_len * seq_len * 4 / 2**20,  # float32 (B, H, L, L)
                }
            )
    upper = [r for r in rows if r["L"] >= 2048]
    fit = {
        name: growth_exponent([r["L"] for r in upper], [r[f"{name}_mb"] for r in upper])
        for name in ("naive", "tiled", "sdpa_fused")
    }
    last = rows[-1]
    return {
        "rows": rows,
        "exponent": fit,
        "tiled_fraction_at_max_L": last["tiled_mb"] / last["naive_mb"],
        "max_L": last["L"],
    }


def speed(lengths: tuple[int, ...] = SPEED_LENGTHS, budget_s: float = 2.5) -> list[dict]:
    """Time of ``tiled_attention`` vs ``F.scaled_dot_product_attention`` (fused), interleaved in one run."""
    torch.set_num_threads(THREADS)
    rows = []
    with torch.inference_mode():
        for seq_len in lengths:
            q, k, v = _qkv(seq_len)
            result = paired(
                lambda: tiled_attention(q, k, v, block_q=BLOCK, block_k=BLOCK),  # noqa: B023
                lambda: F.scaled_dot_product_attention(q, k, v),  # noqa: B023
                budget_s,
                min_reps=3,
            )
            rows.append({"L": seq_len, **result})
    return rows


def _decode_cached(mha: MultiHeadAttention, x: torch.Tensor) -> torch.Tensor:
    """One token at a time: project only the new token, append its key and value, attend over the cache."""
    cache = KVCache()
    outs = []
    for t in range(x.shape[1]):
        token = x[:, t : t + 1]  # (B, 1, D)
        q, k, v = (split_heads(p(token), mha.num_heads) for p in (mha.q_proj, mha.k_proj, mha.v_proj))  # (B, H, 1, Dh)
        out, _ = cache.step(q, k, v)  # (B, H, 1, Dh)
        outs.append(mha.out_proj(merge_heads(out)))  # (B, 1, D)
    return torch.cat(outs, dim=1)  # (B, T, D)


def _decode_recomputing(mha: MultiHeadAttention, x: torch.Tensor) -> torch.Tensor:
    """Every step runs the layer on the whole prefix again (fused kernel) and keeps its last row."""
    outs = []
    for t in range(x.shape[1]):
        prefix = x[:, : t + 1]  # (B, t+1, D)
        out, _ = mha(prefix, mask=causal_mask(t + 1), need_weights=False)  # (B, t+1, D)
        outs.append(out[:, -1:])  # (B, 1, D)
    return torch.cat(outs, dim=1)  # (B, T, D)


def decoding(tokens: int = DECODE_TOKENS) -> dict:
    """Seconds to produce ``tokens`` outputs of one attention layer (d_model 256, 8 heads, float32), both ways.

    Teacher-forced: the same inputs each way, so the outputs are also compared (max abs difference).
    """
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    mha = MultiHeadAttention(DECODE_D_MODEL, DECODE_HEADS).eval()
    x = torch.randn(1, tokens, DECODE_D_MODEL)  # (B, T, D)
    with torch.inference_mode():
        _decode_cached(mha, x[:, :8]), _decode_recomputing(mha, x[:, :8])  # warm-up
        start = time.perf_counter()
        cached = _decode_cached(mha, x)
        cached_s = time.perf_counter() - start
        start = time.perf_counter()
        recomputed = _decode_recomputing(mha, x)
        recompute_s = time.perf_counter() - start
    return {
        "tokens": tokens,
        "cached_s": cached_s,
        "recompute_s": recompute_s,
        "speedup": recompute_s / cached_s,
        "max_abs_difference": (cached - recomputed).abs().max().item(),
    }


def measure() -> dict:
    """Everything this module measures, for ``benchmarks.run``."""
    return {"memory": peak_memory(), "speed": speed(), "decoding": decoding()}


def table_rows(results: dict) -> list[tuple[str, str, str, str, str, str]]:
    """(measurement, ours, reference, value, target, result) rows in the layout of ``benchmarks.run``."""
    verdict = {True: "PASS", False: "MISS"}
    memory, rows = results["memory"], []
    for r in memory["rows"]:
        rows.append(
            (
                f"peak memory of attention, L={r['L']} ({BATCH}×{HEADS} heads, d={D_HEAD}, float32)",
                f"{r['tiled_mb']:.1f} MB tiled_attention (blocks {BLOCK})",
                f"{r['naive_mb']:.0f} MB naive (weights path); {r['sdpa_fused_mb']:.1f} MB fused F.sdpa",
                f"(B, H, L, L) float32 = {r['scores_tensor_mb']:.0f} MB",
                "—",
                "info",
            )
        )
    k = memory["exponent"]
    rows.append(
        (
            "peak memory growth of attention (L ≥ 2048), peak ∝ L^k",
            f"k = {k['tiled']:.2f} tiled",
            f"k = {k['naive']:.2f} naive, {k['sdpa_fused']:.2f} fused F.sdpa",
            "O(L) vs O(L²)",
            f"tiled k ≤ {TARGETS['tiled_memory_exponent']}",
            verdict[k["tiled"] <= TARGETS["tiled_memory_exponent"]],
        )
    )
    fraction = memory["tiled_fraction_at_max_L"]
    rows.append(
        (
            f"tiled / naive peak memory at L={memory['max_L']}",
            f"{fraction:.3f}",
            "",
            f"1/{1 / fraction:.0f}",
            f"≤ {TARGETS['tiled_memory_fraction_at_8192']}",
            verdict[fraction <= TARGETS["tiled_memory_fraction_at_8192"]],
        )
    )
    for r in results["speed"]:
        rows.append(
            (
                f"tiled_attention (pure torch, blocks {BLOCK}) vs fused F.sdpa, L={r['L']}",
                f"{r['ours_ms']:.3g} ms",
                f"{r['torch_ms']:.3g} ms (F.sdpa)",
                f"{r['ratio']:.1f}× slower (a Python loop over tiles)",
                "— (reported)",
                "info",
            )
        )
    d = results["decoding"]
    rows.append(
        (
            f"decoding {d['tokens']} tokens, one layer d_model={DECODE_D_MODEL}",
            f"{d['cached_s']:.2f} s with KVCache",
            f"{d['recompute_s']:.2f} s recomputing every step",
            f"{d['speedup']:.1f}× faster (max |diff| {d['max_abs_difference']:.0e})",
            f"≥ {TARGETS['decode_speedup']:.0f}×",
            verdict[d["speedup"] >= TARGETS["decode_speedup"]],
        )
    )
    return rows


def main() -> None:
    memory = peak_memory()
    for r in memory["rows"]:
        print(
            f"L={r['L']:5d}  naive {r['naive_mb']:8.1f} MB  tiled {r['tiled_mb']:6.1f} MB  "
            f"fused SDPA {r['sdpa_fused_mb']:6.1f} MB  (B, H, L, L) float32 {r['scores_tensor_mb']:7.1f} MB"
        )
    print(
        "growth exponents (L ≥ 2048): "
        + ", ".join(f"{name} {k:.2f}" for name, k in memory["exponent"].items())
        + f"; tiled / naive at L={memory['max_L']}: {memory['tiled_fraction_at_max_L']:.4f}"
    )
    for r in speed():
        print(
            f"L={r['L']}: tiled {r['ours_ms']:.1f} ms vs fused SDPA {r['torch_ms']:.1f} ms = {r['ratio']:.1f}× slower"
        )
    d = decoding()
    print(
        f"decoding {d['tokens']} tokens: cached {d['cached_s']:.2f} s, recomputing {d['recompute_s']:.2f} s, "
        f"{d['speedup']:.1f}× faster (max |difference| {d['max_abs_difference']:.1e})"
    )


if __name__ == "__main__":
    main()
