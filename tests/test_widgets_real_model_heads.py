"""explore_pretrained driven without a browser: the text box, layer and head buttons, the weighting switch."""

import matplotlib.pyplot as plt
import torch

from benchmarks.explorers import rebuilding
from mha_lib.viz import PNG_SIGNATURE
from mha_lib.widgets import explore_pretrained


def test_controls_update_state_and_image():
    before = plt.get_fignums()
    explorer = explore_pretrained("The cat sat on the mat.")
    png, figure = explorer.image.value, explorer.figure
    assert bytes(png).startswith(PNG_SIGNATURE) and explorer.snapshot().data == bytes(png)
    explorer.controls["head"].value = 2
    assert explorer.state.head == 2 and explorer.figure is figure and explorer.image.value != png
    png = explorer.image.value
    explorer.controls["layer"].value = 3
    assert torch.equal(explorer.state.selected, explorer.state.encoding.attentions[3, 2])
    assert explorer.figure is figure and explorer.image.value != png
    png = explorer.image.value
    explorer.controls["weighting"].value = "value_norm"
    assert explorer.state.weighting == "value_norm" and explorer.image.value != png
    explorer.controls["text"].value = "Dogs bark."
    assert explorer.state.tokens == ["[CLS]", "dogs", "bark", ".", "[SEP]"] and explorer.figure is not figure
    assert plt.get_fignums() == before


def test_a_text_too_long_keeps_the_last_view_and_says_why():
    explorer = explore_pretrained("Dogs bark.")
    png = explorer.image.value
    explorer.controls["text"].value = "word " * 50
    assert explorer.state.tokens == ["[CLS]", "dogs", "bark", ".", "[SEP]"]
    assert "gives 50" in explorer.error.value and explorer.image.value == png
    explorer.controls["text"].value = "Dogs bark loudly."
    assert explorer.error.value == "" and len(explorer.state.tokens) == 6


def test_text_box_updates_on_enter_only():
    assert explore_pretrained().controls["text"].continuous_update is False


def test_naive_twin_computes_the_same_state():
    fast, naive = explore_pretrained(), rebuilding(explore_pretrained())
    for explorer in (fast, naive):
        explorer.controls["head"].value = 5
    assert torch.equal(fast.state.selected, naive.state.selected)
