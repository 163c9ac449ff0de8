"""The positional-encoding explorer and its scenario, driven without a browser."""

import pytest
import torch

from benchmarks.explorers import rebuilding
from mha_lib.positions import alibi_slopes, sinusoidal
from mha_lib.scenarios.positional_encoding import KINDS, LEARNED_MAX_LEN, MAX_DISTANCE, positions_compute
from mha_lib.viz import PNG_SIGNATURE
from mha_lib.widgets import explore_positions


@pytest.mark.parametrize("kind", ["none", "rotary", "alibi"])
def test_shift_leaves_relative_kinds_unchanged(kind):
    for offset in (1, 17, 40):
        s = positions_compute(kind, offset=offset, seq_len=9, d_model=32)
        assert s.shift_change < 1e-12
        assert s.positions.tolist() == list(range(offset, offset + 9))


@pytest.mark.parametrize("kind", ["sinusoidal", "learned"])
def test_shift_changes_added_encodings(kind):
    assert positions_compute(kind, offset=5).shift_change > 1e-3


def test_encodings_are_what_each_kind_brings():
    assert torch.equal(positions_compute("sinusoidal", offset=3).encoding, sinusoidal(9, 16, dtype=torch.float64)[3:])
    assert positions_compute("rotary", d_model=32).encoding.shape == (6, 16)  # one angle per feature pair
    alibi = positions_compute("alibi", head=2, seq_len=4)
    assert alibi.slope == alibi_slopes(8)[2] == 1 / 8
    assert alibi.encoding[0].tolist() == [0.0, -1 / 8, -2 / 8, -3 / 8]
    assert not positions_compute("none").encoding.any()


def test_rotary_curve_depends_on_distance_only_and_alibi_falls_linearly():
    rotary = [positions_compute("rotary", offset=k).curve for k in (0, 13, 40)]
    assert all(torch.allclose(c, rotary[0], atol=1e-12) for c in rotary)
    alibi = positions_compute("alibi", head=0).curve  # slope 1/2
    torch.testing.assert_close(alibi.diff(), torch.full((MAX_DISTANCE,), -0.5, dtype=torch.float64))
    assert not torch.allclose(positions_compute("sinusoidal", offset=13).curve, positions_compute("sinusoidal").curve)


def test_learned_positions_stop_at_max_len():
    s = positions_compute("learned", seq_len=6, offset=LEARNED_MAX_LEN - 6)
    assert s.weights is not None  # positions 18 … 23: the last rows of the table
    assert s.curve[:6].isfinite().all() and s.curve[6:].isnan().all()  # 想 at 18, 我 at 18 + Δ ≤ 23
    s = positions_compute("learned", seq_len=6, offset=LEARNED_MAX_LEN - 5)
    assert s.weights is None and s.shift_change is None
    assert s.encoding[-1].isnan().all() and s.encoding[:-1].isfinite().all()


@pytest.mark.parametrize(
    ("name", "value"),
    [("kind", "spiral"), ("d_model", 12), ("seq_len", 1), ("offset", 41), ("head", 8), ("seed", -1)],
)
def test_bad_arguments_name_themselves(name, value):
    with pytest.raises(ValueError, match=name):
        positions_compute(**{name: value})
    with pytest.raises(ValueError, match=name):
        explore_positions(**{name: value})


def test_explorer_redraws_every_kind_and_disables_the_head_unless_alibi():
    explorer = explore_positions()
    assert bytes(explorer.image.value).startswith(PNG_SIGNATURE)
    assert explorer.controls["head"].disabled
    figure, png = explorer.figure, explorer.image.value
    explorer.controls["offset"].value = 7
    assert explorer.figure is figure and explorer.image.value != png  # a redraw, not a new figure
    assert explorer.state.shift_change > 0 and "positions 7 … 12" in explorer.summary.value
    for kind in KINDS:
        explorer.controls["kind"].value = kind
        assert explorer.state.kind == kind and bytes(explorer.image.value).startswith(PNG_SIGNATURE)
    assert not explorer.controls["head"].disabled
    png = explorer.image.value
    explorer.controls["head"].value = 5
    assert explorer.state.slope == 1 / 64 and explorer.image.value != png
    explorer.controls["kind"].value = "learned"
    explorer.controls["offset"].value = 30
    assert explorer.state.weights is None and "no row" in explorer.summary.value


def test_layout_changes_and_the_naive_twin():
    explorer = explore_positions(kind="rotary")
    figure = explorer.figure
    explorer.controls["d_model"].value = 64
    assert explorer.figure is not figure and explorer.state.encoding.shape == (6, 32)
    naive = rebuilding(explore_positions(kind="rotary", d_model=64))
    assert torch.equal(naive.state.weights, explorer.state.weights)
