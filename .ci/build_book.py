#!/usr/bin/env python3
"""Build the book so that every page shows outputs of the code as it is now.

``make book`` runs this script; ``make book FORCE=1`` (or ``make book-clean``)
runs it with ``--full``. Usage::

    python .ci/build_book.py [ROOT] [--full]

**Incremental (default).** Sphinx's environment and the executed chapters of
the last build are kept, and only chapters whose own notebook changed are
executed again (Sphinx re-reads a page whose file is newer than its last
read; a chapter whose content differs from the last build's is touched so
that it is), with the chapters whose artefact of the prepare step changed
(``_build/prepared.json``, each artefact's fingerprint and the chapter that
loads it, written by ``python -m helpers.book.prepare --record``),
*unless* an input they all share changed since the last build:
any file under ``helpers/`` or ``_ext/`` (the book's Sphinx extension),
``pyproject.toml``, ``_config.yml``, ``_toc.yml``, ``references.bib``,
the benchmark reports (``bench/results`` or ``$BENCH_RESULTS``),
one of the
environment variables in :data:`ENV_KEYS` (the profile and the data folders),
or the version of Python or of a package in :data:`PACKAGES`, or a chapter
that writes what later chapters load (:data:`WRITERS`). Then, and when
no earlier build is recorded (a clean clone, a failed build), it does a full
build. The fingerprint of those inputs is kept in ``_build/book-inputs.json``.

An artefact the prepare step skipped because its chapter makes it (chapter 9's
corpus run needs chapter 2's model, which a clean clone does not have yet) is
fingerprinted again after a build that executed its chapter
(``prepare --chapter``, which now only loads it), so the next ``make book``,
whose prepare step finds it, executes nothing again.

**Full (``--full``).** ``_build/html``, ``_build/.doctrees`` (Sphinx's saved
environment) and ``_build/jupyter_execute`` are removed and Jupyter Book is run
with ``--all``: Sphinx reads every page again and myst-nb executes every chapter
(``execute_notebooks: force`` in ``_config.yml``).

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
import platform
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
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
SHARED = (
    "pyproject.toml",
    "_config.yml",
    "_toc.yml",
    "references.bib",
)
PREPARED = "_build/prepared.json"
PACKAGES = ("torch", "transformers", "tokenizers")
STATE = "book-inputs.json"
# Chapters whose run writes what later chapters load (chapter 2 trains and saves
# the IMDb classifier that chapters 3-9 load): a change to one builds everything.
# Chapter 5 is not one: the metric numbers it leaves in data_dir()/metric-results
# (helpers.metrics.cache) only spare chapter 6 their computation. Chapter 6 loads
# a file only when its fingerprint (model weights, method settings, reviews,
# helpers' source, versions) is the one it asks for, and what it loads equals
# what it would compute, so its page does not depend on whether chapter 5 ran.
WRITERS = ("notebooks/02_finetune",)
EXECUTED = re.compile(
    r"^(?P<path>\S+?)\.(?:ipynb|py|md): Executed notebook in (?P<s>[\d.]+)"
)


def chapters(root: Path) -> list[str]:
    """Files named in ``_toc.yml`` that are notebooks, as paths without suffix."""
    names = re.findall(r"(?:file|root):\s*(\S+)", (root / "_toc.yml").read_text())
    return [n for n in names if (root / f"{n}.ipynb").exists()]


def _sha256(root: Path, files) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """Python's version and each installed package of :data:`PACKAGES`'s."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def prepared(root: Path) -> dict[str, dict]:
    """What the prepare step recorded (:data:`PREPARED`): ``{artefact:
    {"chapter": the chapter's file that loads it, "fingerprint": ...}}``
    (``{}`` when it did not run)."""
    path = root / PREPARED
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _chapter(entry: dict) -> str:
    """The chapter that loads a prepared artefact, as :func:`chapters` names it."""
    return Path(entry["chapter"]).with_suffix("").as_posix()


def fingerprint(root: Path) -> dict:
    """SHA-256 of every shared input (see the module docstring), the env vars,
    the versions, each artefact of the prepare step (``"prepared"``) and each
    chapter's own SHA-256 (``"chapters"``)."""
    files = (
        sorted((root / "helpers").rglob("*.py")) if (root / "helpers").exists() else []
    )
    files += sorted((root / "_ext").rglob("*.py")) if (root / "_ext").exists() else []
    files += [root / name for name in SHARED if (root / name).exists()]
    env = {key: os.environ.get(key, "") for key in ENV_KEYS}
    # the benchmark reports chapters 2 and 4 show, found as they find them
    bench = root / "notebooks" / os.environ.get("BENCH_RESULTS", "../bench/results")
    bench = Path(os.path.normpath(bench))
    reports = (
        sorted(p for p in bench.rglob("*") if p.is_file()) if bench.is_dir() else []
    )
    return {
        "files_sha256": _sha256(root, files),
        "bench_sha256": _sha256(bench, reports),
        "env": env,
        "versions": versions(),
        "prepared": prepared(root),
        "chapters": {c: _sha256(root, [root / f"{c}.ipynb"]) for c in chapters(root)},
    }


def plan(root: Path, now: dict, full: bool) -> tuple[bool, list[str]]:
    """``(full, chapters to execute)``: a full build when asked or when a shared
    input differs from the last build's (``_build/book-inputs.json``), else
    the chapters whose own file or whose artefact of the prepare step differs,
    touched so that Sphinx reads them again."""
    state = root / "_build" / STATE
    before = json.loads(state.read_text()) if state.exists() and not full else {}
    per_chapter = ("chapters", "prepared")
    shared = [k for k in now if k not in per_chapter and before.get(k) != now[k]]
    made = {
        name: entry
        for name, entry in now.get("prepared", {}).items()
        if before.get("prepared", {}).get(name) != entry
    }
    # an artefact no chapter of the book loads: what it changes is unknown
    shared += [n for n, e in made.items() if _chapter(e) not in now["chapters"]]
    shared += [
        c
        for c in WRITERS
        if before
        and c in now["chapters"]
        and before.get("chapters", {}).get(c) != now["chapters"][c]
    ]
    if full or shared:
        why = f"changed: {', '.join(shared)}" if before else "no earlier build recorded"
        print(f"book: full build ({'--full' if full else why})")
        return True, list(now["chapters"])
    loads = {_chapter(e) for e in made.values()}
    changed = [
        c
        for c, sha in now["chapters"].items()
        if before.get("chapters", {}).get(c) != sha or c in loads
    ]
    for chapter in changed:
        (root / f"{chapter}.ipynb").touch()  # Sphinx re-reads newer files
    print(
        "book: helpers, config, environment and versions unchanged: incremental "
        "build, executing only the chapters whose own file or prepared artefact "
        f"changed ({', '.join(changed) or 'none'}"
        + "".join(f"; {_chapter(e)} loads {n}" for n, e in made.items())
        + "; Sphinx also re-reads any page newer than its last read)"
    )
    return False, changed


def settle(root: Path, now: dict, executed) -> dict:
    """``now`` with each artefact the prepare step skipped, and whose chapter was
    executed in this build (which made it), fingerprinted as that chapter left
    it (``python -m helpers.book.prepare --chapter``, which now loads it)."""
    made = sorted(
        {
            e["chapter"]
            for e in now.get("prepared", {}).values()
            if e["fingerprint"] == "skipped" and _chapter(e) in executed
        }
    )
    if not made:
        return now
    record = root / "_build" / "prepared-after-build.json"
    record.unlink(missing_ok=True)  # this function's own file, from a failed run
    cmd = [sys.executable, "-m", "helpers.book.prepare", "--record", str(record)]
    for chapter in made:
        cmd += ["--chapter", chapter]
    print(f"book: fingerprinting what {', '.join(made)} made")
    if subprocess.run(cmd, cwd=root).returncode != 0 or not record.exists():
        print("book: that failed; the next build executes those chapters again")
        return now
    after = json.loads(record.read_text(encoding="utf-8"))
    record.unlink()
    return {**now, "prepared": {**now["prepared"], **after}}


def build(root: Path, full: bool = False, jupyter_book: str | None = None) -> int:
    """Build ``root``'s book; return the exit status (0 when every check passed)."""
    root = root.resolve()
    out = root / "_build"
    state = out / STATE
    now = fingerprint(root)
    full, expected = plan(root, now, full)
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
    missing = [c for c in expected if c not in executed]
    if missing:
        print(f"book: FAILED, these chapters were not executed: {', '.join(missing)}")
        return 1
    if not (out / "html" / "index.html").exists():
        print("book: FAILED, no _build/html/index.html")
        return 1
    state.write_text(json.dumps(settle(root, now, executed), indent=1))
    print(f"Book built: {out / 'html' / 'index.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default=".", type=Path)
    parser.add_argument(
        "--full",
        action="store_true",
        help="remove the last build and execute every chapter again",
    )
    args = parser.parse_args(argv)
    return build(args.root, full=args.full)


if __name__ == "__main__":
    sys.exit(main())
