"""Fixtures shared by the test modules.

Models and tokenizers come from ``tests/tiny.py``; test modules import from
there, never from this file. The IMDb-layout folders and archives below are
fixtures (factories), so no test module imports them either.
"""

from __future__ import annotations

import io
import ipaddress
import socket
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
