"""Downloads that resume and check themselves, and archives extracted safely.

The download library of the data layer: IMDb (:mod:`helpers.data.imdb`),
ERASER Movies (:mod:`helpers.data.eraser`) and the ETC Dataset
(:mod:`helpers.data.etc`) all go through :func:`download` and
:func:`safe_extract`, into the cache folder :func:`helpers.config.data_dir`.

* :func:`download`: bytes go to ``dest + ".part"``; an interrupted download
  resumes there with an HTTP ``Range`` request; only a complete file whose
  SHA-256 matches is renamed to ``dest``, so ``dest`` is always the right
  file or absent. (``pooch`` checks and caches as well, but it deletes its
  temporary file on any failure, so it cannot resume: kept by hand here.)
* :func:`safe_extract`: Python's own extraction filter (``filter="data"``,
  PEP 706) refuses unsafe members; this module adds what the filter does not
  do: absolute names are refused instead of stripped, extraction is
  all-or-nothing, and errors tell a corrupt archive from a full disk.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import lzma
import os
import posixpath
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from tqdm.auto import tqdm

from ..config import DATA_ENV, data_dir, display_path
from .errors import DataError


# ---------------------------------------------------- download with resume and checksum
def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    timeout: float = 60,
    offline_hint: str = "Without internet, download it elsewhere.",
) -> Path:
    """Download ``url`` to ``dest`` with resume and an optional SHA-256 check.

    Bytes go to ``dest + ".part"``; an interrupted download resumes from there
    with an HTTP ``Range`` request. When the ``.part`` file is already
    complete the server answers 416 (range not satisfiable): the file is then
    checked and finished instead of failing on every retry. Only a complete
    file whose checksum matches is renamed to ``dest``; a mismatch deletes the
    partial file and raises :class:`DataError`, so nothing corrupt is left
    looking valid. ``offline_hint`` ends a failed download's error: how to
    get the data without this machine's internet (which variable to set).
    A folder that cannot be written, or a full disk (:class:`DiskFullError`,
    the partial file kept), is named as such, not blamed on the internet.
    """
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _write_error(dest.parent, f"downloading {dest.name}", err) from err
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    try:
        _fetch(url, part, have, timeout, dest.name)
    except urllib.error.HTTPError as err:
        if not (err.code == 416 and have):
            raise _download_error(url, part, err, offline_hint) from err
        _check_complete_part(url, part, have, sha256, err.headers)
    except (urllib.error.URLError, OSError) as err:
        raise _download_error(url, part, err, offline_hint) from err
    if sha256 is not None:
        try:
            _check_part_checksum(url, part, sha256)
        except DataError as err:
            raise DataError(f"{err} {offline_hint}") from None
    part.replace(dest)
    return dest


def _fetch(url: str, part: Path, have: int, timeout: float, name: str) -> None:
    """Append the bytes after the first ``have`` to ``part`` (all when 0).

    Network failures raise ``URLError``; a failure to write ``part`` raises
    :class:`DataError` (:class:`DiskFullError` for a full disk), ``part`` kept.
    """
    request = urllib.request.Request(
        url, headers={"Range": f"bytes={have}-"} if have else {}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        resumed = have and getattr(response, "status", 200) == 206
        total = response.headers.get("Content-Length")
        total = int(total) + (have if resumed else 0) if total else None
        try:
            with (
                open(part, "ab" if resumed else "wb") as f,
                tqdm(
                    total=total,
                    initial=have if resumed else 0,
                    unit="B",
                    unit_scale=True,
                    desc=f"download {name}",
                ) as bar,
            ):
                for block in _blocks(response):
                    f.write(block)
                    bar.update(len(block))
        except urllib.error.URLError:
            raise
        except OSError as err:
            size = part.stat().st_size if part.exists() else 0
            kept = (
                f" The partial download {display_path(part)} is kept ({size} bytes): "
                "the next call resumes it."
            )
            raise _write_error(
                part.parent,
                f"downloading {name}",
                err,
                needed=max(total - size, 0) if total else None,
                note=kept if size else "",
            ) from err


def _blocks(response, size: int = 1 << 16):
    """The blocks of an HTTP response; a failure to read them is a ``URLError``."""
    while True:
        try:
            block = response.read(size)
        except (OSError, http.client.HTTPException) as err:
            raise urllib.error.URLError(err) from err
        if not block:
            return
        yield block


def _download_error(url: str, part: Path, err: Exception, hint: str) -> DataError:
    return DataError(
        f"Could not download {url}: {err}. Partial data kept in "
        f"{display_path(part)} (the next call resumes). {hint}"
    )


def _check_complete_part(url, part: Path, have: int, sha256, headers) -> None:
    """After a 416 answer: accept ``part`` only if it is the whole file.

    With a checksum, the checksum decides (checked by the caller). Without
    one, the total size in the answer's ``Content-Range: bytes */N`` must be
    ``have``; otherwise the partial file is deleted and the error says so.
    """
    if sha256 is not None:
        return
    match = re.fullmatch(r"bytes \*/(\d+)", (headers or {}).get("Content-Range", ""))
    if match is None or int(match.group(1)) != have:
        part.unlink(missing_ok=True)
        raise DataError(
            f"{url} refused to resume at byte {have} (HTTP 416) and the size of the "
            "file is unknown or different: the partial download was deleted; run "
            "again to download it afresh."
        )


def _check_part_checksum(url: str, part: Path, sha256: str) -> None:
    got = sha256_of(part)
    if got != sha256:
        part.unlink()
        raise DataError(
            f"Checksum mismatch for {url}: expected {sha256}, got {got}. "
            "The corrupt download was deleted; run again to download it afresh."
        )


# ---------------------------------------------------------------------- safe extraction
class UnsafeArchiveError(DataError):
    """An archive member was refused: it would write outside the destination.

    Absolute paths, ``..`` escapes, symbolic or hard links that point outside
    the archive, and device files (character, block, FIFO). Distinct from
    :class:`CorruptArchiveError` (unreadable archive) and :class:`DiskFullError`.
    """


class CorruptArchiveError(DataError):
    """The archive cannot be read: truncated, or not a valid (compressed) tar."""


class DiskFullError(DataError):
    """No space (or quota) left while writing the extracted files."""


#: Marks a folder as the project's own unfinished extraction (safe to delete).
PARTIAL_MARK = ".bert-book-partial-extraction"


def safe_extract(
    archive: str | os.PathLike, dest: str | os.PathLike, env: str | None = None
) -> Path:
    """Extract a tar archive into ``dest``, refusing members that escape it.

    Members are checked by Python's ``filter="data"`` (PEP 706) as they are
    written, against what is on disk by then: ``..`` escapes, links pointing
    outside (a hard link's target is read from the archive root, a symbolic
    link's from the member's folder), absolute link targets and device files
    raise :class:`UnsafeArchiveError`; so do absolute member names, which the
    filter would only strip (:func:`refuse_absolute_data_filter`).

    The archive is extracted into a marked temporary folder inside ``dest``
    and its top-level entries are renamed into ``dest`` only when all is
    extracted. The filter measures links against that temporary folder, so
    nothing it lets through can point outside ``dest`` after the move. An
    existing entry of the same name is replaced only when it is the project's
    own unfinished extraction (it carries :data:`PARTIAL_MARK`); anything else
    raises :class:`DataError` (naming the variable ``env`` that can point at
    extracted data instead), and so does a ``dest`` that cannot be written. An
    unreadable archive, or one holding a file and a folder at the same path,
    raises :class:`CorruptArchiveError`, a full disk :class:`DiskFullError`.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.exists():
        raise DataError(f"Archive {archive} does not exist: download it first.")
    doing = f"extracting {archive.name}"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        _remove_partial(dest.glob(".extract-*"))
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    except OSError as err:
        raise _write_error(dest, doing, err, env=env) from err
    try:
        _mark_partial(tmp, archive)
        _extract_members(archive, tmp)
        _move_into_place(tmp, dest, archive, env)
    except OSError as err:
        raise _write_error(dest, doing, err, env=env) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def refuse_absolute_data_filter(member: tarfile.TarInfo, dest_path: str):
    """``tarfile.data_filter``, refusing absolute names instead of stripping them.

    ``"/tmp/evil.txt"`` in an archive of reviews is a sign of a broken or
    hostile archive, not a file the data set needs.
    """
    if member.name.startswith(("/", os.sep)):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, dest_path)


def is_partial_extraction(folder: str | os.PathLike) -> bool:
    """True when ``folder`` is the project's own unfinished extraction."""
    return (Path(folder) / PARTIAL_MARK).is_file()


def _move_into_place(tmp: Path, dest: Path, archive: Path, env: str | None) -> None:
    """Rename the entries of ``tmp`` into ``dest``, folders marked until all moved."""
    children = [c for c in tmp.iterdir() if c.name != PARTIAL_MARK]
    for child in children:
        _make_room(dest / child.name, env)
    for child in children:
        if child.is_dir():
            _mark_partial(child, archive)
        child.replace(dest / child.name)
    for child in children:
        if (dest / child.name).is_dir():
            (dest / child.name / PARTIAL_MARK).unlink(missing_ok=True)


def _mark_partial(folder: Path, archive: Path) -> None:
    text = f"pid {os.getpid()}: unfinished extraction of {archive.name}\n"
    (folder / PARTIAL_MARK).write_text(text)


def _abandoned(folder: Path) -> bool:
    """An unfinished extraction whose process is gone (not one under way)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    if not is_partial_extraction(folder):
        return False
    match = re.match(r"pid (\d+):", (folder / PARTIAL_MARK).read_text())
    if match is None or int(match.group(1)) == os.getpid():
        return True
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def _remove_partial(folders) -> None:
    for folder in folders:
        if _abandoned(folder):
            shutil.rmtree(folder)


def _make_room(target: Path, env: str | None) -> None:
    """Delete ``target`` if it is an abandoned extraction; refuse anything else."""
    if not target.exists() and not target.is_symlink():
        return
    if _abandoned(target):
        shutil.rmtree(target)
        return
    point = f", or, if it is the extracted data, point ${env} at it" if env else ""
    raise DataError(
        f"{display_path(target)} already exists and was not left by an unfinished "
        f"extraction here, so it is kept: move it away (or delete it) and run "
        f"again{point}."
    )


def _extract_members(archive: Path, root: Path) -> None:
    """Extract every member into ``root`` through the filter (see safe_extract)."""
    if not hasattr(tarfile, "data_filter"):
        raise DataError(
            f"Python {sys.version.split()[0]} lacks tarfile's extraction filters "
            "(PEP 706), which safe extraction needs: use Python 3.12 or later, "
            "3.11.4+ or 3.10.12+."
        )
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _one_kind_per_path(tar, archive)
            tar.extractall(root, members, filter=refuse_absolute_data_filter)
    except tarfile.FilterError as err:
        raise UnsafeArchiveError(f"Refusing {archive.name}: {err}.") from err
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as err:
        raise _corrupt(archive, err) from err
    except OSError as err:
        if err.errno is None:  # gzip/bz2 data errors carry no errno
            raise _corrupt(archive, err) from err
        raise


def _one_kind_per_path(tar: tarfile.TarFile, archive: Path):
    """The members of ``tar`` as read, refusing a path that is a file and a folder.

    ``a/x`` as a file and ``a/x/y`` (or a folder ``a/x``) would make the
    extraction fail half-way, or silently keep only one of them.
    """
    is_folder: dict[str, bool] = {}
    for member in tar:
        path = posixpath.normpath(member.name)
        parts = path.split("/")
        for i in range(1, len(parts)):
            if not is_folder.setdefault("/".join(parts[:i]), True):
                raise _two_kinds(archive, "/".join(parts[:i]), member.name)
        if is_folder.setdefault(path, member.isdir()) != member.isdir():
            raise _two_kinds(archive, path, member.name)
        yield member


def _two_kinds(archive: Path, path: str, member: str) -> CorruptArchiveError:
    return CorruptArchiveError(
        f"{display_path(archive)} holds a file and a folder at the same path "
        f"{path!r} (member {member!r}): the archive is corrupt and nothing was "
        "extracted. Delete it and download it again."
    )


def _corrupt(archive: Path, err: Exception) -> CorruptArchiveError:
    return CorruptArchiveError(
        f"{display_path(archive)} is corrupt or truncated ({err}). Delete it and "
        "download it again."
    )


def _write_error(
    folder: Path,
    doing: str,
    err: OSError,
    env: str | None = None,
    needed: int | None = None,
    note: str = "",
) -> DataError:
    """Writing into ``folder`` failed: a full disk, or a folder that is not writable.

    The fix named: set :data:`~helpers.config.DATA_ENV` elsewhere when
    ``folder`` is in the data folder, or point ``env`` at the data extracted
    by hand; ``needed``: bytes still to write, when known; ``note`` ends it.
    """
    ours = folder.resolve().is_relative_to(data_dir().resolve())
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        there = next(p for p in (folder, *folder.parents) if p.exists())
        free = f"{shutil.disk_usage(there).free / 1e9:.1f} GB free"
        more = f", {needed / 1e6:.1f} MB more needed" if needed else ""
        move = f", or set ${DATA_ENV} to a folder on a larger disk," if ours else ""
        return DiskFullError(
            f"No space left in {display_path(folder)} while {doing} ({free}{more}): "
            f"free some space{move} and run again.{note}"
        )
    denied = err.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    what = "is not writable" if denied else "could not be written"
    fix = f"set ${DATA_ENV} to a writable folder" if ours else "make it writable"
    if env:
        fix += f", or extract the data set elsewhere and point ${env} at it"
    return DataError(
        f"{display_path(folder)} {what} while {doing} ({err.strerror or err}): "
        f"{fix}, and run again.{note}"
    )
