"""Files written whole or not at all, and the temporaries a killed process left.

A file is written to ``.NAME.tmp-HOST-PID`` in its own folder and renamed
into place (``os.replace``), so a file on disk is complete.
:func:`remove_dead_temporaries` removes the temporaries of this host whose
process is gone, and no other file. The corpus runner's shards, manifest and
index are written this way (:mod:`helpers.corpus`).
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path


def temporary(path: Path) -> Path:
    """Where ``path`` is written before its rename: ``.NAME.tmp-HOST-PID``."""
    return path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}")


def write_json(path: Path, value) -> None:
    """Write ``value`` as JSON to ``path`` through a temporary and a rename."""
    staged = temporary(path)
    staged.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(staged, path)


def remove_dead_temporaries(folder: Path, names: str) -> None:
    """Remove the temporaries in ``folder`` of the files whose names match the
    regular expression ``names``, left by a process of this host that is gone
    (:func:`temporary` names); nothing else."""
    if os.name != "posix":  # on Windows os.kill(pid, 0) sends Ctrl+C: no asking
        return
    pattern = re.compile(rf"\.({names})\.tmp-(?P<host>.+)-(?P<pid>\d+)")
    host = socket.gethostname()
    for path in folder.glob(".*.tmp-*") if folder.is_dir() else ():
        match = pattern.fullmatch(path.name)
        if not match or match["host"] != host:
            continue
        try:
            os.kill(int(match["pid"]), 0)  # signal 0: only asks whether it exists
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (PermissionError, OverflowError):  # alive (another user's) or no pid
            continue
