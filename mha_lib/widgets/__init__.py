"""The explorers: one module per notebook, each controls → a pure scenario function → a persistent figure.

Each ``explore_*`` function returns an ``ipywidgets.VBox`` with ``.controls`` (name → widget), ``.state``
(the frozen scenario it last computed, from ``mha_lib.scenarios``), ``.image`` (an ``ipywidgets.Image``
holding PNG bytes) and ``.snapshot()`` (the current view as an ``IPython.display.Image``, for a notebook cell
readable without a kernel). Setting ``explorer.controls["seq_len"].value = 8`` recomputes and redraws at once.

The compute functions (``qkv_compute`` … ``cross_compute``) live in ``mha_lib.scenarios`` and are re-exported
here, as are the names the first wave defined in this module.
"""

from mha_lib.attention import row_entropy
from mha_lib.masks import MASK_KINDS
from mha_lib.masks import mask_of_kind as make_mask
from mha_lib.scenarios._common import MAX_TOKENS_EN, MAX_TOKENS_ZH, PROJECTION_SEED_OFFSET
from mha_lib.scenarios.cross_attention import CROSS_D_MODEL, cross_compute
from mha_lib.scenarios.head_splitting import HEAD_MASKS, HEAD_SHARPNESS, MAX_HEADS, heads_compute
from mha_lib.scenarios.masking import MASK_D, masking_compute
from mha_lib.scenarios.qkv_projections import QKV_D_MODEL, qkv_compute
from mha_lib.scenarios.scaling import D_K_CHOICES, scaling_compute
from mha_lib.widgets.base import FIGURE_CACHE_SIZE, Explorer
from mha_lib.widgets.classroom import classroom
from mha_lib.widgets.cross_attention import CrossExplorer, explore_cross
from mha_lib.widgets.head_splitting import HeadGridExplorer, HeadsExplorer, explore_heads
from mha_lib.widgets.masking import MaskingExplorer, explore_masking
from mha_lib.widgets.qkv_projections import QKVExplorer, explore_qkv
from mha_lib.widgets.scaling import ScalingExplorer, explore_scaling

__all__ = [
    "CROSS_D_MODEL",
    "D_K_CHOICES",
    "FIGURE_CACHE_SIZE",
    "HEAD_MASKS",
    "HEAD_SHARPNESS",
    "MASK_D",
    "MASK_KINDS",
    "MAX_HEADS",
    "MAX_TOKENS_EN",
    "MAX_TOKENS_ZH",
    "PROJECTION_SEED_OFFSET",
    "QKV_D_MODEL",
    "CrossExplorer",
    "Explorer",
    "HeadGridExplorer",
    "HeadsExplorer",
    "MaskingExplorer",
    "QKVExplorer",
    "ScalingExplorer",
    "classroom",
    "cross_compute",
    "explore_cross",
    "explore_heads",
    "explore_masking",
    "explore_qkv",
    "explore_scaling",
    "heads_compute",
    "make_mask",
    "masking_compute",
    "qkv_compute",
    "row_entropy",
    "scaling_compute",
]
