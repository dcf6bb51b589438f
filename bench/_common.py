"""What the benchmark scripts share (imported first: it puts the checkout on
``sys.path``, so ``helpers`` is this checkout's even when it is not installed).

* :func:`add_explain_arguments`, :func:`output_folder`, :func:`load_classifier`
  — the command line, output folder and model of the explanation benchmarks;
* :func:`machine`, :func:`peak_rss_mib`, :func:`peak_hwm_mib` — where a run
  ran, and its peak memory;
* :func:`write_json`, :func:`read_json`, :func:`child_json` — reports written
  as JSON, read back (failing with the command that writes them), or printed
  by a child process;
* :func:`faithfulness_handoff`, :func:`read_faithfulness_handoff` — what
  ``bench_faithfulness.py`` hands on to ``bench_plausibility.py`` (JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from helpers import config
from helpers.metrics.cost import Cost
from helpers.stats import ConfidenceInterval

#: The file ``bench_faithfulness.py`` hands on to ``bench_plausibility.py``.
HANDOFF = "faithfulness.json"
_CI_KEYS = {"mean", "low", "high", "n"}


# --------------------------------------------------------------- command line


def add_explain_arguments(parser: argparse.ArgumentParser, n: int, what: str):
    """The options every explanation benchmark takes (defaults from the profile).

    ``--n`` (``n`` of ``what`` by default), ``--model``, ``--profile``,
    ``--out``, ``--ig-steps``, ``--random-draws`` and ``--seed``.
    """
    add = parser.add_argument
    add("--n", type=int, default=n, help=f"{what} (default {n})")
    add("--model", default=None, help="checkpoint folder; default: chapter-2 model")
    add("--profile", default=None, help="quick or full (default: $BERT_BOOK_PROFILE)")
    add("--out", default=None, help="output folder (<data_dir>/bench/faithfulness)")
    add("--ig-steps", type=int, default=None, help="IG steps (profile)")
    add("--random-draws", type=int, default=10, help="random maps per review")
    add("--seed", type=int, default=None, help="seed (default: profile seed)")
    return parser


def output_folder(args) -> Path:
    """``--out``, else ``<data_dir>/bench/faithfulness``; created."""
    out = Path(args.out) if args.out else config.data_dir() / "bench" / "faithfulness"
    out.mkdir(parents=True, exist_ok=True)
    return out


def load_classifier(args, profile):
    """``(tokenizer, model)`` from ``--model``, else the chapter-2 model of the
    profile; eager attention (the attention-based methods read it)."""
    if args.model:
        from helpers.models import load_model

        return load_model(args.model, attn_implementation="eager")
    from helpers.train import get_finetuned_model

    return get_finetuned_model(profile, attn_implementation="eager")


# --------------------------------------------------------------- the machine


def machine(device: torch.device | str = "cpu") -> str:
    """Where the run ran, in words: the GPU, or CPU cores and torch threads."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"a GPU ({torch.cuda.get_device_name(device)})"
    return (
        f"a CPU with {os.cpu_count()} cores ({platform.machine()}) and "
        f"{torch.get_num_threads()} torch threads"
    )


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (``ru_maxrss``).

    ``ru_maxrss`` survives ``exec`` on Linux: in a child started by a big
    parent it may report the parent's peak (:func:`peak_hwm_mib` does not).
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def peak_hwm_mib() -> float:
    """This process's own peak resident memory (``VmHWM``), MiB; NaN when absent."""
    try:
        status = Path("/proc/self/status").read_text()
        return next(
            int(line.split()[1]) / 1024
            for line in status.splitlines()
            if line.startswith("VmHWM")
        )
    except (OSError, StopIteration):
        return float("nan")


# --------------------------------------------------------------- JSON


def _plain(value):
    """``value`` as JSON can hold it: intervals as dicts, arrays as lists."""
    if isinstance(value, ConfidenceInterval | Cost):
        return dataclasses.asdict(value)
    if isinstance(value, np.ndarray | torch.Tensor):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot be written as JSON")


def write_json(path: str | os.PathLike, report) -> Path:
    """Write ``report`` as indented JSON (intervals, costs, arrays converted)."""
    path = Path(path)
    path.write_text(json.dumps(report, indent=1, default=_plain) + "\n")
    return path


def read_json(path: str | os.PathLike, written_by: str) -> dict:
    """The JSON report at ``path``; a missing file raises ``FileNotFoundError``
    naming ``written_by``, the command that writes it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No {path}: run `{written_by}` first.")
    return json.loads(path.read_text())


def child_json(script: str, args: list[str], env: dict | None = None) -> dict:
    """Run ``python script *args`` and read the JSON its last line prints."""
    out = subprocess.run(
        [sys.executable, script, *args],
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _intervals(row: dict) -> dict:
    """A table row read back: ``{"mean", "low", "high", "n"}`` as an interval."""
    return {
        k: ConfidenceInterval(**v) if isinstance(v, dict) and set(v) == _CI_KEYS else v
        for k, v in row.items()
    }


# --------------------------------------------------------------- the hand-off


@dataclass(frozen=True)
class PerReviewAopc:
    """Per-review AOPC of each method, read back from the hand-off.

    It answers :meth:`helpers.metrics.FaithfulnessResults.aopc` as the results
    would, so :func:`helpers.book.recommend.verdict` takes it in their place.
    """

    values: dict[str, dict[str, np.ndarray]]
    n: int

    def aopc(self, metric: str, method: str) -> np.ndarray:
        """Per-review AOPC ``[n]`` of ``metric`` for ``method``."""
        if method not in self.values.get(metric, {}):
            raise ValueError(f"no {metric!r} AOPC of {method!r} in the hand-off")
        return self.values[metric][method]


def faithfulness_handoff(results, rows: list[dict], costs: dict, seed: int) -> dict:
    """What ``bench_plausibility.py`` needs of a faithfulness run, JSON-ready:
    the table rows, the costs and each method's per-review AOPC."""
    metrics = ("comprehensiveness", "sufficiency")
    return {
        "n": results.n,
        "seed": seed,
        "rows": rows,
        "costs": costs,
        "aopc": {
            metric: {m: results.aopc(metric, m) for m in results.methods}
            for metric in metrics
        },
    }


def read_faithfulness_handoff(folder: Path) -> tuple[PerReviewAopc, list[dict], dict]:
    """``(aopc, rows, costs)`` from the ``faithfulness.json`` in ``folder``.

    Raises ``FileNotFoundError`` naming the command that writes it.
    """
    saved = read_json(
        folder / HANDOFF, f"python bench/bench_faithfulness.py --out {folder}"
    )
    aopc = PerReviewAopc(
        {
            metric: {m: np.asarray(v, dtype=float) for m, v in per_method.items()}
            for metric, per_method in saved["aopc"].items()
        },
        saved["n"],
    )
    costs = {m: Cost(**c) for m, c in saved["costs"].items()}
    return aopc, [_intervals(r) for r in saved["rows"]], costs
