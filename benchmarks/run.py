"""`make bench`: one table of measurements next to their targets, plus results.json, results.md and the README.

Run from the repository root: ``python -m benchmarks.run``. Every comparison with PyTorch is a ratio taken
in the same run, with ours and PyTorch's calls interleaved, because these machines are noisy.
"""

import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks import classroom, efficient, explorers, notebooks, real_model_heads, training, versus_torch
from benchmarks.code_hash import ROOT, code_hash

LENGTHS = (64, 512, 2048)
MEMORY_LENGTHS = (512, 1024, 2048, 4096)
BUDGET_S = 2.5  # timing budget per (comparison, L) row
BROWSER_JSON = ROOT / "tests" / "artifacts" / "browser_latency.json"
BROWSER_TEST = ROOT / "tests" / "test_browser.py"
BROWSER_TIMEOUT_S = 400
README = ROOT / "README.md"
MARKERS = ("<!-- bench:start -->", "<!-- bench:end -->")

TARGETS = {
    "attention": 1.25,  # ratio ours/torch, weights path
    "mha": 1.25,
    "attention_fused": 1.1,
    "mha_fused": 1.1,
    "redraw_ms": 50.0,  # median at default sizes
    "redraw_speedup": 5.0,  # naive median / median, every redraw row
    "layout_ms": 150.0,  # median, every layout row
    "notebook_s": 15.0,
    "notebook_s_training": 90.0,  # notebooks that train models in their cells (07)
    "total_notebook_s": 180.0,
    "train_reverse_s": 30.0,
    "train_induction_s": 60.0,
    "browser_p50_ms": 150.0,
    "fused_memory_exponent": 1.2,  # peak ~ L^k: the fused path must stay O(L)
    "classroom_failures": 0,  # failed spawns, pulls, notebook starts and updates of the simulated class
    "pretrained_sentence_ms": 300.0,  # notebook 08 explorer: new sentence (forward + new figure), median
    "pretrained_redraw_ms": 50.0,  # notebook 08 explorer: head / layer / weighting change, median
}
TRAINING_NOTEBOOKS = {"07_trained_heads"}  # train toy models in their cells: their own, larger budget
COMPARISONS = {
    "attention": ("scaled_dot_product_attention (weights)", "F.sdpa, MATH backend"),
    "mha": ("MultiHeadAttention (weights)", "nn.MultiheadAttention need_weights=True"),
    "attention_fused": ("scaled_dot_product_attention need_weights=False", "F.sdpa (fused)"),
    "mha_fused": ("MultiHeadAttention need_weights=False", "nn.MultiheadAttention need_weights=False"),
}


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def machine() -> dict:
    """Where and when this ran: CPU, cores, load, versions."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line), cpu
        )
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": versus_torch.THREADS,
        "load_average_at_start": os.getloadavg()[0],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "code_hash": code_hash(),
        "reference_figure_ms": explorers.reference_figure_ms(),
    }


def browser_latency() -> dict:
    """The browser test's slider → image latency if it was measured on the current code; else run that test.

    Never reports a figure from other code: ``{"status": "not measured", "why": …}`` instead.
    """
    current = code_hash()

    def current_record() -> dict | None:
        if not BROWSER_JSON.exists():
            return None
        record = json.loads(BROWSER_JSON.read_text())
        return record if record.get("code_hash") == current else None

    record = current_record()
    if record is None and not BROWSER_TEST.exists():
        return {"status": "not measured", "why": "tests/test_browser.py does not exist"}
    if record is None:
        print("browser latency: no measurement for the current code; running tests/test_browser.py", flush=True)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(BROWSER_TEST)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=BROWSER_TIMEOUT_S,
            )
            summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
        except subprocess.TimeoutExpired:
            summary = f"timed out after {BROWSER_TIMEOUT_S} s"
        record = current_record()
        if record is None:
            return {"status": "not measured", "why": f"browser test wrote no current measurement ({summary})"}
    return {"status": "measured", **{k: v for k, v in record.items() if not k.endswith("samples_ms")}}


def _growth_exponent(rows: list[dict], key: str) -> float:
    """k in peak ∝ L^k, from the smallest and largest L measured."""
    first, last = rows[0], rows[-1]
    return math.log(max(last[key], 1e-3) / max(first[key], 1e-3)) / math.log(last["L"] / first["L"])


def table_rows(results: dict) -> list[tuple[str, str, str, str, str, str]]:
    """(measurement, ours, reference, value, target, result) for every figure that has a target."""
    rows = []
    for key, (ours_name, ref_name) in COMPARISONS.items():
        for r in results[key]:
            rows.append(
                (
                    f"{ours_name}, L={r['L']}",
                    f"{r['ours_ms']:.3g} ms",
                    f"{r['torch_ms']:.3g} ms ({ref_name})",
                    f"ratio {r['ratio']:.2f} (of minima {r['ratio_of_minimums']:.2f})",
                    f"≤ {TARGETS[key]}",
                    _verdict(r["ratio"] <= TARGETS[key]),
                )
            )
    for m in results["memory"]:
        rows.append(
            (
                f"peak memory of one MHA forward, L={m['L']}",
                f"{m['weights_path_mb']:.0f} MB weights, {m['fused_path_mb']:.0f} MB need_weights=False",
                f"{m['torch_weights_path_mb']:.0f} MB / {m['torch_fused_path_mb']:.0f} MB (nn.MultiheadAttention)",
                f"(B, H, L, L) float32 = {m['weights_tensor_mb']:.0f} MB",
                "—",
                "info",
            )
        )
    fused_k = _growth_exponent(results["memory"], "fused_path_mb")
    weights_k = _growth_exponent(results["memory"], "weights_path_mb")
    rows.append(
        (
            "peak memory growth, peak ∝ L^k",
            f"k = {fused_k:.2f} need_weights=False",
            f"k = {weights_k:.2f} need_weights=True",
            "O(L) vs O(L²)",
            f"fused k ≤ {TARGETS['fused_memory_exponent']}",
            _verdict(fused_k <= TARGETS["fused_memory_exponent"]),
        )
    )
    rows.extend(efficient.table_rows(results["efficient"]))
    for e in results["explorers"]:
        speedup = e["naive_median_ms"] / e["median_ms"]
        ours = f"median {e['median_ms']:.0f} ms, p90 {e['p90_ms']:.0f} ms"
        naive = f"naive median {e['naive_median_ms']:.0f} ms (n={e['naive_n']})"
        label = f"explorer {e['name']}, {e['size']} size, {e['change']} ({'/'.join(e['controls'])})"
        if e["change"] == "redraw":
            at_default = e["size"] == "default"
            ok = speedup >= TARGETS["redraw_speedup"] and (not at_default or e["median_ms"] < TARGETS["redraw_ms"])
            target = f"≥ {TARGETS['redraw_speedup']:.0f}×" + (
                f", < {TARGETS['redraw_ms']:.0f} ms" if at_default else ""
            )
        else:
            ok = e["median_ms"] < TARGETS["layout_ms"]
            target = f"< {TARGETS['layout_ms']:.0f} ms"
        rows.append((label, ours, naive, f"{speedup:.1f}× faster", target, _verdict(ok)))
    for e in results["pretrained"]:
        key = "pretrained_sentence_ms" if e["change"] == "layout" else "pretrained_redraw_ms"
        rows.append(
            (
                f"explorer pretrained (08), {e['name']} (~{e['tokens']:.0f} tokens)",
                f"median {e['median_ms']:.0f} ms, p90 {e['p90_ms']:.0f} ms",
                f"naive median {e['naive_median_ms']:.0f} ms (n={e['naive_n']})",
                f"{e['naive_median_ms'] / e['median_ms']:.1f}× faster",
                f"< {TARGETS[key]:.0f} ms",
                _verdict(e["median_ms"] < TARGETS[key]),
            )
        )
    for t in results["training"]:
        limit = TARGETS[f"train_{t['task']}_s"]
        ok = t["seconds"] < limit and t["accuracy"] >= t["threshold"]
        rows.append(
            (
                f"training {t['task']} ({t['steps']} steps, {t['threads']} thread, seed 0)",
                f"{t['seconds']:.1f} s",
                "",
                f"accuracy {t['accuracy']:.3f}",
                f"< {limit:.0f} s, accuracy ≥ {t['threshold']}",
                _verdict(ok),
            )
        )
    for nb in results["notebooks"]:
        failed = nb["error"] is not None
        limit = TARGETS["notebook_s_training" if nb["name"] in TRAINING_NOTEBOOKS else "notebook_s"]
        rows.append(
            (
                f"notebook {nb['name']} (nbclient, fresh kernel)",
                f"{nb['seconds']:.1f} s",
                f"error: {nb['error']}" if failed else "",
                "",
                f"< {limit:.0f} s",
                _verdict(not failed and nb["seconds"] < limit),
            )
        )
    total = results["total_notebook_seconds"]
    rows.append(
        (
            "all notebooks",
            f"{total:.1f} s",
            "",
            "",
            f"< {TARGETS['total_notebook_s']:.0f} s",
            _verdict(total < TARGETS["total_notebook_s"]),
        )
    )
    b = results["browser"]
    if b["status"] == "measured":
        rows.append(
            (
                f"browser: {b['explorer']} explorer, {b['control']} slider → new image",
                f"p50 {b['p50_ms']:.0f} ms, p90 {b['p90_ms']:.0f} ms (n={b['n']})",
                "",
                "",
                f"p50 < {TARGETS['browser_p50_ms']:.0f} ms",
                _verdict(b["p50_ms"] < TARGETS["browser_p50_ms"]),
            )
        )
    else:
        rows.append(("browser: slider → new image", "not measured", b["why"], "", "p50 < 150 ms", "not measured"))
    rows.extend(classroom_rows(results["classroom"]))
    return rows


def classroom_rows(c: dict) -> list[tuple[str, str, str, str, str, str]]:
    """The simulated class on one JupyterHub (benchmarks/classroom.py): spawn, memory, latency, failures."""
    if c["status"] != "measured":
        return [
            (
                "classroom: JupyterHub with simulated students",
                "not measured",
                c["why"],
                "",
                "no failures",
                "not measured",
            )
        ]
    n, mem, size = c["students"], c["memory_mb"], c["sizing"]
    alone, together = c["latency_alone_ms"], c["latency_class_ms"]
    failures = sum(len(c[k]) for k in ("failed_spawns", "failed_pulls", "failed_prepares", "failed_updates"))
    return [
        (
            f"classroom: {n} servers spawned at once",
            f"p50 {c['spawn_s']['p50']:.1f} s, max {c['spawn_s']['max']:.1f} s",
            "",
            "",
            "—",
            "info",
        ),
        (
            "classroom: memory per student (server + notebook 01's kernel)",
            f"PSS {mem['student']['pss']['p50']:.0f} MB (kernel {mem['kernel']['pss']['p50']:.0f}, "
            f"server {mem['server']['pss']['p50']:.0f})",
            f"RSS {mem['student']['rss']['p50']:.0f} MB",
            f"{size['server_gb']} GB server: ~{size['students_per_server']} students",
            "—",
            "info",
        ),
        (
            f"classroom: {c['control']} slider → new image, {n} students at once",
            f"p50 {together['p50']:.0f} ms, p90 {together['p90']:.0f} ms (n={together['n']})",
            f"one student alone: p50 {alone['p50']:.0f} ms, p90 {alone['p90']:.0f} ms (n={alone['n']})",
            f"p50 ×{together['p50'] / alone['p50']:.1f}",
            "—",
            "info",
        ),
        (
            "classroom: failed spawns, pulls, notebook starts, updates",
            str(failures),
            "",
            "",
            f"= {TARGETS['classroom_failures']}",
            _verdict(failures == TARGETS["classroom_failures"]),
        ),
    ]


HEADER = ("measurement", "ours", "reference", "value", "target", "result")


def plain_table(rows: list[tuple]) -> str:
    """Columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [HEADER, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _conditions(info: dict) -> str:
    return (
        f"Measured {info['date_utc']} on {info['cpu']} ({info['cores']} cores; load average "
        f"{info['load_average_at_start']:.1f} before the run, so other work shared the cores if that is well above 0, "
        f"and {info['load_average_at_end']:.1f} at its end, the run included), torch {info['torch']}, "
        f"{info['torch_threads']} threads. Plain matplotlib (one axes, an 8 × 8 image, saved as PNG) took "
        f"{info['reference_figure_ms']:.0f} ms here: explorer times scale with it from machine to machine."
    )


def markdown(rows: list[tuple], info: dict) -> str:
    """The table as markdown, with when/where it was measured and how to read it."""
    lines = [
        _conditions(info),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows),
        "",
        "How it is measured:",
        "",
        "- PyTorch comparisons: float32, B=2, d_model=256, h=8 (head dim 32), `torch.inference_mode()`, modules in "
        "`eval()`, `batch_first=True`, no mask, warm-up first, same weights (`MultiHeadAttention.from_torch`). "
        "The ratio is ours ÷ PyTorch, the median of per-repetition ratios, the two calls interleaved with their "
        "order flipped every repetition; the ratio of the fastest repetitions is shown for information.",
        "- Peak memory: growth of the process's peak resident memory during one forward (`VmHWM` after a reset "
        "through `/proc/self/clear_refs`), so every page PyTorch touched counts.",
        "- Explorers: one control assignment (compute + redraw into the `ipywidgets.Image`), median and p90 over "
        "30 changes, next to a naive twin (`benchmarks.explorers.rebuilding`: new figure and savefig per update) changed alternately. Layout "
        "changes cycle through more sizes than an explorer keeps cached figures, so each draws a new layout.",
        "- Efficient attention (`benchmarks/efficient.py`): peak memory as above for one attention call, "
        "(1, 4, L, 64) float32, naive = mha_lib's weights path; tiled vs fused time interleaved; decoding = "
        "teacher-forced outputs of one MultiHeadAttention layer, KVCache vs the whole prefix each step.",
        "- Notebooks: nbclient, a fresh kernel per notebook, kernel start to shutdown.",
        "- Browser: from `tests/test_browser.py` on the current code, or not reported.",
        "- Classroom: `benchmarks/classroom.py` on the current code (`benchmarks/classroom.json`, else a new run): "
        "a JupyterHub on 127.0.0.1, every student's server spawned at once, notebook 01 pulled by its nbgitpuller "
        "link and run to its explorer over the kernel websocket, then the seed slider moved by widget comm "
        "messages (one student alone, then all at once); memory by PID from the hub's process tree (PSS splits "
        "shared pages between the processes using them).",
        "",
        "Targets: weights-path ratio ≤ 1.25 and fused ratio ≤ 1.1 at every L; redraw median < 50 ms at default "
        "sizes and ≥ 5× faster than naive; layout median < 150 ms; notebook 08's explorer: a new sentence < 300 ms, "
        "a head, layer or weighting change < 50 ms; each notebook < 15 s, all < 60 s; "
        "browser p50 < 150 ms; the simulated class: no failed spawn, pull, notebook start or update.",
    ]
    return "\n".join(lines) + "\n"


def update_readme(md: str) -> str:
    """Replace what lies between the bench markers in README.md; returns what happened."""
    text = README.read_text()
    start, end = MARKERS
    if start not in text or end not in text:
        return f"README.md has no {start} … {end} markers: not updated"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{start}\n{md}{end}{tail}")
    return "README.md: Performance table updated"


def _step(name: str) -> float:
    print(f"[{datetime.datetime.now(datetime.UTC):%H:%M:%S}] {name}", flush=True)
    return time.perf_counter()


def main() -> None:
    begin = time.perf_counter()
    info = machine()
    _step("speed against PyTorch")
    results: dict = versus_torch.speed(LENGTHS, BUDGET_S)
    _step("peak memory")
    results["memory"] = versus_torch.peak_memory(MEMORY_LENGTHS)
    _step("efficient attention (notebook 09)")
    results["efficient"] = efficient.measure()
    _step("explorer latency")
    results["explorers"] = explorers.latency()
    _step("real-model explorer latency (notebook 08)")
    results["pretrained"] = real_model_heads.rows()
    _step("toy-model training")
    results["training"] = training.training_times()
    _step("notebook execution")
    results["notebooks"] = notebooks.notebook_times()
    results["total_notebook_seconds"] = sum(nb["seconds"] for nb in results["notebooks"])
    _step("browser latency")
    results["browser"] = browser_latency()
    _step("classroom (JupyterHub, simulated students)")
    results["classroom"] = classroom.bench_record()
    info["load_average_at_end"] = os.getloadavg()[0]
    info["bench_seconds"] = time.perf_counter() - begin
    rows = table_rows(results)
    results["targets"] = TARGETS
    results["machine"] = info
    results["table"] = [dict(zip(HEADER, r)) for r in rows]
    print(f"\n{_conditions(info)}\n")
    print(plain_table(rows))
    md = markdown(rows, info)
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (ROOT / "benchmarks" / "results.md").write_text(md)
    print(f"\nwrote benchmarks/results.json and benchmarks/results.md; {update_readme(md)}")
    print(f"make bench took {info['bench_seconds']:.0f} s")


if __name__ == "__main__":
    main()
