"""Head splitting: each head keeps whole tokens; merge_heads undoes split_heads."""

import pytest
import torch

from mha_lib import merge_heads, split_heads


def test_split_heads_keeps_each_tokens_features_together():
    batch, seq, d_model, heads = 2, 3, 6, 3
    x = (100 * torch.arange(seq)[:, None] + torch.arange(d_model)).expand(batch, seq, d_model)  # x[b,t,d] = 100t + d
    split = split_heads(x, heads)  # (B, H, T, Dh)
    assert split.shape == (batch, heads, seq, d_model // heads)
    for h in range(heads):
        for t in range(seq):
            assert split[0, h, t].tolist() == [100 * t + d for d in range(2 * h, 2 * h + 2)]


def test_wrong_view_split_mixes_tokens():
    x = (100 * torch.arange(3)[:, None] + torch.arange(6)).unsqueeze(0)  # (1, 3, 6)
    assert not torch.equal(x.view(1, 3, 3, 2), split_heads(x, 3))


@pytest.mark.parametrize("heads", [1, 2, 4, 8])
def test_merge_inverts_split(heads):
    x = torch.randn(3, 5, 16)
    assert torch.equal(merge_heads(split_heads(x, heads)), x)


def test_split_works_on_non_contiguous_input():
    x = torch.randn(5, 2, 8).transpose(0, 1)  # (2, 5, 8), non-contiguous
    assert torch.equal(merge_heads(split_heads(x, 4)), x)
