"""What each explorer computes, one module per notebook: plain numbers in, a frozen dataclass of tensors out.

Pure torch (no matplotlib, no ipywidgets), so a notebook cell or a test can call them without a browser:

>>> from mha_lib.scenarios.masking import masking_compute
>>> masking_compute("causal", seq_len=3).weights[0].tolist()
[1.0, 0.0, 0.0]

The explorers in ``mha_lib.widgets`` call the same functions and draw their result.
"""
