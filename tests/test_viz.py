"""mha_lib.viz: Chinese glyphs, blitting versus full redraws, static figures, label checks (pixels of the
raster helpers: test_raster.py)."""

import io
import warnings
from collections.abc import Callable
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from mha_lib import viz
from mha_lib.data import SENTENCE_ZH
from mha_lib.viz import raster

WORDS = list(SENTENCE_ZH)  # 我想吃酸菜鱼
RNG = np.random.default_rng(0)
WEIGHTS = RNG.dirichlet(np.ones(6), size=(3, 6))  # (H=3, Tq=6, Tk=6), rows sum to 1


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(int)  # (height, width, 4)


def _texts(fig: Figure) -> list[str]:
    """Every non-empty text of ``fig``: ``Text`` artists and the token labels drawn as bitmaps."""
    texts = [t.get_text() for t in fig.findobj(Text) if t.get_text()]
    return texts + [t for labels in fig.findobj(viz.BitmapLabels) for t in labels.texts]


def _glyph_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if "missing from font" in str(w.message)]


def test_chinese_labels_draw_with_real_glyphs():
    fig = viz.plot_heatmap(WEIGHTS[0], WORDS, WORDS, title=SENTENCE_ZH)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fig.canvas.draw()
    plt.close(fig)
    assert _glyph_warnings(record) == []
    labels = [t for t in fig.findobj(Text) if t.get_text() in WORDS]
    assert sorted(t.get_text() for t in labels) == sorted(WORDS * 2)  # one per row and one per column
    for text in labels:
        font = font_manager.get_font(font_manager.findfont(text.get_fontproperties()))
        assert font.family_name == viz.CJK_FAMILY
        assert font.get_char_index(ord(text.get_text())) != 0  # a real glyph, not the empty box


def test_without_the_cjk_font_the_same_labels_warn():
    """The check above can fail: matplotlib's default font has no CJK glyphs and says so."""
    fig = Figure()
    FigureCanvasAgg(fig)
    fig.text(0.1, 0.5, SENTENCE_ZH, family="DejaVu Sans")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fig.canvas.draw()
    assert _glyph_warnings(record)


def test_every_live_figure_draws_chinese_without_warnings():
    raster._text_bitmap.cache_clear()  # token labels are drawn once per process, then reused: draw them now
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for make, datas in _live_figures():
            make().render(**datas[0])
    assert _glyph_warnings(record) == []


def _live_figures() -> list[tuple[Callable[[], viz.LiveFigure], list[dict]]]:
    """Every LiveFigure kind (a function building a new one) with two different data sets (the second also
    changes colour limits)."""
    causal = np.tril(np.ones((6, 6), dtype=bool))
    scores = [RNG.normal(size=(6, 6)), 8 * RNG.normal(size=(6, 6))]
    return [
        (
            partial(viz.HeadsFigure, 3, WORDS, WORDS),
            [
                {"weights": WEIGHTS, "entropies": [1.0, 1.2, 1.3], "mask": causal},
                {"weights": WEIGHTS[::-1], "entropies": [0.5, 0.7, 0.9]},
            ],
        ),
        (
            partial(viz.HeadsFigure, 2, ["I", "want"], WORDS),  # rectangular, as in cross-attention
            [{"weights": WEIGHTS[:2, :2], "entropies": [1.0, 1.1], "mask": np.tile(np.arange(6) < 4, (2, 1))}],
        ),
        (
            partial(viz.MaskingFigure, WORDS),
            [{"mask": causal, "weights": WEIGHTS[0] * causal}, {"mask": ~causal, "weights": WEIGHTS[1]}],
        ),
        (
            partial(viz.ScalingFigure, WORDS),
            [
                {"scores": s, "weights": w, "max_weight": w.max(1), "entropy": -(w * np.log(w)).sum(1), "scores_std": 1}
                for s, w in zip(scores, WEIGHTS)
            ],
        ),
        (
            partial(
                viz.TrainingFigure,
                WORDS,
                steps=[0, 5, 10],
                losses=[3.0, 2.5, 2.0, 1.5, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3],
                score_names=["previous token", "induction"],
                num_layers=2,
                num_heads=2,
            ),
            [
                {
                    "weights": w,
                    "step": step,
                    "loss": loss,
                    "scores": RNG.uniform(size=(2, 2, 2)),
                    "layer": layer,
                    "head": 1 - layer,
                    "title": f"layer {layer} · head {1 - layer} · step {step}",
                }
                for w, step, loss, layer in ((WEIGHTS[0], 0, 3.0, 0), (WEIGHTS[1], 10, 0.3, 1))
            ],
        ),
        (
            partial(viz.QKVFigure, WORDS, d_v=8),
            [
                {"scores": s, "weights": w, "contributions": RNG.normal(size=(6, 8)), "out_row": np.ones(8), "query": q}
                for s, w, q in zip(scores, WEIGHTS, (1, 4))
            ],
        ),
    ]


def _full_redraw(make: Callable[[], viz.LiveFigure], data: dict) -> bytes:
    """The naive way, as ``make bench`` measures it: a new figure, nothing animated, drawn whole by ``savefig``."""
    fresh = make()
    for artist in fresh._dynamic:
        artist.set_animated(False)
    fresh._update(**data)
    buffer = io.BytesIO()
    fresh.fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_blit_render_equals_the_full_redraw():
    for make, datas in _live_figures():
        fast = make()
        for data in datas:
            a, b = _decode(fast.render(**data)), _decode(_full_redraw(make, data))
            assert a.shape == b.shape, type(fast).__name__
            differing = np.abs(a - b).max(-1) > 0  # (height, width)
            assert differing.mean() < 1e-4, f"{type(fast).__name__}: {differing.mean():.3%} of pixels differ"


def test_blit_render_changes_only_with_the_data():
    make, (first, second) = _live_figures()[3]  # ScalingFigure
    figure = make()
    png = figure.render(**first)
    assert figure.render(**first) == png
    changed = _decode(figure.render(**second)) != _decode(png)
    assert changed.any()


def test_live_figures_have_token_labels_and_colour_bars():
    for make, datas in _live_figures():
        figure = make()
        figure.render(**datas[0])
        texts = _texts(figure.fig)
        assert set(WORDS) <= set(texts), type(figure).__name__
        assert figure.fig.findobj(raster.ColourBar), f"{type(figure).__name__} has no colour bar"


def test_symmetric_colour_bar_numbers_follow_the_scores():
    make, (first, second) = _live_figures()[3]  # ScalingFigure
    figure = make()
    figure.render(**first)
    limit = np.abs(second["scores"]).max()
    figure.render(**second)
    assert figure.scores_image.get_clim() == pytest.approx((-limit, limit))
    assert figure.scores_ticks.texts[-1] == f"{limit:.2g}"


def test_live_figures_stay_out_of_pyplot():
    before = plt.get_fignums()
    for make, datas in _live_figures():
        make().render(**datas[0])
        _full_redraw(make, datas[0])
    assert plt.get_fignums() == before


def test_plot_heads_shares_one_scale_and_names_entropies():
    fig = viz.plot_heads(WEIGHTS, WORDS, WORDS, entropies=[0.1, 0.2, 0.3], mask=np.tril(np.ones((6, 6), bool)))
    images = [im for ax in fig.axes for im in ax.get_images()]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    plt.close(fig)
    assert {im.get_clim() for im in images} == {(0.0, 1.0)}
    assert titles == ["head 0  entropy 0.10", "head 1  entropy 0.20", "head 2  entropy 0.30"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: viz.plot_heatmap(np.zeros((3, 3)), WORDS[:2], WORDS[:3]), r"shape \(3, 3\).*got 2 row labels"),
        (lambda: viz.plot_mask(np.ones((3, 4), bool), WORDS[:3], WORDS[:3]), r"shape \(3, 4\).*3 column labels"),
        (lambda: viz.plot_heads(np.zeros((2, 3, 3)), WORDS[:3], WORDS[:4]), r"shape \(2, 3, 3\).*4 column labels"),
        (lambda: viz.plot_heads(np.zeros((2, 3, 3)), WORDS[:3], WORDS[:3], entropies=[1.0]), "1 entropies for 2"),
        (lambda: viz.plot_heatmap(np.zeros(3), WORDS[:3], WORDS[:3]), r"2 axes, got shape \(3,\)"),
        (
            lambda: viz.HeadsFigure(2, WORDS[:3], WORDS[:3]).render(weights=np.zeros((3, 3, 3)), entropies=[1] * 3),
            r"\(3, 3, 3\) does not match this figure's \(2, 3, 3\); build a new one",
        ),
    ],
)
def test_label_and_shape_errors_are_clear(call, message):
    before = plt.get_fignums()
    with pytest.raises(ValueError, match=message):
        call()
    assert plt.get_fignums() == before  # checked before any figure is made


def test_static_figures_are_laid_out_by_hand_with_room_for_every_text():
    mask = np.tril(np.ones((6, 6), bool))
    figures = [
        viz.plot_heatmap(WEIGHTS[0], WORDS, WORDS, title="weights of a long title", mask=mask),
        viz.plot_heatmap(WEIGHTS[0, :3], ["τ = 0.1", "τ = 1", "τ = 10"], WORDS, colorbar=False),
        viz.plot_mask(mask, WORDS, WORDS),  # its default title is wider than the panel
        viz.plot_heads(WEIGHTS, WORDS, WORDS, entropies=[0.1, 0.2, 0.3]),
    ]
    for fig in figures:
        fig.canvas.draw()
        plt.close(fig)
        assert fig.get_layout_engine() is None  # placed in inches, as the explorer figures
        box = fig.bbox
        texts = [t for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
        assert {"query", "key"} <= {t.get_text() for t in texts}
        for text in texts:
            extent = text.get_window_extent()
            inside = box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1
            assert inside, f"{text.get_text()!r} at {extent.bounds} leaves the figure {box.bounds}"


def test_static_plots_draw_into_a_callers_axes_and_keep_its_layout():
    fig, axes = plt.subplots(1, 2, layout="constrained")
    assert viz.plot_mask(np.ones((6, 6), bool), WORDS, WORDS, ax=axes[0], title="mask") is fig
    assert viz.plot_heatmap(WEIGHTS[0], WORDS, WORDS, ax=axes[1], title="weights") is fig
    plt.close(fig)
    assert fig.get_layout_engine() is not None  # the caller's constrained layout, untouched
    assert [ax.get_title() for ax in axes] == ["mask", "weights"]
    assert len(fig.axes) == 3  # the two axes and the heatmap's colour bar
