"""helpers.data.fetch: resumable checked downloads, safe extraction, the cache."""

import errno
import hashlib
import http.server
import io
import os
import tarfile
import threading
from functools import partial
from pathlib import Path
from typing import ClassVar

import pytest

from helpers import config, data
from helpers.data import eraser, etc, fetch, imdb


# ----------------------------------------------------------------- archive handling
def test_safe_extract_refuses_path_escape(tmp_path, make_tar):
    arc = make_tar(
        tmp_path / "evil.tar.gz", {"aclImdb/ok.txt": b"x", "../escape.txt": b"pwned"}
    )
    with pytest.raises(fetch.UnsafeArchiveError, match="outside"):
        fetch.safe_extract(arc, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "out" / "aclImdb").exists()


def test_safe_extract_corrupt_archive(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"good" * 1000})
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(arc.read_bytes()[:60])
    with pytest.raises(fetch.CorruptArchiveError, match="corrupt or truncated"):
        fetch.safe_extract(truncated, tmp_path / "out")
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b" + os.urandom(200))
    with pytest.raises(fetch.CorruptArchiveError, match="corrupt or truncated"):
        fetch.safe_extract(tmp_path / "junk.tar.gz", tmp_path / "out")
    assert not any((tmp_path / "out").glob("aclImdb*"))


def test_safe_extract_good_archive(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"good"})
    fetch.safe_extract(arc, tmp_path / "out")
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
#: Each unsafe archive, and the standard filter's error that refuses it.
REFUSED = {
    "absolute path": ([GOOD, ("/tmp/evil.txt", FILE, b"x")], "AbsolutePathError"),
    "parent folder": (
        [GOOD, ("aclImdb/../../escape.txt", FILE, b"x")],
        "OutsideDestinationError",
    ),
    "absolute symlink": (
        [GOOD, ("aclImdb/link", SYM, "/etc/passwd")],
        "AbsoluteLinkError",
    ),
    "symlink outside": (
        [GOOD, ("aclImdb/link", SYM, "../../outside.txt")],
        "LinkOutsideDestinationError",
    ),
    # inside when read from the member's folder, outside from the archive
    # root, which is what a hard link's target is relative to
    "hardlink outside": (
        [GOOD, ("aclImdb/a/b/hl", HARD, "../../outside.txt")],
        "LinkOutsideDestinationError",
    ),
    "absolute hardlink": (
        [GOOD, ("aclImdb/hl", HARD, "/etc/passwd")],
        "AbsoluteLinkError",
    ),
    # d -> aclImdb itself; e -> d/../.. is inside on paper, outside on disk
    "symlink chain": (
        [GOOD, ("aclImdb/d", SYM, "."), ("aclImdb/e", SYM, "d/../..")],
        "LinkOutsideDestinationError",
    ),
    "top-level link to the parent": (
        [GOOD, ("up", SYM, "..")],
        "LinkOutsideDestinationError",
    ),
    "character device": (
        [GOOD, ("aclImdb/tty", tarfile.CHRTYPE, None)],
        "SpecialFileError",
    ),
    "block device": (
        [GOOD, ("aclImdb/sda", tarfile.BLKTYPE, None)],
        "SpecialFileError",
    ),
    "fifo": ([GOOD, ("aclImdb/pipe", tarfile.FIFOTYPE, None)], "SpecialFileError"),
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_safe_extract_refuses_unsafe_members(tmp_path, kind):
    members, filter_error = REFUSED[kind]
    arc = _tar_of(tmp_path / "evil.tar.gz", members)
    dest = tmp_path / "box" / "out"
    with pytest.raises(fetch.UnsafeArchiveError, match="Refusing") as err:
        fetch.safe_extract(arc, dest)
    # refused by the standard library's extraction filter (PEP 706)
    assert isinstance(err.value.__cause__, getattr(tarfile, filter_error))
    assert not issubclass(fetch.UnsafeArchiveError, fetch.CorruptArchiveError)
    assert sorted(p.name for p in dest.iterdir()) == []  # nothing, no temp folder
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["out"]
    assert not (tmp_path / "box" / "escape.txt").exists()


def test_absolute_names_are_refused_not_stripped(tmp_path):
    """The one check added to ``filter="data"``, which strips a leading slash."""
    member = tarfile.TarInfo("/tmp/evil.txt")
    assert tarfile.data_filter(member, str(tmp_path)).name == "tmp/evil.txt"
    with pytest.raises(tarfile.AbsolutePathError):
        fetch.refuse_absolute_data_filter(member, str(tmp_path))
    fine = tarfile.TarInfo("aclImdb/README")
    assert fetch.refuse_absolute_data_filter(fine, str(tmp_path)).name == fine.name


def test_links_inside_the_tree_are_kept(tmp_path):
    arc = _tar_of(
        tmp_path / "a.tar.gz",
        [GOOD, ("aclImdb/test", SYM, "train"), ("README", SYM, "aclImdb/train")],
    )
    fetch.safe_extract(arc, tmp_path / "out")
    assert (tmp_path / "out/aclImdb/test/pos/1_9.txt").read_bytes() == b"good"
    assert (tmp_path / "out/README/pos/1_9.txt").read_bytes() == b"good"


def test_safe_extract_follows_hardlinks_from_the_archive_root(tmp_path):
    arc = _tar_of(
        tmp_path / "a.tar.gz",
        [GOOD, ("aclImdb/test/neg/copy.txt", HARD, "aclImdb/train/pos/1_9.txt")],
    )
    fetch.safe_extract(arc, tmp_path / "out")
    copy = tmp_path / "out/aclImdb/test/neg/copy.txt"
    assert copy.read_bytes() == b"good"
    assert not (tmp_path / "out/aclImdb" / fetch.PARTIAL_MARK).exists()


def test_safe_extract_keeps_a_folder_it_did_not_make(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"new"})
    mine = tmp_path / "out" / "aclImdb"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my own work")
    with pytest.raises(data.DataError, match="already exists") as err:
        fetch.safe_extract(arc, tmp_path / "out")
    assert not isinstance(
        err.value, fetch.UnsafeArchiveError | fetch.CorruptArchiveError
    )
    assert (mine / "notes.txt").read_text() == "my own work"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["aclImdb"]
    assert "$" not in str(err.value)  # no data set named: no variable to set
    with pytest.raises(data.DataError, match=r"point \$IMDB_DIR at it"):
        fetch.safe_extract(arc, tmp_path / "out", env="IMDB_DIR")


def test_safe_extract_replaces_its_own_partial_extraction(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"new"})
    out = tmp_path / "out"
    partial = out / "aclImdb"
    (partial / "train").mkdir(parents=True)
    (partial / fetch.PARTIAL_MARK).write_text("unfinished")
    stale = out / ".extract-old"  # a killed run's temporary folder
    stale.mkdir()
    (stale / fetch.PARTIAL_MARK).write_text("unfinished")
    foreign = out / ".extract-someone-else"
    foreign.mkdir()
    busy = out / ".extract-under-way"  # another process, still running
    busy.mkdir()
    (busy / fetch.PARTIAL_MARK).write_text(f"pid {os.getppid()}: extracting x")
    fetch.safe_extract(arc, out)
    assert (partial / "train/pos/1_9.txt").read_bytes() == b"new"
    assert not fetch.is_partial_extraction(partial)
    assert sorted(p.name for p in out.iterdir()) == [
        ".extract-someone-else",
        ".extract-under-way",
        "aclImdb",
    ]


def test_safe_extract_puts_top_level_files_in_place(tmp_path, make_tar):
    arc = make_tar(tmp_path / "a.tar.gz", {"README": b"read me", "d/x.txt": b"x"})
    fetch.safe_extract(arc, tmp_path / "out")
    assert (tmp_path / "out/README").read_bytes() == b"read me"
    assert sorted(p.name for p in (tmp_path / "out/d").iterdir()) == ["x.txt"]
    with pytest.raises(data.DataError, match=r"(README|d) already exists"):
        fetch.safe_extract(arc, tmp_path / "out")  # a file is never replaced


def test_find_imdb_redoes_a_partial_extraction(tmp_path, monkeypatch, make_tar):
    monkeypatch.delenv("IMDB_DIR", raising=False)
    partial = config.data_dir() / "aclImdb"
    partial.mkdir()
    (partial / fetch.PARTIAL_MARK).write_text("unfinished")
    members = {
        f"aclImdb/{s}/{lab}/0_5.txt": b"a review"
        for s in ("train", "test")
        for lab in ("pos", "neg")
    }
    arc = make_tar(config.data_dir() / "aclImdb_v1.tar.gz", members)
    monkeypatch.setattr(imdb, "IMDB_SHA256", fetch.sha256_of(arc))
    assert data.find_imdb() == partial and not fetch.is_partial_extraction(partial)
    assert len(data.read_imdb_split(partial, "test")) == 2


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_not_a_corrupt_archive(tmp_path, make_tar, monkeypatch, code):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"good"})

    def full(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tarfile.TarFile, "extractall", full)
    monkeypatch.setattr(tarfile.TarFile, "extract", full)
    with pytest.raises(fetch.DiskFullError, match=r"No space left .* free some space"):
        fetch.safe_extract(arc, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_an_unwritable_folder_is_neither_corrupt_nor_full(
    tmp_path, make_tar, monkeypatch
):
    arc = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_9.txt": b"good"})

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tarfile.TarFile, "extractall", denied)
    with pytest.raises(data.DataError, match="writable") as err:
        fetch.safe_extract(arc, tmp_path / "out")
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
    thread = threading.Thread(
        target=partial(server.serve_forever, poll_interval=0.02), daemon=True
    )
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
    got = fetch.download(f"{url}/a.tar.gz", dest, sha256=sha)
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
    assert fetch.download(f"{url}/a.tar.gz", dest, sha256=sha).read_bytes() == payload
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
        fetch.download(f"{url}/a.tar.gz", tmp_path / "a.tar.gz", sha256=sha)
    assert not part.exists()  # so the next call downloads afresh, and succeeds
    assert fetch.download(f"{url}/a.tar.gz", tmp_path / "a.tar.gz", sha256=sha)
    part.write_bytes(os.urandom(60_000))  # longer than the file, no checksum
    (tmp_path / "a.tar.gz").unlink()
    with pytest.raises(data.DataError, match="HTTP 416"):
        fetch.download(f"{url}/a.tar.gz", tmp_path / "a.tar.gz")
    assert not part.exists()


def test_download_checksum_mismatch_leaves_nothing(http_server, tmp_path):
    served, url = http_server
    (served / "a.tar.gz").write_bytes(b"not the archive")
    dest = tmp_path / "a.tar.gz"
    with pytest.raises(data.DataError, match="Checksum mismatch"):
        fetch.download(f"{url}/a.tar.gz", dest, sha256="0" * 64)
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
    monkeypatch.setattr(imdb, "IMDB_URL", f"{url}/aclImdb_v1.tar.gz")
    monkeypatch.setattr(
        imdb, "IMDB_SHA256", hashlib.sha256(arc.read_bytes()).hexdigest()
    )
    root = data.find_imdb()
    assert len(data.read_imdb_split(root, "test")) == 6
    assert data.find_imdb() == root  # second call uses the cache, no download
    assert len(_RangeHandler.requests) == 1


def test_a_failed_download_says_which_variable_to_set(http_server, monkeypatch):
    _, url = http_server  # the file is not there: the connection fails
    missing = f"{url}/missing.tar.gz"
    monkeypatch.delenv("IMDB_DIR", raising=False)
    monkeypatch.delenv(eraser.ERASER_ENV, raising=False)
    expected = {
        imdb: ("IMDB_URL", "find_imdb", r"\$IMDB_DIR"),
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


# --------------------------------------------------- writes that fail, named clearly
def _contents(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (``None`` for a folder)."""
    return {
        p.relative_to(folder).as_posix(): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def _fill(folder: Path) -> dict[str, bytes | None]:
    """What a reader's data folder holds besides the download; its contents."""
    files = {
        "checkpoints/model/config.json": b"{}",
        "aclImdb/train/pos/0_9.txt": b"a great film",
        "notes.txt": b"my own notes",
    }
    for name, payload in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(payload)
    (folder / "aclImdb/train/neg").mkdir()  # no negative reviews
    return _contents(folder)


class _FullFile:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, file, room: int, code: int):
        self.file, self.room, self.code = file, room, code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, block: bytes) -> int:
        n = min(len(block), self.room)
        self.file.write(block[:n])
        self.room -= n
        if n < len(block):
            raise OSError(self.code, os.strerror(self.code))
        return n


def _disk_full_after(room: int, code: int = errno.ENOSPC):
    """``open`` for :mod:`helpers.data.fetch`: files written take ``room`` bytes."""

    def fake_open(path, mode="r", *args, **kwargs):
        file = open(path, mode, *args, **kwargs)  # noqa: SIM115 (closed by caller)
        return file if "r" in mode else _FullFile(file, room, code)

    return fake_open


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_during_a_download_is_not_blamed_on_the_internet(
    http_server, tmp_path, monkeypatch, code
):
    served, url = http_server
    payload = os.urandom(300_000)
    (served / "a.tar.gz").write_bytes(payload)
    sha = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "dl" / "a.tar.gz"
    hint = "Without internet, download it elsewhere."
    with monkeypatch.context() as patch:
        patch.setattr(fetch, "open", _disk_full_after(100_000, code), raising=False)
        with pytest.raises(fetch.DiskFullError) as err:
            fetch.download(f"{url}/a.tar.gz", dest, sha256=sha, offline_hint=hint)
    message = str(err.value)
    assert "No space left in .../" in message and "/dl while downloading" in message
    assert "0.2 MB more needed" in message and "free some space" in message
    assert "internet" not in message and "Could not download" not in message
    part = dest.with_name("a.tar.gz.part")
    assert part.read_bytes() == payload[:100_000]  # kept: the next call resumes
    assert fetch.download(f"{url}/a.tar.gz", dest, sha256=sha).read_bytes() == payload
    assert _RangeHandler.requests[-1] == "bytes=100000-"


def test_downloading_into_a_read_only_folder_names_the_fix(http_server, read_only):
    served, url = http_server
    (served / "a.tar.gz").write_bytes(os.urandom(1000))
    folder = read_only(config.data_dir())
    hint = "Without internet, download it elsewhere."
    for dest in (folder / "a.tar.gz", folder / "sub" / "a.tar.gz"):
        with pytest.raises(data.DataError) as err:
            fetch.download(f"{url}/a.tar.gz", dest, offline_hint=hint)
        message = str(err.value)
        assert "is not writable" in message
        assert "set $BERT_BOOK_DATA to a writable folder" in message
        assert "internet" not in message and "Could not download" not in message
    assert list(folder.iterdir()) == []


def test_extracting_into_a_read_only_folder_names_the_fix(tmp_path, read_only):
    arc = _tar_of(tmp_path / "a.tar.gz", [GOOD])
    dest = read_only(config.data_dir())
    with pytest.raises(data.DataError) as err:
        fetch.safe_extract(arc, dest, env="IMDB_DIR")
    assert type(err.value) is data.DataError  # neither corrupt nor a full disk
    message = str(err.value)
    assert "<data> is not writable" in message and "extracting a.tar.gz" in message
    assert "set $BERT_BOOK_DATA to a writable folder" in message
    assert "point $IMDB_DIR at it" in message
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("downloaded", [False, True])
def test_a_read_only_data_folder_without_imdb_falls_back_to_the_sample(
    http_server, monkeypatch, make_tar, read_only, downloaded
):
    served, url = http_server
    members = {
        f"aclImdb/{s}/{lab}/0_5.txt": b"a review"
        for s in ("train", "test")
        for lab in ("pos", "neg")
    }
    arc = make_tar(served / "aclImdb_v1.tar.gz", members)
    if downloaded:  # the archive is there, but cannot be extracted
        (config.data_dir() / arc.name).write_bytes(arc.read_bytes())
    monkeypatch.delenv("IMDB_DIR", raising=False)
    monkeypatch.setattr(imdb, "IMDB_URL", f"{url}/aclImdb_v1.tar.gz")
    monkeypatch.setattr(imdb, "IMDB_SHA256", fetch.sha256_of(arc))
    read_only(config.data_dir())
    with pytest.raises(data.DataError, match=r"not writable.*\$BERT_BOOK_DATA"):
        data.find_imdb()
    with pytest.warns(UserWarning, match="not writable.*SYNTHETIC sample"):
        reviews = data.load_reviews("test")
    assert reviews.dataset == "synthetic"


#: Archives holding a file and a folder at the same path ``a/x``.
CONFLICTS = {
    "a file, then a file below it": [("a/x", FILE, b"1"), ("a/x/y", FILE, b"2")],
    "a file, then a folder": [("a/x", FILE, b"1"), ("a/x", DIR, None)],
    "a folder, then a file": [("a/x", DIR, None), ("a/x", FILE, b"1")],
    "a file below, then a file": [("a/x/y", FILE, b"2"), ("a/x", FILE, b"1")],
}


@pytest.mark.parametrize("case", sorted(CONFLICTS))
def test_a_file_and_a_folder_at_one_path_are_refused(tmp_path, case):
    arc = _tar_of(tmp_path / "a.tar.gz", [("a/ok.txt", FILE, b"ok"), *CONFLICTS[case]])
    dest = tmp_path / "out"
    before = _fill(dest)
    with pytest.raises(fetch.CorruptArchiveError) as err:
        fetch.safe_extract(arc, dest)
    message = str(err.value)
    assert "a file and a folder at the same path 'a/x'" in message
    assert f"(member {CONFLICTS[case][1][0]!r})" in message
    assert "download it again" in message
    assert _contents(dest) == before  # nothing extracted, nothing else touched


FAILURES = (
    "read-only extraction",
    "read-only download",
    "full disk while downloading",
    "a file and a folder at one path",
    "a class folder without reviews",
)


@pytest.mark.parametrize("failure", FAILURES)
def test_the_data_folders_other_content_survives_every_failure(
    http_server, tmp_path, monkeypatch, read_only, failure
):
    served, url = http_server
    (served / "a.tar.gz").write_bytes(os.urandom(100_000))
    conflict = CONFLICTS["a file, then a folder"]
    arc = _tar_of(tmp_path / "a.tar.gz", [("movies/docs/a", FILE, b"a"), *conflict])
    folder = config.data_dir()
    before = _fill(folder)
    if failure.startswith("read-only"):
        read_only(folder)
    if failure.startswith("full disk"):
        monkeypatch.setattr(fetch, "open", _disk_full_after(50_000), raising=False)
    with pytest.raises(data.DataError):
        if "download" in failure:
            fetch.download(f"{url}/a.tar.gz", folder / "a.tar.gz")
        elif "reviews" in failure:
            data.read_imdb_split(folder / "aclImdb", "train")
        else:
            fetch.safe_extract(arc, folder, env="IMDB_DIR")
    after = _contents(folder)
    if failure.startswith("full disk"):  # the download's own file, for resuming
        assert len(after.pop("a.tar.gz.part")) == 50_000
    assert after == before


def test_data_folder_that_cannot_be_made_names_the_variable(
    tmp_path, monkeypatch, read_only
):
    read_only(tmp_path)
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path / "data"))
    with pytest.raises(PermissionError, match=r"Set \$BERT_BOOK_DATA to a folder"):
        config.data_dir()
    assert not (tmp_path / "data").exists()
