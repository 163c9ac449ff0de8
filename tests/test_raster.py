"""mha_lib.viz.raster: the helpers that reach into matplotlib draw exactly the pixels of the public way."""

import io

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.transforms import IdentityTransform
from PIL import Image

from mha_lib import viz
from mha_lib.data import SENTENCE_ZH
from mha_lib.viz import layout, raster, style

WORDS = list(SENTENCE_ZH)  # 我想吃酸菜鱼
RNG = np.random.default_rng(0)
WEIGHTS = RNG.dirichlet(np.ones(6), size=(3, 6))  # (H=3, Tq=6, Tk=6), rows sum to 1


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(int)  # (height, width, 4)


def test_encode_png_equals_the_canvas_pixels():
    figure = viz.HeadsFigure(3, WORDS, WORDS)
    png = figure.render(weights=WEIGHTS, entropies=[1.0, 1.1, 1.2])
    canvas = np.asarray(figure.fig.canvas.buffer_rgba())  # (height, width, 4)
    assert png.startswith(raster.PNG_SIGNATURE)
    assert np.array_equal(_decode(png), canvas)
    as_float = mpimg.imread(io.BytesIO(png), format="png")  # (height, width, 4) in [0, 1]
    assert np.array_equal(np.round(as_float * 255).astype(np.uint8), canvas)


def test_encode_png_of_a_plain_figure_and_its_error():
    fig = Figure(figsize=(2, 1), dpi=50)
    fig.text(0.5, 0.5, SENTENCE_ZH)
    with pytest.raises(TypeError, match=r"already drawn on an Agg canvas.*FigureCanvasAgg"):
        raster.encode_png(fig)
    FigureCanvasAgg(fig).draw()
    assert _decode(raster.encode_png(fig)).shape == (50, 100, 4)


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
            ax.imshow(data, cmap=style._weights_cmap(), vmin=0, vmax=1, interpolation="nearest", aspect="auto")
            ax.set_xticks([]), ax.set_yticks([])
            ax.spines[:].set_visible(False)
        else:
            layout._heatmap(ax, data, None, None, aspect="auto")  # a CellImage, no ticks, no frame
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
            fig.add_artist(raster.BitmapLabels([text], [anchor], IdentityTransform(), size=12, ha=ha, va=va))
        else:
            fig.text(*anchor, text, transform=IdentityTransform(), ha=ha, va=va, fontsize=12)
        pictures.append(_draw(fig))
    assert (pictures[0] != 255).any()  # something was drawn
    assert np.array_equal(*pictures)


@pytest.mark.parametrize("text", ["because", "[CLS]", "##ism"])
@pytest.mark.parametrize(("ha", "va"), [("center", "top"), ("right", "center")])
def test_rotated_bitmap_labels_draw_the_pixels_of_rotated_text(text, ha, va):
    pictures = []
    for as_bitmap in (False, True):
        fig = Figure(figsize=(0.8, 1.2), dpi=100)
        anchor = (40, 100)
        if as_bitmap:
            labels = raster.BitmapLabels([text], [anchor], IdentityTransform(), size=12, ha=ha, va=va, rotation=90)
            fig.add_artist(labels)
        else:
            fig.text(*anchor, text, transform=IdentityTransform(), ha=ha, va=va, fontsize=12, rotation=90)
        pictures.append(_draw(fig))
    assert (pictures[0] != 255).any()
    assert np.array_equal(*pictures)


def test_bitmap_labels_need_one_anchor_per_text():
    with pytest.raises(ValueError, match="got 2 texts for 1 anchors"):
        raster.BitmapLabels(["我", "想"], [(0, 0)], IdentityTransform())


@pytest.mark.parametrize("bounds", [(0.3, 0.25, 0.15, 2.0), (0.3137, 0.2571, 0.15, 1.9333)])
@pytest.mark.parametrize(("cmap", "low", "high"), [("viridis", 0.0, 1.0), ("RdBu_r", -2.0, 2.0)])
def test_colour_bar_draws_the_pixels_of_matplotlibs(bounds, cmap, low, high):
    ticks = np.linspace(low, high, 5)
    pictures = []
    for light in (False, True):
        fig = Figure(figsize=(1.0, 2.5), dpi=100)
        scale = ScalarMappable(Normalize(low, high), cmap)
        if light:
            fig.add_artist(raster.ColourBar(fig, scale, bounds, ticks=ticks))
        else:
            left, bottom, width, height = bounds
            bar = fig.colorbar(scale, cax=fig.add_axes((left / 1.0, bottom / 2.5, width / 1.0, height / 2.5)))
            bar.set_ticks(ticks, labels=[""] * len(ticks))  # tick marks, no numbers
        pictures.append(_draw(fig))
    assert (pictures[0][..., :3] < 128).any()  # the frame and the dark end of the map were drawn
    assert np.abs(pictures[0] - pictures[1]).max() <= 1  # one level of rounding in the gradient
