"""Explorer of notebook 03: a mask (none / padding / causal / custom, click cells to toggle) beside its weights.

>>> explore_masking("causal", seq_len=3, valid_len=3).state.weights[0].tolist()
[1.0, 0.0, 0.0]
"""

from typing import Any

import ipywidgets as widgets
import torch
from torch import Tensor

from mha_lib._validate import require_choice
from mha_lib.data import tokens
from mha_lib.masks import MASK_KINDS
from mha_lib.scenarios._common import MAX_TOKENS_ZH
from mha_lib.scenarios.masking import SEQ_LEN_RANGE, MaskingScenario, masking_compute
from mha_lib.viz import LiveFigure, MaskingFigure, style
from mha_lib.widgets.base import STYLE, Explorer, seed_slider, slider


def _cell_size() -> str:
    """The side of a toggle button of the mask grid: larger in projector mode."""
    return "3.4rem" if style.PROJECTOR else "2.4rem"


def _cell_css() -> str:
    """Toggle cells in the mask heatmap's colours; a pressed (``mod-active``) toggle is a cell that may attend."""
    return (
        f"<style>.mha-explorer .mha-cell.mod-active {{background: {style.ALLOWED_COLOR}; box-shadow: none;}}"
        f" .mha-explorer .mha-cell:not(.mod-active) {{background: {style.BLOCKED_COLOR};}}</style>"
    )


class MaskingExplorer(Explorer):
    """Mask kind, valid length, sequence length, and a grid of toggle buttons, one per (query, key) cell.

    ``cell_buttons[i][j].value`` is True when query i may attend to key j; clicking one blocks or unblocks
    that cell and switches the kind to "custom", starting from the mask shown. Buttons are created once for
    the longest sequence and reused: a sequence-length change only re-arranges the grid.
    """

    name = "masking"
    state: MaskingScenario

    def __init__(self, kind: str, seq_len: int, valid_len: int, seed: int) -> None:
        require_choice("kind", kind, MASK_KINDS)
        masking_compute("padding", seq_len, valid_len, seed)  # checks the other arguments, naming them
        self._custom: Tensor | None = None
        words = tokens(MAX_TOKENS_ZH, "zh")
        self._buttons = [
            [
                widgets.ToggleButton(
                    value=True,
                    tooltip=f"query {i} → key {j}",  # no token: native tooltips cannot use the page's CJK font
                    layout=widgets.Layout(width=_cell_size(), height=_cell_size()),
                ).add_class("mha-cell")
                for j in range(MAX_TOKENS_ZH)
            ]
            for i in range(MAX_TOKENS_ZH)
        ]
        for i, row in enumerate(self._buttons):
            for j, button in enumerate(row):
                button.observe(lambda change, i=i, j=j: self._on_cell(i, j, change["new"]), names="value")
        self._key_names = [widgets.Label(w, layout=widgets.Layout(width=_cell_size())) for w in words]  # header
        self._query_names = [widgets.Label(w) for w in words]  # left column
        controls = {
            "kind": widgets.ToggleButtons(options=MASK_KINDS, value=kind, description="mask", style=STYLE),
            "seq_len": slider("sequence length T", seq_len, *SEQ_LEN_RANGE),
            "valid_len": slider("valid length", valid_len, 0, seq_len),
            "seed": seed_slider(seed),
            "cells": widgets.GridBox(),
        }
        self._arrange_cells(controls["cells"], seq_len)
        hint = widgets.HTML(
            _cell_css() + "Click a cell to block or unblock it (rows = queries, columns = keys; "
            "blue = may attend, grey = blocked, as in the heatmap)."
        )
        super().__init__(controls, extra=(hint, controls["cells"]))

    @property
    def cell_buttons(self) -> list[list[widgets.ToggleButton]]:
        """The (T, T) toggle buttons on screen: ``cell_buttons[i][j]`` is query i → key j."""
        seq_len = self.controls["seq_len"].value
        return [row[:seq_len] for row in self._buttons[:seq_len]]

    def _arrange_cells(self, grid: widgets.GridBox, seq_len: int) -> None:
        """Show a (T+1) × (T+1) grid: key names on top, query names on the left, one ToggleButton per cell."""
        cells = [item for i in range(seq_len) for item in (self._query_names[i], *self._buttons[i][:seq_len])]
        grid.children = [widgets.Label(""), *self._key_names[:seq_len], *cells]
        grid.layout = widgets.Layout(grid_template_columns=f"repeat({seq_len + 1}, {_cell_size()})", grid_gap="2px")

    def _on_cell(self, i: int, j: int, allowed: bool) -> None:
        if self._syncing:
            return
        custom = self.state.mask.clone()  # (T, T), start from the mask on screen
        custom[i, j] = allowed
        self._custom = custom
        with self._sync():
            self.controls["kind"].value = "custom"
        self.update()

    def _sync_controls(self, change: dict) -> None:
        kind, seq_len = self.controls["kind"], self.controls["seq_len"]
        if change["owner"] is kind and change["new"] == "custom":
            self._custom = self.state.mask.clone()  # (T, T): start from the mask on screen
        if change["owner"] is seq_len:
            self.controls["valid_len"].max = seq_len.value  # clamps the value too
            if self._custom is not None:
                resized = torch.ones(seq_len.value, seq_len.value, dtype=torch.bool)  # (T, T), new cells open
                keep = min(seq_len.value, self._custom.shape[0])
                resized[:keep, :keep] = self._custom[:keep, :keep]
                self._custom = resized
            self._arrange_cells(self.controls["cells"], seq_len.value)

    def _labels(self) -> tuple[list[str], list[str]]:
        words = tokens(self.state.mask.shape[0], "zh")
        return words, words

    def _export_values(self) -> dict[str, Any]:
        values = self.values()
        if values["kind"] != "padding":
            del values["valid_len"]  # unused by the other kinds
        return values

    def restyle(self) -> None:
        for button in (b for row in self._buttons for b in row):
            button.layout.width = button.layout.height = _cell_size()
        for label in self._key_names:
            label.layout.width = label.layout.height = _cell_size()
        self._arrange_cells(self.controls["cells"], self.controls["seq_len"].value)
        super().restyle()

    def _compute(self) -> MaskingScenario:
        params = self.values()
        return masking_compute(**params, custom=self._custom if params["kind"] == "custom" else None)

    def _layout_key(self) -> tuple:
        return (self.state.mask.shape[0],)

    def _make_figure(self) -> LiveFigure:
        return MaskingFigure(tokens(self.state.mask.shape[0], "zh"))

    def _figure_data(self) -> dict[str, Any]:
        return {"mask": self.state.mask, "weights": self.state.weights}

    def _after_update(self) -> None:
        self.controls["valid_len"].disabled = self.controls["kind"].value != "padding"
        for row, allowed_row in zip(self.cell_buttons, self.state.mask.tolist()):
            for button, allowed in zip(row, allowed_row):
                if button.value != allowed:  # assigning costs ~6 µs even unchanged; the colour follows the value
                    button.value = allowed


def explore_masking(kind: str = "padding", seq_len: int = 6, valid_len: int = 4, seed: int = 0) -> MaskingExplorer:
    """Explorer 3: a mask (none / padding / causal / custom, click cells to toggle) beside the weights it gives.

    Controls: ``kind``, ``seq_len``, ``valid_len``, ``seed``, ``cells`` (the toggle grid; buttons in
    ``explorer.cell_buttons[i][j]``).
    """
    return MaskingExplorer(kind, seq_len, valid_len, seed)
