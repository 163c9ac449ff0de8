"""Before its cell runs (JupyterLab on opening, GitHub), an explorer's output reads as one sentence, not a repr."""

import json
import re
from pathlib import Path

import pytest

from mha_lib import widgets
from mha_lib.widgets.base import Explorer

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"
EXPLORERS = [name for name in widgets.__all__ if name.startswith("explore_")]


@pytest.mark.parametrize("explore", EXPLORERS)
def test_text_fallback_is_one_sentence(explore):
    bundle = getattr(widgets, explore)()._repr_mimebundle_()
    assert bundle["text/plain"] == Explorer.UNRUN_TEXT


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_widget_outputs_read_as_the_sentence(notebook):
    outputs = [o for c in json.loads(notebook.read_text())["cells"] for o in c.get("outputs", [])]
    stored = ["".join(o["data"]["text/plain"]) for o in outputs if WIDGET in o.get("data", {})]
    reprs = [text[:80] for text in stored if re.match(r"\w+\(\w+=", text)]  # e.g. QKVExplorer(children=(HTML(…
    assert reprs == [], f"{notebook.name}: widget reprs stored; re-execute it: {reprs}"
