"""mha_lib: the attention code every notebook of the course imports.

The attention library is flat and torch-only (``attention``, ``masks``, ``heads``, ``modules``); every other
layer is a package with one module per notebook: ``scenarios`` (what an explorer computes), ``viz``
(drawing), ``widgets`` (the explorers) and ``checks`` (exercise checkers).
"""

from mha_lib.attention import masked_softmax, row_entropy, scaled_dot_product_attention
from mha_lib.heads import merge_heads, split_heads
from mha_lib.masks import (
    causal_mask,
    from_additive,
    from_block_mask,
    from_key_padding_mask,
    padding_mask,
    to_additive,
)
from mha_lib.modules import MultiHeadAttention

__all__ = [
    "MultiHeadAttention",
    "causal_mask",
    "from_additive",
    "from_block_mask",
    "from_key_padding_mask",
    "masked_softmax",
    "merge_heads",
    "padding_mask",
    "row_entropy",
    "scaled_dot_product_attention",
    "split_heads",
    "to_additive",
]
