"""The prepare step of ``make book``: what it builds is what the chapters load.

Everything runs on the hand-made ETC dialogues and a tiny chABSA in a
temporary folder (never the real data), with a tiny random 12-layer XLM-R
standing in for multilingual-e5-small (never the 465 MB model); the settings
are the chapters' own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from test_etc import write_etc
from tiny import tiny_architecture

from helpers import align, config, ja
from helpers.book import prepare
from helpers.data import etc
from helpers.ja import choose
from helpers.ja import model as ja_model
from helpers.models import ModelLoadError, load_model

pytestmark = pytest.mark.filterwarnings("ignore:.*differs from ETC commit")

ROOT = Path(__file__).resolve().parent.parent
CHABSA_POS = [
    "売上高は増加しました。",
    "利益は好調に推移しました。",
    "受注が増加しました。",
]
CHABSA_NEG = [
    "売上高は減少しました。",
    "市場は厳しい状況でした。",
    "受注が減少しました。",
]
CHABSA_TEST = ["営業利益は大幅に減少しました。", "海外の売上が好調でした。"]


def tiny_e5(id2label, seed):
    """A random 12-layer XLM-R and a unigram tokenizer in place of e5 (seconds)."""
    model, tokenizer = tiny_architecture("xlm-roberta", layers=12, seed=seed)
    model.config.id2label = id2label
    model.config.label2id = {v: k for k, v in id2label.items()}
    return tokenizer, model


@pytest.fixture
def book_data(tmp_path, monkeypatch):
    """The environment ``make book`` runs in, with tiny ETC and chABSA folders."""
    torch.set_num_threads(1)
    chabsa = tmp_path / "chabsa"
    chabsa.mkdir()
    rows = [(t, 1) for t in CHABSA_POS] + [(t, 0) for t in CHABSA_NEG]
    train = "".join(f"{t}\t{y}\t\n" for t, y in rows * 2)
    (chabsa / "train.tsv").write_text(train, encoding="utf-8")
    test = f"{CHABSA_TEST[0]}\t0\t\n{CHABSA_TEST[1]}\t1\t\n"
    (chabsa / "test.tsv").write_text(test, encoding="utf-8")
    monkeypatch.setenv(ja.CHABSA_ENV, str(chabsa))
    monkeypatch.setenv(etc.ETC_ENV, str(write_etc(tmp_path / "etc")))
    monkeypatch.setenv(config.PROFILE_ENV, "quick")
    # the offline models, even where the hub model is in the local cache
    monkeypatch.setattr(choose, "hub_model_cached", lambda *a, **k: False)
    monkeypatch.setattr(ja_model, "load_e5_small", tiny_e5)
    return chabsa


def no_training(monkeypatch):
    """Make every Japanese model's training fail: from now on they must load."""

    def fail(*args, **kwargs):
        raise AssertionError("the prepared model should be loaded, not trained")

    monkeypatch.setattr(ja_model, "train_e5_sentiment", fail)


def model_folder() -> Path:
    """The cached sentiment model's folder (the only one in the data folder)."""
    (folder,) = (config.data_dir() / "checkpoints").glob("japanese-e5-sentiment-*")
    return folder


def test_a_model_trained_behind_a_prefix_reads_it_when_loaded(book_data, tmp_path):
    settings = ja.SentimentSettings.for_profile(config.get_profile())
    settings = dataclasses.replace(settings, prefix="query: ")
    ja_model.train_e5_sentiment(tmp_path / "model", settings)
    tokenizer = load_model(tmp_path / "model")[0]
    texts = list(ja.sentiment_data()["train"].texts)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    for text, ids in zip(texts, tokenizer(texts)["input_ids"], strict=True):
        plain = tokenizer("query: " + text, add_special_tokens=False)["input_ids"]
        assert ids == [cls, *plain, sep]
    # the prefix is no word of the sentence: explanations never show it
    words = align.word_map(tokenizer, CHABSA_POS[0])
    assert words.words == [CHABSA_POS[0]]


def test_make_book_runs_the_prepare_step_before_the_chapters():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^book:.*\n((?:\t.*\n)+)", makefile, re.M)[1]
    lines = recipe.splitlines()
    record = "_build/prepared.json"  # the artefacts' fingerprints, for the build
    step = lines.index(f"\t$(PY) -m helpers.book.prepare --record {record}")
    build = next(i for i, line in enumerate(lines) if "build_book.py" in line)
    assert step < build
    assert f'"{record}"' in (ROOT / ".ci" / "build_book.py").read_text()


def test_each_artefact_is_loaded_by_its_chapter_with_the_same_call():
    assert [a.name for a in prepare.ARTEFACTS] == [
        "Japanese sentiment model",
        "test sample explained (AttnLRP, [CLS] attention)",
    ]
    for artefact in prepare.ARTEFACTS:
        code = (ROOT / artefact.chapter).read_text(encoding="utf-8")
        assert artefact.call in code, (artefact.chapter, artefact.call)
    assert prepare.ARTEFACTS[0].build is ja.get_japanese_model


def test_prepare_then_chapter_4_loads_what_it_made(
    book_data, monkeypatch, capsys, tmp_path
):
    record = tmp_path / "_build" / "prepared.json"  # what `make book` passes
    assert prepare.main(["--record", str(record)]) == 0
    made = json.loads(record.read_text())
    japanese = made["Japanese sentiment model"]
    assert japanese["chapter"] == "notebooks/04_gradcam.py"  # the build reruns it
    assert re.fullmatch("[0-9a-f]{64}", japanese["fingerprint"])
    corpus_run = made["test sample explained (AttnLRP, [CLS] attention)"]
    assert corpus_run == {"chapter": "notebooks/09_corpus.py", "fingerprint": "skipped"}
    first = capsys.readouterr().out
    assert "prepare: Japanese sentiment model (notebooks/04_gradcam.py" in first
    assert re.search(
        r"Training <data>/checkpoints/japanese-e5-sentiment-\S+: there is no", first
    )
    assert re.search(r"prepare: Japanese sentiment model: ready in [\d.]+ s", first)
    folder = model_folder()
    assert not list(folder.parent.glob(".*"))  # no temporary left
    info = ja_model.read_training_info(folder)
    assert info["converted_from"] == ja.e5.provenance()
    for name in ("etc_test", "chabsa_test"):
        score = info["scores"][name]
        low, high = score["interval"]
        assert low <= score["accuracy"] <= high and score["n"] > 0
        diff = score["difference"]
        assert diff["mean"] == pytest.approx(score["accuracy"] - score["bow_accuracy"])
    # every training sentence is read whole: the length comes from the data
    tokenizer = load_model(folder)[0]
    train_texts = ja.sentiment_data()["train"].texts
    longest = max(len(ids) for ids in tokenizer(train_texts)["input_ids"])
    assert info["settings"]["max_length"] == longest
    # the caching pass ran in the precision the book's settings name
    wanted = ja.SentimentSettings.for_profile(config.get_profile()).training
    assert info["settings"]["bf16_cache"] is wanted.bf16_cache is True

    no_training(monkeypatch)
    assert prepare.main(["--record", str(record)]) == 0
    assert json.loads(record.read_text()) == made  # loaded: the same fingerprint
    second = capsys.readouterr().out
    assert f"Loading the cached <data>/checkpoints/{folder.name}." in second
    assert "Training" not in second
    # chapter 4's cell, as it is written there: same profile, data and settings
    profile = config.get_profile()
    _, model, description = ja.get_japanese_model(profile)
    assert etc.CITATION in ja.data_sources(model)
    assert set(ja.E5_CREDITS) <= set(ja.data_sources(model))
    assert description.startswith("offline: intfloat/multilingual-e5-small")
    assert "ETC test" in description and "chABSA test" in description
    assert (
        capsys.readouterr().out
        == f"Loading the cached <data>/checkpoints/{folder.name}.\n"
    )
    # the full profile tries the hub first; when that fails it warns, then loads
    # (here with the quick profile's settings, so the prepared model is found)
    full = config.get_profile("full")
    quick_settings = ja.SentimentSettings.for_profile(profile)
    real_load = choose.load_model

    def offline_only(name, *args, **kwargs):
        if str(name) == ja.HUB_MODEL:
            raise ModelLoadError("no hub here")
        return real_load(name, *args, **kwargs)

    monkeypatch.setattr(choose, "load_model", offline_only)
    with pytest.warns(ja.HubFallbackWarning, match="no hub here"):
        got = ja.get_japanese_model(full, settings=quick_settings)
        assert got[2] == description


def test_the_model_folder_names_every_setting_it_was_trained_with(book_data):
    quick = config.get_profile("quick")
    settings = ja.SentimentSettings.for_profile(quick)
    training = settings.training
    assert training.trainable_layers == quick.ja_trainable_layers
    assert training.max_length == quick.ja_max_length
    assert training.epochs == quick.ja_epochs
    assert training.lr == quick.ja_lr
    folder = ja.e5_sentiment_path(settings)
    assert ja.e5_sentiment_path(settings) == folder  # the same settings, found again
    full = ja.SentimentSettings.for_profile(config.get_profile("full"))
    others = [
        full,
        ja.SentimentSettings(training=training.with_(epochs=training.epochs + 1)),
        ja.SentimentSettings(training=training.with_(lr=training.lr / 2)),
        ja.SentimentSettings(training=training, train_transcriptions=False),
        ja.SentimentSettings(
            training=training.with_(bf16_cache=not training.bf16_cache)
        ),
        ja.SentimentSettings(
            training=training.with_(bf16_train=not training.bf16_train)
        ),
    ]
    names = {ja.e5_sentiment_path(other).name for other in others}
    assert folder.name not in names and len(names) == len(others)


def test_a_corrupt_or_stale_cache_is_trained_again(book_data, capsys, tmp_path):
    prepare.prepare(record=tmp_path / "before.json")
    folder = model_folder()
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a truncated file
    mine = config.data_dir() / "checkpoints" / "my-notes.txt"
    mine.write_text("not the book's")
    capsys.readouterr()

    prepare.prepare(record=tmp_path / "after.json")
    out = capsys.readouterr().out
    assert (
        f"Training <data>/checkpoints/{folder.name}: model.safetensors is corrupt"
        in out
    )
    # trained again: `make book` sees a new fingerprint and runs chapter 4 again
    assert (tmp_path / "before.json").read_text() != (
        tmp_path / "after.json"
    ).read_text()
    assert ja.get_japanese_model(config.get_profile())[2].startswith("offline:")
    (folder / "tokenizer.json").unlink()
    prepare.prepare()
    assert "tokenizer.json, named in checksums.sha256, is missing" in (
        capsys.readouterr().out
    )

    # other data: another folder, trained; the old one and the user's file stay
    (book_data / "test.tsv").write_text(f"{CHABSA_TEST[0]}\t0\t\n", encoding="utf-8")
    prepare.prepare()
    assert "there is no checkpoint yet" in capsys.readouterr().out
    folders = sorted(
        (config.data_dir() / "checkpoints").glob("japanese-e5-sentiment-*")
    )
    assert len(folders) == 2 and folder in folders
    assert mine.read_text() == "not the book's"


def test_missing_data_skips_the_artefact_and_says_so(monkeypatch, capsys):
    monkeypatch.delenv(ja.CHABSA_ENV, raising=False)
    monkeypatch.setenv(config.PROFILE_ENV, "quick")
    monkeypatch.setattr(choose, "hub_model_cached", lambda *a, **k: False)
    assert prepare.main([]) == 0
    out = capsys.readouterr().out
    assert "prepare: Japanese sentiment model: skipped, its data is not here" in out
    assert "the chapter says how to get it" in out
    # chapter 2's model is not trained: the corpus run waits for the chapters
    assert "prepare: test sample explained (AttnLRP, [CLS] attention): skipped" in out
    assert "chapter 2 has not fine-tuned its model yet" in out
    assert not (config.data_dir() / "checkpoints").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_busy_build_stops_its_processes_and_passes_the_status_on(tmp_path):
    ci = tmp_path / "repo" / ".ci"
    ci.mkdir(parents=True)
    for name in ("busy_build.sh", "data_env.sh"):
        shutil.copy2(ROOT / ".ci" / name, ci / name)
    (ci.parent / "Makefile").write_text("book:\n\t@echo built\nbroken:\n\t@false\n")
    env = {**os.environ, "BUSY": "2"}

    def run(*targets):
        proc = subprocess.run(
            [str(ci / "busy_build.sh"), *targets],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        pids = re.search(r"processes \(([\d ]+)\)", proc.stdout)[1].split()
        assert len(pids) == 2
        for pid in pids:  # stopped by the trap (a zombie has no cmdline)
            cmdline = Path(f"/proc/{pid}/cmdline")
            assert not cmdline.exists() or not cmdline.read_bytes(), pid
        return proc

    ok = run()
    assert ok.returncode == 0 and "built" in ok.stdout
    assert re.search(r"make book exited with 0 after \d+ s beside 2 CPU", ok.stdout)
    failed = run("broken")
    assert failed.returncode == 2
    assert "make broken exited with 2" in failed.stdout


def test_an_artefacts_fingerprint_follows_its_files_not_their_times(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "index.json").write_text('{"shards": 1}')
    built = ({"AttnLRP": run}, "offline: a description")
    first = prepare.fingerprint(built)
    (run / "index.json").write_text('{"shards": 1}')  # written again, same bytes
    assert prepare.fingerprint(built) == first
    (run / "shard-00000.parquet").write_bytes(b"rows")  # made again, differently
    assert prepare.fingerprint(built) != first
    assert prepare.fingerprint((built[0], "hub: another model")) != (
        prepare.fingerprint(built)
    )


def test_prepare_chapter_prepares_only_what_that_chapter_loads(
    book_data, capsys, tmp_path
):
    """What the build runs after a chapter made its own artefact: only that one."""
    record = tmp_path / "after-build.json"
    args = ["--record", str(record), "--chapter", "notebooks/09_corpus.py"]
    assert prepare.main(args) == 0
    assert json.loads(record.read_text()) == {
        "test sample explained (AttnLRP, [CLS] attention)": {
            "chapter": "notebooks/09_corpus.py",
            "fingerprint": "skipped",  # no chapter 2 model in this data folder
        }
    }
    assert "Japanese sentiment model" not in capsys.readouterr().out
    assert not list(config.data_dir().glob("checkpoints/japanese-e5-*"))
    with pytest.raises(SystemExit):
        prepare.main(["--chapter", "notebooks/09_corpus.ipynb"])
    err = capsys.readouterr().err
    assert "no artefact is loaded by notebooks/09_corpus.ipynb" in err
    assert "notebooks/04_gradcam.py, notebooks/09_corpus.py" in err
