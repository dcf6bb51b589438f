"""Japanese: chABSA, MeCab words, save/load, labels, the hub path.

Everything runs on tiny TSVs written to tmp_path (no chABSA, no hub needed).
"""

from __future__ import annotations

import re

import pytest
import torch
from tiny import save_tiny, tiny_bert, tiny_mecab_tokenizer
from transformers import BertJapaneseTokenizer

from helpers import ja
from helpers.config import get_profile
from helpers.data import DataError
from helpers.ja import choose
from helpers.models import ModelLoadError, load_model

SENTENCE = "私は不運な人間です。"
POSITIVE = [
    "売上高は増加しました。",
    "利益は好調に推移しました。",
    "受注が増加し、業績は好調でした。",
    "新製品の販売が好調でした。",
    "営業利益は増加しました。",
    "海外の売上が増加しました。",
]
NEGATIVE = [
    "売上高は減少しました。",
    "市場は厳しい状況でした。",
    "受注が減少し、業績は低迷しました。",
    "私は不運な人間です。",
    "営業利益は減少しました。",
    "競争の激化により厳しい状況でした。",
]


def save_japanese_model(folder):
    """``(tokenizer, model)`` saved in ``folder`` for ``load_model``.

    A tiny MeCab tokenizer over the test sentences' words and a tiny 2-layer
    BERT (0 = negative, 1 = positive).
    """
    words = sorted({w for ws in ja.mecab_words(POSITIVE + NEGATIVE) for w in ws})
    tokenizer = tiny_mecab_tokenizer(words)
    labels = {0: "negative", 1: "positive"}
    model = tiny_bert(vocab_size=len(tokenizer), id2label=labels)
    save_tiny(folder, model, tokenizer)
    return tokenizer, model


def write_tsv(path, rows):
    path.write_text(
        "".join(f"{text}\t{label}\t\n" for text, label in rows), encoding="utf-8"
    )
    return path


@pytest.fixture
def chabsa_dir(tmp_path):
    """A chABSA-layout folder: train.tsv (repeated tiny sentences) and test.tsv."""
    folder = tmp_path / "chabsa"
    folder.mkdir()
    rows = [(t, 1) for t in POSITIVE] + [(t, 0) for t in NEGATIVE]
    write_tsv(folder / "train.tsv", rows * 3)
    write_tsv(folder / "test.tsv", rows)
    return folder


@pytest.fixture
def no_chabsa_env(monkeypatch):
    monkeypatch.delenv(ja.CHABSA_ENV, raising=False)


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #
def test_load_chabsa_from_path_and_env(chabsa_dir, monkeypatch):
    reviews = ja.load_chabsa("test", chabsa_dir)
    assert len(reviews) == 12 and sum(reviews.labels) == 6
    assert reviews[0] == (POSITIVE[0], 1) and reviews.ids[0] == "chabsa-test-0"
    assert "chABSA" in reviews.source and "CC BY 4.0" in reviews.source
    monkeypatch.setenv(ja.CHABSA_ENV, str(chabsa_dir))
    assert ja.load_chabsa("train").texts == reviews.texts * 3


def test_missing_chabsa_says_how_to_get_it(tmp_path, no_chabsa_env):
    with pytest.raises(DataError, match="chakki-works/chABSA-dataset") as err:
        ja.load_chabsa("train", tmp_path / "nowhere")
    assert ja.CHABSA_ENV in str(err.value)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        ja.load_chabsa("dev", tmp_path)


@pytest.mark.parametrize(
    "bad_row, problem",
    [
        ("利益は増加しました。", "no label"),
        ("利益は増加しました。\t2\t", "label '2'"),
        ("\t1\t", "empty text"),
    ],
)
def test_bad_tsv_row_names_file_and_line(tmp_path, bad_row, problem):
    path = tmp_path / "train.tsv"
    path.write_text(
        f"{POSITIVE[0]}\t1\t\n{NEGATIVE[0]}\t0\t\n{bad_row}\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=rf"train\.tsv, line 3: {problem}"):
        ja.read_chabsa_tsv(path)


# --------------------------------------------------------------------------- #
# Model: save / load through the book's loader, label order
# --------------------------------------------------------------------------- #
def test_save_load_round_trip_through_load_model(tmp_path):
    folder = tmp_path / "ja-model"
    tok, model = save_japanese_model(folder)
    loaded_tok, loaded = load_model(folder, attn_implementation="eager")
    assert isinstance(loaded_tok, BertJapaneseTokenizer)
    assert loaded_tok.mecab_kwargs == {"mecab_dic": "ipadic"}
    assert loaded.config.num_hidden_layers == 2 and loaded.config.hidden_size == 32
    inputs = loaded_tok([SENTENCE, POSITIVE[0]], padding=True, return_tensors="pt")
    assert inputs["input_ids"].equal(
        tok([SENTENCE, POSITIVE[0]], padding=True, return_tensors="pt")["input_ids"]
    )
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits)
        assert len(loaded(**inputs, output_attentions=True).attentions) == 2
    assert ja.positive_label_id(loaded) == 1 and ja.label_name(loaded, 0) == "negative"


@pytest.mark.parametrize(
    "id2label, positive",
    [
        ({0: "ポジティブ", 1: "ネガティブ"}, 0),
        ({0: "ネガティブ", 1: "ポジティブ"}, 1),
        ({0: "POSITIVE", 1: "NEGATIVE"}, 0),
        ({0: "negative", 1: "other"}, 1),
        ({0: "LABEL_0", 1: "LABEL_1"}, 1),
    ],
)
def test_positive_label_id_reads_the_config(id2label, positive):
    from transformers import BertConfig

    class Stub:
        config = BertConfig(id2label=id2label)

    assert ja.positive_label_id(Stub()) == positive


# --------------------------------------------------------------------------- #
# get_japanese_model: errors, training, caching
# --------------------------------------------------------------------------- #
def test_no_hub_and_no_chabsa_is_a_clear_error(tmp_path, no_chabsa_env):
    with pytest.raises(
        ModelLoadError,
        match=r"(?s)No Japanese sentiment model.*chABSA-dataset.*CHABSA_DIR",
    ):
        ja.get_japanese_model(get_profile("quick"), chabsa_path=tmp_path / "nowhere")


def test_hub_model_is_used_when_it_loads(tiny_model_dir, monkeypatch, no_chabsa_env):
    calls = []

    def fake_hub(name, num_labels=2, attn_implementation=None):
        calls.append((name, attn_implementation))
        return load_model(tiny_model_dir)

    monkeypatch.setattr(choose, "load_model", fake_hub)
    tok, model, description = ja.get_japanese_model(
        get_profile("full"), attn_implementation="eager"
    )
    assert tok.vocab == load_model(tiny_model_dir)[0].vocab
    assert model.config.num_hidden_layers == 2
    assert calls == [(ja.HUB_MODEL, "eager")] and description.startswith(
        f"hub: {ja.HUB_MODEL}"
    )
    monkeypatch.setattr(choose, "hub_model_cached", lambda name=ja.HUB_MODEL: True)
    assert ja.get_japanese_model(get_profile("quick"))[2].startswith(
        "hub:"
    )  # cached: quick uses it too


def test_use_ipadic_fixes_configs_without_a_dictionary():
    tok = tiny_mecab_tokenizer(ja.mecab_words([SENTENCE])[0])
    tok.mecab_kwargs, tok.word_tokenizer = (
        None,
        None,
    )  # as an old config without mecab_kwargs
    assert ja.use_ipadic(tok) is tok and tok.mecab_kwargs == {"mecab_dic": "ipadic"}
    assert tok.tokenize(SENTENCE) == ["私", "は", "不運", "な", "人間", "です", "。"]


def test_whole_japanese_gradcam_path_on_a_locally_built_model(tmp_path):
    """MeCab words, WordPiece, Grad-CAM per layer, japanize plot, unspaced highlight."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.attr import GradCam
    from helpers.book.gradcam_figures import plot_gradcam
    from helpers.gradcam import gradcam_for_texts
    from helpers.highlight import highlight_html

    folder = tmp_path / "ja-model"
    save_japanese_model(folder)
    tokenizer, model = load_model(folder)

    texts = [SENTENCE, POSITIVE[0]]
    results = gradcam_for_texts(model, tokenizer, texts, progress=False)
    first = results[0]
    cam = first.score("Grad-CAM")
    # MeCab (ipadic) words, then WordPiece: 私 / は / 不運 / な / 人間 / です / 。
    assert first.tokens[0] == "[CLS]" and first.tokens[-1] == "[SEP]"
    assert "".join(t.removeprefix("##") for t in first.tokens[1:-1]) == SENTENCE
    assert cam.shape == (2, len(first.tokens)) and bool((cam >= 0).all())
    # the same maps as one batched pass of GradCam on the encoded pair
    encoded = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    batched = GradCam(model).attribute(encoded).scores
    torch.testing.assert_close(cam, batched[0, :, : len(first.tokens)])

    path = tmp_path / "ja.png"
    fig = plot_gradcam(cam, first.tokens, f"Grad-CAM {SENTENCE}", path=path)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == first.tokens
    plt.close("all")

    page = highlight_html(first.tokens, cam.mean(0))
    visible = re.sub(r"<[^>]+>", "", page)
    assert SENTENCE in visible, "Japanese tokens must be joined without spaces"


def test_judge_predictions_says_whether_the_maps_explain_confident_right_answers(
    tiny_model_dir,
):
    _, model = load_model(tiny_model_dir)
    pos = ja.positive_label_id(model)
    texts = [s for s, _ in ja.EXAMPLES]
    expected = [want for _, want in ja.EXAMPLES]  # negative, then positive
    good = torch.zeros(2, 2)
    good[0, 1 - pos], good[0, pos] = 0.9, 0.1
    good[1, pos], good[1, 1 - pos] = 0.85, 0.15
    lines = ja.judge_predictions(model, texts, good, expected)
    assert lines[0] == (
        "- 私は不運な人間です。: negative, p = 0.90 (a reader says negative): "
        "correct, confident."
    )
    assert lines[-1].startswith("Every map above explains a confident, correct")
    unsure = good.clone()
    unsure[1, pos], unsure[1, 1 - pos] = 0.55, 0.45
    lines = ja.judge_predictions(model, texts, unsure, expected)
    assert lines[1].endswith("correct, unsure (p < 0.8).")
    assert lines[-1].startswith("Not every map")
    wrong = good.flip(1)
    assert "wrong, confident" in ja.judge_predictions(model, texts, wrong, expected)[0]
    with pytest.raises(ValueError, match="one expected label per text"):
        ja.judge_predictions(model, texts, good, expected[:1])
    with pytest.raises(ValueError, match="'positive' or 'negative'"):
        ja.judge_predictions(model, texts, good, ["neg", "pos"])


def test_ja_modules_import_only_downward_and_never_inside_functions():
    """settings → corpus → baselines → e5s1 → e5 → model → choose: no cycle."""
    import ast
    from pathlib import Path

    order = ["settings", "corpus", "baselines", "e5s1", "e5", "model", "choose"]
    folder = Path(ja.__file__).parent
    for rank, name in enumerate(order):
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert order.index(node.module) < rank, (name, node.module)
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef):
                inner = [
                    n
                    for n in ast.walk(func)
                    if isinstance(n, ast.ImportFrom) and n.level >= 1
                ]
                assert not inner, f"{name}.{func.name} imports helpers inside"
