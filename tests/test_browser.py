"""What a learner sees of notebooks 01-05 and the handout: every notebook in a real JupyterLab, driven by headless
Chromium through Playwright (``browser_lab``; notebooks 06-09 are in ``test_browser_second_wave.py``).

For each notebook: Run All, no error output, every explorer renders; then at least two controls of each
explorer are moved and the PNG bytes behind its ``<img class="widget-image">`` must change each time.
Screenshots go to ``tests/artifacts/`` (and, with ``--screenshots-to=DIR``, one small one per explorer to DIR);
slider → new image latency goes to ``tests/artifacts/browser_latency.json``.
"""

from pathlib import Path

import pytest
from browser_lab import ARTIFACTS, NOTEBOOKS, ROOT, Lab, check_notebook_in_browser

pytestmark = pytest.mark.browser

FIRST_WAVE = [p for p in NOTEBOOKS if p.name < "06"]


@pytest.mark.parametrize("notebook", FIRST_WAVE, ids=[p.stem for p in FIRST_WAVE])
def test_notebook_in_browser(notebook: Path, lab: Lab, browser_context, request: pytest.FixtureRequest) -> None:
    check_notebook_in_browser(notebook, lab, browser_context, request)


def test_handout_in_browser(browser_context, tmp_path: Path) -> None:
    """The static handout opens from a file, shows its contents and draws its math (MathML) with no script."""
    import runpy

    index = runpy.run_path(str(ROOT / "docs" / "handout.py"))["build"](tmp_path)
    page = browser_context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(index.as_uri())
        assert page.locator("nav li a").count() >= len(NOTEBOOKS)
        box = page.locator("math").first.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, "MathML did not render"
        assert page.locator("section.notebook img").count() > 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / "handout_first_page.png")
        assert all(url.startswith(("file:", "data:")) for url in requests), [
            u for u in requests if not u.startswith(("file:", "data:"))
        ]
    finally:
        page.close()
