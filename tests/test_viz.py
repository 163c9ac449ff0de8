"""mha_lib.viz: Chinese glyphs, the hand-written PNG encoder, blitting versus full redraws, label checks."""

import io
import warnings

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import IdentityTransform
from PIL import Image

from mha_lib import viz
from mha_lib.data import SENTENCE_ZH

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
    viz._text_bitmap.cache_clear()  # token labels are drawn once per process, then reused: draw them now
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for figure, data in _live_figures(blit=True):
            figure.render(**data[0])
    assert _glyph_warnings(record) == []


def test_encode_png_equals_the_canvas_pixels():
    figure = viz.HeadsFigure(3, WORDS, WORDS)
    png = figure.render(weights=WEIGHTS, entropies=[1.0, 1.1, 1.2])
    canvas = np.asarray(figure.fig.canvas.buffer_rgba())  # (height, width, 4)
    assert png.startswith(viz.PNG_SIGNATURE)
    assert np.array_equal(_decode(png), canvas)
    as_float = mpimg.imread(io.BytesIO(png), format="png")  # (height, width, 4) in [0, 1]
    assert np.array_equal(np.round(as_float * 255).astype(np.uint8), canvas)


def test_encode_png_of_a_plain_figure_and_its_error():
    fig = Figure(figsize=(2, 1), dpi=50)
    fig.text(0.5, 0.5, SENTENCE_ZH)
    with pytest.raises(TypeError, match=r"already drawn on an Agg canvas.*FigureCanvasAgg"):
        viz.encode_png(fig)
    FigureCanvasAgg(fig).draw()
    assert _decode(viz.encode_png(fig)).shape == (50, 100, 4)


def _draw(fig: Figure) -> np.ndarray:
    FigureCanvasAgg(fig).draw()
    return np.asarray(fig.canvas.buffer_rgba()).astype(int)  # (height, width, 4)


@pytest.mark.parametrize("shape", [(6, 6), (16, 16), (3, 11), (17, 64)])
@pytest.mark.parametrize("masked", [False, True])
def test_cell_image_draws_the_pixels_of_imshow(shape, masked):
    data = RNG.random(shape)
    if masked:
        data = np.ma.masked_array(data, mask=RNG.random(shape) < 0.3)
    pictures = []
    for draw_with_imshow in (True, False):
        fig = Figure(figsize=(3.1, 2.7), dpi=100)
        ax = fig.add_axes((0.13, 0.11, 0.7, 0.77))
        if draw_with_imshow:
            ax.imshow(data, cmap=viz._weights_cmap(), vmin=0, vmax=1, interpolation="nearest", aspect="auto")
            ax.set_xticks([]), ax.set_yticks([])
            ax.spines[:].set_visible(False)
        else:
            viz._heatmap(ax, data, None, None, aspect="auto")  # a CellImage, no ticks, no frame
        pictures.append(_draw(fig))
    assert np.array_equal(*pictures)


@pytest.mark.parametrize("text", ["我", "w·v 酸", "= out", "-0.41"])
@pytest.mark.parametrize("ha", ["left", "center", "right"])
@pytest.mark.parametrize("va", ["top", "center", "baseline"])
def test_bitmap_labels_draw_the_pixels_of_text(text, ha, va):
    pictures = []
    for as_bitmap in (False, True):
        fig = Figure(figsize=(1.2, 0.6), dpi=100)
        anchor = (60, 30)  # whole pixels: there the bitmap is exactly what Text draws
        if as_bitmap:
            fig.add_artist(viz.BitmapLabels([text], [anchor], IdentityTransform(), size=12, ha=ha, va=va))
        else:
            fig.text(*anchor, text, transform=IdentityTransform(), ha=ha, va=va, fontsize=12)
        pictures.append(_draw(fig))
    assert (pictures[0] != 255).any()  # something was drawn
    assert np.array_equal(*pictures)


def test_bitmap_labels_need_one_anchor_per_text():
    with pytest.raises(ValueError, match="got 2 texts for 1 anchors"):
        viz.BitmapLabels(["我", "想"], [(0, 0)], IdentityTransform())


def _live_figures(blit: bool) -> list[tuple[viz.LiveFigure, list[dict]]]:
    """Every LiveFigure kind with two different data sets (the second also changes colour limits)."""
    causal = np.tril(np.ones((6, 6), dtype=bool))
    scores = [RNG.normal(size=(6, 6)), 8 * RNG.normal(size=(6, 6))]
    return [
        (
            viz.HeadsFigure(3, WORDS, WORDS, blit=blit),
            [
                {"weights": WEIGHTS, "entropies": [1.0, 1.2, 1.3], "mask": causal},
                {"weights": WEIGHTS[::-1], "entropies": [0.5, 0.7, 0.9]},
            ],
        ),
        (
            viz.HeadsFigure(2, ["I", "want"], WORDS, blit=blit),  # rectangular, as in cross-attention
            [{"weights": WEIGHTS[:2, :2], "entropies": [1.0, 1.1], "mask": np.tile(np.arange(6) < 4, (2, 1))}],
        ),
        (
            viz.MaskingFigure(WORDS, blit=blit),
            [{"mask": causal, "weights": WEIGHTS[0] * causal}, {"mask": ~causal, "weights": WEIGHTS[1]}],
        ),
        (
            viz.ScalingFigure(WORDS, blit=blit),
            [
                {"scores": s, "weights": w, "max_weight": w.max(1), "entropy": -(w * np.log(w)).sum(1), "scores_std": 1}
                for s, w in zip(scores, WEIGHTS)
            ],
        ),
        (
            viz.QKVFigure(WORDS, d_v=8, blit=blit),
            [
                {"scores": s, "weights": w, "contributions": RNG.normal(size=(6, 8)), "out_row": np.ones(8), "query": q}
                for s, w, q in zip(scores, WEIGHTS, (1, 4))
            ],
        ),
    ]


def test_blit_render_equals_the_full_redraw():
    for (fast, datas), (slow, _) in zip(_live_figures(blit=True), _live_figures(blit=False)):
        for data in datas:
            a, b = _decode(fast.render(**data)), _decode(slow.render(**data))
            assert a.shape == b.shape, type(fast).__name__
            differing = np.abs(a - b).max(-1) > 0  # (height, width)
            assert differing.mean() < 1e-4, f"{type(fast).__name__}: {differing.mean():.3%} of pixels differ"


def test_blit_render_changes_only_with_the_data():
    figure, (first, second) = _live_figures(blit=True)[3]  # ScalingFigure
    png = figure.render(**first)
    assert figure.render(**first) == png
    changed = _decode(figure.render(**second)) != _decode(png)
    assert changed.any()


def test_live_figures_have_token_labels_and_colour_bars():
    for figure, datas in _live_figures(blit=True):
        figure.render(**datas[0])
        texts = _texts(figure.fig)
        assert set(WORDS) <= set(texts), type(figure).__name__
        bars = [ax for ax in figure.fig.axes if isinstance(getattr(ax, "_colorbar", None), Colorbar)]
        assert bars, f"{type(figure).__name__} has no colour bar"


def test_symmetric_colour_bar_numbers_follow_the_scores():
    figure, (first, second) = _live_figures(blit=True)[3]  # ScalingFigure
    figure.render(**first)
    limit = np.abs(second["scores"]).max()
    figure.render(**second)
    assert figure.scores_image.get_clim() == pytest.approx((-limit, limit))
    assert figure.scores_ticks.texts[-1] == f"{limit:.2g}"


def test_live_figures_stay_out_of_pyplot():
    before = plt.get_fignums()
    for figure, datas in _live_figures(blit=True) + _live_figures(blit=False):
        figure.render(**datas[0])
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
