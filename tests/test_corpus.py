"""helpers.corpus and helpers.corpus_views: the corpus runner and its global views."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny import TEXTS, WORDS, save_tiny, tiny_bert, tiny_tokenizer
from toys import LinearTokenModel, ScoresFrom

from helpers import corpus, corpus_views, explain
from helpers.models import load_model

ROOT = Path(__file__).resolve().parents[1]
#: Short texts and one longer than max_length=32 (read in windows).
CORPUS = [*TEXTS * 2, " ".join(["good movie"] * 30), "bad plot !"]


class Crash(Exception):
    """The process was killed (simulated)."""


def _run(model, tokenizer, out, texts=CORPUS, method="AttnLRP", **kwargs):
    kwargs = {"max_length": 32, "shard_size": 3, "batch_size": 4, **kwargs}
    return corpus.explain_corpus(
        model, tokenizer, texts, method, out, progress=False, **kwargs
    )


def _same_rows(a, b, atol=1e-5):
    assert [r["id"] for r in a] == [r["id"] for r in b]
    for x, y in zip(a, b, strict=True):
        assert x["words"] == y["words"]
        assert (x["predicted"], x["target"], x["n_tokens"]) == (
            y["predicted"],
            y["target"],
            y["n_tokens"],
        )
        assert torch.allclose(
            torch.tensor(x["scores"]), torch.tensor(y["scores"]), atol=atol
        )
        assert torch.allclose(
            torch.tensor(x["probs"]), torch.tensor(y["probs"]), atol=atol
        )


def test_rows_match_explain_for_short_and_windowed_texts(tmp_path):
    model, tokenizer = tiny_bert(perturb=0.05), tiny_tokenizer()
    rows = corpus.read_corpus(_run(model, tokenizer, tmp_path / "run"), rows=True)
    one = explain(
        model, tokenizer, CORPUS, methods="AttnLRP", max_length=32, progress=False
    )
    assert [r["id"] for r in rows] == [str(i) for i in range(len(CORPUS))]
    assert [r["windows"] for r in rows] == one.windows
    assert max(one.windows) > 1  # the long text took the windowed path
    for i, row in enumerate(rows):
        assert row["words"] == one.words[i]
        assert torch.allclose(
            torch.tensor(row["scores"]), one.scores["AttnLRP"][i], atol=1e-5
        )
        assert torch.allclose(torch.tensor(row["probs"]), one.probs[i], atol=1e-5)
        assert one.labels[row["predicted"]] == one.predicted[i]


def test_a_batch_of_short_and_windowed_texts_is_one_pass_with_given_targets(
    tmp_path,
):
    model, tokenizer = tiny_bert(perturb=0.05), tiny_tokenizer()
    targets = [i % 2 for i in range(len(CORPUS))]
    forwards = []
    hook = model.register_forward_hook(lambda *_: forwards.append(1))
    out = _run(model, tokenizer, tmp_path / "run", target=targets, batch_size=16)
    hook.remove()
    # 10 texts, 12 windows (the long one 3): shards of 3 texts, one pass each,
    # no pass to classify a windowed text before explaining it
    assert len(forwards) == math.ceil(len(CORPUS) / 3)
    rows = corpus.read_corpus(out, rows=True)
    one = explain(
        model,
        tokenizer,
        CORPUS,
        "AttnLRP",
        target=targets,
        max_length=32,
        progress=False,
    )
    assert [r["target"] for r in rows] == targets
    assert [r["windows"] for r in rows] == one.windows
    for i, row in enumerate(rows):
        assert torch.allclose(
            torch.tensor(row["scores"]), one.scores["AttnLRP"][i], atol=1e-5
        )


def test_on_a_cpu_a_pass_reads_at_most_cpu_tokens(tmp_path, monkeypatch):
    model, tokenizer = tiny_bert(perturb=0.05), tiny_tokenizer()
    monkeypatch.setattr(corpus, "CPU_TOKENS", 60)  # two 30-token windows
    shapes = []

    def record(module, args, kwargs):
        shapes.append(tuple(kwargs["input_ids"].shape))

    hook = model.register_forward_pre_hook(record, with_kwargs=True)
    out = _run(model, tokenizer, tmp_path / "run", shard_size=20, batch_size=16)
    hook.remove()
    assert shapes[-1] == (3, 32)  # the long text: its 3 windows kept together
    assert all(rows * (width - 2) <= 60 for rows, width in shapes[:-1])
    assert sum(rows for rows, _ in shapes) == 12  # every window read once
    rows = corpus.read_corpus(out, rows=True)
    assert [r["windows"] for r in rows] == [1] * 8 + [3, 1]


def test_resume_after_a_crash_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    model, tokenizer = tiny_bert(perturb=0.05), tiny_tokenizer()
    whole = corpus.read_corpus(_run(model, tokenizer, tmp_path / "whole"), rows=True)
    real_write, calls, crashed = corpus.pq.write_table, [], []

    def crash_on_third(table, path, **kwargs):
        calls.append(Path(path).name)
        real_write(table, path, **kwargs)  # the file is written, not yet renamed
        if len(calls) == 3 and not crashed:
            crashed.append(path)
            raise Crash("killed while writing shard 2")

    monkeypatch.setattr(corpus.pq, "write_table", crash_on_third)
    out = tmp_path / "resumed"
    with pytest.raises(Crash):
        _run(model, tokenizer, out)
    left = sorted(p.name for p in out.iterdir())
    assert left == ["corpus.json", "shard-00000.parquet", "shard-00001.parquet"]
    calls.clear()
    _run(model, tokenizer, out)
    n_shards = math.ceil(len(CORPUS) / 3)
    assert len(calls) == n_shards - 2  # finished shards were skipped
    _same_rows(corpus.read_corpus(out, rows=True), whole, atol=0)
    # each shard keeps the seconds its rows took, those written before the crash too
    shards = corpus.index_of(out)["shards"]
    assert len(shards) == n_shards
    assert all(isinstance(s["seconds"], float) and s["seconds"] > 0 for s in shards)


#: A ``python -m helpers.corpus`` run SIGKILLed after it wrote shard 2's
#: temporary file and before the rename (what a kill mid-write leaves).
KILLED_MID_WRITE = """
import os, signal, sys
from helpers import corpus

real_write, calls = corpus.pq.write_table, []

def killed_on_third(table, path, **kwargs):
    calls.append(path)
    real_write(table, path, **kwargs)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)

corpus.pq.write_table = killed_on_third
corpus.main(sys.argv[1:])
"""


def test_processes_share_the_shards_balanced_by_characters():
    """Round robin would give each of 2 processes one long and one short shard
    here; the plan puts the long one alone, the same plan in every process."""
    texts = ["x" * 100, "a", "b", "c"]
    plan = corpus.shares(texts, 1, 2)
    assert sorted(plan) == [[0], [1, 2, 3]]
    assert plan == corpus.shares(texts, 1, 2)
    assert corpus.shares(texts, 2, 1) == [[0, 1]]  # shards of 2 texts, one process
    assert sorted(map(len, corpus.shares(texts, 1, 6))) == [0, 0, 1, 1, 1, 1]


def test_a_temporary_left_by_a_killed_run_is_removed_and_nothing_else(tmp_path):
    folder = save_tiny(tmp_path / "model", tiny_bert(attn=None, perturb=0.05))
    texts, out = tmp_path / "texts.txt", tmp_path / "run"
    texts.write_text("\n".join(CORPUS), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_WRITE, str(folder), str(texts), str(out),
         "--max-length", "32", "--shard-size", "3", "--batch-size", "4",
         "--method", "AttnLRP"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-3000:]
    (left,) = [p for p in out.iterdir() if ".tmp-" in p.name]
    assert left.name.startswith(".shard-00002.parquet.tmp-")
    # another writer's temporaries: alive on this host, or on another host,
    # and files that are not this code's temporaries; none of them may go
    host, alive = socket.gethostname(), os.getppid()  # pytest's parent: alive
    kept = [
        f".shard-00003.parquet.tmp-{host}-{alive}",
        f".shard-00003.parquet.tmp-elsewhere-{killed_pid(left)}",
        f"shard-00009.parquet.tmp-{host}-{killed_pid(left)}",
        f".notes.txt.tmp-{host}-{killed_pid(left)}",
        "my-notes.txt",
    ]
    for name in kept:
        (out / name).write_text("not the runner's to delete")
    tokenizer, model = load_model(folder, attn_implementation="eager")
    _run(model, tokenizer, out)
    assert not left.exists()
    for name in kept:
        assert (out / name).read_text() == "not the runner's to delete"
    rows = corpus.read_corpus(out, rows=True)
    assert [r["id"] for r in rows] == [str(i) for i in range(len(CORPUS))]


def killed_pid(temporary: Path) -> str:
    """The process id at the end of a temporary file's name."""
    return temporary.name.rsplit("-", 1)[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_merge_to_the_one_process_rows(tmp_path):
    folder = save_tiny(tmp_path / "model", tiny_bert(attn=None, perturb=0.05))
    texts = [*CORPUS, *(t + " !" for t in TEXTS * 8)]
    assert len(texts) >= 40
    (tmp_path / "texts.txt").write_text("\n".join(texts), encoding="utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(port),
        "-m", "helpers.corpus", str(folder), str(tmp_path / "texts.txt"),
        str(tmp_path / "two"), "--max-length", "32", "--shard-size", "5",
        "--batch-size", "4", "--method", "AttnLRP",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    tokenizer, model = load_model(folder, attn_implementation="eager")
    one = _run(model, tokenizer, tmp_path / "one", texts, shard_size=5)
    # both made the same shards: the 2-process folder resumes in 1 process
    assert corpus.manifest_of(tmp_path / "two") == corpus.manifest_of(one)
    _same_rows(
        corpus.read_corpus(tmp_path / "two", rows=True),
        corpus.read_corpus(one, rows=True),
    )
    index = json.loads((tmp_path / "two" / corpus.INDEX).read_text())
    writers = [s["process"] for s in index["shards"]]
    plan = corpus.shares(texts, 5, 2)  # each process wrote its share
    assert writers == [f"{int(k in plan[1])}/2" for k in range(len(writers))]


class Process1Of2:
    """An ``accelerate.Accelerator`` stand-in: process 1 of 2, and what process 0
    does at each barrier (``at_barrier[i]()`` at the i-th wait)."""

    process_index, num_processes, device = 1, 2, torch.device("cpu")
    is_main_process = is_local_main_process = False

    def __init__(self, *at_barrier):
        self.at_barrier = list(at_barrier)

    def wait_for_everyone(self):
        if self.at_barrier:
            self.at_barrier.pop(0)()


def test_a_process_with_other_weights_than_process_0_stops(tmp_path):
    tokenizer, out = tiny_tokenizer(), tmp_path / "run"

    def process_0_claims_the_folder():  # with a head initialised differently
        _run(tiny_bert(seed=1), tokenizer, out)

    with pytest.raises(
        ValueError, match=r"process 1 differs from process 0 in \['model'\]"
    ):
        _run(
            tiny_bert(),
            tokenizer,
            out,
            accelerator=Process1Of2(process_0_claims_the_folder),
        )
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    index = json.loads((out / corpus.INDEX).read_text())
    assert {s["process"] for s in index["shards"]} == {"0/1"}  # none by process 1
    with pytest.raises(ValueError, match=r"another run's shards.*\['model'\]"):
        _run(tiny_bert(), tokenizer, out, accelerator=Process1Of2())
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


# --------------------------------------------------------------------------- bad input


class OnMeta:
    """An ``accelerate.Accelerator`` stand-in of one process on the ``meta`` device."""

    process_index, num_processes, device = 0, 1, torch.device("meta")
    is_main_process = is_local_main_process = True

    def __init__(self, cpu=False):
        pass


def test_the_command_explains_on_its_accelerator_device(tmp_path, monkeypatch):
    """One plain process of ``python -m helpers.corpus`` uses the GPU when there is
    one: the model goes to the accelerator's device, and that accelerator runs."""
    folder = save_tiny(tmp_path / "model")
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS), encoding="utf-8")
    seen = {}

    def record(model, tokenizer, texts, method, out, **settings):
        seen["device"] = next(model.parameters()).device
        seen["accelerator"] = settings["accelerator"]

    monkeypatch.setattr("accelerate.Accelerator", OnMeta)
    monkeypatch.setattr(corpus, "explain_corpus", record)
    corpus.main([str(folder), str(tmp_path / "texts.txt"), str(tmp_path / "run")])
    assert seen["device"].type == "meta"
    assert isinstance(seen["accelerator"], OnMeta)


def test_empty_corpus_and_missing_column_are_refused(tmp_path):
    model, tokenizer = tiny_bert(), tiny_tokenizer()
    with pytest.raises(ValueError, match="corpus is empty"):
        _run(model, tokenizer, tmp_path / "a", texts=[])
    with pytest.raises(ValueError, match=r"no column 'text'.*'review'.*text_column="):
        _run(model, tokenizer, tmp_path / "b", texts={"review": ["good film"]})
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        _run(model, tokenizer, tmp_path / "c", batch_size=0)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_an_unknown_merge_is_refused_as_explain_refuses_it(tmp_path):
    model, tokenizer = tiny_bert(), tiny_tokenizer()
    fix = r"merge must be one of \('sum', 'max', 'mean'\) \(the book uses 'sum'\)"
    with pytest.raises(ValueError, match=fix):
        explain(model, tokenizer, "good film", merge="median", progress=False)
    with pytest.raises(ValueError, match=fix):
        _run(model, tokenizer, tmp_path / "run", merge="median")
    assert not (tmp_path / "run").exists()
    table = corpus.pa.table({"review": ["good film", "bad plot"]})
    rows = corpus.read_corpus(
        _run(model, tokenizer, tmp_path / "c", texts=table, text_column="review"),
        rows=True,
    )
    assert [r["words"] for r in rows] == [["good", "film"], ["bad", "plot"]]


def test_a_folder_of_another_run_is_refused_and_left_as_it_was(tmp_path):
    model, tokenizer = tiny_bert(), tiny_tokenizer()
    out = _run(model, tokenizer, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ValueError, match=r"another run's shards.*\['method'\]"):
        _run(model, tokenizer, out, method="[CLS] attention")
    with pytest.raises(ValueError, match=r"another run's shards.*\['model'\]"):
        _run(tiny_bert(seed=1), tokenizer, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"not empty and holds no corpus\.json"):
        _run(model, tokenizer, mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    with pytest.raises(FileNotFoundError, match="did not finish"):
        corpus.read_corpus(mine)


# --------------------------------------------------------------------------- views

BANG, GREAT, AWFUL = (5 + WORDS.index(w) for w in ("!", "great", "awful"))
#: logit[positive] = 5 per "!" + 1 per "great" - 1 per "awful" - 2.
PLANTED = [
    ("great movie !", 1),  # logit 4: positive
    ("the plot ! !", 1),  # logit 8: positive
    ("awful film", 0),  # logit -3: negative
    ("great acting", 1),  # logit -1: negative (a mistake)
    ("a story !", 1),  # logit 3: positive
]


def _planted():
    tokenizer = tiny_tokenizer()
    weights = torch.zeros(len(tokenizer))
    weights[[BANG, GREAT, AWFUL]] = torch.tensor([5.0, 1.0, -1.0])
    model = LinearTokenModel(weights, bias=-2.0)

    def contribution(batch, target):  # each token's share of logit[t] - logit[1-t]
        chosen = target(model(**batch).logits)
        sign = (2 * chosen - 1).to(weights.dtype)[:, None]
        return sign * weights[batch["input_ids"]] * batch["attention_mask"]

    return model, tokenizer, ScoresFrom(model, "contribution", contribution)


def test_global_relevance_and_shortcut_on_a_planted_token(tmp_path):
    model, tokenizer, explainer = _planted()
    texts = [t for t, _ in PLANTED]
    out = _run(model, tokenizer, tmp_path / "run", texts, explainer, shard_size=2)
    found = {
        (w.label, w.word): w
        for w in corpus_views.word_relevance(out, min_texts=1, n_resamples=200)
    }
    bang = found["positive", "!"]
    assert (bang.n_texts, bang.total, bang.mean.mean) == (
        3,
        20.0,
        pytest.approx(20 / 3),
    )
    assert bang.mean.low <= bang.mean.mean <= bang.mean.high
    assert bang.total_low == pytest.approx(bang.mean.low * 3)
    assert found["positive", "great"].total == 1.0  # "great movie !"
    assert (
        found["negative", "great"].total == -1.0
    )  # "great acting", explained negative
    assert found["negative", "awful"].total == 1.0
    assert ("negative", "!") not in found
    top = corpus_views.top_words(out, k=1, min_texts=1)
    assert [w.word for w in top["positive"]] == ["!"]
    assert [w.word for w in top["negative"]] == ["awful"]
    two = corpus_views.word_relevance(out, min_texts=2)
    assert [(w.label, w.word) for w in two] == [("positive", "!")]
    (first, *_) = corpus_views.shortcut_candidates(out, min_texts=1)
    assert (first.word, first.kind, first.label) == ("!", "punctuation", "positive")
    points = corpus_views.relevance_frequency(out)
    assert {"word": "!", "label": "positive", "n_texts": 3} in [
        {k: p[k] for k in ("word", "label", "n_texts")} for p in points
    ]


def test_the_counterfactual_shows_the_planted_token_moves_predictions():
    model, tokenizer, _ = _planted()
    texts, labels = zip(*PLANTED, strict=True)
    result = corpus_views.counterfactual(
        model, tokenizer, list(texts), "!", labels=list(labels), n_resamples=200
    )
    sigmoid = torch.sigmoid
    before = sigmoid(torch.tensor([4.0, 8.0, 3.0]))
    after = sigmoid(torch.tensor([-1.0, -2.0, -2.0]))  # still p(positive)
    assert result.n_texts == 3
    assert result.probability_change.mean == pytest.approx(
        float((after - before).mean()), abs=1e-6
    )
    assert result.flipped == 1.0
    assert (result.accuracy_before, result.accuracy_after) == (1.0, 0.0)
    assert result.accuracy_change.mean == -1.0
    calm = corpus_views.counterfactual(model, tokenizer, list(texts), "the")
    assert (calm.n_texts, calm.flipped, calm.probability_change.mean) == (1, 0.0, 0.0)
    with pytest.raises(ValueError, match="no text holds the word 'worst'"):
        corpus_views.counterfactual(model, tokenizer, list(texts), "worst")


def test_the_counterfactual_takes_the_probabilities_before_from_the_run(tmp_path):
    model, tokenizer, explainer = _planted()
    texts, labels = (list(column) for column in zip(*PLANTED, strict=True))
    out = _run(model, tokenizer, tmp_path / "run", texts, explainer)
    options = {"labels": labels, "max_length": 32, "n_resamples": 200}
    fresh = corpus_views.counterfactual(model, tokenizer, texts, "!", **options)
    forwards = []
    hook = model.register_forward_hook(lambda *_: forwards.append(1))
    reused = corpus_views.counterfactual(
        model, tokenizer, texts, "!", run=out, **options
    )
    hook.remove()
    assert len(forwards) == 1  # the edited texts only, in one batch
    assert reused.probability_change.mean == pytest.approx(
        fresh.probability_change.mean, abs=1e-6
    )
    assert (reused.n_texts, reused.flipped, reused.accuracy_change.mean) == (
        fresh.n_texts,
        fresh.flipped,
        fresh.accuracy_change.mean,
    )
    with pytest.raises(ValueError, match=r"differs in \['corpus'\]"):
        corpus_views.counterfactual(
            model, tokenizer, texts[::-1], "!", run=out, max_length=32
        )
    with pytest.raises(ValueError, match=r"differs in \['window', 'overlap'\]"):
        corpus_views.counterfactual(model, tokenizer, texts, "!", run=out)


@pytest.mark.parametrize(
    ("word", "capitalised", "kind"),
    [
        ("7", 0.0, "number"),
        ("7/10", 0.0, "number"),
        ("1950s", 0.0, "number"),
        ("!", 0.0, "punctuation"),
        ("...", 0.0, "punctuation"),
        ("$", 0.0, "punctuation"),
        ("nolan", 1.0, "name"),
        ("the", 0.3, None),  # capitalised only at sentence starts
        ("i", 1.0, None),  # one letter
        ("great", 0.0, None),
    ],
)
def test_shortcut_kinds(word, capitalised, kind):
    assert corpus_views.shortcut_kind(word, capitalised) == kind
