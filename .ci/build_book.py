#!/usr/bin/env python3
"""Build the book so that every page shows outputs of the code as it is now.

``make book`` runs this script; ``make book-incremental`` runs it with
``--incremental``. Usage::

    python .ci/build_book.py [ROOT] [--incremental]

**Full build (default).** ``_build/html``, ``_build/.doctrees`` (Sphinx's saved
environment) and ``_build/jupyter_execute`` are removed and Jupyter Book is run
with ``--all``: Sphinx reads every page again and myst-nb executes every chapter
(``execute_notebooks: force`` in ``_config.yml``). Without that, Sphinx re-reads
only the pages whose own file changed, so a fix under ``helpers/`` would leave
the other chapters showing outputs of the old code.

**Incremental (authors).** Sphinx's environment is kept and only chapters whose
own file changed are executed again, *unless* an input they all share changed
since the last build: any file under ``helpers/``, ``pyproject.toml``,
``_config.yml``, ``_toc.yml`` or one of the environment variables in
:data:`ENV_KEYS` (the profile and the data folders). Then it falls back to a full
build. The fingerprint of those inputs is kept in ``_build/book-inputs.json``.

Either way the script reads the build log and fails when a chapter named in
``_toc.yml`` that it was meant to execute was not executed, and prints one line
per executed chapter.

Only the table of contents is built (``only_build_toc_files: true``), and
``exclude_patterns`` in ``_config.yml`` names every folder that tools create
(caches, virtual environments, ``.gitignore`` entries); ``tests/test_book.py``
checks both.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ENV_KEYS = (
    "BERT_BOOK_PROFILE",
    "BERT_BOOK_DATA",
    "IMDB_DIR",
    "CHABSA_DIR",
    "ERASER_DIR",
    "ETC_DIR",
    "BENCH_RESULTS",
    "HF_HUB_OFFLINE",
    "HF_ENDPOINT",
)
SHARED = ("pyproject.toml", "_config.yml", "_toc.yml")
STATE = "book-inputs.json"
EXECUTED = re.compile(
    r"^(?P<path>\S+?)\.(?:ipynb|py|md): Executed notebook in (?P<s>[\d.]+)"
)


def chapters(root: Path) -> list[str]:
    """Files named in ``_toc.yml`` that are notebooks, as paths without suffix."""
    names = re.findall(r"(?:file|root):\s*(\S+)", (root / "_toc.yml").read_text())
    return [n for n in names if (root / f"{n}.ipynb").exists()]


def fingerprint(root: Path) -> dict:
    """SHA-256 of every shared input (see the module docstring) and the env vars."""
    files = (
        sorted((root / "helpers").rglob("*.py")) if (root / "helpers").exists() else []
    )
    files += [root / name for name in SHARED if (root / name).exists()]
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    env = {key: os.environ.get(key, "") for key in ENV_KEYS}
    return {"files_sha256": digest.hexdigest(), "env": env}


def build(
    root: Path, incremental: bool = False, jupyter_book: str | None = None
) -> int:
    """Build ``root``'s book; return the exit status (0 when every check passed)."""
    root = root.resolve()
    out = root / "_build"
    state = out / STATE
    now = fingerprint(root)
    full = True
    if incremental:
        before = json.loads(state.read_text()) if state.exists() else None
        full = before != now
        print(
            "book: shared inputs changed since the last build (or none recorded): "
            "full build"
            if full
            else "book: helpers, config and environment unchanged: incremental build, "
            "only chapters whose own file changed are executed"
        )
    if full:
        for name in ("html", ".doctrees", "jupyter_execute", STATE):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    jb = jupyter_book or str(Path(sys.executable).with_name("jupyter-book"))
    cmd = [
        jb,
        "build",
        str(root),
        "--builder",
        "html",
        "--warningiserror",
        "--keep-going",
    ]
    if full:
        cmd.append("--all")
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    executed: dict[str, float] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        match = EXECUTED.match(line.strip())
        if match:
            rel = os.path.relpath(match["path"], root)
            executed[Path(rel).as_posix()] = float(match["s"])
    status = proc.wait()
    seconds = time.perf_counter() - start
    print(f"\nbook: built in {seconds:.0f} s; chapters executed in this build:")
    for name, secs in executed.items():
        print(f"  executed {name} ({secs:.1f} s)")
    if status != 0:
        print(f"book: jupyter-book failed (exit status {status})")
        return status
    missing = [c for c in chapters(root) if c not in executed]
    if full and missing:
        print(f"book: FAILED, these chapters were not executed: {', '.join(missing)}")
        return 1
    if not (out / "html" / "index.html").exists():
        print("book: FAILED, no _build/html/index.html")
        return 1
    state.write_text(json.dumps(now, indent=1))
    print(f"Book built: {out / 'html' / 'index.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default=".", type=Path)
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="keep Sphinx's environment unless helpers/, config or environment changed",
    )
    args = parser.parse_args(argv)
    return build(args.root, incremental=args.incremental)


if __name__ == "__main__":
    sys.exit(main())
