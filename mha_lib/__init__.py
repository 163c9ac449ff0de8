"""mha_lib: the attention code every notebook of the course imports.

Pure computation lives in ``attention``, ``masks``, ``heads`` and ``modules``; drawing in ``viz``;
interaction in ``widgets``; exercise checkers in ``checks``.
"""

from mha_lib.attention import masked_softmax, scaled_dot_product_attention
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
    "scaled_dot_product_attention",
    "split_heads",
    "to_additive",
]
