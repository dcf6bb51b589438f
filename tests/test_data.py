import errno
import hashlib
import http.server
import io
import os
import random
import tarfile
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
    tr, va = data.train_val_split(rs, 0.2, seed=3, split="review")
    tr2, va2 = data.train_val_split(rs, 0.2, seed=3, split="review")
    assert tr.ids == tr2.ids and va.ids == va2.ids and len(tr) == 16 and len(va) == 4
    assert sum(va.labels) == 2 and not set(tr.ids) & set(va.ids)
    with pytest.raises(ValueError):
        data.train_val_split(rs, 1.5)


def _add_urls(root: Path, per_label: int, reviews_per_movie: int = 3) -> Path:
    """Write train/urls_{pos,neg}.txt: review i of either label is of movie i // k.

    So every movie has ``k`` positive and ``k`` negative reviews (the official
    archive's layout: line i is the movie of review file ``<i>_<rating>.txt``).
    """
    for label in ("pos", "neg"):
        lines = [
            f"http://www.imdb.com/title/tt{1000000 + i // reviews_per_movie}/"
            "usercomments"
            for i in range(per_label)
        ]
        (root / "train" / f"urls_{label}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_movie_ids_come_from_the_urls_files(tmp_path, make_imdb_folder):
    root = _add_urls(make_imdb_folder(tmp_path, per_label=6, splits=("train",)), 6)
    rs = data.read_imdb_split(root, "train")
    by_id = dict(zip(rs.ids, rs.movies, strict=True))
    assert by_id["train/pos/4_8"] == "tt1000001"
    assert by_id["train/neg/0_2"] == "tt1000000" and rs.dataset == "IMDb"
    sample = data.read_imdb_split(root, "train", per_label=2, seed=3)
    assert [by_id[i] for i in sample.ids] == sample.movies


def test_bad_urls_files_are_named(tmp_path, make_imdb_folder):
    root = _add_urls(make_imdb_folder(tmp_path, per_label=6, splits=("train",)), 5)
    with pytest.raises(
        data.DataError, match=r"5_\d\.txt has no line in .*urls_(pos|neg)"
    ):
        data.read_imdb_split(root, "train")
    (root / "train" / "urls_pos.txt").write_text("http://x/title/tt1/\nnot a url\n")
    with pytest.raises(data.DataError, match=r"urls_pos\.txt, line 2: no IMDb movie"):
        data.read_imdb_split(root, "train")


def test_split_by_movie_keeps_each_movie_on_one_side(tmp_path, make_imdb_folder):
    root = _add_urls(make_imdb_folder(tmp_path, per_label=60, splits=("train",)), 60)
    rs = data.read_imdb_split(root, "train")
    tr, va = data.train_val_split(rs, 0.2, seed=5)
    assert tr.split_by == va.split_by == "movie" and "split by movie" in va.source
    assert not set(tr.movies) & set(va.movies)  # no movie on both sides
    assert sorted(tr.ids + va.ids) == sorted(rs.ids)
    for label in (0, 1):  # 60 reviews per label, 20 % = 12; movies hold 3 of each
        assert abs(va.labels.count(label) - 12) <= 3
    again = data.train_val_split(rs, 0.2, seed=5)
    assert again[0].ids == tr.ids and again[1].ids == va.ids
    assert data.train_val_split(rs, 0.2, seed=6)[1].ids != va.ids
    # the seed's review-level split, on request, puts movies on both sides
    tr_r, va_r = data.train_val_split(rs, 0.2, seed=5, split="review")
    assert va_r.split_by == "review" and set(tr_r.movies) & set(va_r.movies)
    assert va_r.labels.count(1) == va_r.labels.count(0) == 12


def test_split_by_movie_with_one_label_per_movie(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path, per_label=40, splits=("train",))
    for label, offset in (("pos", 0), ("neg", 500)):  # no movie has both labels
        lines = [f"http://www.imdb.com/title/tt{offset + i // 4}/" for i in range(40)]
        (root / "train" / f"urls_{label}.txt").write_text("\n".join(lines))
    tr, va = data.train_val_split(data.read_imdb_split(root, "train"), 0.25, seed=1)
    assert not set(tr.movies) & set(va.movies)
    assert va.labels.count(1) == va.labels.count(0) == 8  # 10 movies of 4: 2 each


def test_split_falls_back_to_reviews_without_urls_files(tmp_path, make_imdb_folder):
    rs = data.read_imdb_split(make_imdb_folder(tmp_path, per_label=10), "train")
    assert rs.movies == []
    with pytest.warns(data.GroupingWarning, match=r"urls_pos\.txt and urls_neg"):
        _, va = data.train_val_split(rs, 0.2, seed=3)
    assert va.split_by == "review" and "split by review" in va.source
    assert va.ids == data.train_val_split(rs, 0.2, seed=3, split="review")[1].ids
    with pytest.raises(data.DataError, match="split='review'"):
        data.train_val_split(rs, 0.2, seed=3, split="movie")
    with pytest.raises(ValueError, match="split must be one of"):
        data.train_val_split(rs, 0.2, split="film")
    with warnings.catch_warnings():  # not IMDb: no note, review-level split
        warnings.simplefilter("error")
        assert data.train_val_split(data.synthetic_reviews("train", 5))[1].split_by


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
    with pytest.raises(data.UnsafeArchiveError, match="outside"):
        data.safe_extract(arc, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "out" / "aclImdb").exists()


def test_safe_extract_corrupt_archive(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"good" * 1000})
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(arc.read_bytes()[:60])
    with pytest.raises(data.CorruptArchiveError, match="corrupt or truncated"):
        data.safe_extract(truncated, tmp_path / "out")
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b" + os.urandom(200))
    with pytest.raises(data.CorruptArchiveError, match="corrupt or truncated"):
        data.safe_extract(tmp_path / "junk.tar.gz", tmp_path / "out")
    assert not any((tmp_path / "out").glob("aclImdb*"))


def test_safe_extract_good_archive(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"good"})
    data.safe_extract(arc, tmp_path / "out")
    assert (tmp_path / "out/aclImdb/train/pos/1_9.txt").read_bytes() == b"good"


def _tar_of(path: Path, members) -> Path:
    """A .tar.gz of ``members``: (name, kind, payload or link target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, arg in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(arg)
                tar.addfile(info, io.BytesIO(arg))
                continue
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = arg
            tar.addfile(info)
    return path


FILE, DIR = tarfile.REGTYPE, tarfile.DIRTYPE
SYM, HARD = tarfile.SYMTYPE, tarfile.LNKTYPE
GOOD = ("aclImdb/train/pos/1_9.txt", FILE, b"good")
REFUSED = {
    "absolute path": [GOOD, ("/tmp/evil.txt", FILE, b"x")],
    "parent folder": [GOOD, ("aclImdb/../../escape.txt", FILE, b"x")],
    "absolute symlink": [GOOD, ("aclImdb/link", SYM, "/etc/passwd")],
    "symlink outside": [GOOD, ("aclImdb/link", SYM, "../../outside.txt")],
    # inside when read from the member's folder (the old check), outside from
    # the archive root, which is what a hard link's target is relative to
    "hardlink outside": [GOOD, ("aclImdb/a/b/hl", HARD, "../../outside.txt")],
    "absolute hardlink": [GOOD, ("aclImdb/hl", HARD, "/etc/passwd")],
    # d -> aclImdb itself; e -> d/../.. is inside on paper, outside on disk
    "symlink chain": [
        GOOD,
        ("aclImdb/d", SYM, "."),
        ("aclImdb/e", SYM, "d/../.."),
    ],
    "character device": [GOOD, ("aclImdb/tty", tarfile.CHRTYPE, None)],
    "block device": [GOOD, ("aclImdb/sda", tarfile.BLKTYPE, None)],
    "fifo": [GOOD, ("aclImdb/pipe", tarfile.FIFOTYPE, None)],
}


@pytest.fixture(params=[True, False], ids=["data filter", "manual checks"])
def extraction_mode(request, monkeypatch):
    """Both ways safe_extract works: Python's filter="data", or its own checks."""
    monkeypatch.setattr(data, "HAS_DATA_FILTER", request.param)
    return request.param


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_safe_extract_refuses_unsafe_members(tmp_path, kind, extraction_mode):
    arc = _tar_of(tmp_path / "evil.tar.gz", REFUSED[kind])
    dest = tmp_path / "box" / "out"
    with pytest.raises(data.UnsafeArchiveError, match="Refusing"):
        data.safe_extract(arc, dest)
    assert not issubclass(data.UnsafeArchiveError, data.CorruptArchiveError)
    assert sorted(p.name for p in dest.iterdir()) == []  # nothing, no temp folder
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["out"]


def test_the_symlink_chain_passes_a_check_on_paper_only(tmp_path):
    chain = REFUSED["symlink chain"]
    for member in [tarfile.TarInfo(n) for n, *_ in chain]:
        data.check_member(member, tmp_path)  # names alone are fine
    link = tarfile.TarInfo("aclImdb/e")
    link.type, link.linkname = SYM, "d/../.."
    data.check_member(link, tmp_path)  # d does not exist yet: lexically inside
    (tmp_path / "aclImdb").mkdir()
    (tmp_path / "aclImdb" / "d").symlink_to(".")
    with pytest.raises(data.UnsafeArchiveError, match="outside the archive"):
        data.check_member(link, tmp_path)  # with d on disk it leaves the folder


def test_safe_extract_follows_hardlinks_from_the_archive_root(
    tmp_path, extraction_mode
):
    arc = _tar_of(
        tmp_path / "a.tar.gz",
        [GOOD, ("aclImdb/test/neg/copy.txt", HARD, "aclImdb/train/pos/1_9.txt")],
    )
    data.safe_extract(arc, tmp_path / "out")
    copy = tmp_path / "out/aclImdb/test/neg/copy.txt"
    assert copy.read_bytes() == b"good"
    assert not (tmp_path / "out/aclImdb" / data.PARTIAL_MARK).exists()


def test_safe_extract_keeps_a_folder_it_did_not_make(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"new"})
    mine = tmp_path / "out" / "aclImdb"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my own work")
    with pytest.raises(data.DataError, match="already exists") as err:
        data.safe_extract(arc, tmp_path / "out")
    assert not isinstance(err.value, data.UnsafeArchiveError | data.CorruptArchiveError)
    assert (mine / "notes.txt").read_text() == "my own work"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["aclImdb"]


def test_safe_extract_replaces_its_own_partial_extraction(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"new"})
    out = tmp_path / "out"
    partial = out / "aclImdb"
    (partial / "train").mkdir(parents=True)
    (partial / data.PARTIAL_MARK).write_text("unfinished")
    stale = out / ".extract-old"  # a killed run's temporary folder
    stale.mkdir()
    (stale / data.PARTIAL_MARK).write_text("unfinished")
    foreign = out / ".extract-someone-else"
    foreign.mkdir()
    busy = out / ".extract-under-way"  # another process, still running
    busy.mkdir()
    (busy / data.PARTIAL_MARK).write_text(f"pid {os.getppid()}: extracting x")
    data.safe_extract(arc, out)
    assert (partial / "train/pos/1_9.txt").read_bytes() == b"new"
    assert not data.is_partial_extraction(partial)
    assert sorted(p.name for p in out.iterdir()) == [
        ".extract-someone-else",
        ".extract-under-way",
        "aclImdb",
    ]


def test_safe_extract_puts_top_level_files_in_place(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"README": b"read me", "d/x.txt": b"x"})
    data.safe_extract(arc, tmp_path / "out")
    assert (tmp_path / "out/README").read_bytes() == b"read me"
    assert sorted(p.name for p in (tmp_path / "out/d").iterdir()) == ["x.txt"]
    with pytest.raises(data.DataError, match=r"(README|d) already exists"):
        data.safe_extract(arc, tmp_path / "out")  # a file is never replaced


def test_find_imdb_redoes_a_partial_extraction(tmp_path, monkeypatch, make_tar):
    monkeypatch.delenv("IMDB_DIR", raising=False)
    partial = config.data_dir() / "aclImdb"
    partial.mkdir()
    (partial / data.PARTIAL_MARK).write_text("unfinished")
    members = {
        f"aclImdb/{s}/{lab}/0_5.txt": b"a review"
        for s in ("train", "test")
        for lab in ("pos", "neg")
    }
    arc = make_tar(config.data_dir() / "aclImdb_v1.tar.gz", members)
    monkeypatch.setattr(data, "IMDB_SHA256", data.sha256_of(arc))
    assert data.find_imdb() == partial and not data.is_partial_extraction(partial)
    assert len(data.read_imdb_split(partial, "test")) == 2


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_not_a_corrupt_archive(
    tmp_path, make_tar, monkeypatch, extraction_mode, code
):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"good"})

    def full(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tarfile.TarFile, "extractall", full)
    monkeypatch.setattr(tarfile.TarFile, "extract", full)
    with pytest.raises(data.DiskFullError, match=r"No space left .* free some space"):
        data.safe_extract(arc, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_an_unwritable_folder_is_neither_corrupt_nor_full(
    tmp_path, make_tar, monkeypatch
):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"good"})

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tarfile.TarFile, "extractall", denied)
    with pytest.raises(data.DataError, match="writable") as err:
        data.safe_extract(arc, tmp_path / "out")
    assert type(err.value) is data.DataError


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
            if start >= len(payload):  # what servers answer a complete .part
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(payload)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
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


@pytest.mark.parametrize("checksum", [True, False])
def test_download_finishes_a_complete_part_file(http_server, tmp_path, checksum):
    served, url = http_server
    payload = os.urandom(50_000)
    (served / "a.tar.gz").write_bytes(payload)
    dest = tmp_path / "a.tar.gz"
    (tmp_path / "a.tar.gz.part").write_bytes(payload)  # killed before the rename
    sha = hashlib.sha256(payload).hexdigest() if checksum else None
    assert data.download(f"{url}/a.tar.gz", dest, sha256=sha).read_bytes() == payload
    assert _RangeHandler.requests == ["bytes=50000-"]  # answered 416
    assert not (tmp_path / "a.tar.gz.part").exists()


def test_download_deletes_a_full_size_part_that_is_wrong(http_server, tmp_path):
    served, url = http_server
    payload = os.urandom(50_000)
    (served / "a.tar.gz").write_bytes(payload)
    part = tmp_path / "a.tar.gz.part"
    part.write_bytes(os.urandom(50_000))  # as long as the file, other bytes
    sha = hashlib.sha256(payload).hexdigest()
    with pytest.raises(data.DataError, match="Checksum mismatch"):
        data.download(f"{url}/a.tar.gz", tmp_path / "a.tar.gz", sha256=sha)
    assert not part.exists()  # so the next call downloads afresh, and succeeds
    assert data.download(f"{url}/a.tar.gz", tmp_path / "a.tar.gz", sha256=sha)
    part.write_bytes(os.urandom(60_000))  # longer than the file, no checksum
    (tmp_path / "a.tar.gz").unlink()
    with pytest.raises(data.DataError, match="HTTP 416"):
        data.download(f"{url}/a.tar.gz", tmp_path / "a.tar.gz")
    assert not part.exists()


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
    texts = [f"review number {i}" for i in range(20)]
    rs = data.ReviewSet(texts, [i % 2 for i in range(20)], "numbered")

    def order(shuffle, seed=7):
        loader = data.make_loader(tokenizer, rs, 4, shuffle=shuffle, seed=seed)
        rows = [ids for b in loader for ids in b["input_ids"].tolist()]
        return [tokenizer.decode(ids, skip_special_tokens=True) for ids in rows]

    shuffled = order(True)
    assert order(False) == texts  # unshuffled: the reviews in their order
    assert shuffled != texts and sorted(shuffled) == sorted(texts)
    assert shuffled == order(True)  # same seed, same order
    assert shuffled != order(True, seed=8)


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


def test_a_failed_download_says_which_variable_to_set(http_server, monkeypatch):
    from helpers import eraser, etc

    _, url = http_server  # the file is not there: the connection fails
    missing = f"{url}/missing.tar.gz"
    monkeypatch.delenv("IMDB_DIR", raising=False)
    monkeypatch.delenv(eraser.ERASER_ENV, raising=False)
    expected = {
        data: ("IMDB_URL", "find_imdb", r"\$IMDB_DIR"),
        eraser: ("ERASER_URL", "find_eraser", r"\$ERASER_DIR"),
        etc: ("ETC_URL", "find_etc", r"\$ETC_DIR"),
    }
    for module, (url_name, finder, variable) in expected.items():
        monkeypatch.setattr(module, url_name, missing)
        with pytest.raises(
            data.DataError, match=rf"(?s)Could not download.*{variable}"
        ) as err:
            getattr(module, finder)()
        others = {v for v in ("IMDB_DIR", "ERASER_DIR", "ETC_DIR")} - {variable[2:]}
        assert not any(other in str(err.value) for other in others)


# ------------------------------------------------------- head+tail truncation
def _tiny():
    from tiny import tiny_tokenizer

    return tiny_tokenizer()


#: A long review whose ending differs from its start (tiny vocabulary words).
LONG = "the movie was great and " * 20 + "but the plot was boring and awful ."


@pytest.mark.parametrize("kind", ["tiny", "packaged"])
@pytest.mark.parametrize("head", [None, 0, 5, 30])
def test_head_tail_keeps_the_first_and_last_content_tokens(tokenizer, kind, head):
    tok = _tiny() if kind == "tiny" else tokenizer
    max_length = 32
    whole = tok([LONG], verbose=False)["input_ids"][0]
    content = whole[1:-1]
    assert len(whole) > max_length
    got = data.tokenize_truncated(tok, [LONG], max_length, keep="head+tail", head=head)
    n = max_length - 2
    h = 8 if head is None else head  # default: a quarter of 30, halves rounded up
    expected = [whole[0], *content[:h], *content[len(content) - (n - h) :], whole[-1]]
    assert got["input_ids"] == [expected] and len(expected) == max_length
    assert got["attention_mask"] == [[1] * max_length]
    assert got["token_type_ids"] == [[0] * max_length]
    words = tok.convert_ids_to_tokens(got["input_ids"][0])
    assert (words[-3:-1] == ["awful", "."]) == (h < n)  # the ending is kept


@pytest.mark.parametrize("kind", ["tiny", "packaged"])
def test_head_tail_leaves_texts_that_fit_unchanged(tokenizer, kind):
    tok = _tiny() if kind == "tiny" else tokenizer
    fits = "the movie was great " * 3  # 12 content tokens, 14 in all
    texts = ["good film", fits, fits + "!", fits + "! !", LONG]
    max_length = 15
    whole = tok(texts, verbose=False)["input_ids"]
    assert [len(ids) for ids in whole[:4]] == [4, 14, 15, 16]
    got = data.tokenize_truncated(tok, texts, max_length, keep="head+tail")
    assert got["input_ids"][:3] == whole[:3]  # they fit: unchanged
    # one token too many: the default head (3 of 13) and the last 10 kept
    assert got["input_ids"][3] == whole[3][:4] + whole[3][-11:]
    assert [len(ids) for ids in got["input_ids"]] == [4, 14, 15, 15, 15]


@pytest.mark.parametrize("max_length", [8, 64, 256, 512])
def test_keep_head_is_the_tokenizers_truncation(tokenizer, max_length):
    texts = _long_texts()
    plain = tokenizer(texts, truncation=True, max_length=max_length)
    fast = data.tokenize_truncated(tokenizer, texts, max_length, keep="head")
    assert fast == data.tokenize_truncated(tokenizer, texts, max_length)
    for key in plain:
        assert fast[key] == plain[key], key


def test_tokenized_reviews_keep_head_and_tail(tokenizer):
    texts = _long_texts()
    reviews = data.ReviewSet(texts, [i % 2 for i in range(len(texts))], "test texts")
    dataset = data.TokenizedReviews(tokenizer, reviews, 128, keep="head+tail", head=20)
    ids = [f["input_ids"] for f in dataset.features]
    assert (
        ids
        == data.tokenize_truncated(tokenizer, texts, 128, keep="head+tail", head=20)[
            "input_ids"
        ]
    )
    whole = tokenizer(texts, verbose=False)["input_ids"]
    for got, full in zip(ids, whole, strict=True):
        assert got == (full if len(full) <= 128 else full[:21] + full[-107:])
    assert any(len(full) > 128 for full in whole)
    capped = data.TokenizedReviews(tokenizer, reviews, 4096, keep="head+tail")
    assert max(len(f["input_ids"]) for f in capped.features) == 512  # 128 + 382


def test_default_head_is_a_quarter_of_the_content():
    assert data.default_head(512) == 128  # Sun et al. (2019): 128 + 382
    assert [data.default_head(n) for n in (256, 128, 16, 3)] == [64, 32, 4, 0]


@pytest.mark.parametrize(
    "keep,head,max_length,message",
    [
        ("tail", None, 32, r"keep must be one of 'head', 'head\+tail', got 'tail'"),
        ("head+tail", 31, 32, r"head must be an integer from 0 to 30 .* got 31"),
        ("head+tail", -1, 32, r"from 0 to 30 .* got -1: pass a smaller head"),
        ("head+tail", 2.5, 32, r"got 2\.5"),
        ("head+tail", True, 32, r"got True"),
        ("head", 5, 32, r"only used with keep='head\+tail'"),
        ("head+tail", None, 2, r"max_length >= 3"),
    ],
)
def test_bad_keep_or_head_raise_and_name_the_fix(keep, head, max_length, message):
    tok = _tiny()
    with pytest.raises(ValueError, match=message):
        data.tokenize_truncated(tok, [LONG], max_length, keep=keep, head=head)
    reviews = data.ReviewSet([LONG], [1], "one review")
    with pytest.raises(ValueError, match=message):
        data.TokenizedReviews(tok, reviews, max_length, keep=keep, head=head)
