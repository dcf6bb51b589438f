"""Fixtures shared by the test modules.

Models and tokenizers come from ``tests/tiny.py``; test modules import from
there, never from this file. The IMDb-layout folders and archives below are
fixtures (factories), so no test module imports them either.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import os
import socket
import stat
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from tiny import save_tiny


class NetworkBlocked(RuntimeError):
    """A test reached for the network (tests only talk to this machine)."""


def _loopback(host) -> bool:
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded(real):
    """``real`` (connect / getaddrinfo) allowed only for loopback addresses."""

    def call(*args, **kwargs):
        target = args[1] if real is _REAL_CONNECT else args[0]
        host = target[0] if isinstance(target, tuple) else target
        if isinstance(target, (str, bytes)) and real is _REAL_CONNECT:
            return real(*args, **kwargs)  # a Unix socket (Jupyter, multiprocessing)
        if not _loopback(host):
            raise NetworkBlocked(
                f"test reached for the network ({host!r}); tests must not. Serve "
                "what the test needs from a local server or a file."
            )
        return real(*args, **kwargs)

    return call


_REAL_CONNECT = socket.socket.connect
_REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Block every socket connection and name lookup that leaves this machine."""
    monkeypatch.setattr(socket.socket, "connect", _guarded(_REAL_CONNECT))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded(_REAL_CONNECT))
    monkeypatch.setattr(socket, "getaddrinfo", _guarded(_REAL_GETADDRINFO))


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    """Every test writes downloads and checkpoints into its own temporary folder."""
    monkeypatch.setenv("BERT_BOOK_DATA", str(tmp_path_factory.mktemp("data")))
    # CI exports ETC_DIR for the book; tests that want ETC make their own
    monkeypatch.delenv("ETC_DIR", raising=False)
    torch.manual_seed(0)


@pytest.fixture
def tiny_model_dir(tmp_path) -> Path:
    """A saved 2-layer tiny BERT classifier and tokenizer, loadable by load_model."""
    return save_tiny(tmp_path / "tiny-bert")


def _write_imdb_folder(
    root: Path, per_label: int = 6, splits=("train", "test")
) -> Path:
    """An ``aclImdb`` layout of short reviews: pos ones say 'great', neg 'awful'."""
    for split in splits:
        for label, word in (("pos", "great"), ("neg", "awful")):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_label):
                (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(
                    f"Review {i}: the film was {word}.<br />Really {word}!",
                    encoding="utf-8",
                )
    return root / "aclImdb"


def _write_tar(path: Path, members: dict[str, bytes]) -> Path:
    """A ``.tar.gz`` at ``path`` holding ``members`` (name -> bytes)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


@pytest.fixture(scope="session")
def make_imdb_folder():
    """``make_imdb_folder(root, per_label=6, splits=("train", "test"))``.

    Writes an ``aclImdb`` folder under ``root`` and returns its path.
    """
    return _write_imdb_folder


@pytest.fixture(scope="session")
def make_tar():
    """``make_tar(path, {name: bytes})`` writes a ``.tar.gz`` and returns its path."""
    return _write_tar


# Folders that the audit hook below makes read-only (absolute paths).
_READ_ONLY: list[str] = []
_WRITE_EVENTS = {
    "os.mkdir",
    "os.remove",
    "os.rmdir",
    "os.rename",
    "os.symlink",
    "os.link",
    "os.truncate",
    "os.chmod",
    "shutil.rmtree",
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _refuse_writes(event: str, args) -> None:
    """Audit hook (PEP 578): a write under a read-only folder fails with EROFS."""
    if not _READ_ONLY:
        return
    if event == "open":
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else False
        if not (writes or (isinstance(flags, int) and flags & _WRITE_FLAGS)):
            return
        paths = [path]
    elif event in _WRITE_EVENTS:
        paths = list(args[:2]) if event == "os.rename" else [args[0]]
    else:
        return
    for path in paths:
        if isinstance(path, int):
            continue  # a file descriptor: its opening was checked
        path = os.path.abspath(os.fsdecode(path))
        if any(path == r or path.startswith(r + os.sep) for r in _READ_ONLY):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)


_hook = []


def _chmod_stops_writes(folder: Path) -> bool:
    """Whether a folder without write bits refuses a new file (not for root)."""
    probe = folder / "probe"
    probe.mkdir(mode=0o555)
    try:
        (probe / "file").touch()
    except PermissionError:
        return True
    else:
        return False
    finally:
        probe.chmod(0o755)


@pytest.fixture(params=["audit hook", "chmod"])
def read_only(request, tmp_path_factory):
    """``read_only(folder)``: from then on nothing under ``folder`` can be written.

    Two ways, each test runs with both: ``chmod`` removes the write bits
    (skipped where that stops nothing: root); the ``audit hook`` refuses every
    write under the folder with ``EROFS``, as a read-only mount does, for
    root too.
    """
    chmod = request.param == "chmod"
    if chmod and not _chmod_stops_writes(tmp_path_factory.mktemp("probe")):
        pytest.skip("chmod does not stop this user (root) from writing")
    if not chmod and not _hook:
        sys.addaudithook(_refuse_writes)  # cannot be removed: off while empty
        _hook.append(_refuse_writes)
    made: list[Path] = []

    def make(folder) -> Path:
        folder = Path(folder)
        if chmod:
            for path in [folder, *folder.rglob("*")]:
                if not path.is_symlink():
                    path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)
        else:
            _READ_ONLY.append(os.path.abspath(folder))
        made.append(folder)
        return folder

    yield make
    for folder in made:
        if chmod:
            for path in [folder, *folder.rglob("*")]:
                if not path.is_symlink():
                    path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o200)
        else:
            _READ_ONLY.remove(os.path.abspath(folder))
