import hashlib
import http.server
import os
import random
import threading
import warnings
from functools import partial
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from helpers import config, data
from helpers.config import get_profile
from helpers.models import load_tokenizer


# ----------------------------------------------------------------- preprocessing
def test_seed_preprocessing():
    out = data.preprocess_text("Great!<br />It's (really) good, ok.")
    assert "<br" not in out and "!" not in out and "(" not in out and "'" not in out
    assert " , " in out and " . " in out


def test_strip_line_breaks_keeps_punctuation():
    assert data.strip_line_breaks("a<br />b<br/>c!") == "a b c!"


# ----------------------------------------------------------------- reading
def test_read_imdb_split_and_sampling(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path, per_label=6)
    full = data.read_imdb_split(root, "train")
    assert len(full) == 12 and sorted(set(full.labels)) == [0, 1]
    assert all("<br" not in t for t in full.texts)
    a = data.read_imdb_split(root, "train", per_label=3, seed=1)
    b = data.read_imdb_split(root, "train", per_label=3, seed=1)
    assert a.ids == b.ids and len(a) == 6 and sum(a.labels) == 3


def test_missing_split_folder_names_it(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path, splits=("train",))
    with pytest.raises(data.DataError, match=r"test.pos"):
        data.read_imdb_split(root, "test")


def test_non_utf8_file_is_named(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path)
    bad = root / "train" / "pos" / "99_9.txt"
    bad.write_bytes(b"caf\xe9 bad bytes")
    with pytest.raises(data.DataError, match=r"99_9\.txt.*UTF-8"):
        data.read_imdb_split(root, "train")


def test_empty_reviews_are_skipped_and_counted(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path)
    (root / "train" / "neg" / "50_1.txt").write_text("   \n")
    with pytest.warns(UserWarning, match="Skipped 1 empty"):
        rs = data.read_imdb_split(root, "train")
    assert rs.skipped == 1 and len(rs) == 12


def test_load_reviews_uses_imdb_dir(tmp_path, monkeypatch, make_imdb_folder):
    root = make_imdb_folder(tmp_path, per_label=4)
    monkeypatch.setenv("IMDB_DIR", str(root))
    rs = data.load_reviews("test", get_profile("quick"))
    assert rs.source.startswith("IMDb test") and len(rs) == 8


def test_load_reviews_falls_back_to_synthetic_when_offline(monkeypatch):
    monkeypatch.delenv("IMDB_DIR", raising=False)
    monkeypatch.setattr(data, "IMDB_URL", "http://127.0.0.1:9/unreachable.tar.gz")
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        rs = data.load_reviews("train", get_profile("quick"))
    assert "NOT IMDb" in rs.source and len(rs) == 120 and sum(rs.labels) == 60
    with pytest.raises(data.DataError):
        data.load_reviews("train", get_profile("quick"), allow_synthetic=False)


def test_synthetic_is_deterministic_and_splits_differ():
    a, b = data.synthetic_reviews("train", 5), data.synthetic_reviews("train", 5)
    assert a.texts == b.texts
    assert a.texts != data.synthetic_reviews("test", 5).texts


def test_train_val_split_is_seeded_and_stratified(tmp_path, make_imdb_folder):
    rs = data.read_imdb_split(make_imdb_folder(tmp_path, per_label=10), "train")
    tr, va = data.train_val_split(rs, 0.2, seed=3)
    tr2, va2 = data.train_val_split(rs, 0.2, seed=3)
    assert tr.ids == tr2.ids and va.ids == va2.ids and len(tr) == 16 and len(va) == 4
    assert sum(va.labels) == 2 and not set(tr.ids) & set(va.ids)
    with pytest.raises(ValueError):
        data.train_val_split(rs, 1.5)


def test_sample_reviews_is_seeded_without_repeats():
    reviews = data.synthetic_reviews("test", 20)
    first = data.sample_reviews(reviews, 7, seed=5)
    assert first.ids == data.sample_reviews(reviews, 7, seed=5).ids
    assert first.ids != data.sample_reviews(reviews, 7, seed=6).ids
    assert len(set(first.ids)) == 7 and set(first.ids) <= set(reviews.ids)
    index = {i: k for k, i in enumerate(reviews.ids)}
    assert first.texts == [reviews.texts[index[i]] for i in first.ids]
    assert first.labels == [reviews.labels[index[i]] for i in first.ids]
    every = data.sample_reviews(reviews, 100, seed=5)  # more than there are: all
    assert sorted(every.ids) == sorted(reviews.ids)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_sample_reviews_rejects_bad_sizes(n):
    with pytest.raises(ValueError, match="positive number"):
        data.sample_reviews(data.synthetic_reviews("test", 4), n, seed=0)


def test_book_warnings_print_the_message_without_the_source():
    text = warnings.formatwarning(
        "2 texts truncated", data.TruncationWarning, "/abs/helpers/data.py", 560
    )
    assert text == "TruncationWarning: 2 texts truncated\n"
    other = warnings.formatwarning("plain", UserWarning, "/abs/x.py", 7)
    assert other.startswith("/abs/x.py:7: UserWarning: plain")
    assert issubclass(data.TruncationWarning, data.BookWarning)


def test_display_path_hides_the_machine_path(tmp_path, monkeypatch):
    monkeypatch.setenv("BERT_BOOK_DATA", str(tmp_path / "data"))
    inside = config.data_dir() / "checkpoints" / "model"
    assert config.display_path(inside) == "<data>/checkpoints/model"
    monkeypatch.chdir(tmp_path)
    assert config.display_path(tmp_path / "x" / "y.png") == "x/y.png"
    shown = config.display_path("/nowhere/deep/folder/file.txt")
    assert shown == ".../folder/file.txt"
    assert config.figures_dir() == config.data_dir() / "figures"
    assert config.figures_dir().is_dir()


def test_reviewset_rejects_label_count_mismatch():
    with pytest.raises(ValueError, match="one label per text"):
        data.ReviewSet(["a", "b"], [1], "x")


# ----------------------------------------------------------------- TSV
def test_tsv_round_trip_and_errors(tmp_path):
    rs = data.ReviewSet(["good\tfilm", "bad<br />film"], [1, 0], "t")
    path = data.export_tsv(rs, tmp_path / "IMDb_train.tsv")
    back = data.read_tsv(path)
    assert back.labels == [1, 0] and "\t" not in back.texts[0]
    (tmp_path / "bad.tsv").write_text("fine\t1\t\nno label here\n")
    with pytest.raises(data.DataError, match="line 2: no label"):
        data.read_tsv(tmp_path / "bad.tsv")
    (tmp_path / "bad2.tsv").write_text("fine\t1\t\nodd\t3\t\n")
    with pytest.raises(data.DataError, match="line 2: label '3'"):
        data.read_tsv(tmp_path / "bad2.tsv")
    (tmp_path / "bad3.tsv").write_text(" \t1\t\n")
    with pytest.raises(data.DataError, match="line 1: empty text"):
        data.read_tsv(tmp_path / "bad3.tsv")


# ----------------------------------------------------------------- archive handling
def test_safe_extract_refuses_path_escape(tmp_path, make_tar):
    arc = make_tar(
        tmp_path / "evil.tar.gz", {"aclImdb/ok.txt": b"x", "../escape.txt": b"pwned"}
    )
    with pytest.raises(data.DataError, match="outside"):
        data.safe_extract(arc, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "out" / "aclImdb").exists()


def test_safe_extract_corrupt_archive(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"good" * 1000})
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(arc.read_bytes()[:60])
    with pytest.raises(data.DataError, match="corrupt or truncated"):
        data.safe_extract(truncated, tmp_path / "out")
    assert not any((tmp_path / "out").glob("aclImdb*"))


def test_safe_extract_good_archive(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"good"})
    data.safe_extract(arc, tmp_path / "out")
    assert (tmp_path / "out/aclImdb/train/pos/1_9.txt").read_bytes() == b"good"


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support; counts requests."""

    requests: ClassVar[list] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        payload = path.read_bytes()
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            payload = payload[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def http_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    _RangeHandler.requests = []
    server = http.server.HTTPServer(
        ("127.0.0.1", 0), partial(_RangeHandler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_download_resumes_and_checks_sha(http_server, tmp_path):
    served, url = http_server
    payload = os.urandom(300_000)
    (served / "a.tar.gz").write_bytes(payload)
    dest = tmp_path / "dl" / "a.tar.gz"
    dest.parent.mkdir()
    (dest.parent / "a.tar.gz.part").write_bytes(
        payload[:100_000]
    )  # an interrupted download
    sha = hashlib.sha256(payload).hexdigest()
    got = data.download(f"{url}/a.tar.gz", dest, sha256=sha)
    assert got.read_bytes() == payload
    assert _RangeHandler.requests == ["bytes=100000-"]
    assert not (dest.parent / "a.tar.gz.part").exists()


def test_download_checksum_mismatch_leaves_nothing(http_server, tmp_path):
    served, url = http_server
    (served / "a.tar.gz").write_bytes(b"not the archive")
    dest = tmp_path / "a.tar.gz"
    with pytest.raises(data.DataError, match="Checksum mismatch"):
        data.download(f"{url}/a.tar.gz", dest, sha256="0" * 64)
    assert not dest.exists() and not (tmp_path / "a.tar.gz.part").exists()


def test_find_imdb_downloads_and_extracts(http_server, monkeypatch, make_tar):
    served, url = http_server
    members = {
        f"aclImdb/{s}/{lab}/{i}_5.txt": f"{lab} review {i}".encode()
        for s in ("train", "test")
        for lab in ("pos", "neg")
        for i in range(3)
    }
    arc = make_tar(served / "aclImdb_v1.tar.gz", members)
    monkeypatch.delenv("IMDB_DIR", raising=False)
    monkeypatch.setattr(data, "IMDB_URL", f"{url}/aclImdb_v1.tar.gz")
    monkeypatch.setattr(
        data, "IMDB_SHA256", hashlib.sha256(arc.read_bytes()).hexdigest()
    )
    root = data.find_imdb()
    assert len(data.read_imdb_split(root, "test")) == 6
    assert data.find_imdb() == root  # second call uses the cache, no download
    assert len(_RangeHandler.requests) == 1


# ----------------------------------------------------------------- tokenization
@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def test_encode_texts_truncates_and_warns(tokenizer):
    with pytest.warns(data.TruncationWarning, match=r"text 1 \(\d+ tokens\)"):
        enc = data.encode_texts(tokenizer, ["short", "word " * 700])
    assert enc["input_ids"].shape == (2, 512)
    ids = enc["input_ids"][0].tolist()
    assert ids[0] == tokenizer.cls_token_id and tokenizer.sep_token_id in ids


def test_encode_texts_caps_at_512(tokenizer):
    with pytest.warns(data.TruncationWarning):
        enc = data.encode_texts(tokenizer, ["word " * 900], max_length=4096)
    assert enc["input_ids"].shape[1] == 512


@pytest.mark.parametrize("bad", [[], ["ok", ""], ["   "]])
def test_encode_texts_rejects_empty(tokenizer, bad):
    with pytest.raises(ValueError, match=r"empty|No texts"):
        data.encode_texts(tokenizer, bad)


def test_make_loader_dynamic_vs_fixed_padding(tokenizer):
    rs = data.ReviewSet(
        ["a good film", "bad", "a very very long and boring film indeed"],
        [1, 0, 0],
        "t",
    )
    dyn = next(iter(data.make_loader(tokenizer, rs, batch_size=3, max_length=256)))
    fix = next(
        iter(
            data.make_loader(
                tokenizer, rs, batch_size=3, max_length=256, pad_to_max=True
            )
        )
    )
    longest = max(data.token_lengths(tokenizer, rs.texts))
    assert dyn["input_ids"].shape == (3, longest)
    assert fix["input_ids"].shape == (3, 256)
    assert dyn["labels"].tolist() == [1, 0, 0] and dyn["labels"].dtype == torch.long
    assert torch.equal(
        fix["input_ids"][:, :longest] * dyn["attention_mask"], dyn["input_ids"]
    )


def test_make_loader_shuffle_is_seeded(tokenizer):
    rs = data.synthetic_reviews("train", 10)

    def order():
        loader = data.make_loader(tokenizer, rs, 4, shuffle=True, seed=7)
        return [b["labels"].tolist() for b in loader]

    assert order() == order()


def test_make_loader_rejects_empty_set(tokenizer):
    with pytest.raises(ValueError, match="empty"):
        data.make_loader(tokenizer, data.ReviewSet([], [], "nothing"))


def test_decode_batch_shows_subwords(tokenizer):
    rs = data.ReviewSet(["The cinematography was unforgettable"], [1], "t")
    row = data.decode_batch(
        tokenizer, next(iter(data.make_loader(tokenizer, rs))), n=1
    )[0]
    assert row.startswith("[CLS]") and "##" in row and row.endswith("[SEP]")


def _long_texts():
    words = ["the", "film", "was", "unwatchably", "good", ",", "but", "i"]
    words += ["cannot", "recommend", "it", "!"]
    rng = random.Random(0)
    texts = [
        " ".join(rng.choice(words) for _ in range(n))
        for n in (3, 10, 200, 253, 254, 255, 256, 300, 900)
    ]
    texts.append(
        "\u200b " * 300 + "great movie " * 50
    )  # words that give no token: the cut is not enough
    texts.append(
        "映画はとても良かった。" * 80
    )  # CJK: one token per character, no spaces
    texts.append("word\n\n\t" * 400)  # other whitespace
    texts.append(
        "a " * 254 + "antidisestablishmentarianism " * 3
    )  # the cut ends inside a long word's pieces
    return texts


@pytest.mark.parametrize("max_length", [8, 64, 256, 512])
def test_tokenize_truncated_gives_the_tokenizers_ids(tokenizer, max_length):
    texts = _long_texts()
    fast = data.tokenize_truncated(tokenizer, texts, max_length)
    plain = tokenizer(texts, truncation=True, max_length=max_length)
    for key in plain:
        assert fast[key] == plain[key], key
    assert max(len(ids) for ids in fast["input_ids"]) == max_length


def test_tokenized_reviews_use_the_same_ids(tokenizer):
    texts = _long_texts()
    reviews = data.ReviewSet(texts, [i % 2 for i in range(len(texts))], "test texts")
    dataset = data.TokenizedReviews(tokenizer, reviews, max_length=128)
    assert [f["input_ids"] for f in dataset.features] == tokenizer(
        texts, truncation=True, max_length=128
    )["input_ids"]


# ------------------------------------------------- real IMDb, when CI provides it
@pytest.mark.skipif(
    not os.environ.get("IMDB_DIR"),
    reason="IMDB_DIR not set (CI extracts the real IMDb)",
)
def test_real_imdb_layout():
    root = data.find_imdb()
    test = data.read_imdb_split(root, "test", per_label=50)
    assert len(test) == 100 and sum(test.labels) == 50
    assert sum(1 for _ in (root / "train" / "pos").glob("*.txt")) == 12500
