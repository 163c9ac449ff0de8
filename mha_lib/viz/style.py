"""Colours, colour maps, font sizes, resolution and the inches of the hand layout: every figure's look.

One place for all of them, read when a figure is built (``style.FONT_SIZE``, not a copy taken at import), so
changing a value here changes every figure built afterwards.

>>> mpl.colors.to_hex(_weights_cmap().get_bad())  # blocked cells: grey in weight panels too
'#bdbdbd'
"""

import matplotlib as mpl
from matplotlib.colors import ListedColormap

WEIGHTS_CMAP = "viridis"  # attention weights in [0, 1]
SCORES_CMAP = "RdBu_r"  # scores and values, centred on 0
BLOCKED_COLOR = "#bdbdbd"  # grey = blocked, in mask panels and in weight panels alike
ALLOWED_COLOR = "#3182bd"
HIGHLIGHT_COLOR = "#e6550d"  # the selected query row, the entropy bars
GUESS_COLOR = "#e7298a"  # predict mode: the key the learner picked
DPI = 100
PNG_COMPRESS_LEVEL = 1  # ISA-L deflate level (0–3): as small as zlib's level 1, at ~7× its speed
FONT_SIZE = 12  # titles and token labels, readable when projected
SMALL_FONT_SIZE = 10  # colour-bar ticks, crowded token axes
# Hand layout, in inches: one line of 12-pt text with its padding, the gap between panels, a colour bar.
LINE = 0.28
GAP = 0.2
CBAR_WIDTH = 0.15
LABEL_PAD = 4  # points between a heatmap and its token labels
SYMMETRIC_TICKS = (-1.0, -0.5, 0.0, 0.5, 1.0)  # colour-bar ticks of scores and values, as fractions of the limit


CELL_BORDER_PX = 0  # white lines between heatmap cells
PROJECTOR = False  # set by use_projector

# Projector mode: larger text and pixels, white lines between cells, and a colour map whose lightness runs
# from black to near white (inferno, L* ≈ 0 → 98, against viridis' ≈ 33 → 92): a projector that lifts the
# blacks and washes out hues still shows the order of the weights by brightness alone.
_SCREEN = {"DPI": DPI, "FONT_SIZE": FONT_SIZE, "SMALL_FONT_SIZE": SMALL_FONT_SIZE, "LINE": LINE}
_SCREEN |= {"CBAR_WIDTH": CBAR_WIDTH, "LABEL_PAD": LABEL_PAD, "CELL_BORDER_PX": 0, "WEIGHTS_CMAP": WEIGHTS_CMAP}
_PROJECTOR = {"DPI": 125, "FONT_SIZE": 16, "SMALL_FONT_SIZE": 13, "LINE": 0.37}
_PROJECTOR |= {"CBAR_WIDTH": 0.2, "LABEL_PAD": 5, "CELL_BORDER_PX": 2, "WEIGHTS_CMAP": "inferno"}


def use_projector(on: bool) -> None:
    """Switch every figure built from now on to projector size and colours (``on``) or back to the screen's.

    >>> from mha_lib.viz import style
    >>> style.use_projector(True)
    >>> style.FONT_SIZE, style.WEIGHTS_CMAP
    (16, 'inferno')
    >>> style.use_projector(False)
    >>> style.FONT_SIZE
    12
    """
    global PROJECTOR
    PROJECTOR = bool(on)
    globals().update(_PROJECTOR if on else _SCREEN)


def _weights_cmap() -> ListedColormap:
    """The colour map of attention weights, with blocked (masked) cells in ``BLOCKED_COLOR``."""
    return mpl.colormaps[WEIGHTS_CMAP].with_extremes(bad=BLOCKED_COLOR)


def _mask_cmap() -> ListedColormap:
    """Two colours for a bool mask drawn as 0.0/1.0: blocked, then allowed."""
    return ListedColormap([BLOCKED_COLOR, ALLOWED_COLOR])
