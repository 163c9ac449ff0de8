"""Drawing attention with matplotlib: static figures for notebook cells, fast persistent figures for explorers.

Nothing here computes attention: every function takes weights, masks and entropies computed elsewhere.
Importing ``mha_lib.viz`` registers the course font, so tick labels such as 我想吃酸菜鱼 draw as real glyphs.

- ``static``: ``plot_heatmap``, ``plot_heads``, ``plot_mask`` for a notebook cell (end it with ``plt.show()``).
- ``live``: ``LiveFigure``, the explorer figure built once, whose ``render(**data)`` blits the changing artists
  and returns PNG bytes; one subclass per explorer, in the module named after its notebook:
  ``qkv_projections.QKVFigure``, ``scaling.ScalingFigure``, ``masking.MaskingFigure``,
  ``head_splitting.HeadsFigure`` (also drawn by the cross-attention explorer), ``trained_heads.TrainingFigure``
  (with the static ``plot_checkpoints`` and ``plot_training`` of notebook 07), ``real_model_heads.PretrainedFigure``
  (with ``plot_word_heads``, English token labels upright, for notebook 08's cells).
- ``style``: colours, colour maps, font sizes, DPI, the inches of the layout; ``fonts``: the CJK font.
- ``layout``: hand layout in inches (panels, head grids, colour bars, token labels), for static and explorer
  figures alike. ``raster``: ``CellImage``, ``BitmapLabels``, ``ColourBar``, ``encode_png``, the only code that
  reaches into matplotlib internals.

>>> import matplotlib as mpl
>>> mpl.rcParams["font.sans-serif"][0] == CJK_FAMILY  # importing mha_lib.viz registered the course font
True
"""

from mha_lib.viz import style
from mha_lib.viz.fonts import CJK_FAMILY, register_cjk_font
from mha_lib.viz.head_splitting import HeadsFigure
from mha_lib.viz.live import LiveFigure
from mha_lib.viz.masking import MaskingFigure
from mha_lib.viz.qkv_projections import QKVFigure
from mha_lib.viz.raster import PNG_SIGNATURE, BitmapLabels, CellImage, encode_png
from mha_lib.viz.real_model_heads import PretrainedFigure, plot_word_heads
from mha_lib.viz.scaling import ScalingFigure
from mha_lib.viz.static import plot_heads, plot_heatmap, plot_mask
from mha_lib.viz.trained_heads import TrainingFigure, plot_checkpoints, plot_training

register_cjk_font()

_STYLE = (
    "ALLOWED_COLOR",
    "BLOCKED_COLOR",
    "CBAR_WIDTH",
    "CELL_BORDER_PX",
    "DPI",
    "FONT_SIZE",
    "GAP",
    "GUESS_COLOR",
    "HIGHLIGHT_COLOR",
    "LABEL_PAD",
    "LINE",
    "PNG_COMPRESS_LEVEL",
    "PROJECTOR",
    "SCORES_CMAP",
    "SMALL_FONT_SIZE",
    "SYMMETRIC_TICKS",
    "WEIGHTS_CMAP",
)


def __getattr__(name: str) -> object:
    """``mha_lib.viz.FONT_SIZE`` and the other style constants: the current value in ``style``, never a copy."""
    if name in _STYLE:
        return getattr(style, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_STYLE])


__all__ = [
    "CJK_FAMILY",
    "PNG_SIGNATURE",
    "BitmapLabels",
    "CellImage",
    "HeadsFigure",
    "LiveFigure",
    "MaskingFigure",
    "PretrainedFigure",
    "QKVFigure",
    "ScalingFigure",
    "TrainingFigure",
    "encode_png",
    "plot_checkpoints",
    "plot_heads",
    "plot_heatmap",
    "plot_mask",
    "plot_word_heads",
    "plot_training",
    "register_cjk_font",
    "style",
    *_STYLE,
]
