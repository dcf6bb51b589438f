"""Explain a whole corpus: batched, resumable, data-parallel, streamed to Parquet.

::

    from helpers import corpus

    corpus.explain_corpus(model, tokenizer, texts, "AttnLRP", "runs/test-attnlrp")
    table = corpus.read_corpus("runs/test-attnlrp")   # one row per text, in order

The rules, stated once:

* **Shards.** Text ``i`` belongs to shard ``i // shard_size``: the plan
  depends only on the corpus and ``shard_size``, never on the number of
  processes. Each shard is one Parquet file, ``shard-00007.parquet``, with one
  row per text: ``id``, ``predicted``, ``probs``, ``target``, ``words``,
  ``scores`` (word scores: token scores merged by the book's rule,
  :func:`helpers.tokens.from_offsets`), ``n_tokens`` (content tokens read)
  and ``windows``.
* **Batches.** Inside a shard, texts are read in windows as
  :func:`helpers.explain.explain` reads them (nothing is cut) and go through
  the explainer together, sorted by length, ``batch_size`` windows per pass
  (on a CPU at most :data:`CPU_TOKENS` tokens, where bigger passes cost more
  per window): one forward and one backward pass per batch, each text's
  target settled from its windows' pooled logits.
* **Resume.** A shard is written to a temporary name in the same folder and
  renamed (``os.replace``), so a shard on disk is complete; a rerun skips it.
  The temporary name holds the host and process id
  (``.shard-00007.parquet.tmp-HOST-PID``): a rerun removes those of this host
  whose process is gone (killed mid-write), and no other file.
  ``corpus.json`` records what the shards were made from (model weights,
  tokenizer, method, settings, the corpus itself); a folder made by another
  run raises ``ValueError`` and nothing in it is touched.
* **Processes.** Under ``accelerate launch`` or ``torchrun`` with N
  processes, process ``r`` computes its share of the shards
  (:func:`shares`: balanced by characters, the same in every process;
  Hugging Face Accelerate gives ``r`` and ``N``; a plain ``python`` run is
  one process), then all wait and process 0 writes ``index.json``. The
  shards are the same whatever N is, so a run resumes on any number of
  processes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import nn

from . import atomic
from .attr import Attribution
from .data import check_texts
from .explain import check_explainable, resolve_methods
from .inputs import check_int, label_names, target_tensor
from .metrics.cache import weights_sha256
from .models import load_model, model_device
from .tokens import DEFAULT_MERGE
from .train import differing_keys
from .windows import encode_long, long_words, pool_logits, stitch_scores, window_for

CPU_TOKENS = 1024  #: The most content tokens of one pass on a CPU (**Batches**).
MANIFEST = "corpus.json"
INDEX = "index.json"
SHARD = "shard-{:05d}.parquet"
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("predicted", pa.int64()),
        ("probs", pa.list_(pa.float32())),
        ("target", pa.int64()),
        ("words", pa.list_(pa.string())),
        ("scores", pa.list_(pa.float32())),
        ("n_tokens", pa.int64()),
        ("windows", pa.int64()),
    ]
)


# --------------------------------------------------------------------------- input


def corpus_texts(texts, text_column: str = "text") -> list[str]:
    """The texts of a list of strings, a dict of columns, a pyarrow Table or a
    Hugging Face ``datasets.Dataset`` (``text_column`` names the column).

    Raises ``ValueError`` for an empty corpus or a missing column (naming the
    columns there are), ``TypeError``/``ValueError`` for texts that are not
    non-empty strings (:func:`helpers.data.check_texts`).
    """
    columns = None
    if isinstance(texts, pa.Table):
        columns = texts.column_names
    elif isinstance(texts, Mapping):
        columns = list(texts)
    elif hasattr(texts, "column_names"):  # datasets.Dataset
        columns = list(texts.column_names)
    if columns is not None:
        if text_column not in columns:
            raise ValueError(
                f"the corpus has no column {text_column!r} (columns: {columns}): "
                "pass text_column= naming the column that holds the texts."
            )
        column = texts[text_column]
        texts = column.to_pylist() if hasattr(column, "to_pylist") else list(column)
    if not isinstance(texts, str) and hasattr(texts, "__len__") and len(texts) == 0:
        raise ValueError("the corpus is empty: pass at least one text to explain.")
    return check_texts(texts)


def _ids(ids, n: int) -> list[str]:
    if ids is None:
        return [str(i) for i in range(n)]
    ids = [str(i) for i in ids]
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} texts: pass one id per text.")
    if len(set(ids)) != n:
        raise ValueError("ids repeat: pass one distinct id per text.")
    return ids


def _sha(parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def fingerprint(model: nn.Module, tokenizer, texts, ids, **settings) -> dict:
    """What a run's shards depend on: hashes of the weights, the tokenizer's
    vocabulary and the corpus (ids and texts), and the ``settings``."""
    vocab = sorted(tokenizer.get_vocab().items())
    return {
        "model": weights_sha256(model),
        "tokenizer": _sha([type(tokenizer).__name__, *vocab]),
        "corpus": _sha(part for pair in zip(ids, texts, strict=True) for part in pair),
        "n_texts": len(texts),
        **settings,
    }


# --------------------------------------------------------------------------- folder


_TEMPORARIES = r"shard-\d{5}\.parquet|corpus\.json|index\.json"


def check_folder(out: str | os.PathLike, manifest: dict) -> bool:
    """Whether ``out`` already holds this run (its ``corpus.json`` equals
    ``manifest``); ``False`` when it is missing or empty. Reads only.

    Raises ``ValueError`` naming the settings that differ when ``out`` holds
    another run's shards, or when it holds files but no manifest.
    """
    out = Path(out)
    path = out / MANIFEST
    if path.exists():
        differ = differing_keys(json.loads(path.read_text(encoding="utf-8")), manifest)
        if differ:
            raise ValueError(
                f"{out} holds another run's shards (it differs in {differ}): pass "
                "another out= folder, or delete this one to recompute it."
            )
        return True
    if out.exists() and any(out.iterdir()):
        raise ValueError(
            f"{out} is not empty and holds no {MANIFEST}: pass a new or empty "
            "out= folder (nothing here was touched)."
        )
    return False


def _write_shard(path: Path, rows: list[dict], process: str, seconds: float) -> None:
    """Write ``rows`` to ``path`` atomically: a temporary file, then ``os.replace``.

    ``process`` (``"rank/world size"``) and ``seconds`` (the time the rows
    took) go into the file's metadata.
    """
    temporary = atomic.temporary(path)
    metadata = {"process": process, "seconds": f"{seconds:.3f}"}
    schema = SCHEMA.with_metadata(metadata)
    try:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _finished(path: Path, n_rows: int) -> bool:
    if not path.exists():
        return False
    found = pq.read_metadata(path).num_rows
    if found != n_rows:
        raise ValueError(
            f"{path} has {found} rows, expected {n_rows}: it was not written by "
            "this run's plan; delete it to recompute that shard."
        )
    return True


# --------------------------------------------------------------------------- explain


def _window_batches(encodings, batch_size: int, max_tokens=None) -> list[list[int]]:
    """The texts in batches of at most ``batch_size`` windows and ``max_tokens``
    padded content tokens, sorted by window length (little padding); a text's
    windows stay in one batch (a text over a limit is a batch of its own)."""
    batches: list[list[int]] = []
    windows = batch_size  # the first text starts a batch
    cap = float("inf") if max_tokens is None else max_tokens
    for i in sorted(range(len(encodings)), key=lambda i: encodings[i].spans[0][1]):
        n, width = len(encodings[i].spans), encodings[i].spans[0][1]
        if windows + n > batch_size or (windows + n) * width > cap:
            batches.append([])
            windows = 0
        batches[-1].append(i)
        windows += n
    return batches


def _batched_rows(explainer, tokenizer, encodings, picked, targets, overlap, merge):
    """The rows of the texts ``picked``: all their windows in one explainer
    call, each text's target settled from its pooled logits in the same pass."""
    sizes = [len(encodings[i].spans) for i in picked]
    pieces = [piece for i in picked for piece in encodings[i].pieces()]
    inputs = encodings[picked[0]].specials.pad_windows(pieces)
    if targets is not None:
        targets = targets[picked].repeat_interleave(torch.tensor(sizes))
    result = explainer.attribute(inputs, target=targets, groups=sizes)
    if result.scores.dim() != 2:
        raise ValueError(
            f"{explainer.name} gives {result.scores.dim()}-d scores: explain with "
            "one map per token (e.g. 'Grad-CAM mean (normalised)')."
        )
    rows, first = [], 0
    for i, size in zip(picked, sizes, strict=True):
        e, words = encodings[i], long_words(tokenizer, encodings[i])
        scores = [
            result.scores[first + k, 1 : 1 + b - a] for k, (a, b) in enumerate(e.spans)
        ]
        scores = stitch_scores(scores, e.spans, e.n_tokens, overlap=overlap)
        logits = pool_logits(result.logits[first : first + size])
        rows.append(
            {
                "predicted": int(logits.argmax()),
                "probs": logits.softmax(-1).tolist(),
                "target": int(result.target[first]),
                "words": words.words,
                "scores": words.merge(scores, merge).tolist(),
                "n_tokens": e.n_tokens,
                "windows": size,
            }
        )
        first += size
    return rows


def explain_texts(
    explainer: Attribution,
    tokenizer,
    texts: Sequence[str],
    targets: torch.Tensor | None,
    *,
    window: int,
    overlap: int,
    batch_size: int,
    merge: str = DEFAULT_MERGE,
    max_tokens: int | None = None,
) -> list[dict]:
    """One row per text (the shard columns but ``id``), in the order of ``texts``,
    each read as :func:`helpers.windows.explain_long` reads it, texts together
    (at most ``batch_size`` windows and ``max_tokens`` tokens a pass)."""
    encodings = [encode_long(tokenizer, t, window, overlap) for t in texts]
    rows = {}
    for picked in _window_batches(encodings, batch_size, max_tokens):
        found = _batched_rows(
            explainer, tokenizer, encodings, picked, targets, overlap, merge
        )
        rows.update(zip(picked, found, strict=True))
    return [rows[i] for i in range(len(texts))]


@dataclass
class _Run:
    """One run's checked inputs and settings; :meth:`rows` explains a shard."""

    model: nn.Module
    tokenizer: object
    explainer: Attribution
    texts: list[str]
    ids: list[str]
    targets: torch.Tensor | None
    labels: list[str]
    merge: str
    window: int = 0
    overlap: int = 0
    batch_size: int = 16
    shard_size: int = 256
    max_tokens: int | None = None

    @classmethod
    def of(cls, model, tokenizer, method, texts, ids, text_column, target, merge):
        texts = corpus_texts(texts, text_column)
        check_explainable(model, tokenizer, merge)
        labels = label_names(model)
        (explainer,) = resolve_methods(model, tokenizer, [method]).values()
        targets = target_tensor(target, len(texts), labels)
        ids = _ids(ids, len(texts))
        return cls(model, tokenizer, explainer, texts, ids, targets, labels, merge)

    def manifest(self) -> dict:
        """:func:`fingerprint` of the run and its settings."""
        targets = None if self.targets is None else _sha(self.targets.tolist())
        settings = {"method": self.explainer.name, "labels": self.labels}
        settings |= {"target": targets, "window": self.window, "merge": self.merge}
        settings |= {"overlap": self.overlap, "shard_size": self.shard_size}
        return fingerprint(self.model, self.tokenizer, self.texts, self.ids, **settings)

    def rows(self, part: slice) -> list[dict]:
        """The shard rows of texts ``part`` (:func:`explain_texts` plus ``id``)."""
        targets = None if self.targets is None else self.targets[part]
        options = {"window": self.window, "overlap": self.overlap, "merge": self.merge}
        options |= {"batch_size": self.batch_size, "max_tokens": self.max_tokens}
        texts = self.texts[part]
        rows = explain_texts(self.explainer, self.tokenizer, texts, targets, **options)
        return [{"id": i, **r} for i, r in zip(self.ids[part], rows, strict=True)]


def explain_corpus(
    model: nn.Module,
    tokenizer,
    texts,
    method: str | Attribution,
    out: str | os.PathLike,
    *,
    ids=None,
    text_column: str = "text",
    batch_size: int = 16,
    max_length: int = 512,
    shard_size: int = 256,
    target=None,
    merge: str = DEFAULT_MERGE,
    progress: bool = True,
    accelerator=None,
) -> Path:
    """Explain every text of ``texts`` with ``method``; shards and index in ``out``.

    ``texts``: strings, or a dict / pyarrow Table / ``datasets.Dataset``
    with a ``text_column``; ``ids``: one per text (default ``"0"``, ``"1"``
    …); ``method``: a name of :func:`helpers.attr.explainers` or an
    explainer; ``target``, ``max_length`` and ``merge`` as in
    :func:`helpers.explain.explain`. ``accelerator``: an
    ``accelerate.Accelerator`` (default: a new one, on the CPUs when CUDA
    is missing; one process without a launcher); with several processes,
    each moves ``model`` to its own device. Rows stream to disk shard by
    shard (the module's rules); a rerun skips finished shards. Returns
    ``out``; read it with :func:`read_corpus`.
    """
    from accelerate import Accelerator

    if accelerator is None:  # without CUDA, several processes meet on CPUs (gloo)
        accelerator = Accelerator(cpu=not torch.cuda.is_available())
    if accelerator.num_processes > 1:
        model.to(accelerator.device)
    run = _Run.of(model, tokenizer, method, texts, ids, text_column, target, merge)
    run.window, run.overlap = window_for(tokenizer, model, max_length)
    run.batch_size = check_int("batch_size", batch_size)
    run.shard_size = check_int("shard_size", shard_size)
    run.max_tokens = CPU_TOKENS if model_device(model).type == "cpu" else None
    manifest = run.manifest()
    out = Path(out)
    atomic.remove_dead_temporaries(out, _TEMPORARIES)
    _claim(out, manifest, accelerator)
    n_shards = -(-len(run.texts) // shard_size)
    _explain_shards(run, out, n_shards, accelerator, progress)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_index(out, manifest, n_shards)
    accelerator.wait_for_everyone()
    return out


def _claim(out: Path, manifest: dict, accelerator) -> None:
    """Make ``out`` this run's folder (process 0 writes ``corpus.json``), or
    raise ``ValueError`` in every process when it holds another run, or when
    this process's manifest differs from process 0's."""
    made = check_folder(out, manifest)  # every process, before anyone writes
    accelerator.wait_for_everyone()
    if accelerator.is_main_process and not made:
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_json(out / MANIFEST, manifest)
    accelerator.wait_for_everyone()
    differ = differing_keys(manifest_of(out), manifest)
    if differ:  # a process that loaded other weights (a fresh random head) or texts
        raise ValueError(
            f"process {accelerator.process_index} differs from process 0 in "
            f"{differ}: every process must load the same saved model, texts and "
            "settings."
        )


def shares(texts: Sequence[str], shard_size: int, n: int, seed: int = 0) -> list:
    """The shards of each of ``n`` processes, balanced by characters read.

    Longest shard first, each to the process with the fewest characters so
    far; ties broken at random (``seed``), so every process computes the same
    plan. Returns ``n`` sorted lists of shard numbers.
    """
    chars = [
        sum(map(len, texts[k : k + shard_size]))
        for k in range(0, len(texts), shard_size)
    ]
    rng = random.Random(seed)
    order = sorted(range(len(chars)), key=lambda k: (-chars[k], rng.random()))
    load, plan = [0] * n, [[] for _ in range(n)]
    for k in order:
        r = min(range(n), key=lambda r: (load[r], rng.random()))
        load[r] += chars[k]
        plan[r].append(k)
    return [sorted(p) for p in plan]


def _explain_shards(run: _Run, out: Path, n_shards: int, accelerator, progress):
    """Write this process's unfinished shards (:func:`shares`), one at a time."""
    from tqdm.auto import tqdm

    rank, size = accelerator.process_index, accelerator.num_processes
    disable = not progress or not accelerator.is_local_main_process
    mine = shares(run.texts, run.shard_size, size)[rank]
    for k in tqdm(mine, desc=f"{run.explainer.name} shards", disable=disable):
        start = k * run.shard_size
        part = slice(start, min(start + run.shard_size, len(run.texts)))
        path = out / SHARD.format(k)
        if not _finished(path, part.stop - part.start):
            started = time.perf_counter()
            rows = run.rows(part)
            seconds = time.perf_counter() - started
            _write_shard(path, rows, f"{rank}/{size}", seconds)


def write_index(out: Path, manifest: dict, n_shards: int) -> None:
    """``index.json``: the shards in order, their rows, the process that wrote
    each (``"rank/world size"``) and the seconds its rows took to compute
    (``None`` for a shard written without them), once all are written."""
    missing = [k for k in range(n_shards) if not (out / SHARD.format(k)).exists()]
    if missing:
        raise RuntimeError(
            f"shards {missing[:5]} of {out} are missing after every process "
            "finished: rerun the same command to compute them."
        )
    shards = []
    for k in range(n_shards):
        meta = pq.read_metadata(out / SHARD.format(k))
        found = meta.metadata or {}
        process = found.get(b"process", b"?").decode()
        seconds = float(found[b"seconds"]) if b"seconds" in found else None
        shards.append(
            {
                "file": SHARD.format(k),
                "rows": meta.num_rows,
                "process": process,
                "seconds": seconds,
            }
        )
    atomic.write_json(out / INDEX, {"manifest": manifest, "shards": shards})


# --------------------------------------------------------------------------- read


def iter_shards(out: str | os.PathLike) -> Iterator[pa.Table]:
    """The finished run's shards as pyarrow Tables, in corpus order, one at a time.

    Raises ``FileNotFoundError`` when ``out`` has no ``index.json`` (the run
    did not finish: rerun :func:`explain_corpus` with the same arguments).
    """
    out = Path(out)
    if not (out / INDEX).exists():
        raise FileNotFoundError(
            f"{out} has no {INDEX}: the run did not finish; rerun explain_corpus "
            "with the same arguments (finished shards are kept)."
        )
    index = json.loads((out / INDEX).read_text(encoding="utf-8"))
    for shard in index["shards"]:
        yield pq.read_table(out / shard["file"], schema=SCHEMA)


def read_corpus(out: str | os.PathLike, *, rows: bool = False):
    """The whole run as one pyarrow Table in corpus order (``rows=True``: a list
    of dicts, one per text)."""
    table = pa.concat_tables(list(iter_shards(out)))
    return table.to_pylist() if rows else table


def index_of(out: str | os.PathLike) -> dict:
    """The finished run's ``index.json``: its manifest and, per shard, the file,
    rows, process and seconds (:func:`write_index`)."""
    return json.loads((Path(out) / INDEX).read_text(encoding="utf-8"))


def manifest_of(out: str | os.PathLike) -> dict:
    """The run's ``corpus.json``: its fingerprints and settings (``labels``…)."""
    return json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- command


def _read_texts(path: Path, column: str) -> list[str]:
    if path.suffix == ".parquet":
        return corpus_texts(pq.read_table(path), column)
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".jsonl":
        return [json.loads(line)[column] for line in lines if line.strip()]
    return [line for line in lines if line.strip()]


#: The command's options and their defaults (their types follow the defaults).
OPTIONS = {
    "--method": "AttnLRP",
    "--column": "text",
    "--num-labels": 2,
    "--batch-size": 16,
    "--max-length": 512,
    "--shard-size": 256,
}


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m helpers.corpus MODEL TEXTS OUT``: the runner as a command.

    ``MODEL``: a ``save_pretrained`` folder or hub name; ``TEXTS``: ``.txt``
    (one text per line), ``.jsonl`` or ``.parquet`` (``--column``); ``OUT``:
    the output folder. ``accelerate launch``/``torchrun`` run it on several
    processes (README); each process, a plain one included, explains on its
    Accelerate device (its GPU when there is one, else the CPU).
    """
    from accelerate import Accelerator

    parser = argparse.ArgumentParser(
        "python -m helpers.corpus", description=main.__doc__
    )
    for name in ("model", "texts", "out"):
        parser.add_argument(name)
    for flag, default in OPTIONS.items():
        parser.add_argument(flag, default=default, type=type(default))
    args = parser.parse_args(argv)
    tokenizer, model = load_model(args.model, args.num_labels, "eager")
    texts = _read_texts(Path(args.texts), args.column)
    settings = {"batch_size": args.batch_size, "max_length": args.max_length}
    settings["shard_size"] = args.shard_size
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    model.to(accelerator.device)
    explain_corpus(
        model,
        tokenizer,
        texts,
        args.method,
        args.out,
        accelerator=accelerator,
        **settings,
    )


if __name__ == "__main__":
    main()
