"""What a learner sees of notebooks 06-09 in a real JupyterLab (as ``test_browser.py`` does for 01-05): a file of
their own, so that ``make test``'s two workers run the two halves side by side."""

from pathlib import Path

import pytest
from browser_lab import NOTEBOOKS, Lab, check_notebook_in_browser

pytestmark = pytest.mark.browser

SECOND_WAVE = [p for p in NOTEBOOKS if p.name >= "06"]


@pytest.mark.parametrize("notebook", SECOND_WAVE, ids=[p.stem for p in SECOND_WAVE])
def test_notebook_in_browser(notebook: Path, lab: Lab, browser_context, request: pytest.FixtureRequest) -> None:
    check_notebook_in_browser(notebook, lab, browser_context, request)
