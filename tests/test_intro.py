"""The introduction's answer: a finding without a run's figures, and the cheat-sheet.

The introduction is Markdown, not executed, so what it states must hold for any
run: the finding names no measured number (chapter 6 computes those), and the
cheat-sheet's passes per review are what ``helpers.metrics.cost`` counts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_cost import encode
from tiny import tiny_bert, tiny_tokenizer

from helpers import attr
from helpers.metrics.cost import measure_cost

ROOT = Path(__file__).resolve().parent.parent
INTRO = (ROOT / "intro.md").read_text(encoding="utf-8")
#: The cheat-sheet's row label -> the registry's method names it stands for.
ROWS = {
    "`[CLS]` attention": ("[CLS] attention",),
    "rollout": ("rollout",),
    "Grad-CAM": ("Grad-CAM L0", "Grad-CAM mean (normalised)"),
    "grad x input": ("grad x input",),
    "IG, integrated gradients": ("IG",),
    "grad-weighted rollout": ("grad-weighted rollout",),
    "CP-LRP": ("CP-LRP",),
    "AttnLRP": ("AttnLRP",),
    "random": ("random",),
}


def _cheat_sheet() -> dict[str, str]:
    """Row label (without its chapter) -> the 'passes per review' cell."""
    start = INTRO.index("| method (chapter) |")
    lines = INTRO[start:].split("\n\n")[0].splitlines()[2:]
    rows = {}
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[re.sub(r" \(\d\)$", "", cells[0])] = cells[2]
    return rows


def _passes(cell: str, m: int) -> tuple[int, int]:
    """``"*m* + 1 forward + *m* backward"`` -> (forwards, backwards) for ``m``."""
    cell = re.sub(r"\(.*?\)", "", cell).replace("*m*", str(m))
    counts = {"forward": 0, "backward": 0}
    for expression, kind in re.findall(r"(\d+(?: \+ \d+)*) (forward|backward)", cell):
        counts[kind] = sum(int(x) for x in expression.split("+"))
    return counts["forward"], counts["backward"]


def test_the_finding_states_no_figure_of_one_run():
    finding = INTRO.split("**The finding.**", 1)[1].split("\n\n", 1)[0]
    assert "chapter 6" in INTRO.split("### The methods on one page")[0]
    assert not re.search(r"\d", finding), finding


def test_cheat_sheet_lists_every_method_of_the_registry():
    tokenizer, model = tiny_tokenizer(), tiny_bert()
    registry = set(attr.explainers(model, tokenizer, ig_steps=5))
    named = {name for names in ROWS.values() for name in names}
    layers = {n for n in registry if n.startswith("Grad-CAM")}
    assert registry - layers <= named, "a method is missing from the cheat-sheet"
    assert set(_cheat_sheet()) == set(ROWS)


@pytest.mark.parametrize("m", [5])
def test_cheat_sheet_passes_are_the_counted_ones(m):
    tokenizer, model = tiny_tokenizer(), tiny_bert(perturb=0.05)
    methods = attr.explainers(model, tokenizer, ig_steps=m, internal_batch_size=64)
    cost = measure_cost(model, methods, [encode(tokenizer)])
    for label, cell in _cheat_sheet().items():
        for name in ROWS[label]:
            measured = (cost[name].forwards, cost[name].backwards)
            assert _passes(cell, m) == measured, (label, cell, measured)
