"""`make handout`: one offline HTML page with every notebook's stored figures, math and a table of contents."""

import re
import runpy
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REMOTE = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I
)


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> str:
    build = runpy.run_path(str(ROOT / "docs" / "handout.py"))["build"]
    return build(tmp_path_factory.mktemp("handout")).read_text(encoding="utf-8")


def test_the_handout_fetches_nothing(handout):
    assert not REMOTE.findall(handout), REMOTE.findall(handout)[:5]
    assert "<script" not in handout  # no MathJax, no widget manager: nothing runs


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_is_in_it_with_all_its_figures(handout, notebook):
    assert f'<section class="notebook" id="{notebook.stem}">' in handout
    cells = nbformat.read(notebook, as_version=4).cells
    figures = [
        o["data"]["image/png"].strip()
        for c in cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert figures, f"{notebook.name} stores no figure"
    missing = [i for i, png in enumerate(figures) if png not in handout]
    assert not missing, f"{notebook.name}: figures {missing} are not in the handout"


def test_math_is_mathml_and_the_contents_link_to_every_notebook(handout):
    assert handout.count("<math") > 50 and "$$" not in handout
    toc = handout[handout.index("<nav>") : handout.index("</nav>")]
    for notebook in NOTEBOOKS:
        anchor = re.search(rf'<section class="notebook" id="{notebook.stem}"><h1 id="([^"]+)"', handout)
        assert anchor and f'href="#{anchor.group(1)}"' in toc, notebook.stem
