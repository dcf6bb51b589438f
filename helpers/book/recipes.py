"""Fine-tuning recipes: *pytorch_advanced*'s, and the levers that improve it.

Chapter 2 first trains as *pytorch_advanced* did (the last encoder layer and
the head learn, the first ``max_length`` tokens of each review, a constant
learning rate). :data:`STEPS` then adds one lever at a time, each on top of
the previous ones:

1. ``keep="head+tail"``: the first quarter and the last three quarters of a
   long review's tokens (Sun et al. 2019, *How to Fine-Tune BERT for Text
   Classification?*, found head + tail best on IMDb), so the verdict at the
   end is read;
2. ``schedule="linear"``: warm-up, then linear decay to 0;
3. ``trainable_layers=2``: one more encoder layer learns;
4. ``max_length=512``: BERT's whole window.

Steps are compared on **validation** only; the full-data test figure is
``bench/bench_accuracy.py``'s report, read back here.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from pathlib import Path

from .. import train
from ..config import Profile, get_profile
from ..data import tokenize_truncated
from ..stats import wilson_interval
from .report import table_html

#: *pytorch_advanced*'s test accuracy with ``bert-base-uncased`` (25,000 reviews).
PYTORCH_ADVANCED_TEST_ACCURACY = 0.9038

#: The levers, added one at a time: ``(label, settings changed)``.
STEPS: tuple[tuple[str, dict], ...] = (
    ("+ head+tail tokens", {"keep": "head+tail"}),
    ("+ linear schedule", {"schedule": "linear"}),
    ("+ 2 trainable layers", {"trainable_layers": 2}),
    ("+ 512 tokens", {"max_length": 512}),
)

#: The settings a step may change (fields of ``train.TrainSettings``).
SETTINGS = ("trainable_layers", "lr", "max_length", "keep", "schedule", "epochs")
FIRST = "pytorch_advanced's recipe"


def base_settings(profile: Profile | None = None) -> dict:
    """The first run's settings: the profile's, read as *pytorch_advanced* did.

    ``trainable_layers``, ``lr``, ``max_length`` and ``epochs`` from the
    profile; the first tokens of a review (``keep="head"``) and a constant
    learning rate. Chapter 2's model is trained with exactly these.
    """
    profile = profile or get_profile()
    return {
        "trainable_layers": profile.trainable_layers,
        "lr": profile.lr,
        "max_length": profile.max_length,
        "keep": "head",
        "schedule": "constant",
        "epochs": profile.epochs,
    }


def cumulative_settings(
    base: dict, steps: Sequence[tuple[str, dict]] = STEPS
) -> list[tuple[str, dict]]:
    """``[(label, settings), ...]``: the first run, then each step on top of the last.

    Raises ``ValueError`` naming the allowed keys for a setting no step can change.
    """
    out = [(FIRST, dict(base))]
    for label, change in steps:
        unknown = sorted(set(change) - set(SETTINGS))
        if unknown:
            raise ValueError(
                f"Step {label!r} changes {unknown}: a step may change only {SETTINGS}."
            )
        out.append((label, {**out[-1][1], **change}))
    return out


def _row(label: str, settings: dict, result, n_val: int, seconds: float) -> dict:
    best = result.best
    return {
        "step": label,
        **settings,
        "head": result.settings.get("head"),
        "best_epoch": result.best_epoch,
        "val_acc": best["val_acc"],
        "val_loss": best["val_loss"],
        "n_val": n_val,
        "seconds": round(seconds, 1),
    }


def run_steps(
    profile: Profile | None = None,
    *,
    data=None,
    steps: Sequence[tuple[str, dict]] = STEPS,
    first=None,
    model_name: str | None = None,
    device=None,
) -> list[dict]:
    """Train the first run and every step; one row of validation figures each.

    ``data``: ``(train_set, val_set)``, by default
    :func:`helpers.train.profile_data` (chapter 2's split). Every step
    loads ``model_name`` (default the profile's) afresh, seeded with the
    profile's seed, so steps differ only in their settings. ``first``: a
    ``TrainResult`` already trained with :func:`base_settings` on the same
    data (chapter 2's own model) is reused instead of training it again; a
    result trained otherwise raises ``ValueError`` saying which setting
    differs. Rows hold the settings, ``best_epoch``, ``val_acc``,
    ``val_loss``, ``n_val`` and the training ``seconds`` (caching included).
    """
    profile = profile or get_profile()
    train_set, val_set = data if data is not None else train.profile_data(profile)
    plan = cumulative_settings(base_settings(profile), steps)
    rows = []
    for i, (label, settings) in enumerate(plan):
        if i == 0 and first is not None:
            differs = [
                f"{key}={first.settings.get(key)!r} (step wants {settings[key]!r})"
                for key in train.differing_keys(
                    first.settings, settings, list(settings)
                )
            ]
            if differs or first.settings.get("val_size") != len(val_set):
                raise ValueError(
                    "`first` was not trained as the first run: "
                    + (", ".join(differs) or "another validation set")
                    + ". Pass first=None to train it here."
                )
            seconds = first.cache_seconds + sum(h["seconds"] for h in first.history)
            rows.append(_row(label, settings, first, len(val_set), seconds))
            continue
        print(f"{label}: {describe_settings(settings)}")
        *_, result, seconds = train.train_fresh(
            model_name or profile.model_name,
            train_set,
            val_set,
            train.TrainSettings.from_profile(profile, **settings),
            device=device,
        )
        rows.append(_row(label, settings, result, len(val_set), seconds))
    return rows


def describe_settings(settings: dict) -> str:
    """``"1 trainable layer, first 256 tokens, lr 0.0003 constant, 3 epochs"``.

    ``epochs`` is left out when ``settings`` has none (a benchmark row).
    """
    layers = settings["trainable_layers"]
    what = "all layers" if layers is None else f"{layers} trainable layer"
    what += "s" if layers not in (None, 1) else ""
    tokens = "first" if settings["keep"] == "head" else "head+tail"
    text = (
        f"{what}, {tokens} {settings['max_length']} tokens, lr {settings['lr']:g} "
        f"{settings['schedule']}"
    )
    if settings.get("epochs") is not None:
        text += f", {settings['epochs']} epochs"
    return text


def steps_table(rows: Sequence[dict]) -> list[dict]:
    """The rows in words: step, settings, validation figures (one dict each).

    ``val acc`` comes with its 95 % Wilson interval
    (:func:`helpers.stats.wilson_interval`) and ``vs first (points)`` in
    percentage points; :func:`steps_html` shows it.
    """
    first = rows[0]["val_acc"]
    table = []
    for row in rows:
        low, high = wilson_interval(round(row["val_acc"] * row["n_val"]), row["n_val"])
        table.append(
            {
                "step": row["step"],
                "settings": describe_settings(row),
                "val acc": f"{row['val_acc']:.1%}",
                "95 % interval": f"{low:.1%}–{high:.1%}",
                "vs first (points)": f"{100 * (row['val_acc'] - first):+.1f}",
                "best epoch": row["best_epoch"],
                "time": _duration(row["seconds"]),
            }
        )
    return table


def _duration(seconds: float) -> str:
    """``"45 s"`` under two minutes, else ``"95 min"``."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def steps_html(rows: Sequence[dict]) -> str:
    """:func:`steps_table` as an HTML table (every text escaped)."""
    table = steps_table(rows)
    return table_html(table, columns=list(table[0]))


def plot_steps(rows: Sequence[dict], title: str | None = None):
    """Validation accuracy per step with 95 % Wilson intervals; the figure."""
    import matplotlib.pyplot as plt

    labels = [r["step"] for r in rows]
    acc = [100 * r["val_acc"] for r in rows]
    intervals = [
        wilson_interval(round(r["val_acc"] * r["n_val"]), r["n_val"]) for r in rows
    ]
    low = [a - 100 * lo for a, (lo, _) in zip(acc, intervals, strict=True)]
    high = [100 * hi - a for a, (_, hi) in zip(acc, intervals, strict=True)]
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(rows) + 1.5), layout="constrained")
    y = list(range(len(rows)))[::-1]
    ax.errorbar(acc, y, xerr=[low, high], fmt="o", color="C3", capsize=4)
    ax.axvline(acc[0], color="0.6", ls="--", lw=1, label="first run")
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"validation accuracy (%), 95 % interval, n = {rows[0]['n_val']}")
    ax.set_title(title or "Each lever added to the previous ones")
    # below the axes: inside, a legend can hide a step's point
    fig.legend(loc="outside lower right", fontsize=8, frameon=False)
    return fig


def describe_steps(rows: Sequence[dict]) -> str:
    """A sentence computed from the rows: what the steps did on validation."""
    first, last = rows[0], rows[-1]
    gains = [b["val_acc"] - a["val_acc"] for a, b in itertools.pairwise(rows)]
    raised = sum(g > 0 for g in gains)
    best = max(rows, key=lambda r: r["val_acc"])
    k = round(first["val_acc"] * first["n_val"])
    lo, hi = wilson_interval(k, first["n_val"])
    inside = lo <= last["val_acc"] <= hi
    diff = 100 * (last["val_acc"] - first["val_acc"])
    if len(gains) == 1:
        moved = f"On {first['n_val']:,d} validation reviews, the step moved "
    else:
        moved = (
            f"On {first['n_val']:,d} validation reviews, {raised} of the "
            f"{len(gains)} steps raised validation accuracy; all of them together "
            "moved "
        )
    return (
        moved + f"it from {first['val_acc']:.1%} to {last['val_acc']:.1%} "
        f"({diff:+.1f} points), "
        + (
            "inside the first run's 95 % interval, so this sample cannot tell them "
            "apart"
            if inside
            else "outside the first run's 95 % interval"
        )
        + f". The best step on validation is '{best['step']}' "
        f"({best['val_acc']:.1%})."
    )


def benchmark_report(path: str | os.PathLike) -> dict:
    """The report ``bench/bench_accuracy.py --json path`` wrote (a dict).

    The book keeps the full-data runs chapter 2 quotes in the repository's
    ``bench/results/``; its chapters pass that folder's files (or those of
    the folder ``$BENCH_RESULTS`` names). ``report["test"]`` is ``None`` for
    a ``--no-test`` run. Raises ``FileNotFoundError`` naming the command that
    writes it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No benchmark report at {path}: run `python bench/bench_accuracy.py "
            f"--json {path}` with IMDB_DIR set (all of IMDb; see its docstring), "
            "or set BENCH_RESULTS to the folder that holds the reports."
        )
    report = json.loads(path.read_text(encoding="utf-8"))
    for key in ("candidates", "chosen", "test", "n_validation"):
        if key not in report:
            raise ValueError(
                f"{path} has no {key!r}: it is not a bench_accuracy.py report; "
                "rerun the benchmark with --json."
            )
    return report


def benchmark_steps(
    reports: Sequence[dict],
    labels: Sequence[str],
    candidates: Sequence[int | None] | None = None,
) -> list[dict]:
    """One row per report: a candidate's validation figures, as a step.

    ``labels[i]`` names row ``i``; ``candidates[i]`` picks which of report
    ``i``'s candidates it shows (``None``, the default: the one the report
    chose on validation), so a report that trained several steps gives
    several rows. Rows have the keys of :func:`run_steps`' rows, so
    :func:`steps_html`, :func:`plot_steps` and :func:`describe_steps` show
    them; ``epochs`` is the report's, ``seconds`` the candidate's training
    (feature caching included).
    """
    candidates = [None] * len(reports) if candidates is None else list(candidates)
    if not len(reports) == len(labels) == len(candidates):
        raise ValueError(
            f"{len(reports)} reports, {len(labels)} labels and {len(candidates)} "
            "candidates: give one of each per step."
        )
    rows = []
    for report, label, pick in zip(reports, labels, candidates, strict=True):
        index = report["chosen"] if pick is None else pick
        if not 0 <= index < len(report["candidates"]):
            raise ValueError(
                f"Step {label!r}: candidate {index} of a report with "
                f"{len(report['candidates'])}; pick one from 0 or None."
            )
        chosen = report["candidates"][index]
        rows.append(
            {
                **chosen,
                "step": label,
                "epochs": report.get("epochs"),
                "n_val": report["n_validation"],
                "seconds": chosen["train_seconds"],
            }
        )
    return rows


def kept_ending(
    tokenizer, text: str, max_length: int, keep: str = "head", n: int = 12
) -> str:
    """The last ``n`` tokens the model reads of ``text`` when it is cut so.

    ``keep="head"`` keeps the first ``max_length`` tokens, ``"head+tail"`` the
    first quarter and the end (:func:`helpers.data.tokenize_truncated`); the
    text is ``"... "`` + those tokens, decoded.
    """
    ids = tokenize_truncated(tokenizer, [text], max_length, keep=keep)["input_ids"][0]
    content = ids[1:-1]  # [CLS] ... [SEP]
    return "... " + tokenizer.decode(content[-n:])


def plot_schedules(total_steps: int, lr: float, warmup: float = 0.1):
    """The learning rate per optimizer step: constant, and linear with warm-up."""
    import matplotlib.pyplot as plt

    steps = list(range(total_steps))
    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    ax.plot(steps, [lr] * total_steps, color="0.5", label="constant")
    ax.plot(
        steps,
        train.schedule_rates(total_steps, lr, "linear", warmup),
        color="C3",
        label="linear",
    )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_title(f"Warm-up over the first {warmup:.0%} of the steps, then decay to 0")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def describe_benchmark(
    report: dict, reference: float = PYTORCH_ADVANCED_TEST_ACCURACY
) -> str:
    """The full-data result in words, computed from ``report``, beside ``reference``."""
    if report["test"] is None:
        raise ValueError(
            "This report has no test figure (a --no-test run): pass the report of "
            "the run that evaluated its chosen candidate on test."
        )
    chosen = report["candidates"][report["chosen"]]
    n = len(report["candidates"])
    test = report["test"]["accuracy"]
    n_test = (
        sum(map(sum, report["test"]["confusion"]))
        if "confusion" in report["test"]
        else None
    )
    diff = 100 * (test - reference)
    if diff > 0:
        verdict = f"{diff:.2f} points above"
    elif diff < 0:
        verdict = f"{-diff:.2f} points below"
    else:
        verdict = "equal to"
    trained = (
        "trained one recipe, fixed before the run,"
        if n == 1
        else f"trained {n} recipes, chose one on validation,"
    )
    interval = ""
    if n_test:
        low, high = wilson_interval(round(test * n_test), n_test)
        interval = f" (95 % interval {low:.2%}–{high:.2%})"
        if low > reference:
            verdict += f" {reference:.2%}: the whole interval lies above"
        elif high < reference:
            verdict += f" {reference:.2%}: the whole interval lies below"
        else:
            verdict += f" {reference:.2%}, with the interval reaching across"
        verdict += " *pytorch_advanced*'s figure with `bert-base-uncased`"
    else:
        verdict += f" *pytorch_advanced*'s {reference:.2%} with `bert-base-uncased`"
    minutes = report.get("seconds", 0) / 60
    where = f" on {report['machine']}" if report.get("machine") else ""
    return (
        f"On all of IMDb, `bench/bench_accuracy.py` {trained} kept its best epoch "
        f"on validation (epoch {chosen['best_epoch']}, validation accuracy "
        f"{chosen['val_acc']:.2%}; {describe_settings(chosen)}) and evaluated it "
        f"once on {report['test']['source']}: **{test:.2%}**{interval}, {verdict}. "
        f"The whole run (caching, training, test prediction and the long-review "
        f"comparison) took {minutes:.0f} min{where}."
    )


def describe_long_reviews(report: dict) -> str:
    """What the report measured on reviews longer than 512 tokens, in words.

    The reading rule chosen on validation, its test accuracy, and the test
    accuracies of the other rules the report tested (the main figure's cut,
    the best windowed rule on validation); computed from ``report``.
    """
    val, test = report.get("long_validation") or {}, report.get("long_test") or {}
    if not test.get("n"):
        return "The report has no test reviews longer than 512 tokens."
    chosen = test.get("chosen_rule") or max(
        (k for k in test if k != "n"), key=lambda k: val.get(k, -1.0)
    )
    others = [k for k in test if k not in ("n", "chosen_rule", chosen)]
    return (
        f"{test['n']:,d} test reviews are longer than 512 tokens. Of the ways to "
        f"read them, '{chosen}' was best on the {val['n']:,d} long validation "
        f"reviews ({val[chosen]:.1%}); on test it scored {test[chosen]:.1%}"
        + "".join(f", '{k}' {test[k]:.1%}" for k in others)
        + "."
    )
