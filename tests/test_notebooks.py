"""The chapters: paired, output-free, and each runs top to bottom on small data.

Every chapter's ``.py`` runs in this process, in chapter order, in its own
namespace (``runpy``), in the quick profile on a small IMDb-layout folder
(48 train and 48 test reviews: positive ones say "great", negative ones
"awful"). Chapter 2's checkpoint is reused by the later chapters, as in the
book. The tests then check facts each chapter computed, not only that it ran.
"""

from __future__ import annotations

import asyncio
import copy
import json
import runpy
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch

from helpers import config, corpus, data, train
from helpers.book import answers, corpus_sample, recipes, recommend

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# the chapters, then the appendices that are notebooks (they run after chapter 2)
SCRIPTS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")) + sorted(
    (ROOT / "notebooks").glob("appendix_*.py")
)
PER_LABEL = 24


def test_every_chapter_is_paired():
    assert SCRIPTS, "no chapters found"
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SCRIPTS]


def _write_eraser_folder(root: Path, n: int = 6) -> Path:
    """An ERASER-Movies layout (``docs/``, ``val.jsonl``) of short reviews whose
    human rationale is the word "great" or "awful"."""
    folder = root / "eraser_movies"
    (folder / "docs").mkdir(parents=True)
    rows = []
    for i in range(n):
        label, word = ("POS", "great") if i % 2 else ("NEG", "awful")
        docid = f"{label.lower()}R_{i:03d}.txt"
        words = f"the film was {word} . really {word} acting and plot".split()
        (folder / "docs" / docid).write_text(" ".join(words) + "\n", encoding="utf-8")
        spans = [
            [{"docid": docid, "start_token": j, "end_token": j + 1, "text": word}]
            for j, w in enumerate(words)
            if w == word
        ]
        rows.append(
            {"annotation_id": docid, "classification": label, "evidences": spans}
        )
    lines = "\n".join(json.dumps(r) for r in rows) + "\n"
    (folder / "val.jsonl").write_text(lines, encoding="utf-8")
    return folder


def test_toc_lists_every_chapter():
    toc = (ROOT / "_toc.yml").read_text()
    for script in SCRIPTS:
        assert f"notebooks/{script.stem}" in toc


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_in_sync_and_without_outputs(notebook):
    import jupytext

    nb = json.loads(notebook.read_text(encoding="utf-8"))
    with_outputs = [
        i
        for i, c in enumerate(nb["cells"])
        if c.get("outputs") or c.get("execution_count")
    ]
    assert not with_outputs, f"{notebook.name}: cells {with_outputs} carry outputs"
    cells = [
        [(c.cell_type, c.source.strip()) for c in jupytext.read(path).cells]
        for path in (notebook, notebook.with_suffix(".py"))
    ]
    assert cells[0] == cells[1], f"run `jupytext --sync {notebook.relative_to(ROOT)}`"


def _lab_contents_manager(root: Path):
    """The contents manager JupyterLab saves through under `make lab`.

    jupytext's (its server extension wraps jupyter_server's), with the
    repository's Jupyter config (``.jupyter/``); the notary's trust database
    stays in memory, not in the user's Jupyter folder.
    """
    from jupyter_server.services.contents.largefilemanager import (
        AsyncLargeFileManager,
    )
    from jupytext.async_contentsmanager import (
        build_async_jupytext_contents_manager_class,
    )
    from traitlets.config.loader import PyFileConfigLoader

    lab_config = ROOT / ".jupyter" / "jupyter_server_config.py"
    settings = PyFileConfigLoader(lab_config.name, str(lab_config.parent)).load_config()
    settings.NotebookNotary.db_file = ":memory:"
    manager = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)
    return manager(root_dir=str(root), config=settings)


@pytest.mark.filterwarnings("ignore:Overriding existing pre_save_hook")  # traitlets
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_opening_a_chapter_in_jupyterlab_leaves_the_tree_clean(notebook, tmp_path):
    """JupyterLab's first autosave after the kernel starts rewrites no file.

    Lab reads the chapter through the contents manager, the kernel adds its
    kernelspec and ``language_info`` (this Python's version), and the save
    writes both files of the pair into a copy of the folder: each must equal
    the committed one, byte for byte.
    """
    pytest.importorskip("jupyter_server")
    from ipykernel.ipkernel import IPythonKernel
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    shutil.copy2(ROOT / "jupytext.toml", tmp_path)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    manager = _lab_contents_manager(tmp_path)
    path = f"notebooks/{notebook.name}"
    spec = get_kernel_dict()

    async def open_start_kernel_and_save():
        model = await manager.get(path, content=True, type="notebook")
        content = json.loads(json.dumps(model["content"]))  # as Lab sends it back
        content["metadata"]["kernelspec"] = {
            "name": KERNEL_NAME,
            "display_name": spec["display_name"],
            "language": spec["language"],
        }
        content["metadata"]["language_info"] = copy.deepcopy(
            IPythonKernel.language_info
        )
        await manager.save({"type": "notebook", "content": content}, path)

    asyncio.run(open_start_kernel_and_save())
    for saved in (tmp_path / path, (tmp_path / path).with_suffix(".py")):
        committed = ROOT / "notebooks" / saved.name
        assert saved.read_text(encoding="utf-8") == committed.read_text(
            encoding="utf-8"
        ), f"JupyterLab rewrites {committed.relative_to(ROOT)} on its first save"


# --------------------------------------------------------------------------- #
# Running the chapters
# --------------------------------------------------------------------------- #
@pytest.fixture(autouse=True)
def _isolated_data_dir():
    """Overrides conftest's: the chapters share one data folder, as in the book."""


@pytest.fixture(scope="module")
def chapters(tmp_path_factory, make_imdb_folder):
    """``run(stem)`` runs a chapter once and returns its namespace (cached)."""
    base = tmp_path_factory.mktemp("chapters")
    imdb = make_imdb_folder(base, per_label=PER_LABEL)
    env = {
        "BERT_BOOK_PROFILE": "quick",
        "BERT_BOOK_DATA": str(base / "data"),
        "IMDB_DIR": str(imdb),
        "ERASER_DIR": str(_write_eraser_folder(base)),
        "MPLBACKEND": "Agg",
        "HF_HUB_OFFLINE": "1",
        "BENCH_RESULTS": str(ROOT / "bench" / "results"),
    }
    namespaces: dict[str, dict] = {}

    def run(stem: str) -> dict:
        if stem not in namespaces:
            import matplotlib.pyplot as plt

            script = ROOT / "notebooks" / f"{stem}.py"
            namespaces[stem] = runpy.run_path(str(script), run_name="__main__")
            plt.close("all")
        return namespaces[stem]

    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("CHABSA_DIR", raising=False)  # chapter 4: no Japanese training
        patch.chdir(base)
        yield run


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_chapter_runs_top_to_bottom(script, chapters):
    namespace = chapters(script.stem)
    if script.stem == "08_your_model":  # the appendix uses no profile, no IMDb
        assert "profile" not in namespace and "test" not in namespace
    else:
        assert namespace["profile"].name == "quick"


def test_chapter_1_loads_splits_and_pads(chapters):
    ns = chapters("01_data")
    train_all, test = ns["train_all"], ns["test"]
    assert train_all.source.startswith("IMDb train") and len(train_all) == 2 * PER_LABEL
    assert len(test) == 2 * PER_LABEL
    train, val = ns["train"], ns["val"]
    assert sorted(train.ids + val.ids) == sorted(train_all.ids)
    n_val = round(PER_LABEL * ns["profile"].val_fraction)
    assert Counter(val.labels) == {0: n_val, 1: n_val}
    # padding to max_length wastes most positions on these short reviews
    fixed, dynamic = ns["fixed"], ns["dynamic"]
    assert data.padding_fraction(fixed) > 0.5 > data.padding_fraction(dynamic)
    assert data.padding_fraction(ns["bucketed"]) <= data.padding_fraction(dynamic)
    back = data.read_tsv(ns["tsv"])
    assert back.labels == test.labels[:5]
    assert ns["batch"]["input_ids"].shape[0] == ns["profile"].batch_size
    # duplicates are counted in the reviews the chapter loaded
    duplicates = ns["duplicates"]
    assert duplicates.sizes == {"train": len(train_all), "test": len(test)}
    assert duplicates == data.count_duplicates(train_all, test)


def test_chapter_2_trains_a_classifier_equal_to_the_handmade_one(chapters):
    ns = chapters("02_finetune")
    inputs = ns["inputs"]
    with torch.no_grad():
        handmade_logits = ns["handmade"](**inputs)
        bypassed = ns["bypassed"](**inputs).logits
    torch.testing.assert_close(handmade_logits, bypassed, atol=1e-5, rtol=1e-4)
    result, scores = ns["result"], ns["scores"]
    assert 1 <= result.best_epoch <= ns["profile"].epochs
    assert result.checkpoint == train.checkpoint_path(ns["profile"])
    assert result.checkpoint.is_relative_to(config.data_dir())
    assert int(scores["confusion"].sum()) == len(ns["test_set"]) == 2 * PER_LABEL
    # "great" against "awful": the classifier learns it
    assert scores["accuracy"] >= 0.9
    # the running example: one row per review, right or wrong as computed
    rows = ns["rows"]
    assert [r["name"] for r in rows] == [e.name for e in ns["examples"].RUNNING]
    assert sorted(ns["right"] + ns["wrong"]) == sorted(r["name"] for r in rows)


def test_appendix_training_checks_the_cache_and_reads_the_benchmark(chapters):
    ns = chapters("appendix_training")
    # the cached path of chapter 2's fine-tuned model = its full forward pass,
    # up to float16 rounding (2**-11 of each value, carried through the top)
    cached, full = ns["cached"], ns["full"]
    torch.testing.assert_close(
        cached, full, atol=2e-3 * float(full.abs().max()), rtol=0
    )
    assert torch.equal(cached.argmax(-1), full.argmax(-1))
    assert (
        ns["n_steps"] * ns["profile"].batch_size >= ns["kept"]["settings"]["train_size"]
    )
    # the recipe steps and the full-data figure are read from bench/results
    steps, final = ns["steps"], ns["final"]
    assert [s["keep"] for s in steps] == ["head"] + ["head+tail"] * 3
    schedules = ["constant", "constant", "linear", "linear"]
    assert [s["schedule"] for s in steps] == schedules
    assert [s["max_length"] for s in steps] == [256, 256, 256, 512]
    assert final["test"]["source"].startswith("IMDb test (25000 reviews")
    assert ns["first_run"]["test"] is None  # the baseline read no test review
    assert "90.38%" in recipes.describe_benchmark(final)
    # chapter 3's sample: the same reviews and predictions, read with an interval
    ch3 = chapters("03_attention")
    assert ns["sample"].ids == ch3["sample"].ids
    assert ns["n_right"] == len(ch3["correct"])
    assert ns["low"] <= ns["sample_accuracy"] <= ns["high"]


def test_chapter_3_attention_sums_and_sample(chapters):
    ns = chapters("03_attention")
    attn, mask = ns["attn"], ns["inputs"]["attention_mask"]
    real = mask[0].bool()
    sums = attn[0, :, :, real][..., real].sum(-1)
    torch.testing.assert_close(sums, torch.ones_like(sums))
    assert float(attn[0, :, :, :, ~real].abs().sum()) == 0.0
    profile, test, sample = ns["profile"], ns["test"], ns["sample"]
    expected = data.sample_reviews(test, profile.explain_reviews, seed=profile.seed)
    assert sample.ids == expected.ids
    assert len(sample) == min(profile.explain_reviews, len(test))
    torch.testing.assert_close(
        ns["mean_mass"].sum(dim=1), torch.ones(ns["layers"]), atol=1e-5, rtol=0
    )
    correct, n_tokens = ns["correct"], ns["n_tokens"]
    assert ns["shown"] in correct
    assert n_tokens[ns["shown"]] == min(n_tokens[i] for i in correct)
    assert sum(ns["last_shares"].values()) == pytest.approx(1.0, abs=1e-4)


def test_chapter_3_running_example_heat_map_rollout_and_reading(chapters):
    ns = chapters("03_attention")
    from helpers.book import examples

    # words: the sum keeps the attention on the pieces
    assert float(ns["word_scores"].sum()) == pytest.approx(ns["piece_total"])
    top = ns["running_top"]
    assert list(top) == [e.name for e in examples.RUNNING]
    assert all(len(words) == 3 for words in top.values())
    # the heat map: heads and the mean, each row scaled to its own maximum
    gem, image = ns["gem"], ns["fig"].axes[0].images[0].get_array()
    assert image.shape == (gem.n_heads + 1, len(gem.tokens) - 2)
    assert list(image.max(axis=1)) == pytest.approx([1.0] * (gem.n_heads + 1))
    # rollout by hand agrees with the helper
    torch.testing.assert_close(ns["rollout_by_hand"], ns["rollout_helper"])
    assert float(ns["rollout_by_hand"].sum()) == pytest.approx(1.0, abs=1e-5)
    # reading the highlights: one fall per word, top-K lists compared
    words, drop, K = ns["review_words"], ns["drop"], ns["K"]
    assert drop.shape == (len(words),)
    assert len(ns["by_attention"]) == min(K, len(words))
    assert 0 <= ns["shared"] <= len(ns["by_attention"])
    # ... of the review the stated rule picks, masked on the ids
    from helpers import attention

    confidence, profile = ns["confidence"], ns["profile"]
    expected = attention.unsaturated_review(
        confidence, ns["correct"] or range(len(ns["sample"])), seed=profile.seed
    )
    assert ns["read"] == expected
    assert ns["probs"].shape == (len(words) + 1, 2)
    assert float(ns["p_label"][0]) == pytest.approx(confidence[expected], abs=1e-4)


def test_appendix_attention_exports_the_gem_and_explores_the_sample(chapters):
    ns = chapters("appendix_attention")
    page = ns["page"].read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page and "head 0" in page
    assert ns["page"].parent == ns["figures"]
    assert ns["sample"].ids == chapters("03_attention")["sample"].ids
    # the explorer opens on the sample's first review, in the same 'view'
    widget = ns["widget"]
    assert widget.texts == ns["sample"].texts and widget.names == ns["sample"].ids
    assert ns["sample"].ids[0] in widget.output.value


def test_chapter_4_gradcam_matches_captum_on_the_shortest(chapters):
    ns = chapters("04_gradcam")
    ours, reference = ns["ours"], ns["reference"]
    torch.testing.assert_close(ours, reference, atol=1e-4 * float(ours.max()), rtol=0)
    results, sample, lengths = ns["results"], ns["sample"], ns["lengths"]
    assert len(results) == len(sample) == min(ns["profile"].explain_reviews, 48)
    kept = sorted(lengths)[: len(sample)]
    assert sorted(len(r.tokens) for r in results) == kept
    stats = ns["stats"]
    n_layers = results[0].score("Grad-CAM").shape[0]
    assert all(values.shape == (n_layers,) for values in stats.values())
    findings = ns["findings"]
    assert len(findings) == 4 and all(line.startswith("* **") for line in findings)
    assert f"{n_layers} layers" in findings[0]
    # the idea in code (hook, retain_grad, mean gradient, ReLU) is the helper's map
    by_hand, helper = ns["by_hand"], ns["helper"]
    assert by_hand.shape == helper.shape == (len(ns["enc"]["input_ids"][0]),)
    torch.testing.assert_close(by_hand, helper, atol=1e-5, rtol=1e-4)
    # the running example: every layer for the three reviews
    assert [len(r.tokens) for r in ns["running"]] == [
        len(ns["tokenizer"](e.text)["input_ids"]) for e in ns["examples"].RUNNING
    ]
    # every pair of layers compared on every review, ρ = 1 on the diagonal
    agreement = ns["agreement"]
    assert agreement.shape == (len(results), n_layers, n_layers)
    assert (agreement.diagonal(axis1=1, axis2=2) == 1).all()
    assert "reviews" in ns["gradcam_figures"].describe_layer_agreement(agreement)


def test_appendix_long_reviews_explains_every_token_of_the_longest(chapters):
    ns = chapters("appendix_long_reviews")
    # no review here is over 512 tokens: the longest is drawn, and read whole
    whole, tok = ns["whole"], ns["tokenizer"]
    longest = max(len(tok(t)["input_ids"]) for t in ns["test"].texts)
    assert ns["n_over"] == 0
    assert ns["long_n"] == longest and len(whole.tokens) == longest - 2
    assert whole.score().shape == (longest - 2,)
    assert list(whole.scores) == [ns["cam_mean"].name]
    assert not whole.truncated and whole.text == ns["long_text"]


def test_chapter_5_measures_every_method_against_the_floor(chapters):
    ns = chapters("05_faithfulness")
    results, rows, cascade = ns["results"], ns["rows"], ns["cascade"]
    assert results.n == len(ns["reviews"])
    assert [r["method"] for r in rows] == list(ns["methods"])
    assert all(r["n"] == results.n for r in rows)
    assert "random" in results.methods and 0.0 <= rows[0]["ties"] <= 1.0
    assert cascade.n == min(ns["profile"].cascade_reviews, results.n)
    assert set(cascade.methods) == set(ns["methods"])
    verdicts = {r["method"]: r["sanity"] for r in rows}
    assert verdicts.pop("random") == "baseline"
    assert all(v == "pass" or v.startswith("fail: ") for v in verdicts.values())
    # rollout does not read the classifier head: it cannot pass
    assert verdicts["rollout"].startswith("fail: ignores the classifier")
    # comprehensiveness by hand = the helper; the running example lost 3 words each
    torch.testing.assert_close(ns["comp_helper"], ns["comp_by_hand"], atol=1e-5, rtol=0)
    assert [len(words) for words in ns["deleted"]] == [3, 3, 3]
    # "before" is the model's own probability of the class it predicts, and
    # the gem line reads the first row
    probs = ns["train"].predict_logits(
        ns["model"], ns["tokenizer"], ns["examples"].texts()
    )
    for d, p in zip(ns["deletions"], probs.softmax(-1), strict=True):
        assert d["target"] == int(p.argmax())
        assert abs(d["before"] - float(p[d["target"]])) < 1e-4
    assert ns["gem_deleted"] is ns["deletions"][0]


def test_chapter_6_conserves_and_measures_plausibility(chapters):
    ns = chapters("06_transformer")
    split = ns["split"]
    torch.testing.assert_close(
        split["tokens"] + split["biases"], split["logit"], atol=1e-4, rtol=0
    )
    assert list(ns["maps"]) == ns["NAMES"]
    plaus = ns["plaus"]
    assert len(plaus) == 6 and plaus.accuracy == pytest.approx(
        float((plaus.predictions == plaus.labels).mean())
    )
    # the human rationale is always inside the few tokens explained
    assert float(plaus.coverage.min()) == 1.0
    assert [r["method"] for r in ns["plaus_rows"]] == ns["NAMES"]
    costs = ns["costs"]
    # random: no gradient, one forward pass for the logits of its record
    assert costs["random"].forwards == 1 and costs["random"].backwards == 0
    assert costs["CP-LRP"].backwards == 1
    # gradient-weighted rollout by hand = the helper; the book's finding is computed
    # the verdict judges the recommended method, if one beats random and passes
    candidate = recommend.recommend(ns["rows"], exclude=("random", "IG"))
    assert len(ns["checks"]) == (0 if candidate is None else 5)
    assert ns["text"].startswith("No method" if candidate is None else f"**{candidate}")

    torch.testing.assert_close(ns["helper_map"], ns["by_hand"], atol=1e-5, rtol=0)
    finding = ns["book_finding"]
    assert finding.startswith("On this model, ") and finding.endswith(".")
    assert finding == answers.finding(ns["book_rows"], ns["recommended"])
    # ... and stated once, at the end of the conclusion
    assert ns["book_conclusion"].count(finding) == 1
    assert ns["book_conclusion"].endswith(finding)
    assert {"rollout", "Grad-CAM L0"} <= {r["method"] for r in ns["book_rows"]}
    # every row of the finding carries its sanity verdict
    assert all("sanity" in r for r in ns["book_rows"])
    assert ns["recommended"] == recommend.recommendations(ns["rows"])


def test_chapter_7_explains_edits_and_the_whole_sample(chapters):
    ns = chapters("07_explore")
    result = ns["result"]
    assert len(result.words) == 3 and result.labels == ["negative", "positive"]
    assert set(result.scores) == {"AttnLRP", "[CLS] attention"}
    for words, scores in zip(result.words, result.scores["AttnLRP"], strict=True):
        assert len(words) == len(scores)
    # the explorer re-explains an edited text in the chapter's own widget
    widget = ns["widget"]
    widget.text.value = "A dull film."
    page = widget.explain()
    assert "dull" in page and "film" in page
    # aggregate view: one point per test review, bins cover every review
    assert ns["points"].shape == (len(ns["test"]), 2)
    assert sum(r["n"] for r in ns["rows"]) == len(ns["test"])
    # chapter 2's misclassified reviews, explained whole
    if ns["worst"]:
        assert len(ns["wrong_result"].texts) == len(ns["worst"])
    # each edit: both texts explained for the class predicted before it
    pairs = ns["edit_pairs"]
    assert len(pairs) == len(ns["edits"])
    for (before, after), pair in zip(ns["edits"], pairs.values(), strict=True):
        assert pair.texts == [before, after] and pair.target[0] == pair.target[1]
    assert ns["source"] is None  # the chapters' IMDb here holds no 12380_7


def test_chapter_9_explains_the_sample_once_and_tests_its_candidates(chapters):
    ns = chapters("09_corpus")
    runs, reviews = ns["runs"], ns["reviews"]
    assert list(runs) == ["AttnLRP", "[CLS] attention"]
    for folder in runs.values():
        assert folder.parent == config.data_dir() / "corpus"
        assert corpus.read_corpus(folder)["id"].to_pylist() == reviews.ids
    assert len(reviews.texts) == min(ns["profile"].corpus_reviews, 2 * PER_LABEL)
    assert set(ns["by_total"]) == set(ns["attention"]) == {"negative", "positive"}
    assert all(w.kind is not None for w in ns["candidates"])
    tested = [t.word for t in ns["tests"]]
    assert tested == list(dict.fromkeys(w.word for w in ns["candidates"]))[:3]
    # the same call again loads the finished shards: none is computed again
    shards = {p: p.stat().st_mtime_ns for f in runs.values() for p in f.glob("shard-*")}
    assert len(shards) == 2
    assert corpus_sample.explain_test_sample(ns["profile"]) == runs
    assert {p: p.stat().st_mtime_ns for p in shards} == shards


def test_appendix_explains_a_three_label_roberta_by_label_name(chapters):
    ns = chapters("08_your_model")
    model, result = ns["model"], ns["result"]
    assert type(model).__name__ == "RobertaForSequenceClassification"
    assert result.labels == ["negative", "neutral", "positive"]
    for words in result.words:
        assert not {"<s>", "</s>"} & set(words)
        assert not any(w.startswith("Ġ") for w in words)
    assert result.words[2] == ["The", "sommelier", "was", "lovely", "."]
    # the toy task is learnt: the deciding word is predicted and leads
    assert result.predicted[0] == "negative"
    assert result.top_words(0, "AttnLRP", k=1)[0][0] == "dreadful"
    # one map per class of the mixed sentence, and the check against random
    assert list(ns["class_maps"]) == result.labels
    faithful, difference = ns["faithful"], ns["difference"]
    assert faithful.methods == ["AttnLRP", "random"] and difference.n == 60
    assert difference == faithful.versus_baseline("AttnLRP")


def test_appendix_explains_japanese_with_a_slow_mecab_tokenizer(chapters):
    ns = chapters("08_your_model")
    tokenizer, result = ns["ja_tokenizer"], ns["ja_result"]
    assert type(tokenizer).__name__ == "BertJapaneseTokenizer" and not tokenizer.is_fast
    assert result.texts == ["私は不運な人間です。"]
    assert result.words[0] == ["私", "は", "不運", "な", "人間", "です", "。"]
    assert len(result.scores["AttnLRP"][0]) == len(result.words[0])
