"""Exercise checkers: run the learner's function on seeded cases and name the mistake, if any.

Write a function in a notebook cell, then call its checker in the next cell::

    def my_scores(q, k):
        return q @ k.T / math.sqrt(q.shape[-1])

    check_scores(my_scores)      # prints one or two sentences, returns None

Every ``check_x(fn)`` prints ``diagnose_x(fn).message``; ``diagnose_x(fn)`` returns a :class:`Diagnosis`
whose ``.mistake`` is None (correct), ``"not_attempted"`` (fn raised NotImplementedError), ``"error"``
(fn raised something else) or a mistake id such as ``"forgot_scale"``. The learner's function runs on cloned
float64 inputs; its result is compared with mha_lib, then with known-wrong versions of mha_lib's answer, in
this order: shape, dtype, inputs modified in place, NaN, values. Checkers never raise.

One module per notebook (``qkv_projections``, ``scaling``, ``masking``, ``head_splitting``,
``cross_attention``) declares each of its exercises once as a :class:`~mha_lib.checks.runner.Exercise`;
:func:`~mha_lib.checks.runner.make_checkers` turns a declaration into its ``diagnose_x``/``check_x`` pair.

>>> check_scores(lambda q, k: q @ k.T)
Not quite: your scores are not scaled; divide q @ kᵀ by √d_k (d_k = q.shape[-1]) so the softmax does not saturate.
>>> check_scores(lambda q, k: q @ k.T / q.shape[-1] ** 0.5)
Correct! Your scores equal q @ kᵀ / √d_k (3 cases).
"""

from mha_lib.checks.cross_attention import (
    check_cross_attention,
    check_source_padding_mask,
    diagnose_cross_attention,
    diagnose_source_padding_mask,
)
from mha_lib.checks.head_splitting import (
    check_merge_heads,
    check_multi_head_attention,
    check_split_heads,
    diagnose_merge_heads,
    diagnose_multi_head_attention,
    diagnose_split_heads,
)
from mha_lib.checks.masking import (
    check_causal_mask,
    check_masked_attention,
    check_padding_mask,
    diagnose_causal_mask,
    diagnose_masked_attention,
    diagnose_padding_mask,
)
from mha_lib.checks.qkv_projections import check_qkv_projection, check_scores, diagnose_qkv_projection, diagnose_scores
from mha_lib.checks.runner import ATOL as ATOL
from mha_lib.checks.runner import MESSAGES as MESSAGES
from mha_lib.checks.runner import RTOL as RTOL
from mha_lib.checks.runner import Case as Case
from mha_lib.checks.runner import Diagnosis
from mha_lib.checks.scaling import (
    check_scaled_attention,
    check_temperature_attention,
    diagnose_scaled_attention,
    diagnose_temperature_attention,
)

__all__ = [
    "Diagnosis",
    "check_causal_mask",
    "check_cross_attention",
    "check_masked_attention",
    "check_merge_heads",
    "check_multi_head_attention",
    "check_padding_mask",
    "check_qkv_projection",
    "check_scaled_attention",
    "check_scores",
    "check_source_padding_mask",
    "check_split_heads",
    "check_temperature_attention",
    "diagnose_causal_mask",
    "diagnose_cross_attention",
    "diagnose_masked_attention",
    "diagnose_merge_heads",
    "diagnose_multi_head_attention",
    "diagnose_padding_mask",
    "diagnose_qkv_projection",
    "diagnose_scaled_attention",
    "diagnose_scores",
    "diagnose_source_padding_mask",
    "diagnose_split_heads",
    "diagnose_temperature_attention",
]
