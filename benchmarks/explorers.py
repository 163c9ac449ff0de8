"""Kernel-side explorer latency: one control assignment = compute + redraw into the ``ipywidgets.Image``.

Each explorer is built twice with the same arguments: as shipped (cached background, blitting) and turned
by ``rebuilding`` into the naive way (a new figure and ``savefig`` per update). The same change is applied
to both, alternately, so they share the machine's noise.
"""

import gc
import io
import statistics
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import ipywidgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.timing import percentile, time_once
from mha_lib import widgets
from mha_lib.widgets import base as widgets_base

CHANGES = 30  # timed control changes per row
NAIVE_LAYOUT_CHANGES = 10  # the naive twin of a layout row (no target there; it rebuilds in both modes)
WARMUP = 2

Change = Callable[[widgets.Explorer, int], None]  # change(explorer, n) makes the n-th change of its kind


def _set(name: str, values: tuple) -> Change:
    """Cycle control ``name`` through ``values`` (neighbours differ, and the first differs from the default)."""

    def apply(explorer: widgets.Explorer, n: int) -> None:
        explorer.controls[name].value = values[n % len(values)]

    apply.__name__ = name
    return apply


def rebuilding(explorer: widgets.Explorer) -> widgets.Explorer:
    """``explorer`` redrawn the naive way from now on: every update builds a new figure, draws all of it with
    ``savefig`` (no cached background, nothing animated) and encodes the PNG with matplotlib."""

    def update(self: widgets.Explorer) -> None:
        with widgets_base.one_thread():
            self.state = self._compute()
        figure = self._make_figure()
        for artist in figure._dynamic:
            artist.set_animated(False)
        figure._update(**self._figure_data())
        buffer = io.BytesIO()
        figure.fig.savefig(buffer, format="png")
        self.image.value = buffer.getvalue()
        with self._sync():
            self._after_update()

    explorer.update = types.MethodType(update, explorer)
    explorer.update()
    return explorer


def cell_toggle(explorer: widgets.Explorer, n: int) -> None:
    """Click one (query, key) button of the masking grid, a different cell each time."""
    size = len(explorer.cell_buttons)
    button = explorer.cell_buttons[(n // 2) % size][(n * 7 + 3) % size]
    button.value = not button.value


def _seeds() -> Change:
    return _set("seed", tuple(range(1, 40)))


def _options(control: ipywidgets.ValueWidget) -> list:
    """Every value a size control offers, in order (slider range or dropdown/selection options)."""
    if isinstance(control, ipywidgets.IntSlider):
        return list(range(control.min, control.max + 1, control.step))
    return [o[1] if isinstance(o, tuple) else o for o in control.options]


def _layout_cycle(control: ipywidgets.ValueWidget, start: object) -> tuple:
    """The values nearest to ``start`` (in option order), then ``start`` again.

    More distinct values than the explorer keeps cached figures, so every step draws a layout not on hand.
    """
    options = _options(control)
    here = options.index(start)
    distinct = getattr(widgets, "FIGURE_CACHE_SIZE", 1) + 2
    nearest = sorted((o for o in options if o != start), key=lambda o: abs(options.index(o) - here))
    return (*nearest[: distinct - 1], start)


def reference_figure_ms(repeats: int = 15) -> float:
    """Median ms for plain matplotlib to build a figure with one axes and an 8 × 8 image and save it as PNG.

    Nothing of mha_lib runs in it: it tells how fast this machine runs matplotlib, so that explorer times
    measured on different machines can be compared.
    """
    image = np.arange(64.0).reshape(8, 8)

    def one() -> None:
        fig = Figure(figsize=(3, 3), dpi=100)
        FigureCanvasAgg(fig)
        fig.add_axes((0.1, 0.1, 0.8, 0.8)).imshow(image)
        fig.savefig(io.BytesIO(), format="png")

    one()
    return statistics.median(time_once(one) for _ in range(repeats))


@dataclass
class Case:
    """One explorer: its factory, the controls that set its size, and its redraw-only changes."""

    name: str
    make: Callable[..., widgets.Explorer]
    size_controls: tuple[str, ...]  # set to their largest option for "max"; cycled for layout changes
    redraw: list[Change]
    also_largest: tuple[str, ...] = ()  # size controls that keep the layout: only set to their largest

    def sizes(self) -> dict[str, tuple[dict, list[Change]]]:
        """size → (explorer kwargs, layout changes around that size)."""
        probe = self.make()
        controls = {name: probe.controls[name] for name in self.size_controls}
        largest = {name: _options(probe.controls[name])[-1] for name in self.size_controls + self.also_largest}
        probe.close()
        return {
            size: (kwargs, [_set(name, _layout_cycle(c, kwargs.get(name, c.value))) for name, c in controls.items()])
            for size, kwargs in (("default", {}), ("max", largest))
        }


def cases() -> list[Case]:
    """The explorers with the changes a lecturer makes that keep the layout."""
    return [
        Case("qkv", widgets.explore_qkv, ("seq_len", "d_k"), [_seeds(), _set("query", (1, 2, 0, 3))]),
        Case(
            "scaling",
            widgets.explore_scaling,
            ("seq_len",),
            [_seeds(), _set("temperature", (2.0, 0.5, 1.0, 0.2)), _set("scaled", (False, True))],
            also_largest=("d_k",),
        ),
        Case("masking", widgets.explore_masking, ("seq_len",), [cell_toggle, _seeds()]),
        Case(
            "heads",
            widgets.explore_heads,
            ("seq_len", "num_heads"),
            [_seeds(), _set("mask", ("causal", "padding", "none")), _set("wrong_split", (True, False))],
        ),
        Case(
            "cross",
            widgets.explore_cross,
            ("q_len", "src_len", "num_heads"),
            [_seeds(), _set("src_valid_len", (3, 5, 4))],
        ),
        Case(
            "positions", widgets.explore_positions, ("seq_len", "d_model"), [_set("offset", (5, 12, 3, 20)), _seeds()]
        ),
        Case(
            "training",
            widgets.explore_training,
            ("task",),
            [_set("checkpoint", (5, 30, 12, 45, 20)), _set("head", (1, 0)), _set("layer", (0, 1))],
        ),
        Case(
            "tiling",
            widgets.explore_tiling,
            ("seq_len", "block_q"),
            [_set("step", (2, 3, 4, 5, 6, 1)), _seeds(), _set("causal", (True, False))],
        ),
        Case("kv_cache", widgets.explore_kv_cache, ("num_tokens",), [_set("num_kv_heads", (1, 4, 8, 2)), _seeds()]),
    ]


def _series(
    fast: widgets.Explorer, naive: widgets.Explorer, changes: list[Change], naive_changes: int
) -> tuple[list, list]:
    """Step i applies change ``i % len(changes)`` to both twins, order flipped every step; latencies in ms.

    The first ``WARMUP`` steps are not timed; the naive twin stops after ``naive_changes`` timed steps.
    """
    fast_ms: list[float] = []
    naive_ms: list[float] = []
    for i in range(WARMUP + CHANGES):
        if i == WARMUP:
            gc.collect()
        change = partial(changes[i % len(changes)], n=i // len(changes))
        twins = [(fast, fast_ms), (naive, naive_ms)]
        if i >= WARMUP + naive_changes:
            twins.pop()
        for explorer, sink in twins if i % 2 else twins[::-1]:
            latency_ms = time_once(partial(change, explorer))
            if i >= WARMUP:
                sink.append(latency_ms)
    return fast_ms, naive_ms


def latency() -> list[dict]:
    """Rows ``{"name", "size", "change", "median_ms", "p90_ms", "naive_median_ms", "controls", "n"}``."""
    rows = []
    for case in cases():
        for size, (kwargs, layout) in case.sizes().items():
            for kind, changes in (("redraw", case.redraw), ("layout", layout)):
                fast = case.make(**kwargs)
                naive = rebuilding(case.make(**kwargs))
                fast_ms, naive_ms = _series(fast, naive, changes, CHANGES if kind == "redraw" else NAIVE_LAYOUT_CHANGES)
                rows.append(
                    {
                        "name": case.name,
                        "size": size,
                        "change": kind,
                        "median_ms": statistics.median(fast_ms),
                        "p90_ms": percentile(fast_ms, 0.9),
                        "naive_median_ms": statistics.median(naive_ms),
                        "naive_p90_ms": percentile(naive_ms, 0.9),
                        "controls": [c.__name__ for c in changes],
                        "n": len(fast_ms),
                        "naive_n": len(naive_ms),
                    }
                )
                for explorer in (fast, naive):
                    explorer.close()
    return rows
