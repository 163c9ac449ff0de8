"""Shared test settings: repeatable hypothesis runs, the browser test's session fixtures, widgets closed after each test."""

import os

import ipywidgets
import pytest
from browser_lab import browser_context, lab  # noqa: F401  (session fixtures of both browser test files)
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=200, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption(
        "--screenshots-to",
        metavar="DIR",
        default=None,
        help="browser test: also write one small screenshot per notebook explorer to DIR/NN_name.png",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium (tests/test_browser*.py)")


@pytest.fixture(autouse=True)
def _close_widgets():
    """Close every widget a test made: ipywidgets keeps each one until it is closed, and ``classroom(on)`` redraws
    every open explorer, so without this a later test would redraw all the explorers of the tests before it."""
    yield
    ipywidgets.Widget.close_all()
