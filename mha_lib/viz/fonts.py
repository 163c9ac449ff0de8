"""The course font: Noto Sans CJK SC, so that tick labels such as 我想吃酸菜鱼 draw as real glyphs.

The OFL font comes from the PyPI package ``noto-cjk-sans-otc``; ``mha_lib.viz`` registers it on import.
``_text_width`` measures text in it without drawing, for the hand layout and the text bitmaps.

>>> 0.1 < _text_width(["我想吃"]) < 1.0  # inches at 12 pt
True
"""

import functools
from collections.abc import Sequence
from importlib.resources import files

import matplotlib as mpl
from matplotlib import font_manager
from matplotlib.textpath import text_to_path

from mha_lib.viz import style

CJK_FAMILY = "Noto Sans CJK SC"


def register_cjk_font() -> str:
    """Register Noto Sans CJK SC from the ``noto-cjk-sans-otc`` package and put it first in ``font.sans-serif``.

    Idempotent; returns the path of the registered ``.ttc`` collection.

    >>> register_cjk_font().endswith(".ttc")
    True
    """
    path = next(str(p) for p in files("noto_cjk_sans_otc").iterdir() if p.name.lower().endswith(".ttc"))
    if not any(f.fname == path for f in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    fallback = [name for name in mpl.rcParams["font.sans-serif"] if name not in (CJK_FAMILY, "DejaVu Sans")]
    mpl.rcParams["font.sans-serif"] = [CJK_FAMILY, "DejaVu Sans", *fallback]
    mpl.rcParams["font.family"] = "sans-serif"
    mpl.rcParams["axes.unicode_minus"] = False  # the CJK font has no U+2212 minus sign; use "-"
    return path


def _text_width(texts: Sequence[str], size: float | None = None) -> float:
    """Inches taken by the widest of ``texts`` at ``size`` points (default ``style.FONT_SIZE``) in the course
    font, measured without drawing."""
    size = style.FONT_SIZE if size is None else size
    return max((_one_text_width(t, size) for t in texts), default=0.0)


@functools.cache
def _one_text_width(text: str, size: float) -> float:
    prop = font_manager.FontProperties(size=size)
    return text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0] / 72  # points → inches
