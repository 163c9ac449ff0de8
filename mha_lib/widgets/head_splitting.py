"""Explorer of notebook 04: every head's weights on one colour scale, head count, mask and the wrong split.

>>> explore_heads(num_heads=2, seq_len=3).state.weights.shape
torch.Size([2, 3, 3])
"""

from typing import Any

import ipywidgets as widgets

from mha_lib.data import tokens
from mha_lib.scenarios.head_splitting import (
    HEAD_MASKS,
    SEQ_LEN_RANGE,
    HeadsScenario,
    SelfHeadsScenario,
    head_choices,
    heads_compute,
)
from mha_lib.viz import HeadsFigure, LiveFigure
from mha_lib.widgets.base import STYLE, Explorer, seed_slider, slider, wide


class HeadGridExplorer(Explorer):
    """Base of the multi-head explorers: one heatmap per head (``state.weights`` is (H, Tq, Tk)) on one scale."""

    state: HeadsScenario

    def _labels(self) -> tuple[list[str], list[str]]:
        """Token names of the query rows and of the key columns."""
        raise NotImplementedError

    def _layout_key(self) -> tuple:
        return tuple(self.state.weights.shape)

    def _make_figure(self) -> LiveFigure:
        rows, cols = self._labels()
        return HeadsFigure(self.state.num_heads, rows, cols)

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        return {"weights": s.weights, "entropies": s.entropy.tolist(), "mask": s.mask}


class HeadsExplorer(HeadGridExplorer):
    """Head count, sequence length, mask and the wrong split, all heads on one colour scale."""

    name = "heads"
    state: SelfHeadsScenario

    def __init__(self, num_heads: int, d_model: int, seq_len: int, mask: str, seed: int, wrong_split: bool) -> None:
        heads_compute(num_heads, d_model, seq_len, mask, seed, wrong_split)  # checks every argument, naming it
        self.d_model = d_model
        controls = {
            "num_heads": widgets.Dropdown(
                options=head_choices(d_model),
                value=num_heads,
                description=f"heads (divisors of d_model={d_model})",
                style=STYLE,
                layout=wide(),
            ),
            "seq_len": slider("sequence length T", seq_len, *SEQ_LEN_RANGE),
            "mask": widgets.ToggleButtons(options=HEAD_MASKS, value=mask, description="mask", style=STYLE),
            "wrong_split": widgets.Checkbox(
                value=bool(wrong_split), description="wrong split: view(B, H, T, Dh)", style=STYLE, layout=wide()
            ),
            "seed": seed_slider(seed),
        }
        super().__init__(controls)

    def _compute(self) -> SelfHeadsScenario:
        return heads_compute(d_model=self.d_model, **self.values())

    def _labels(self) -> tuple[list[str], list[str]]:
        seq_len = self.state.weights.shape[-1]
        return tokens(seq_len, "zh"), tokens(seq_len, "zh")


def explore_heads(
    num_heads: int = 4,
    d_model: int = 32,
    seq_len: int = 6,
    mask: str = "none",
    seed: int = 0,
    wrong_split: bool = False,
) -> HeadsExplorer:
    """Explorer 4: every head's weights on one shared colour scale, with per-head entropy.

    Controls: ``num_heads`` (divisors of d_model up to 16 only), ``seq_len``, ``mask``, ``wrong_split``, ``seed``.
    """
    return HeadsExplorer(num_heads, d_model, seq_len, mask, seed, wrong_split)
