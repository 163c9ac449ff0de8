"""The package layout: which layer may load what, and every first-wave public name still where it was."""

import importlib
import json
import subprocess
import sys

import pytest

# Importing these must load neither matplotlib nor ipywidgets (the attention library and the scenarios).
PURE = [
    "mha_lib",
    "mha_lib.attention",
    "mha_lib.masks",
    "mha_lib.heads",
    "mha_lib.modules",
    "mha_lib.data",
    "mha_lib.checks",
    "mha_lib.scenarios.qkv_projections",
    "mha_lib.scenarios.scaling",
    "mha_lib.scenarios.masking",
    "mha_lib.scenarios.head_splitting",
    "mha_lib.scenarios.cross_attention",
]

# The names each module defined in the first wave (mha_lib/widgets.py, viz.py, checks.py, …).
FIRST_WAVE = {
    "mha_lib": "MultiHeadAttention causal_mask from_additive from_block_mask from_key_padding_mask masked_softmax "
    "merge_heads padding_mask scaled_dot_product_attention split_heads to_additive",
    "mha_lib.attention": "masked_softmax scaled_dot_product_attention",
    "mha_lib.masks": "BLOCKED_AT_OR_BELOW causal_mask from_additive from_block_mask from_key_padding_mask "
    "padding_mask to_additive",
    "mha_lib.heads": "merge_heads split_heads wrong_split_heads",
    "mha_lib.modules": "MultiHeadAttention",
    "mha_lib.data": "SENTENCE_EN SENTENCE_ZH TOKENS_EN TOKENS_ZH embed random_qkv sinusoidal_positions tokens",
    "mha_lib.viz": "ALLOWED_COLOR BLOCKED_COLOR BitmapLabels CBAR_WIDTH CJK_FAMILY CellImage DPI FONT_SIZE GAP "
    "HeadsFigure LABEL_PAD LINE LiveFigure MaskingFigure PNG_COMPRESS_LEVEL PNG_SIGNATURE QKVFigure SCORES_CMAP "
    "SMALL_FONT_SIZE SYMMETRIC_TICKS ScalingFigure WEIGHTS_CMAP encode_png plot_heads plot_heatmap plot_mask "
    "register_cjk_font",
    "mha_lib.widgets": "CROSS_D_MODEL CrossExplorer D_K_CHOICES Explorer FIGURE_CACHE_SIZE HEAD_MASKS HEAD_SHARPNESS "
    "HeadGridExplorer HeadsExplorer MASK_D MASK_KINDS MAX_HEADS MAX_TOKENS_EN MAX_TOKENS_ZH MaskingExplorer "
    "PROJECTION_SEED_OFFSET QKVExplorer QKV_D_MODEL ScalingExplorer cross_compute explore_cross explore_heads "
    "explore_masking explore_qkv explore_scaling heads_compute make_mask masking_compute qkv_compute row_entropy "
    "scaling_compute",
    "mha_lib.checks": "ATOL Diagnosis MESSAGES RTOL check_causal_mask check_cross_attention check_masked_attention "
    "check_merge_heads check_multi_head_attention check_padding_mask check_qkv_projection check_scaled_attention "
    "check_scores check_source_padding_mask check_split_heads check_temperature_attention diagnose_causal_mask "
    "diagnose_cross_attention diagnose_masked_attention diagnose_merge_heads diagnose_multi_head_attention "
    "diagnose_padding_mask diagnose_qkv_projection diagnose_scaled_attention diagnose_scores "
    "diagnose_source_padding_mask diagnose_split_heads diagnose_temperature_attention",
}


def _loaded_after_import(*modules: str) -> list[str]:
    """Top-level packages in sys.modules after importing ``modules`` in a fresh interpreter."""
    code = (
        f"import json, sys, {', '.join(modules)}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_the_attention_library_and_scenarios_load_no_drawing_or_widgets():
    loaded = _loaded_after_import(*PURE)  # all of them together: if none loads matplotlib, no single one does
    assert "matplotlib" not in loaded and "ipywidgets" not in loaded, f"{PURE} load {loaded}"


def test_viz_loads_no_widgets():
    loaded = _loaded_after_import("mha_lib.viz")
    assert "matplotlib" in loaded and "ipywidgets" not in loaded


@pytest.mark.parametrize("module", sorted(FIRST_WAVE))
def test_first_wave_names_import_from_where_they_did(module):
    imported = importlib.import_module(module)
    missing = [name for name in FIRST_WAVE[module].split() if not hasattr(imported, name)]
    assert not missing, f"{module} lost {missing}"
