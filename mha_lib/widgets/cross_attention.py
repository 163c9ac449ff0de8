"""Explorer of notebook 05: English queries over a Chinese source; rectangular heatmaps, padded keys in grey.

>>> explore_cross(q_len=2, src_len=5).state.weights.shape
torch.Size([2, 2, 5])
"""

import ipywidgets as widgets

from mha_lib.data import tokens
from mha_lib.scenarios.cross_attention import (
    CROSS_D_MODEL,
    Q_LEN_RANGE,
    SRC_LEN_RANGE,
    CrossScenario,
    cross_compute,
)
from mha_lib.scenarios.head_splitting import head_choices
from mha_lib.widgets.base import STYLE, seed_slider, slider
from mha_lib.widgets.head_splitting import HeadGridExplorer


class CrossExplorer(HeadGridExplorer):
    """Target length, source length, heads and source padding of cross-attention."""

    name = "cross"
    state: CrossScenario

    def __init__(self, q_len: int, src_len: int, num_heads: int, src_valid_len: int | None, seed: int) -> None:
        cross_compute(q_len, src_len, num_heads, src_valid_len, seed)  # checks every argument, naming it
        src_valid_len = src_len if src_valid_len is None else src_valid_len
        controls = {
            "q_len": slider("target length Tq (English)", q_len, *Q_LEN_RANGE),
            "src_len": slider("source length Tk (中文)", src_len, *SRC_LEN_RANGE),
            "num_heads": widgets.Dropdown(
                options=head_choices(CROSS_D_MODEL), value=num_heads, description="heads", style=STYLE
            ),
            "src_valid_len": slider("source valid length", src_valid_len, 1, src_len),
            "seed": seed_slider(seed),
        }
        super().__init__(controls)

    def _sync_controls(self, change: dict) -> None:
        if change["owner"] is self.controls["src_len"]:
            valid = self.controls["src_valid_len"]
            unpadded = valid.value == change["old"]
            valid.max = change["new"]
            if unpadded:  # no padding before: keep none
                valid.value = change["new"]

    def _compute(self) -> CrossScenario:
        return cross_compute(**self.values())

    def _labels(self) -> tuple[list[str], list[str]]:
        _, q_len, src_len = self.state.weights.shape
        return tokens(q_len, "en"), tokens(src_len, "zh")


def explore_cross(
    q_len: int = 4, src_len: int = 6, num_heads: int = 2, src_valid_len: int | None = None, seed: int = 0
) -> CrossExplorer:
    """Explorer 5: English queries over a Chinese source; rectangular (Tq, Tk) heatmaps, padded keys in grey.

    Controls: ``q_len``, ``src_len``, ``num_heads``, ``src_valid_len`` (None = no padding), ``seed``.
    """
    return CrossExplorer(q_len, src_len, num_heads, src_valid_len, seed)
