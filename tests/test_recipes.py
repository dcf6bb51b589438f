"""Chapter 2's recipe steps and the full-data benchmark report (tiny models)."""

from __future__ import annotations

import json

import pytest
from test_training import toy_reviews

from helpers import train
from helpers.book import recipes
from helpers.config import get_profile


def tiny_profile(model_dir):
    return get_profile("quick").with_(
        model_name=str(model_dir),
        max_length=12,
        epochs=1,
        lr=1e-2,
        batch_size=8,
        trainable_layers=1,
    )


STEPS = (
    ("+ head+tail tokens", {"keep": "head+tail"}),
    ("+ 2 layers", {"trainable_layers": 2}),
)


def test_cumulative_settings_add_each_lever_to_the_previous_ones():
    base = {"trainable_layers": 1, "max_length": 256, "keep": "head"}
    plan = recipes.cumulative_settings(base, STEPS)
    assert [label for label, _ in plan] == [
        recipes.FIRST,
        "+ head+tail tokens",
        "+ 2 layers",
    ]
    assert plan[1][1] == {"trainable_layers": 1, "max_length": 256, "keep": "head+tail"}
    assert plan[2][1] == {"trainable_layers": 2, "max_length": 256, "keep": "head+tail"}
    assert base == {"trainable_layers": 1, "max_length": 256, "keep": "head"}


def test_a_step_changing_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="may change only"):
        recipes.cumulative_settings({}, [("+ bigger", {"hidden_size": 768})])


def test_the_default_steps_end_at_the_benchmark_recipe():
    base = recipes.base_settings(get_profile("quick"))
    assert base["keep"] == "head" and base["schedule"] == "constant"
    last = recipes.cumulative_settings(base)[-1][1]
    assert last["keep"] == "head+tail" and last["schedule"] == "linear"
    assert last["trainable_layers"] == 2 and last["max_length"] == 512


def test_run_steps_trains_each_step_with_its_settings(tiny_model_dir):
    profile = tiny_profile(tiny_model_dir)
    data = (toy_reviews(10), toy_reviews(5, seed=1))
    rows = recipes.run_steps(profile, data=data, steps=STEPS)
    labels = [recipes.FIRST, "+ head+tail tokens", "+ 2 layers"]
    assert [r["step"] for r in rows] == labels
    assert [r["keep"] for r in rows] == ["head", "head+tail", "head+tail"]
    assert [r["trainable_layers"] for r in rows] == [1, 1, 2]
    # 10 content tokens / 4, rounded up
    assert rows[0]["head"] is None and rows[1]["head"] == 3
    for row in rows:
        assert row["n_val"] == 10
        assert 0.0 <= row["val_acc"] <= 1.0 and row["val_loss"] > 0
        assert row["best_epoch"] == 1
    # the same seed and settings give the same figures: steps differ by settings only
    again = recipes.run_steps(profile, data=data, steps=STEPS[:0])
    assert again[0]["val_acc"] == rows[0]["val_acc"]
    assert again[0]["val_loss"] == pytest.approx(rows[0]["val_loss"], rel=1e-5)


def test_run_steps_reuses_the_chapter_model_and_refuses_another(tiny_model_dir):
    profile = tiny_profile(tiny_model_dir)
    data = (toy_reviews(10), toy_reviews(5, seed=1))
    _, _, first = train.finetune_profile_model(profile, data=data)
    rows = recipes.run_steps(profile, data=data, steps=(), first=first)
    assert rows[0]["val_acc"] == first.best["val_acc"]
    assert rows[0]["seconds"] == pytest.approx(
        first.cache_seconds + sum(h["seconds"] for h in first.history), abs=0.1
    )
    other = profile.with_(max_length=16)
    with pytest.raises(ValueError, match=r"max_length=12 .*step wants 16"):
        recipes.run_steps(other, data=data, steps=(), first=first)


ROWS = [
    {"step": recipes.FIRST, "trainable_layers": 1, "lr": 3e-4, "max_length": 256,
     "keep": "head", "schedule": "constant", "epochs": 3, "best_epoch": 2,
     "val_acc": 0.80, "val_loss": 0.45, "n_val": 400, "seconds": 50.0},
    {"step": "+ head+tail tokens", "trainable_layers": 1, "lr": 3e-4,
     "max_length": 256, "keep": "head+tail", "schedule": "constant", "epochs": 3,
     "best_epoch": 3, "val_acc": 0.79, "val_loss": 0.44, "n_val": 400,
     "seconds": 51.0},
    {"step": "+ 512 tokens", "trainable_layers": 1, "lr": 3e-4, "max_length": 512,
     "keep": "head+tail", "schedule": "constant", "epochs": 3, "best_epoch": 3,
     "val_acc": 0.90, "val_loss": 0.30, "n_val": 400, "seconds": 90.0},
]  # fmt: skip


def test_describe_steps_is_computed_from_the_numbers():
    text = recipes.describe_steps(ROWS)
    assert "1 of the 2 steps raised" in text
    assert "80.0% to 90.0% (+10.0 points)" in text
    assert "outside the first run's 95 % interval" in text
    assert "'+ 512 tokens' (90.0%)" in text
    close = [dict(ROWS[0]), dict(ROWS[1], val_acc=0.81)]
    text = recipes.describe_steps(close)
    assert "400 validation reviews, the step moved it from 80.0% to 81.0%" in text
    assert "cannot tell them apart" in text


def test_steps_table_and_plot():
    table = recipes.steps_table(ROWS)
    assert [r["val acc"] for r in table] == ["80.0%", "79.0%", "90.0%"]
    assert [r["vs first (points)"] for r in table] == ["+0.0", "-1.0", "+10.0"]
    assert [r["time"] for r in table] == ["50 s", "51 s", "90 s"]
    long = recipes.steps_table([dict(ROWS[0], seconds=5712)])
    assert long[0]["time"] == "95 min"
    assert table[2]["settings"] == (
        "1 trainable layer, head+tail 512 tokens, lr 0.0003 constant, 3 epochs"
    )
    lo, hi = table[0]["95 % interval"].split("–")
    assert float(lo.rstrip("%")) < 80.0 < float(hi.rstrip("%"))
    html = recipes.steps_html([dict(ROWS[0], step="<b>first</b>")])
    assert "&lt;b&gt;first&lt;/b&gt;" in html and "<b>first</b>" not in html
    assert "<th><bdi>95 % interval</bdi></th>" in html
    fig = recipes.plot_steps(ROWS)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    ticks = zip(ax.get_yticks(), labels, strict=True)
    top_down = [name for _, name in sorted(ticks, reverse=True)]
    assert top_down == [r["step"] for r in ROWS]  # the first run at the top
    assert "n = 400" in ax.get_xlabel()


def report(accuracy: float, n_candidates: int = 1) -> dict:
    row = {"trainable_layers": 2, "lr": 3e-4, "max_length": 512, "keep": "head+tail",
           "schedule": "linear", "head": 128, "warmup": 0.1, "best_epoch": 3,
           "val_acc": 0.905, "val_loss": 0.24, "train_seconds": 3636.1}  # fmt: skip
    return {
        "candidates": [row] * n_candidates,
        "chosen": 0,
        "n_validation": 5000,
        "epochs": 3,
        "test": {"source": "IMDb test (25000 reviews)", "accuracy": accuracy},
        "seconds": 5400,
        "machine": "CPU, 2 cores (x86_64), 2 torch threads",
    }


def test_describe_benchmark_compares_with_pytorch_advanced():
    above = recipes.describe_benchmark(report(0.9100))
    assert "**91.00%**, 0.62 points above *pytorch_advanced*'s 90.38%" in above
    assert "trained one recipe, fixed before the run," in above
    assert "2 trainable layers, head+tail 512 tokens, lr 0.0003 linear" in above
    assert "took 90 min on CPU, 2 cores" in above
    below = recipes.describe_benchmark(report(0.8990, n_candidates=3))
    assert "0.48 points below" in below
    assert "trained 3 recipes, chose one on validation," in below


def test_describe_benchmark_gives_the_interval_from_the_confusion_matrix():
    rep = report(0.9213)
    rep["test"]["confusion"] = [[11510, 990], [978, 11522]]  # 25,000 reviews
    text = recipes.describe_benchmark(rep)
    assert "**92.13%** (95 % interval 91.79%–92.46%)" in text
    assert "the whole interval lies above" in text
    rep["test"]["accuracy"] = 0.9050
    rep["test"]["confusion"] = [[90, 10], [9, 91]]  # 200 reviews: a wide interval
    assert "with the interval reaching across" in recipes.describe_benchmark(rep)


def test_benchmark_report_reads_the_file_and_names_the_fix(tmp_path):
    path = tmp_path / "accuracy.json"
    with pytest.raises(FileNotFoundError, match=r"bench/bench_accuracy\.py --json"):
        recipes.benchmark_report(path)
    path.write_text(json.dumps({"candidates": []}))
    with pytest.raises(ValueError, match=r"not a bench_accuracy\.py report"):
        recipes.benchmark_report(path)
    path.write_text(json.dumps(report(0.91)))
    assert recipes.benchmark_report(path)["test"]["accuracy"] == 0.91


def test_benchmark_steps_show_each_report_as_a_step():
    first, last = report(0.0), report(0.91)
    first["candidates"] = [dict(first["candidates"][0], val_acc=0.88, max_length=256)]
    first["test"] = None  # a --no-test baseline
    levers = report(0.0)
    levers["candidates"] = [
        dict(levers["candidates"][0], val_acc=0.885, train_seconds=700.0),
        dict(levers["candidates"][0], val_acc=0.89, train_seconds=710.0),
    ]
    levers["chosen"] = 1
    rows = recipes.benchmark_steps(
        [first, levers, levers, last],
        ["first run", "+ a", "+ b", "all levers"],
        candidates=[None, 0, 1, None],
    )
    assert [r["step"] for r in rows] == ["first run", "+ a", "+ b", "all levers"]
    assert [r["val_acc"] for r in rows] == [0.88, 0.885, 0.89, 0.905]
    assert [r["seconds"] for r in rows][1:3] == [700.0, 710.0]
    assert [r["n_val"] for r in rows] == [5000] * 4
    assert rows[0]["max_length"] == 256 and rows[3]["epochs"] == 3
    assert "3 of the 3 steps raised" in recipes.describe_steps(rows)
    assert "(+2.5 points)" in recipes.describe_steps(rows)
    # by default each report shows the candidate it chose
    assert recipes.benchmark_steps([levers], ["x"])[0]["val_acc"] == 0.89
    with pytest.raises(ValueError, match="2 reports, 1 labels and 2 candidates"):
        recipes.benchmark_steps([first, last], ["one"], [None, None])
    with pytest.raises(ValueError, match="candidate 2 of a report with 2"):
        recipes.benchmark_steps([levers], ["x"], [2])
    with pytest.raises(ValueError, match="no test figure"):
        recipes.describe_benchmark(first)


def test_kept_ending_shows_what_each_cut_reads():
    from tiny import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    text = " ".join(["good"] * 20 + ["bad"] * 3)
    ending = recipes.kept_ending
    assert ending(tokenizer, text, 12, "head", n=3) == "... good good good"
    assert ending(tokenizer, text, 12, "head+tail", n=3) == "... bad bad bad"


def test_plot_schedules_draws_both_rates():
    fig = recipes.plot_schedules(100, lr=3e-4, warmup=0.1)
    constant, linear = (line.get_ydata() for line in fig.axes[0].get_lines())
    assert list(constant) == [3e-4] * 100
    assert linear[0] == 0.0 and max(linear) == pytest.approx(3e-4)
    assert int(max(range(100), key=lambda t: linear[t])) == 10
    assert linear[-1] == pytest.approx(3e-4 / 90)


def test_describe_long_reviews_names_the_rule_chosen_on_validation():
    rep = report(0.91)
    rep["long_validation"] = {"n": 600, "head+tail at 512": 0.86,
                              "windows, mean": 0.88, "windows, max": 0.87}  # fmt: skip
    rep["long_test"] = {"n": 3300, "head+tail at 512": 0.85, "windows, mean": 0.875,
                        "chosen_rule": "windows, mean"}  # fmt: skip
    text = recipes.describe_long_reviews(rep)
    assert text.startswith("3,300 test reviews are longer than 512 tokens.")
    assert "'windows, mean' was best on the 600 long validation reviews (88.0%)" in text
    assert "on test it scored 87.5%, 'head+tail at 512' 85.0%." in text
    rep["long_test"] = {"n": 0}
    assert "no test reviews longer" in recipes.describe_long_reviews(rep)
