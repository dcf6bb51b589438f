"""The book's answers, written from the numbers: :func:`finding` and :func:`conclusion`.

:func:`finding` is one sentence: the most comprehensive method against random,
whether attention beat random, at which layers Grad-CAM was faithful and the
method to use. :func:`conclusion` answers the questions of chapters 3, 4 and 6
(does attention show what the prediction depends on, which Grad-CAM layer is
faithful, which method to use) in a paragraph that ends with the finding.
Every name and number comes from :func:`helpers.book.report.results_table`
rows; :mod:`helpers.book.recommend` picks the methods to use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..attr import TRANSFORMER_METHODS
from ..metrics.faithfulness import RANDOM
from ..metrics.sanity import PASS
from .report import by_method, layer_of, listing, overlap, qualifies

#: Chapter 3's attention methods, asked about in the conclusion.
ATTENTION_METHODS = ("[CLS] attention", "rollout")


def _beats_random(row: dict) -> bool:
    diff = row.get("comp - random")
    return diff is not None and diff.low > 0


@dataclass(frozen=True)
class _Facts:
    """What :func:`finding` and :func:`conclusion` read off the rows."""

    best: dict
    floor: float
    native: dict | None
    attention: list[dict]
    layers: list[dict]
    n: int | None


def _facts(rows, transformer, attention, baseline) -> _Facts:
    by = by_method(rows)
    if baseline not in by:
        raise ValueError(f"rows hold no {baseline!r} row: the floor is needed.")
    scored = [r for r in rows if r["method"] != baseline]
    if not scored:
        raise ValueError("rows hold no method besides the random baseline.")

    def comp(r):
        return r["comprehensiveness"].mean

    native = [r for r in scored if r["method"] in transformer]
    return _Facts(
        best=max(scored, key=comp),
        floor=by[baseline]["comprehensiveness"].mean,
        native=max(native, key=comp) if native else None,
        attention=[by[a] for a in attention if a in by],
        layers=sorted(
            (r for r in scored if layer_of(r["method"]) is not None),
            key=lambda r: layer_of(r["method"]),
        ),
        n=getattr(by[baseline]["comprehensiveness"], "n", None),
    )


def _best_clause(f: _Facts, transformer) -> str:
    best, c = f.best["method"], f.best["comprehensiveness"].mean
    text = (
        f"{best} removed the most evidence "
        f"(comprehensiveness {c:.3f} vs random {f.floor:.3f})"
    )
    if best in transformer:
        return "the transformer-native method " + text
    if f.native is not None:
        text += (
            f", more than the best transformer-native method, {f.native['method']} "
            f"({f.native['comprehensiveness'].mean:.3f})"
        )
    return text


def _percent(share: float) -> str:
    return f"{100 * share:.0f} %"


def _share(row: dict, f: _Facts) -> float:
    """``row``'s margin over random as a share of the best method's margin."""
    top = f.best["comprehensiveness"].mean - f.floor
    if top <= 0:
        return 0.0
    return (row["comprehensiveness"].mean - f.floor) / top


def _attention_clause(f: _Facts) -> str:
    if not f.attention:
        return ""

    def value(r):
        return f"{r['method']} {r['comprehensiveness'].mean:.3f}"

    above = [r for r in f.attention if _beats_random(r)]
    if not above:
        values = listing([value(r) for r in f.attention])
        return f"attention alone ({values}) did not beat random"
    shares = listing([_percent(_share(r, f)) for r in above])
    margin = f"{shares} of the best method's margin over random"
    if len(above) == len(f.attention):
        verb = "barely beat" if max(_share(r, f) for r in above) < 0.5 else "beat"
        values = listing([value(r) for r in above])
        return f"attention alone {verb} random ({values}: {margin})"
    below = listing([value(r) for r in f.attention if not _beats_random(r)])
    names = listing([r["method"] for r in above])
    values = listing([f"{r['comprehensiveness'].mean:.3f}" for r in above])
    return (
        f"only {names} among the attention methods beat random ({values}, "
        f"{margin}; {below} did not)"
    )


def _layers(rows: list[dict], f: _Facts) -> str:
    """``every layer``, ``no layer``, ``layer 5`` or ``layers 0, 1 and 2``."""
    if len(rows) == len(f.layers):
        return "every layer"
    if not rows:
        return "no layer"
    numbers = [str(layer_of(r["method"])) for r in rows]
    return f"layer {numbers[0]}" if len(numbers) == 1 else f"layers {listing(numbers)}"


def _gradcam_clause(f: _Facts) -> str:
    """Where Grad-CAM beat random, where it failed the sanity check, and so
    where it was faithful (both); never "faithful" where a check was not run."""
    if not f.layers:
        return ""
    good = [r for r in f.layers if _beats_random(r)]
    if not good:
        return "Grad-CAM beat random at no layer"
    checked = all("sanity" in r for r in f.layers)
    faithful = [r for r in good if r.get("sanity") == PASS]
    top = max(faithful or good, key=lambda r: r["comprehensiveness"].mean)
    best = f"best: layer {layer_of(top['method'])}, {top['comprehensiveness'].mean:.3f}"
    if not checked:
        return (
            f"Grad-CAM beat random at {_layers(good, f)} (the sanity check did "
            f"not run on every layer; {best})"
        )
    if len(faithful) == len(f.layers):
        return (
            "Grad-CAM was faithful at every layer (it beat random and passed the "
            f"sanity check; {best})"
        )
    failing = [r for r in f.layers if r["sanity"] != PASS]
    text = f"Grad-CAM beat random at {_layers(good, f)}"
    if failing:
        text += f" but failed the sanity check at {_layers(failing, f)}"
    if not faithful:
        return text + ", so it was faithful at no layer"
    return text + f", so it was faithful only at {_layers(faithful, f)} ({best})"


def _picks(rows: list[dict], recommended) -> list[str]:
    """The recommended methods: a sequence as given; one name, with every
    qualifying method of ``rows`` not separated from it (overlapping
    comprehensiveness intervals), most comprehensive first; ``None``: none."""
    if recommended is None:
        return []
    if not isinstance(recommended, str):
        return list(recommended)
    by = by_method(rows)
    if recommended not in by:
        return [recommended]
    mine = by[recommended]["comprehensiveness"]
    tied = [
        r
        for r in rows
        if r["method"] != recommended
        and qualifies(r)
        and overlap(mine, r["comprehensiveness"])
    ]
    tied.sort(key=lambda r: r["comprehensiveness"].mean, reverse=True)
    return [recommended] + [r["method"] for r in tied]


def _use(picks: list[str], bold: bool = False) -> str:
    """``A`` or ``A or B (not separated)``."""
    names = [f"**{m}**" if bold else m for m in picks]
    return listing(names, "or") + (" (not separated)" if len(picks) > 1 else "")


def finding(rows: list[dict], recommended: str | Sequence[str] | None = None) -> str:
    """The book's finding in one sentence, every name and number from ``rows``.

    ``rows``: :func:`helpers.book.report.results_table` rows measured on the same
    reviews (chapter 6's methods, plus rollout and the per-layer Grad-CAM
    methods ``"Grad-CAM L<k>"`` when measured), including the random baseline.
    The sentence names the most comprehensive method and compares it with
    random, says whether the attention methods beat random (paired CI
    of ``comp - random`` above 0) and which share of the best method's
    margin over random they reached ("barely" below half), at which layers
    Grad-CAM beat random and at which it failed the sanity check (faithful =
    both; "faithful" only where the check ran), and the method to use:
    ``recommended`` (:func:`helpers.book.recommend.recommendations`: every
    name given; one name: with every method of ``rows`` that beats random,
    passes the sanity check and is not separated from it; ``None`` = say
    that none qualified).
    Clauses whose methods are missing from ``rows`` are left out.
    """
    facts = _facts(rows, TRANSFORMER_METHODS, ATTENTION_METHODS, RANDOM)
    picks = _picks(rows, recommended)
    clauses = [
        _best_clause(facts, TRANSFORMER_METHODS),
        _attention_clause(facts),
        _gradcam_clause(facts),
    ]
    clauses = [c for c in clauses if c]
    clauses.append(
        f"the method to use is {_use(picks)}"
        if picks
        else "no method both beat random and passed the sanity check"
    )
    return "On this model, " + "; ".join(clauses[:-1]) + "; and " + clauses[-1] + "."


def conclusion(rows: list[dict], recommended: str | Sequence[str] | None = None) -> str:
    """The book's conclusion as markdown: the chapters' questions, answered.

    A short paragraph answers chapter 3 (does attention show what the
    prediction depends on? its comprehensiveness against random and the best
    method), chapter 4 (which Grad-CAM layer is faithful, i.e. beats random
    with a paired CI above 0 and passes the sanity check) and chapter 6
    (which method to use: ``recommended``, e.g.
    :func:`helpers.book.recommend.recommendations`, the
    most comprehensive methods that beat random and pass the sanity check,
    all of them when they are not separated; ``None`` = none did), then
    states :func:`finding` in bold. Arguments as in :func:`finding`.
    """
    facts = _facts(rows, TRANSFORMER_METHODS, ATTENTION_METHODS, RANDOM)
    parts = [
        _comprehensiveness_answer(facts),
        _chapter3_answer(facts),
        _chapter4_answer(facts),
        _chapter6_answer(_picks(rows, recommended)),
    ]
    sentence = finding(rows, recommended)
    return " ".join(p for p in parts if p) + f"\n\n**The finding:** {sentence}"


def _comprehensiveness_answer(facts: _Facts) -> str:
    """What comprehensiveness is, with the floor and the best method's value."""
    n = f" over {facts.n} reviews" if facts.n else ""
    best = facts.best
    return (
        "Comprehensiveness is the drop in p(predicted class) when a method's top "
        f"tokens are replaced by [MASK] (AOPC{n}): random tokens gave "
        f"{facts.floor:.3f}, the best method, {best['method']}, "
        f"{best['comprehensiveness'].mean:.3f}."
    )


def _chapter3_answer(facts: _Facts) -> str:
    """Chapter 3's question: each attention method against random and the best."""
    if not facts.attention:
        return ""
    above = [r["method"] for r in facts.attention if _beats_random(r)]
    none = "it did not" if len(facts.attention) == 1 else "none of them did"
    verdict = (
        f"{none} beat random (paired 95 % CI above 0)"
        if not above
        else f"{listing(above)} beat random (paired 95 % CI above 0)"
    )
    reached = ", ".join(
        f"{r['method']} reached {r['comprehensiveness'].mean:.3f} "
        f"({_percent(_share(r, facts))} of the best method's margin over random)"
        for r in facts.attention
    )
    return (
        "*Chapter 3 asked whether attention shows what the prediction depends "
        f"on:* {reached}; {verdict}."
    )


def _chapter4_answer(facts: _Facts) -> str:
    """Chapter 4's question: which Grad-CAM layers beat random."""
    if not facts.layers:
        return ""
    return (
        "*Chapter 4 asked which Grad-CAM layer is faithful* (faithful = beats "
        "random, paired 95 % CI above 0, and passes the sanity check; layer 0 "
        "is the nearest the embeddings): " + _gradcam_clause(facts) + "."
    )


def _chapter6_answer(picks: list[str]) -> str:
    """Chapter 6's question: the methods to use, or that none qualified."""
    if not picks:
        return (
            "*Chapter 6 asked which method to use:* no method both beat random "
            "and passed the sanity check."
        )
    if len(picks) == 1:
        return (
            f"*Chapter 6 asked which method to use:* **{picks[0]}**, the most "
            "comprehensive method that beats random and passes the sanity check."
        )
    return (
        f"*Chapter 6 asked which method to use:* {_use(picks, bold=True)}: the "
        "most comprehensive methods that beat random and pass the sanity check, "
        "whose comprehensiveness intervals overlap."
    )
