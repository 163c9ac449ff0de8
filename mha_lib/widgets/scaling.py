"""Explorer of notebook 02: d_k, scaling on/off and temperature decide how peaked softmax gets.

>>> explore_scaling(seq_len=4).state.weights.shape
torch.Size([4, 4])
"""

import math
from typing import Any

import ipywidgets as widgets

from mha_lib.data import tokens
from mha_lib.scenarios.scaling import D_K_CHOICES, SEQ_LEN_RANGE, TEMPERATURE_RANGE, ScalingScenario, scaling_compute
from mha_lib.viz import LiveFigure, ScalingFigure
from mha_lib.widgets.base import STYLE, Explorer, choice_slider, readout, seed_slider, slider, wide


class ScalingExplorer(Explorer):
    """d_k, scaling on/off, temperature: how the spread of the scores decides how peaked softmax gets."""

    name = "scaling"
    state: ScalingScenario

    def __init__(self, d_k: int, scaled: bool, temperature: float, seed: int, seq_len: int) -> None:
        scaling_compute(d_k, scaled, temperature, seed, seq_len)  # checks every argument, naming it
        low, high = (math.log10(t) for t in TEMPERATURE_RANGE)
        controls = {
            "d_k": choice_slider("d_k", sorted({*D_K_CHOICES, d_k}), d_k),
            "scaled": widgets.Checkbox(value=bool(scaled), description="scale scores by 1/√d_k", style=STYLE),
            "temperature": widgets.FloatLogSlider(
                value=temperature,
                base=10,
                min=low,
                max=high,
                step=0.05,
                description="temperature",
                style=STYLE,
                layout=wide(),
                continuous_update=True,
            ),
            "seed": seed_slider(seed),
            "seq_len": slider("sequence length T", seq_len, *SEQ_LEN_RANGE),
        }
        self.summary = readout()
        super().__init__(controls, extra=(self.summary,))

    def _labels(self) -> tuple[list[str], list[str]]:
        words = tokens(self.state.weights.shape[0], "zh")
        return words, words

    def _compute(self) -> ScalingScenario:
        return scaling_compute(**self.values())

    def _layout_key(self) -> tuple:
        return (self.state.weights.shape[0],)

    def _make_figure(self) -> LiveFigure:
        return ScalingFigure(tokens(self.state.weights.shape[0], "zh"))

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        return {
            "scores": s.scores,
            "weights": s.weights,
            "max_weight": s.max_weight,
            "entropy": s.entropy,
            "scores_std": s.scores_std,
        }

    def _after_update(self) -> None:
        s = self.state
        self.summary.value = (
            f"scale = {s.scale:.4g}, temperature = {s.temperature:.3g}: "
            f"scores std {s.scores_std:.2f}, mean largest weight {s.max_weight.mean():.2f}, "
            f"mean row entropy {s.entropy.mean():.2f} (uniform: {math.log(s.weights.shape[-1]):.2f})"
        )


def explore_scaling(
    d_k: int = 64, scaled: bool = True, temperature: float = 1.0, seed: int = 0, seq_len: int = 8
) -> ScalingExplorer:
    """Explorer 2: unscaled scores grow like √d_k and saturate softmax; 1/√d_k (or a temperature) fixes it.

    Controls: ``d_k``, ``scaled``, ``temperature``, ``seed``, ``seq_len``.
    """
    return ScalingExplorer(d_k, scaled, temperature, seed, seq_len)
