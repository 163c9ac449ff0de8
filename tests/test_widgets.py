"""mha_lib.widgets: the five explorers driven without a browser, by setting control values."""

import math

import ipywidgets
import matplotlib.pyplot as plt
import pytest
import torch

from benchmarks.explorers import rebuilding
from mha_lib import widgets
from mha_lib.data import tokens
from mha_lib.viz import PNG_SIGNATURE
from mha_lib.widgets import (
    explore_cross,
    explore_heads,
    explore_masking,
    explore_qkv,
    explore_scaling,
    masking_compute,
    row_entropy,
)

EXPLORERS = [explore_qkv, explore_scaling, explore_masking, explore_heads, explore_cross]
REDRAW_CHANGES = {  # one change per explorer that keeps the layout
    explore_qkv: ("query", 3),
    explore_scaling: ("temperature", 0.5),
    explore_masking: ("kind", "causal"),
    explore_heads: ("wrong_split", True),
    explore_cross: ("src_valid_len", 3),
}
LAYOUT_CHANGES = {
    explore_qkv: ("seq_len", 9),
    explore_scaling: ("seq_len", 5),
    explore_masking: ("seq_len", 8),
    explore_heads: ("num_heads", 8),
    explore_cross: ("src_len", 9),
}


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """No explorer ever leaves a figure in pyplot."""
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before


@pytest.mark.parametrize("make", EXPLORERS)
def test_explorer_parts_and_redraw(make):
    explorer = make()
    assert isinstance(explorer, ipywidgets.Box) and isinstance(explorer.image, ipywidgets.Image)
    assert "seed" in explorer.controls and hasattr(explorer.state, "weights")
    assert bytes(explorer.image.value).startswith(PNG_SIGNATURE)
    assert explorer.snapshot().data == bytes(explorer.image.value)
    figure, png = explorer.figure, explorer.image.value
    name, value = REDRAW_CHANGES[make]
    explorer.controls[name].value = value
    assert explorer.figure is figure  # same figure, only the changing artists redrawn
    assert explorer.image.value != png
    explorer.controls["seed"].value = 7
    assert explorer.figure is figure


@pytest.mark.parametrize("make", EXPLORERS)
def test_layout_change_builds_a_new_figure(make):
    explorer = make()
    figure = explorer.figure
    name, value = LAYOUT_CHANGES[make]
    explorer.controls[name].value = value
    assert explorer.figure is not figure
    assert bytes(explorer.image.value).startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("make", EXPLORERS)
def test_naive_twin_of_the_benchmark_computes_the_same_state(make):
    fast, naive = make(), rebuilding(make())
    for explorer in (fast, naive):
        explorer.controls["seed"].value = 3
    assert type(fast.state) is type(naive.state)
    assert torch.equal(fast.state.weights, naive.state.weights)
    assert (
        bytes(naive.image.value).startswith(PNG_SIGNATURE) and naive.image.value != fast.image.value
    )  # savefig's own PNG


def test_qkv_shapes_follow_seq_len_and_d_k():
    explorer = explore_qkv()
    explorer.controls["seq_len"].value = 9
    explorer.controls["d_k"].value = 12
    s = explorer.state
    assert s.x.shape == (9, widgets.QKV_D_MODEL)
    assert s.w_q.shape == (widgets.QKV_D_MODEL, 12)
    assert s.q.shape == s.k.shape == s.v.shape == s.out.shape == (9, 12)
    assert s.scores.shape == s.weights.shape == (9, 9)
    assert "Q (9, 12)" in explorer.shapes.value and "scores" in explorer.shapes.value


def test_qkv_query_row_and_its_max_follow_seq_len():
    explorer = explore_qkv(seq_len=8, query=7)
    s = explorer.state
    assert torch.allclose(s.contributions.sum(0), s.out[7])  # the weighted rows of V add up to out[7]
    assert torch.equal(s.contributions, s.weights[7, :, None] * s.v)
    explorer.controls["seq_len"].value = 4
    assert explorer.controls["query"].max == 3
    assert explorer.controls["query"].value == 3 == explorer.state.query
    explorer.controls["query"].value = 1
    assert explorer.state.query == 1
    assert torch.allclose(explorer.state.contributions.sum(0), explorer.state.out[1])


def test_scaling_scale_and_temperature():
    explorer = explore_scaling(d_k=256)
    assert explorer.state.q.shape == (8, 256)
    scaled_std = explorer.state.scores_std
    scaled_max = explorer.state.max_weight.mean()
    explorer.controls["scaled"].value = False
    assert explorer.state.scores_std == pytest.approx(16 * scaled_std)  # √256 = 16 times wider
    assert explorer.state.max_weight.mean() > scaled_max  # softmax saturates
    explorer.controls["scaled"].value = True
    explorer.controls["temperature"].value = 10.0
    assert explorer.state.entropy.mean() > math.log(8) - 0.05  # nearly uniform
    explorer.controls["seq_len"].value = 5
    assert explorer.state.weights.shape == (5, 5) and explorer.state.entropy.shape == (5,)


def test_masking_padding_zeroes_masked_cells_and_valid_len_follows_seq_len():
    explorer = explore_masking(kind="padding", seq_len=6, valid_len=4)
    assert explorer.state.weights[:, 4:].abs().max() == 0
    assert torch.allclose(explorer.state.weights.sum(-1), torch.ones(6, dtype=torch.float64))
    explorer.controls["valid_len"].value = 0
    assert explorer.state.weights.abs().max() == 0  # every key blocked: all-zero rows, no NaN
    explorer.controls["seq_len"].value = 3
    assert explorer.controls["valid_len"].max == 3
    explorer.controls["valid_len"].value = 3
    assert explorer.state.mask.all()
    explorer.controls["kind"].value = "causal"
    assert explorer.controls["valid_len"].disabled
    assert torch.equal(explorer.state.mask, torch.ones(3, 3, dtype=torch.bool).tril())
    assert (explorer.state.weights[~explorer.state.mask] == 0).all()
    shown = [[b.value for b in row] for row in explorer.cell_buttons]  # the grid follows the kind
    assert shown == explorer.state.mask.tolist()
    # the colour follows the value (CSS on the pressed state), not JupyterLab's button styles
    assert all("mha-cell" in b._dom_classes and b.button_style == "" for row in explorer.cell_buttons for b in row)


def test_masking_cell_buttons_toggle_both_ways():
    explorer = explore_masking(kind="causal", seq_len=5)
    buttons = explorer.cell_buttons
    assert len(buttons) == 5 and all(len(row) == 5 for row in buttons)
    assert len(explorer.controls["cells"].children) == 6 * 6  # names on top and left, 5 × 5 buttons
    assert [[b.value for b in row] for row in buttons] == explorer.state.mask.tolist()
    png = explorer.image.value
    buttons[3][1].value = False  # the learner blocks query 3 → key 1
    assert explorer.controls["kind"].value == "custom"
    mask = explorer.state.mask
    assert not mask[3, 1] and explorer.state.weights[3, 1] == 0
    assert mask.sum() == 15 - 1  # the causal mask it started from, minus that cell
    assert not buttons[3][1].value  # not pressed: grey = blocked
    assert explorer.image.value != png
    buttons[0][4].value = True  # and unblocks query 0 → key 4 (a future key)
    assert explorer.state.mask[0, 4] and explorer.state.weights[0, 4] > 0
    assert buttons[0][4].value  # pressed: blue = may attend
    assert explorer.state.mask.sum() == 15


def test_masking_custom_mask_survives_a_seq_len_change():
    explorer = explore_masking(kind="causal", seq_len=4)
    explorer.controls["kind"].value = "custom"  # starts from the causal mask on screen
    assert torch.equal(explorer.state.mask, torch.ones(4, 4, dtype=torch.bool).tril())
    explorer.controls["seq_len"].value = 6
    mask = explorer.state.mask
    assert mask.shape == (6, 6) and len(explorer.cell_buttons) == 6
    assert torch.equal(mask[:4, :4], torch.ones(4, 4, dtype=torch.bool).tril())
    assert mask[4:].all() and mask[:, 4:].all()  # new cells start open
    explorer.cell_buttons[5][5].value = False
    assert not explorer.state.mask[5, 5]


def test_heads_offers_only_divisors_and_follows_head_count():
    explorer = explore_heads(d_model=24)
    options = list(explorer.controls["num_heads"].options)
    assert options == [h for h in range(1, 17) if 24 % h == 0]
    explorer.controls["num_heads"].value = 8
    explorer.controls["seq_len"].value = 7
    s = explorer.state
    assert s.num_heads == 8 and s.weights.shape == (8, 7, 7) and s.entropy.shape == (8,)
    assert len(explorer.figure.images) == 8


def test_heads_masks_and_wrong_split():
    explorer = explore_heads(num_heads=4, seq_len=6)
    right = explorer.state.weights
    explorer.controls["wrong_split"].value = True
    assert not torch.allclose(explorer.state.weights, right)  # view(B, H, T, Dh) mixes tokens
    explorer.controls["wrong_split"].value = False
    explorer.controls["mask"].value = "causal"
    weights = explorer.state.weights
    assert (weights.triu(1) == 0).all() and torch.allclose(weights[:, 0, 0], torch.ones(4, dtype=torch.float64))
    explorer.controls["mask"].value = "padding"
    assert (explorer.state.weights[..., 4:] == 0).all()  # the last third of 6 keys is padding


def test_cross_shapes_and_source_padding():
    explorer = explore_cross(q_len=3, src_len=7, num_heads=4)
    assert explorer.controls["src_valid_len"].value == 7  # None means no padding
    assert explorer.state.weights.shape == (4, 3, 7)
    explorer.controls["src_valid_len"].value = 5
    assert (explorer.state.weights[..., 5:] == 0).all()
    assert torch.allclose(explorer.state.weights.sum(-1), torch.ones(4, 3, dtype=torch.float64))
    explorer.controls["src_len"].value = 4
    assert explorer.controls["src_valid_len"].max == 4 and explorer.controls["src_valid_len"].value == 4
    explorer.controls["q_len"].value = 6
    assert explorer.state.target.shape == (1, 6, widgets.CROSS_D_MODEL)
    assert explorer.state.weights.shape == (4, 6, 4)
    assert explorer.figure.row_labels == tokens(6, "en") and explorer.figure.col_labels == tokens(4, "zh")


def test_cross_unpadded_source_stays_unpadded_when_it_grows():
    explorer = explore_cross(src_len=5)
    explorer.controls["src_len"].value = 9
    assert explorer.controls["src_valid_len"].value == 9 and explorer.state.mask.all()
    explorer.controls["src_valid_len"].value = 6
    explorer.controls["src_len"].value = 12
    assert explorer.controls["src_valid_len"].value == 6  # padding chosen by the learner is kept


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: explore_qkv(seq_len=40), r"seq_len must be an integer in \[2, 16\], got 40"),
        (lambda: explore_qkv(seq_len=4, query=4), r"query must be an integer in \[0, 3\], got 4"),
        (lambda: explore_scaling(temperature=0), r"temperature must be a number in \[0.1, 10\]"),
        (lambda: explore_scaling(d_k=0), r"d_k must be an integer in \[1, 4096\]"),
        (lambda: explore_masking(kind="diagonal"), "kind must be one of .*'custom'.*got 'diagonal'"),
        (lambda: explore_masking(seq_len=6, valid_len=9), r"valid_len must be an integer in \[0, 6\], got 9"),
        (lambda: explore_heads(num_heads=3), r"d_model=32 is not divisible by num_heads=3.*\[1, 2, 4, 8, 16\]"),
        (lambda: explore_heads(num_heads=32), r"num_heads=32 is not offered here for d_model=32.*\[1, 2, 4, 8, 16\]"),
        (lambda: explore_heads(mask="block"), "mask must be one of"),
        (lambda: explore_cross(src_valid_len=0), r"src_valid_len must be an integer in \[1, 6\], got 0"),
        (lambda: explore_cross(num_heads=5), r"d_model=16 is not divisible by num_heads=5"),
        (lambda: explore_heads(seed=100), r"seed must be an integer in \[0, 99\]"),
    ],
)
def test_invalid_defaults_raise_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_masking_compute_ignores_valid_len_unless_padding():
    assert masking_compute("causal", seq_len=3).weights[0].tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"valid_len must be an integer in \[0, 3\], got 4"):
        masking_compute("padding", seq_len=3, valid_len=4)


def test_row_entropy_bounds():
    uniform = torch.full((2, 5), 0.2, dtype=torch.float64)
    one_hot = torch.eye(5, dtype=torch.float64)[:2]
    assert torch.allclose(row_entropy(uniform), torch.log(torch.tensor(5.0, dtype=torch.float64)))
    assert torch.equal(row_entropy(one_hot), torch.zeros(2, dtype=torch.float64))
    assert torch.equal(row_entropy(torch.zeros(1, 3)), torch.zeros(1))  # a fully masked row


def test_tokens_keep_their_embedding_when_the_sentence_grows():
    short, long = widgets.qkv_compute(seq_len=4), widgets.qkv_compute(seq_len=9)
    assert torch.equal(short.x, long.x[:4])
    cross = widgets.cross_compute(q_len=6, src_len=6)
    assert not torch.allclose(cross.target, cross.source)  # source and target are not the same numbers
