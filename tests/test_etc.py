"""The ETC Dataset loader: layout, the labelling rule, the split by dialogue, errors.

Everything runs on small hand-made dialogues written to tmp_path.
"""

from __future__ import annotations

import json
import tarfile

import pytest

from helpers.data import DataError, etc

JOY, SAD, ANGER, FEAR, DISGUST, SURPRISE, NONE = (
    "喜び",
    "悲しみ",
    "怒り",
    "恐怖",
    "嫌悪",
    "驚き",
    "該当なし",
)

#: dialogue file -> turns (role, utterance, transcription, 3 annotators' emotions)
DIALOGUES = {
    "0001.json": [
        ("speaker", "試験に合格して嬉しいです。", "嬉しかった", [[JOY], [JOY], [NONE]]),
        ("listener", "それは良かったですね。", "一緒に喜んだ", [[JOY], [JOY], [JOY]]),
        ("speaker", "財布をなくしました。", "悲しかった", [[SAD], [SAD, FEAR], [JOY]]),
        ("listener", "こんにちは", "挨拶した", [[NONE], [NONE], [SURPRISE]]),
    ],
    "0002.json": [
        (
            "speaker",
            "電車が遅れて腹が立ちました。",
            "怒った",
            [[ANGER], [DISGUST], [NONE]],
        ),
        ("listener", "大変でしたね。", "同情した", [[SAD], [JOY], [SURPRISE]]),
        ("speaker", "でも友達に会えました。", "複雑", [[JOY, SAD], [JOY, SAD], [JOY]]),
    ],
    "0003.json": [
        (
            "speaker",
            "猫が病気になって不安です。",
            "心配だった",
            [[FEAR], [FEAR], [FEAR]],
        ),
        ("listener", "こんにちは", "挨拶した", [[NONE], [NONE], [NONE]]),
    ],
    "0004.json": [
        (
            "speaker",
            "旅行がとても楽しかったです。",
            "楽しかった",
            [[JOY], [JOY], [JOY]],
        ),
        ("listener", "びっくりしました。", "驚いた", [[SURPRISE], [SURPRISE], [JOY]]),
    ],
}
SPLIT = {
    "train": ["0001.json", "0002.json"],
    "valid": ["0003.json"],
    "test": ["0004.json"],
}


def write_etc(root, dialogues=DIALOGUES, split=SPLIT, top="ETCDataset"):
    """Write ``root/<top>/etc/{split.json,dialogues/*.json}``, return ``root/<top>``."""
    base = root / top
    folder = base / "etc" / "dialogues"
    folder.mkdir(parents=True)
    (base / "etc" / "split.json").write_text(json.dumps(split), encoding="utf-8")
    for name, turns in dialogues.items():
        rows = [
            {
                "turn": i // 2 + 1,
                "role": role,
                "utterance": text,
                "emotion_transcription": transcription,
                "emotions": emotions,
            }
            for i, (role, text, transcription, emotions) in enumerate(turns)
        ]
        data = {
            "dialogue_id": int(name[:4]),
            "dialogue_emotion": "楽しい",
            "dialogue": rows,
        }
        (folder / name).write_text(
            json.dumps(data, ensure_ascii=False), encoding="utf-8"
        )
    return base


@pytest.fixture
def etc_root(tmp_path, monkeypatch):
    monkeypatch.delenv(etc.ETC_ENV, raising=False)
    return write_etc(tmp_path)


def quiet_load(split, root, **kw):
    with pytest.warns(UserWarning, match="differs from ETC commit"):
        return etc.load_etc(split, root, **kw)


# --------------------------------------------------------------------------- #
# The labelling rule
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "annotations, label",
    [
        ([[JOY], [JOY], [NONE]], 1),  # two joy votes
        ([[JOY], [JOY], [SAD]], 1),  # majority wins over one dissent
        ([[SAD], [ANGER, DISGUST], [JOY]], 0),  # any negative emotions count
        ([[FEAR], [FEAR], [FEAR]], 0),
        ([[JOY], [JOY, SURPRISE], [NONE]], None),  # joy + surprise is no vote
        ([[JOY, SAD], [JOY, SAD], [JOY]], None),  # mixed feelings: no vote
        ([[SURPRISE], [SURPRISE], [SURPRISE]], None),
        ([[NONE], [NONE], [JOY]], None),
        ([[SAD], [JOY], [SURPRISE]], None),
    ],
)
def test_utterance_label_is_the_majority_of_annotator_votes(annotations, label):
    assert etc.utterance_label(annotations) == label


def test_annotator_vote():
    assert etc.annotator_vote([JOY]) == 1
    assert etc.annotator_vote([SAD, FEAR, ANGER, DISGUST]) == 0
    assert etc.annotator_vote([]) is None and etc.annotator_vote([NONE]) is None


# --------------------------------------------------------------------------- #
# Layout and splits
# --------------------------------------------------------------------------- #
def test_folder_is_found_from_itself_its_parent_or_etc(etc_root):
    assert etc.check_etc_folder(etc_root) == etc_root
    assert etc.check_etc_folder(etc_root.parent) == etc_root
    assert etc.check_etc_folder(etc_root / "etc") == etc_root


def test_missing_folder_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"(?s)not found.*ETC_DIR") as err:
        etc.check_etc_folder(tmp_path / "nowhere")
    assert etc.ETC_COMMIT in str(err.value)
    write_etc(tmp_path, top="ETCDataset")
    write_etc(tmp_path, top="ETCDataset-copy")
    with pytest.raises(DataError, match="several ETC copies"):
        etc.check_etc_folder(tmp_path)


def test_labels_ids_and_dropped_counts(etc_root):
    train = quiet_load("train", etc_root)
    assert train.texts == [
        "試験に合格して嬉しいです。",
        "それは良かったですね。",
        "財布をなくしました。",
        "電車が遅れて腹が立ちました。",
    ]
    assert train.labels == [1, 1, 0, 0] and train.skipped == 3
    assert train.ids[0] == "etc-0001-1-speaker" and train.ids[3] == "etc-0002-1-speaker"
    assert "CC BY-NC 4.0" in train.source
    speakers = quiet_load("train", etc_root, roles=("speaker",))
    assert speakers.labels == [1, 0, 0] and speakers.skipped == 1
    with pytest.raises(ValueError, match="roles"):
        etc.load_etc("train", etc_root, roles=("narrator",))
    with pytest.raises(ValueError, match="split must be one of"):
        etc.load_etc("dev", etc_root)


def test_transcriptions_carry_the_same_labels(etc_root):
    notes = quiet_load("train", etc_root, text="emotion_transcription")
    assert notes.texts == ["嬉しかった", "一緒に喜んだ", "悲しかった", "怒った"]
    assert notes.labels == [1, 1, 0, 0]
    assert notes.ids[0] == "etc-0001-1-speaker-transcription"
    assert "emotion transcriptions" in notes.source
    with pytest.raises(ValueError, match="text must be one of"):
        etc.load_etc("train", etc_root, text="emotions")


def test_splits_follow_split_json_by_dialogue(etc_root):
    sets = {s: quiet_load(s, etc_root) for s in etc.SPLITS}
    dialogues = {s: {i.split("-")[1] for i in r.ids} for s, r in sets.items()}
    assert dialogues == {"train": {"0001", "0002"}, "valid": {"0003"}, "test": {"0004"}}
    assert sets["valid"].texts == ["猫が病気になって不安です。"]
    assert sets["test"].labels == [1]


# --------------------------------------------------------------------------- #
# Errors: corrupt or missing files
# --------------------------------------------------------------------------- #
def test_missing_dialogue_file_is_named(etc_root):
    (etc_root / "etc" / "dialogues" / "0002.json").unlink()
    with (
        pytest.raises(DataError, match=r"0002\.json is missing"),
        pytest.warns(UserWarning),
    ):
        etc.load_etc("train", etc_root)


def test_corrupt_json_is_named(etc_root):
    (etc_root / "etc" / "dialogues" / "0004.json").write_text('{"dialogue": [', "utf-8")
    with (
        pytest.raises(DataError, match=r"0004\.json is not valid UTF-8 JSON"),
        pytest.warns(UserWarning),
    ):
        etc.load_etc("test", etc_root)
    (etc_root / "etc" / "split.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(DataError, match=r"split\.json is not valid"):
        etc.read_split(etc_root)


@pytest.mark.parametrize(
    "turn, problem",
    [
        ({"role": "narrator"}, "'role' must be one of"),
        ({"utterance": None}, "'utterance' must be a string"),
        ({"emotions": [["幸福"], [JOY], [JOY]]}, "'emotions' must be"),
    ],
)
def test_malformed_turn_names_file_and_entry(etc_root, turn, problem):
    path = etc_root / "etc" / "dialogues" / "0003.json"
    data = json.loads(path.read_text("utf-8"))
    data["dialogue"][1].update(turn)
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    with pytest.raises(DataError, match=rf"0003\.json, entry 1: {problem}"):
        etc.read_dialogue(path)


def test_split_json_must_be_disjoint_and_complete(etc_root):
    path = etc_root / "etc" / "split.json"
    path.write_text(json.dumps({**SPLIT, "test": ["0001.json"]}))
    with pytest.raises(DataError, match=r"0001\.json is in both 'train' and 'test'"):
        etc.read_split(etc_root)
    path.write_text(json.dumps({"train": [], "test": []}))
    with pytest.raises(DataError, match="must map exactly"):
        etc.read_split(etc_root)


# --------------------------------------------------------------------------- #
# Finding the data: ETC_DIR, content digest, download
# --------------------------------------------------------------------------- #
def test_env_var_is_used_and_other_content_warns(etc_root, monkeypatch):
    monkeypatch.setenv(etc.ETC_ENV, str(etc_root.parent))
    with pytest.warns(UserWarning, match="differs from ETC commit 6c4f7e10"):
        assert etc.find_etc() == etc_root
    monkeypatch.setattr(etc, "ETC_CONTENT_SHA256", etc.etc_content_digest(etc_root))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert etc.find_etc() == etc_root


def test_content_digest_ignores_packing_but_not_content(tmp_path, etc_root):
    other = write_etc(tmp_path / "elsewhere", top="ETCDataset-6c4f7e10")
    (other / "README.md").write_text("not part of the digest")
    assert etc.etc_content_digest(other) == etc.etc_content_digest(etc_root)
    (other / "etc" / "dialogues" / "0004.json").write_text("{}")
    assert etc.etc_content_digest(other) != etc.etc_content_digest(etc_root)


def _fake_download(source_root, tmp_path):
    archive = tmp_path / "codeload.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source_root, arcname=f"ETCDataset-{etc.ETC_COMMIT}")

    def download(url, dest, sha256=None, offline_hint=""):
        assert url == etc.ETC_URL and url.endswith(etc.ETC_COMMIT)
        dest.write_bytes(archive.read_bytes())
        return dest

    return download


def test_download_checks_the_content(etc_root, tmp_path, monkeypatch):
    monkeypatch.setattr(etc, "download", _fake_download(etc_root, tmp_path))
    with pytest.raises(DataError, match="other content than commit 6c4f7e10"):
        etc.find_etc()
    assert not list(etc.data_dir().glob("*.tar.gz")), "the bad archive is deleted"
    with pytest.raises(DataError, match="not found: set \\$ETC_DIR"):
        etc.find_etc(download_if_missing=False)


def test_download_then_extracted_copy_is_reused(etc_root, tmp_path, monkeypatch):
    monkeypatch.setattr(etc, "download", _fake_download(etc_root, tmp_path))
    monkeypatch.setattr(etc, "ETC_CONTENT_SHA256", etc.etc_content_digest(etc_root))
    root = etc.find_etc()
    assert root.name == f"ETCDataset-{etc.ETC_COMMIT}" and root.parent == etc.etc_home()
    assert etc.load_etc("test").texts == ["旅行がとても楽しかったです。"]
    monkeypatch.setattr(etc, "download", None)  # a second call must not download
    assert etc.find_etc() == root


def _fill_data_folder(folder):
    """What a reader's data folder holds besides ETC, plus a stray etc/split.json
    of another ETC commit at its top (the case that once deleted it all)."""
    files = {
        "aclImdb/test/pos/0_9.txt": "a great film",
        "eraser_movies/val.jsonl": "{}",
        "checkpoints/model/config.json": "{}",
        "etc/split.json": json.dumps({"train": [], "valid": [], "test": []}),
        "etc/dialogues/0001.json": "[]",
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return files


@pytest.mark.parametrize("top", ["ETCDataset-commit", "etc-at-the-top"])
def test_a_bad_download_deletes_only_the_loaders_own_folder(
    etc_root, tmp_path, monkeypatch, top
):
    files = _fill_data_folder(etc.data_dir())
    source = etc_root if top != "etc-at-the-top" else etc_root / "etc"
    archive = tmp_path / "other-commit.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="etc" if top == "etc-at-the-top" else top)

    def download(url, dest, sha256=None, offline_hint=""):
        dest.write_bytes(archive.read_bytes())
        return dest

    monkeypatch.setattr(etc, "download", download)
    monkeypatch.setattr(etc, "ETC_CONTENT_SHA256", "0" * 64)  # a different commit
    with pytest.raises(DataError, match=r"the loader's own folder.*nothing else"):
        etc._download_etc()
    for name, text in files.items():  # every file of the data folder survives
        assert (etc.data_dir() / name).read_text(encoding="utf-8") == text
    assert not etc.etc_home().exists()
    assert not list(etc.data_dir().glob("*.tar.gz"))


@pytest.mark.parametrize("name", ["../../secret.json", "/etc/passwd", "a/b.json"])
def test_split_json_naming_a_file_outside_dialogues_is_refused(etc_root, name):
    path = etc_root / "etc" / "split.json"
    split = json.loads(path.read_text(encoding="utf-8"))
    split["test"] = [name]
    path.write_text(json.dumps(split), encoding="utf-8")
    with pytest.raises(DataError, match="not a plain file name"):
        etc.read_split(etc_root)


def test_licence_and_citation():
    assert "CC BY-NC 4.0" in etc.LICENCE and "impersonate" in etc.LICENCE
    assert (
        "田中" in etc.CITATION and "言語処理学会第32回年次大会 (2026)" in etc.CITATION
    )
    assert etc.ETC_URL == (
        "https://codeload.github.com/UEC-InabaLab/ETCDataset/tar.gz/"
        "6c4f7e10ff2cd3191c2375248b35de095a480d91"
    )


def test_an_extracted_etc_is_read_from_a_read_only_folder(monkeypatch, read_only):
    monkeypatch.delenv(etc.ETC_ENV, raising=False)
    folder = etc.data_dir()
    write_etc(etc.etc_home())  # what the loader extracted there before
    before = sorted(folder.rglob("*"))
    read_only(folder)
    assert etc.load_etc("test").texts == ["旅行がとても楽しかったです。"]
    assert sorted(folder.rglob("*")) == before
