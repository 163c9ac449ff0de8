"""Projector mode, predict first, export and reset: on every explorer, driven without a browser."""

import csv

import pytest
import torch

from mha_lib.viz import BitmapLabels, style
from mha_lib.widgets import (
    classroom,
    explore_cross,
    explore_heads,
    explore_masking,
    explore_qkv,
    explore_scaling,
)

EXPLORERS = [explore_qkv, explore_scaling, explore_masking, explore_heads, explore_cross]
CHANGES = {  # a few changes a lecturer makes, size controls first
    explore_qkv: {"seq_len": 9, "query": 4, "seed": 3},
    explore_scaling: {"seq_len": 5, "temperature": 2.0, "scaled": False},
    explore_masking: {"seq_len": 8, "kind": "causal", "seed": 2},
    explore_heads: {"num_heads": 8, "mask": "padding", "wrong_split": True},
    explore_cross: {"src_len": 9, "src_valid_len": 5, "num_heads": 4},
}


@pytest.fixture(autouse=True)
def screen_mode():
    yield
    classroom(False)


def _read_csv(path) -> torch.Tensor:
    """The numbers of an exported CSV, one row per query (per head), without the labels."""
    header, *rows = csv.reader(path.open(encoding="utf-8"))
    first = header.index("query \\ key") + 1  # columns before it: the head (3-D tensors) and the query name
    return torch.tensor([[float(x) for x in row[first:]] for row in rows], dtype=torch.float64)


def _font_sizes(explorer) -> set[float]:
    """The point sizes of every text the explorer's figure draws (token labels, titles, colour-bar numbers)."""
    return {labels.size for labels in explorer.figure.fig.findobj(BitmapLabels)}


@pytest.mark.parametrize("make", EXPLORERS)
def test_projector_mode_grows_fonts_and_pixels(make):
    explorer = make()
    before = explorer.figure.fig.get_size_inches() * explorer.figure.fig.dpi
    screen_fonts = _font_sizes(explorer)
    classroom(True)  # the explorer on screen is redrawn at projector size
    after = explorer.figure.fig.get_size_inches() * explorer.figure.fig.dpi
    assert min(_font_sizes(explorer)) > max(screen_fonts) - 1 and max(_font_sizes(explorer)) > max(screen_fonts)
    assert style.WEIGHTS_CMAP == "inferno"
    assert (after > before).all(), f"{before} -> {after}"
    assert "mha-projector" in explorer._dom_classes
    new = make()  # and every explorer created afterwards
    assert "mha-projector" in new._dom_classes and new.figure.fig.dpi == style.DPI
    classroom(False)
    assert "mha-projector" not in explorer._dom_classes
    assert (explorer.figure.fig.get_size_inches() * explorer.figure.fig.dpi == before).all()


@pytest.mark.parametrize("make", EXPLORERS)
def test_export_writes_the_view_and_the_tensors_shown(make, tmp_path):
    explorer = make()
    for name, value in CHANGES[make].items():
        explorer.controls[name].value = value
    paths = explorer.export(tmp_path)
    png, *tables = paths
    assert png.name.startswith(explorer.name + "_") and png.read_bytes() == bytes(explorer.image.value)
    assert any(p.name.endswith("_weights.csv") for p in tables)
    for path in tables:
        field = path.stem.rsplit("_", 1)[1]
        tensor = getattr(explorer.state, field)
        numbers = _read_csv(path)
        assert torch.equal(numbers, tensor.double().reshape(-1, tensor.shape[-1])), path.name


def test_export_names_say_the_settings(tmp_path):
    explorer = explore_masking("causal", seq_len=8)
    names = [p.name for p in explorer.export(tmp_path)]
    assert names == [
        "masking_causal_T8_seed0.png",
        "masking_causal_T8_seed0_weights.csv",
        "masking_causal_T8_seed0_mask.csv",
    ]


@pytest.mark.parametrize("make", EXPLORERS)
def test_reset_returns_to_the_default_view(make):
    explorer, fresh = make(), make()
    for name, value in CHANGES[make].items():
        explorer.controls[name].value = value
    assert explorer.image.value != fresh.image.value
    explorer.tools.reset_button.click()
    assert explorer.values() == fresh.values()
    assert torch.equal(explorer.state.weights, fresh.state.weights)
    assert explorer.image.value == fresh.image.value


@pytest.mark.parametrize("make", EXPLORERS)
def test_predict_first_hides_then_reveals_and_keeps_score(make):
    explorer = make()
    shown = explorer.image.value
    predictor = explorer.tools.predictor
    predictor.switch.value = True
    hidden = explorer.image.value
    assert hidden != shown and "Click it" in predictor.prompt.value
    weights = explorer._predict_weights()  # (Tq, Tk)
    best = int(weights[predictor.query].argmax())
    predictor.key_buttons[best].click()
    assert predictor.score.value == "score: 1 of 1" and predictor.prompt.value.startswith("Right")
    assert explorer.image.value not in (hidden, shown)  # weights back, guess marked
    predictor.next_query()
    assert predictor.guess is None and "Click it" in predictor.prompt.value
    row = explorer._predict_weights()[predictor.query]
    wrong = int(row.argmin())
    if row[wrong] < row.max():
        predictor.key_buttons[wrong].click()
        assert predictor.score.value == "score: 1 of 2" and predictor.prompt.value.startswith("Not this time")
    predictor.switch.value = False
    assert explorer.image.value == shown


def test_classroom_redraws_open_explorers_only():
    shown, closed = explore_masking(), explore_masking()
    screen = bytes(shown.image.value)
    closed.close()
    classroom(True)
    assert bytes(shown.image.value) != screen, "the open explorer is redrawn at projector size"
    assert bytes(closed.image.value) == screen, "a closed explorer is left as it was"
