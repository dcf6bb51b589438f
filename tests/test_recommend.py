"""Chapter 6's recommendation and verdict, on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.book import answers, recommend
from helpers.metrics.cost import Cost
from helpers.metrics.faithfulness import FaithfulnessResults
from helpers.stats import ConfidenceInterval


def ci(mean, low=None, high=None, n=10):
    return ConfidenceInterval(
        mean,
        mean - 0.01 if low is None else low,
        mean + 0.01 if high is None else high,
        n,
    )


def results(comp: dict, suff: dict) -> FaithfulnessResults:
    n = len(next(iter(comp.values())))
    names = list(comp)
    per_k = {m: np.repeat(np.asarray(v, float)[:, None], 2, 1) for m, v in comp.items()}
    suff_k = {
        m: np.repeat(np.asarray(v, float)[:, None], 2, 1) for m, v in suff.items()
    }
    zeros = {m: np.zeros((n, 2)) for m in names}
    return FaithfulnessResults(
        methods=names,
        fractions=(0.1, 0.2),
        curve_fractions=(0.0, 1.0),
        comprehensiveness=per_k,
        sufficiency=suff_k,
        deletion=zeros,
        insertion=zeros,
        tied=zeros,
        selected=np.ones((n, 2), int),
        agreement=np.zeros((n, 3, 3)),
        p_full=np.ones(n),
        n_tokens=np.full(n, 10),
    )


def rows(values: dict, sanity: dict) -> list[dict]:
    return [
        {
            "method": m,
            "comprehensiveness": ci(c),
            "sufficiency": ci(0.1),
            "comp - random": ci(c - 0.1),
            "sanity": sanity[m],
        }
        for m, c in values.items()
    ]


def test_paired_difference_is_per_review():
    res = results(
        {"A": [0.5, 0.6, 0.7], "B": [0.4, 0.5, 0.6], "random": [0, 0, 0]},
        {"A": [0, 0, 0], "B": [0, 0, 0], "random": [0, 0, 0]},
    )
    diff = recommend.paired_difference(res, "A", "B")
    assert diff.mean == pytest.approx(0.1)
    assert diff.low == pytest.approx(0.1) and diff.high == pytest.approx(0.1)


def test_recommend_skips_methods_that_fail_the_sanity_check():
    faith = rows(
        {"A": 0.9, "B": 0.5, "random": 0.1},
        {"A": "fail", "B": "pass", "random": "pass"},
    )
    assert recommend.recommend(faith) == "B"
    assert recommend.recommend(faith, exclude=("random", "B")) is None


def verdict_case():
    """``(results, faithfulness rows, plausibility rows, costs)``: CP beats IG."""
    rng = np.random.default_rng(0)
    ig = rng.uniform(0.3, 0.4, 50)
    res = results(
        {"IG": ig, "CP": ig + 0.05, "random": ig * 0},
        {"IG": ig * 0.1, "CP": ig * 0.1, "random": ig},
    )
    faith = rows(
        {"IG": 0.35, "CP": 0.40, "random": 0.0},
        {"IG": "pass", "CP": "pass", "random": "pass"},
    )
    plaus = [
        {"method": "IG", "AUPRC": ci(0.2)},
        {"method": "CP", "AUPRC": ci(0.3)},
        {"method": "X", "AUPRC": ci(0.25)},
        {"method": "random", "AUPRC": ci(0.9)},
    ]
    costs = {"IG": Cost(2000.0, 21, 20, 50), "CP": Cost(80.0, 1, 1, 50)}
    return res, faith, plaus, costs


def test_verdict_checks_every_condition_on_the_numbers():
    res, faith, plaus, costs = verdict_case()
    text, checks = recommend.verdict(res, faith, plaus, costs)
    assert [c.met for c in checks] == [True, True, True, True, True]
    assert text.startswith("**CP** reached every part")
    slow = {"IG": Cost(200.0, 21, 20, 50), "CP": Cost(80.0, 1, 1, 50)}
    text, checks = recommend.verdict(res, faith, plaus, slow)
    assert [c.met for c in checks] == [True, True, True, True, False]
    assert "met 4 of the 5" in text and "2.5x faster" in text


def test_both_axes_names_where_the_rankings_part():
    faith = rows(
        {"A": 0.9, "B": 0.8, "C": 0.7, "D": 0.6}, dict.fromkeys("ABCD", "pass")
    )
    plaus = [
        {"method": m, "AUPRC": ci(v)}
        for m, v in {"A": 0.1, "B": 0.5, "C": 0.6, "D": 0.7}.items()
    ]
    text = recommend.both_axes(faith, plaus)
    assert "Most faithful (comprehensiveness): **A**" in text
    assert "most plausible (AUPRC): **D**" in text
    assert "disagree" in text and "A (faithfulness rank 1, plausibility rank 4)" in text


def _finding_rows(comp: dict, beats: set) -> list[dict]:
    """Rows whose paired CI over random is above 0 exactly for ``beats``."""
    return [
        {
            "method": m,
            "comprehensiveness": ci(c, n=16),
            "comp - random": ci(0.1, 0.05, 0.15) if m in beats else ci(0.0, -0.05),
        }
        for m, c in comp.items()
    ]


def test_the_finding_is_written_from_the_numbers():
    comp = {
        "[CLS] attention": 0.12,
        "rollout": 0.13,
        "Grad-CAM L0": 0.11,
        "Grad-CAM L1": 0.30,
        "Grad-CAM L2": 0.12,
        "IG": 0.25,
        "AttnLRP": 0.40,
        "random": 0.10,
    }
    rows = _finding_rows(comp, {"Grad-CAM L1", "IG", "AttnLRP"})
    sentence = answers.finding(rows, "AttnLRP")
    assert sentence.startswith("On this model, the transformer-native method AttnLRP")
    assert "(comprehensiveness 0.400 vs random 0.100)" in sentence
    assert "attention alone ([CLS] attention 0.120 and rollout 0.130) did not" in (
        sentence
    )
    assert (
        "Grad-CAM beat random at layer 1 (the sanity check did not run on every "
        "layer; best: layer 1, 0.300)" in sentence
    )
    assert "faithful" not in sentence  # no sanity verdicts: never "faithful"
    assert sentence.endswith("the method to use is AttnLRP.")
    assert sentence.count(".") == sentence.count("0.") + 1  # one sentence
    # other numbers, another sentence
    comp.update({"AttnLRP": 0.20, "[CLS] attention": 0.28, "rollout": 0.27})
    beats = {"Grad-CAM L0", "Grad-CAM L1", "Grad-CAM L2", "IG", "AttnLRP"}
    beats |= {"[CLS] attention", "rollout"}
    other = answers.finding(_finding_rows(comp, beats), None)
    assert other != sentence
    assert other.startswith("On this model, Grad-CAM L1 removed the most evidence")
    assert "than the best transformer-native method, AttnLRP (0.200)" in other
    assert "attention alone beat random ([CLS] attention 0.280 and rollout 0.270:" in (
        other
    )
    assert "90 % and 85 % of the best method's margin" in other
    assert "Grad-CAM beat random at every layer (the sanity check did not" in other
    assert other.endswith("no method both beat random and passed the sanity check.")
    # the conclusion answers chapters 3, 4 and 6, then states the finding
    text = answers.conclusion(rows, "AttnLRP")
    assert text.endswith(f"**The finding:** {sentence}")
    assert "over 16 reviews" in text and "**AttnLRP**" in text
    for chapter in (3, 4, 6):
        assert f"*Chapter {chapter} asked" in text
    without = [r for r in rows if not r["method"].startswith("Grad-CAM L")]
    assert "Grad-CAM" not in answers.finding(without, "AttnLRP")
    with pytest.raises(ValueError, match="random"):
        answers.finding(rows[:-1])


def _checked_rows(comp: dict, sanity: dict, width: float = 0.01) -> list[dict]:
    """Rows that beat random (but ``random``) with a sanity verdict each."""
    rows = _finding_rows(comp, set(comp) - {"random"})
    for r in rows:
        c = comp[r["method"]]
        r["comprehensiveness"] = ci(c, c - width, c + width, n=16)
        r["sanity"] = sanity.get(r["method"], "pass")
    rows[-1]["sanity"] = "baseline"
    return rows


GRADCAM_ROWS = {
    "Grad-CAM L0": 0.20,
    "Grad-CAM L1": 0.30,
    "Grad-CAM L2": 0.35,
    "CP-LRP": 0.415,
    "AttnLRP": 0.422,
    "IG": 0.25,
    "random": 0.10,
}


def test_a_clear_winner_is_named_alone():
    comp = {**GRADCAM_ROWS, "CP-LRP": 0.30}
    rows = _checked_rows(comp, {})
    assert recommend.recommendations(rows) == ["AttnLRP"]
    sentence = answers.finding(rows, recommend.recommendations(rows))
    assert sentence.endswith("the method to use is AttnLRP.")
    assert answers.finding(rows, "AttnLRP") == sentence
    assert "Grad-CAM was faithful at every layer (it beat random and passed" in (
        sentence
    )


def test_methods_not_separated_are_named_together():
    rows = _checked_rows(GRADCAM_ROWS, {}, width=0.07)  # 0.422 [0.352, 0.492]
    assert recommend.recommendations(rows)[:2] == ["AttnLRP", "CP-LRP"]
    assert "IG" not in recommend.recommendations(rows)  # 0.25: separated
    sentence = answers.finding(rows, ["AttnLRP", "CP-LRP"])
    assert sentence.endswith("the method to use is AttnLRP or CP-LRP (not separated).")
    # one name given: the others not separated from it are read off the rows
    picks = recommend.recommendations(rows)
    assert answers.finding(rows, "AttnLRP").endswith(
        f"the method to use is {' or '.join([', '.join(picks[:-1]), picks[-1]])} "
        "(not separated)."
    )
    text = answers.conclusion(rows, ["AttnLRP", "CP-LRP"])
    assert "**AttnLRP** or **CP-LRP** (not separated): the most comprehensive" in text
    # CP-LRP fails the sanity check: AttnLRP alone
    rows = _checked_rows(GRADCAM_ROWS, {"CP-LRP": "fail: survives the cascade"})
    assert recommend.recommendations(rows) == ["AttnLRP"]


def test_a_layer_that_fails_the_sanity_check_is_not_called_faithful():
    failing = {"Grad-CAM L2": "fail: survives the cascade"}
    rows = _checked_rows(GRADCAM_ROWS, failing)
    sentence = answers.finding(rows, "AttnLRP")
    assert "faithful at every layer" not in sentence
    assert (
        "Grad-CAM beat random at every layer but failed the sanity check at "
        "layer 2, so it was faithful only at layers 0 and 1 (best: layer 1, 0.300)"
    ) in sentence
    every = dict.fromkeys(["Grad-CAM L0", "Grad-CAM L1", "Grad-CAM L2"], "fail")
    sentence = answers.finding(_checked_rows(GRADCAM_ROWS, every), "AttnLRP")
    assert (
        "Grad-CAM beat random at every layer but failed the sanity check at every "
        "layer, so it was faithful at no layer;"
    ) in sentence
    text = answers.conclusion(rows, "AttnLRP")
    assert "and passes the sanity check; layer 0" in text


def test_cost_ratios_are_put_in_words_from_the_numbers():
    assert recommend.times(1.2) == "about 1×"
    assert recommend.times(3.24) == "about 3.2×"
    assert recommend.times(4518 / 152) == "about 30× (an order of magnitude)"
    assert recommend.times(45.2) == "about 45× (an order of magnitude)"
    assert recommend.times(452) == "about 450× (two orders of magnitude)"
    with pytest.raises(ValueError):
        recommend.times(0.5)
    costs = {
        "grad x input": Cost(152.0, 1, 1, 16),
        "IG": Cost(4518.0, 21, 20, 16),
        "random": Cost(3.0, 1, 0, 16),
    }
    assert recommend.cost_spread(costs) == (
        "The slowest method, IG (4,518 ms per review), takes about 30× (an order "
        "of magnitude) as long as the fastest, grad x input (152 ms)."
    )


def test_verdict_conditions_name_the_reference_method():
    res, faith, plaus, costs = verdict_case()
    swap = {"IG": "LRP", "CP": "CP", "random": "random"}
    res.methods = [swap[m] for m in res.methods]
    for table in (res.comprehensiveness, res.sufficiency):
        table["LRP"] = table.pop("IG")
    faith = [{**r, "method": swap[r["method"]]} for r in faith]
    plaus = [{**r, "method": swap.get(r["method"], r["method"])} for r in plaus]
    costs = {"LRP": costs["IG"], "CP": costs["CP"]}
    _, checks = recommend.verdict(res, faith, plaus, costs, reference="LRP")
    conditions = [c.condition for c in checks]
    assert "comprehensiveness above LRP (paired CI > 0)" in conditions
    assert "sufficiency not worse than LRP (paired CI reaches 0)" in conditions
    assert "at most 1/20 of LRP's time" in conditions
    assert not any("IG" in c for c in conditions)
