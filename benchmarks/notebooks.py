"""Wall time of each notebook, executed top to bottom by nbclient in a fresh kernel, outputs discarded."""

import subprocess
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from benchmarks.code_hash import ROOT

NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT_S = 120


def run_notebook(path: Path) -> dict:
    """``{"name", "seconds", "error"}``: kernel start, every cell, kernel shutdown. The file is not modified."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    error = None
    try:
        client.execute(stderr=subprocess.DEVNULL)  # the kernel's start-up warnings, not cell output
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1]
    return {"name": path.stem, "seconds": time.perf_counter() - start, "error": error}


def notebook_times() -> list[dict]:
    """One row per ``notebooks/*.ipynb``, in order."""
    return [run_notebook(path) for path in sorted(NOTEBOOKS.glob("*.ipynb"))]
