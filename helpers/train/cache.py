"""The frozen bottom, run once per review and cached; the trainable top.

pytorch_advanced fine-tunes the last encoder layer and a linear head but runs
the whole model on every step. Here the frozen part (embeddings + all but the
top ``trainable_layers`` encoder layers) runs **once per review**
(:func:`cache_features`: eval mode, no gradients) and its output is kept in
float16 at each review's own length (:class:`FeatureCache`: in memory, or in
a memory-mapped file under ``data_dir()/feature_cache`` when large).
Training runs only the top layers + head on it (:func:`top_forward`); the
last encoder layer computes only the ``[CLS]`` row, the one the head reads
(:func:`cls_only_layer`).

For the same weights the logits equal the full forward pass's up to float16
rounding of the cached features (11 significant bits; the tests allow 2e-3 of
the largest logit); with ``TrainSettings.bf16_cache`` the bottom's matrix
products also round to bf16 (8 significant bits), which took about 40 % less
CPU time on a CPU with bf16 instructions (e5-small, one run). To see it for
your own model and reviews, compare :func:`top_forward` on
:func:`cache_features`' output with ``model(**inputs).logits``, as
``tests/test_training.py`` does.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm
from transformers.masking_utils import create_bidirectional_mask

from ..config import data_dir
from ..inputs import batches_by_length, to_device
from ..models import eval_mode, frozen_modules, get_encoder_layers
from .amp import autocast, resolve_device

#: Cached features above this many bytes go to a memory-mapped file instead of RAM.
CACHE_IN_MEMORY_BYTES = 1 << 30


# --------------------------------------------------------- frozen bottom, trainable top
def _base(model):
    base = getattr(model, "base_model", model)
    if getattr(base, "embeddings", None) is None or not hasattr(model, "classifier"):
        raise ValueError(
            f"{type(model).__name__} is not a BERT-style *ForSequenceClassification "
            "model (needs base_model.embeddings and .classifier): train it with "
            "TrainSettings(cache_features=False)."
        )
    return base


def extended_mask(model, hidden: torch.Tensor, attention_mask: torch.Tensor):
    """The attention mask in the form the model's encoder layers take.

    The form depends on the attention kernel.
    """
    return create_bidirectional_mask(
        config=model.config, inputs_embeds=hidden, attention_mask=attention_mask
    )


def bottom_forward(
    model, input_ids, attention_mask, token_type_ids=None, n_frozen: int | None = None
):
    """Hidden states after the embeddings and the first ``n_frozen`` encoder layers."""
    base = _base(model)
    layers = get_encoder_layers(model)
    n_frozen = len(layers) if n_frozen is None else n_frozen
    hidden = base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
    mask = extended_mask(model, hidden, attention_mask)
    for layer in layers[:n_frozen]:
        hidden = layer(hidden, attention_mask=mask)
    return hidden


def cls_only_layer(
    layer: nn.Module, hidden: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """A BERT encoder layer computed for ``[CLS]`` only: ``[batch, 1, hidden]``.

    Keys and values use every token; queries, the attention output and the
    feed-forward block only the first one. This is exactly the ``[CLS]`` row of
    ``layer(hidden)`` (the other rows are not needed by the head) for a
    fraction of the cost. Dropout applies as in ``layer`` when training.
    """
    attn = layer.attention.self
    b, n, _ = hidden.shape
    heads, size = attn.num_attention_heads, attn.attention_head_size
    q = attn.query(hidden[:, :1]).view(b, 1, heads, size).transpose(1, 2)
    k = attn.key(hidden).view(b, n, heads, size).transpose(1, 2)
    v = attn.value(hidden).view(b, n, heads, size).transpose(1, 2)
    keep = attention_mask[:, None, None, :].bool()
    ctx = F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=keep,
        scale=attn.scaling,
        dropout_p=attn.dropout.p if layer.training else 0.0,
    )
    ctx = ctx.transpose(1, 2).reshape(b, 1, heads * size)
    first = layer.attention.output(ctx, hidden[:, :1])
    return layer.output(layer.intermediate(first), first)


def _supports_cls_only(layer: nn.Module) -> bool:
    attn = getattr(getattr(layer, "attention", None), "self", None)
    return (
        all(hasattr(attn, a) for a in ("query", "key", "value", "scaling"))
        and hasattr(layer, "intermediate")
        and hasattr(layer, "output")
    )


def top_forward(
    model,
    hidden: torch.Tensor,
    attention_mask: torch.Tensor,
    trainable_layers: int,
    cls_only: bool = True,
) -> torch.Tensor:
    """Logits from hidden states entering the top ``trainable_layers`` encoder layers.

    Runs those layers (the last one on ``[CLS]`` only when ``cls_only``), then
    the model's head (:func:`classify`): equal to ``model(**inputs).logits``.
    """
    _base(model)
    layers = get_encoder_layers(model)
    top = list(layers[len(layers) - trainable_layers :])
    if top:
        last = top.pop() if cls_only and _supports_cls_only(top[-1]) else None
        mask = extended_mask(model, hidden, attention_mask)
        for layer in top:
            hidden = layer(hidden, attention_mask=mask)
        if last is not None:
            hidden = cls_only_layer(last, hidden, attention_mask)
    return classify(model, hidden)


def classify(model, hidden: torch.Tensor) -> torch.Tensor:
    """The model's own head on the last hidden states, as its ``forward`` calls it.

    BERT-style models (a ``dropout`` beside a linear ``classifier``) pool
    (their pooler, else ``[CLS]``) before it; RoBERTa-style heads (XLM-R, e5)
    take the whole sequence and pick ``[CLS]`` themselves, with their own
    dropout.
    """
    if not hasattr(model, "dropout"):
        return model.classifier(hidden)
    base = _base(model)
    pooled = (
        base.pooler(hidden)
        if getattr(base, "pooler", None) is not None
        else hidden[:, 0]
    )
    return model.classifier(model.dropout(pooled))


def set_train_mode(model, trainable_layers: int | None) -> None:
    """``model.train()`` but frozen modules in eval mode.

    No dropout inside what does not learn. pytorch_advanced called
    ``model.train()`` on everything, so dropout also ran in the frozen layers;
    keeping them in eval mode makes the naive and the cached loops train the
    same function.
    """
    model.train()
    for module in frozen_modules(model, trainable_layers):
        module.eval()


# ------------------------------------------------- the cache, and what it was made from
def bottom_checksum(model, n_frozen: int) -> float:
    """The sum of the frozen bottom's weights (float64): changes when any does."""
    modules = [_base(model).embeddings, *get_encoder_layers(model)[:n_frozen]]
    with torch.no_grad():
        return math.fsum(
            float(p.sum(dtype=torch.float64)) for m in modules for p in m.parameters()
        )


@dataclass(frozen=True)
class CacheSource:
    """What a :class:`FeatureCache` was made from.

    ``model``: the model's ``name_or_path`` (or class name); ``n_frozen``:
    the encoder layers run after the embeddings; ``checksum``: the
    :func:`bottom_checksum` of those weights when the cache was made.
    """

    model: str
    n_frozen: int
    checksum: float

    @classmethod
    def of(cls, model, n_frozen: int) -> CacheSource:
        """The source ``model``'s bottom of ``n_frozen`` layers would give."""
        name = getattr(model.config, "name_or_path", "") or type(model).__name__
        return cls(name, n_frozen, bottom_checksum(model, n_frozen))


class FeatureCache:
    """Float16 hidden states of many reviews, each at its own (unpadded) length.

    Stored as one ``[total_tokens, hidden]`` array plus offsets: in RAM, or in
    a memory-mapped file under ``cache_dir`` when larger than ``in_memory_bytes``.
    :meth:`batch` pads a list of reviews back into ``[b, L, hidden]`` tensors.
    float16 halves the memory and rounds each value to 11 significant bits
    (relative error up to 2**-11), so logits computed from the cache equal the
    full forward pass's up to that rounding. ``made_from`` (a
    :class:`CacheSource`, set by :func:`cache_features`) says whose frozen
    bottom it holds; :meth:`check` refuses to use it with another.
    """

    def __init__(
        self,
        lengths,
        hidden_size: int,
        cache_dir: Path | None = None,
        in_memory_bytes: int = CACHE_IN_MEMORY_BYTES,
        made_from: CacheSource | None = None,
    ):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.made_from = made_from
        shape = (int(self.offsets[-1]), hidden_size)
        self.path = None
        if shape[0] * hidden_size * 2 > in_memory_bytes:
            folder = Path(cache_dir or data_dir() / "feature_cache")
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(suffix=".f16", dir=folder)
            os.close(fd)
            self.path = Path(name)
            self.array = np.memmap(self.path, dtype=np.float16, mode="w+", shape=shape)
        else:
            self.array = np.empty(shape, dtype=np.float16)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def nbytes(self) -> int:
        """Bytes used by the cached hidden states."""
        return self.array.nbytes

    def check(self, model, n_frozen: int) -> None:
        """Raise ``ValueError`` unless this cache holds ``model``'s bottom now.

        That is: made by :func:`cache_features` with ``n_frozen`` layers, and
        those weights unchanged since (same checksum, to 1e-9).
        """
        fix = "run cache_features(model, ...) again for this model and layer split"
        made = self.made_from
        if made is None:
            raise ValueError(
                f"This cache does not record what it was made from: {fix}."
            )
        if made.n_frozen != n_frozen:
            raise ValueError(
                f"This cache holds the output of {made.n_frozen} frozen layers of "
                f"{made.model}, the model's trainable top starts after {n_frozen}: "
                f"{fix}."
            )
        now = bottom_checksum(model, n_frozen)
        if not math.isclose(now, made.checksum, rel_tol=1e-9, abs_tol=1e-9):
            raise ValueError(
                f"The frozen weights changed since this cache was made from "
                f"{made.model} (checksum {made.checksum!r}, now {now!r}): {fix}."
            )

    def put(self, index: int, hidden: torch.Tensor) -> None:
        """Store one review's hidden states ``[length, hidden]``."""
        self.array[self.offsets[index] : self.offsets[index + 1]] = (
            hidden.to(torch.float16).cpu().numpy()
        )

    def batch(self, indices, device, dtype=torch.float32):
        """``(hidden [b, L, H], attention_mask [b, L])`` for reviews ``indices``.

        Padded to the longest of them.
        """
        width = int(self.lengths[indices].max())
        hidden = torch.zeros(
            len(indices), width, self.array.shape[1], dtype=torch.float16
        )
        mask = torch.zeros(len(indices), width, dtype=torch.long)
        for row, i in enumerate(indices):
            n = int(self.lengths[i])
            hidden[row, :n] = torch.from_numpy(
                np.asarray(self.array[self.offsets[i] : self.offsets[i + 1]])
            )
            mask[row, :n] = 1
        return hidden.to(device=device, dtype=dtype), mask.to(device)

    def close(self) -> None:
        """Delete the memory-mapped file, if any."""
        if self.path is not None:
            del self.array
            self.path.unlink(missing_ok=True)
            self.path = None


@torch.no_grad()
def cache_features(
    model,
    tokenized,
    collate,
    n_frozen: int,
    *,
    batch_size: int = 64,
    device=None,
    desc: str = "caching features",
    bf16: bool = False,
) -> FeatureCache:
    """Run the frozen bottom (eval mode, no gradients) once per review; cache it.

    ``tokenized``: a :class:`helpers.data.TokenizedReviews`; ``collate`` pads
    a list of its items into tensors (e.g.
    ``transformers.DataCollatorWithPadding(tokenizer)``). ``bf16``: run under
    bf16 autocast on any device (``TrainSettings.bf16_cache``: the matrix
    products in bf16, the layer norms and residual sums still in float32),
    else the device's own autocast (none on a CPU). The cache records its
    :class:`CacheSource`.
    """
    device = resolve_device(device)
    lengths = [len(f["input_ids"]) for f in tokenized.features]
    source = CacheSource.of(model, n_frozen)
    store = FeatureCache(lengths, model.config.hidden_size, made_from=source)
    with eval_mode(model):
        for idx in tqdm(batches_by_length(lengths, batch_size), desc=desc, leave=False):
            batch = to_device(collate([dict(tokenized[i]) for i in idx]), device)
            with autocast(device, torch.bfloat16 if bf16 else None):
                hidden = bottom_forward(
                    model,
                    batch["input_ids"],
                    batch["attention_mask"],
                    batch.get("token_type_ids"),
                    n_frozen,
                )
            for row, i in enumerate(idx):
                store.put(i, hidden[row, : lengths[i]])
    return store
