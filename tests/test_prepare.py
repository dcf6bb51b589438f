"""The prepare step of ``make book``: what it builds is what the chapters load.

Everything runs on the hand-made ETC dialogues and a tiny chABSA in a
temporary folder (never the real data); the settings are the chapters' own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from test_etc import write_etc
from test_japanese_pretrain import CHABSA_NEG, CHABSA_POS, CHABSA_TEST

from helpers import config, ja
from helpers.book import prepare
from helpers.data import etc
from helpers.ja import choose
from helpers.ja import model as ja_model
from helpers.ja import pretrain as jp

pytestmark = pytest.mark.filterwarnings("ignore:.*differs from ETC commit")

ROOT = Path(__file__).resolve().parent.parent


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
    return chabsa


def no_training(monkeypatch):
    """Make every Japanese model's training fail: from now on they must load."""

    def fail(*args, **kwargs):
        raise AssertionError("the prepared model should be loaded, not trained")

    monkeypatch.setattr(jp, "_train_mlm", fail)
    monkeypatch.setattr(jp, "train_everyday_model", fail)
    monkeypatch.setattr(ja_model, "train_japanese_model", fail)


def everyday_folder() -> Path:
    """The cached everyday model's folder (the only one in the data folder)."""
    (folder,) = (config.data_dir() / "checkpoints").glob("japanese-everyday-*")
    return folder


def test_make_book_runs_the_prepare_step_before_the_chapters():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("book", "book-incremental"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)[1]
        lines = recipe.splitlines()
        step = lines.index("\t$(PY) -m helpers.book.prepare")
        build = next(i for i, line in enumerate(lines) if "build_book.py" in line)
        assert step < build, target


def test_each_artefact_is_loaded_by_its_chapter_with_the_same_call():
    assert [a.name for a in prepare.ARTEFACTS] == [
        "Japanese sentiment model",
        "test sample explained (AttnLRP, [CLS] attention)",
    ]
    for artefact in prepare.ARTEFACTS:
        code = (ROOT / artefact.chapter).read_text(encoding="utf-8")
        assert artefact.call in code, (artefact.chapter, artefact.call)
    assert prepare.ARTEFACTS[0].build is ja.get_japanese_model


def test_prepare_then_chapter_4_loads_what_it_made(book_data, monkeypatch, capsys):
    assert prepare.main([]) == 0
    first = capsys.readouterr().out
    assert "prepare: Japanese sentiment model (notebooks/04_gradcam.py" in first
    assert re.search(
        r"Training <data>/checkpoints/japanese-mlm-\S+: there is no", first
    )
    assert "Training <data>/checkpoints/japanese-everyday-pretrained-" in first
    assert re.search(r"prepare: Japanese sentiment model: ready in [\d.]+ s", first)
    folder = everyday_folder()
    assert not list(folder.parent.glob(".*"))  # no resume state or temporary left

    no_training(monkeypatch)
    assert prepare.main([]) == 0
    second = capsys.readouterr().out
    assert f"Loading the cached <data>/checkpoints/{folder.name}." in second
    assert "Training" not in second
    # chapter 4's cell, as it is written there: same profile, data and settings
    profile = config.get_profile()
    _, model, description = ja.get_japanese_model(profile)
    assert etc.CITATION in ja.data_sources(model)
    assert (
        description.startswith("offline: 2-layer BERT") and "masked-LM" in description
    )
    assert (
        capsys.readouterr().out
        == f"Loading the cached <data>/checkpoints/{folder.name}.\n"
    )


def test_a_corrupt_or_stale_cache_is_trained_again(book_data, capsys):
    prepare.prepare()
    folder = everyday_folder()
    mlm = next((config.data_dir() / "checkpoints").glob("japanese-mlm-*"))
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a truncated file
    mine = config.data_dir() / "checkpoints" / "my-notes.txt"
    mine.write_text("not the book's")
    capsys.readouterr()

    prepare.prepare()
    out = capsys.readouterr().out
    assert (
        f"Training <data>/checkpoints/{folder.name}: model.safetensors is corrupt"
        in out
    )
    assert f"Loading the cached <data>/checkpoints/{mlm.name}." in out  # not retrained
    assert ja.get_japanese_model(config.get_profile())[2].startswith("offline:")
    (folder / "vocab.txt").unlink()
    prepare.prepare()
    assert "vocab.txt, named in checksums.sha256, is missing" in capsys.readouterr().out

    # other data: another folder, trained; the old one and the user's file stay
    (book_data / "test.tsv").write_text(f"{CHABSA_TEST[0]}\t0\t\n", encoding="utf-8")
    prepare.prepare()
    assert "there is no checkpoint yet" in capsys.readouterr().out
    folders = sorted((config.data_dir() / "checkpoints").glob("japanese-everyday-*"))
    assert len(folders) == 2 and folder in folders
    assert mine.read_text() == "not the book's"


def test_an_interrupted_prepare_step_resumes_its_pretraining(
    book_data, monkeypatch, capsys
):
    real, epochs = jp._mlm_epoch, []

    def epoch(*args):
        epochs.append(args)
        if len(epochs) == 3:
            raise KeyboardInterrupt  # the build stopped in epoch 3
        return real(*args)

    monkeypatch.setattr(jp, "_mlm_epoch", epoch)
    with pytest.raises(KeyboardInterrupt):
        prepare.main([])
    assert not list((config.data_dir() / "checkpoints").glob("japanese-*"))
    capsys.readouterr()
    monkeypatch.setattr(jp, "_mlm_epoch", real)
    assert prepare.main([]) == 0
    assert "Resuming pretraining after epoch 2" in capsys.readouterr().out
    assert everyday_folder().is_dir()


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
