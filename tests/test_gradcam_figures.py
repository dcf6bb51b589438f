"""Tests for helpers.book.gradcam_figures: chapter 4's Grad-CAM figures and prose."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
import torch
from tiny import tiny_architecture, tiny_unigram_tokenizer

from helpers import align, attr, escape, highlight, ja, tokens
from helpers.attr.explanation import TextExplanation
from helpers.book import report
from helpers.book.gradcam_figures import (
    describe_layer_agreement,
    describe_layer_statistics,
    describe_word_maps,
    layer_statistics_table,
    plot_gradcam,
    plot_layer_agreement,
)
from helpers.gradcam import gradcam_for_texts, layer_statistics

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _record(tokens, cam) -> TextExplanation:
    """A Grad-CAM result of one review made by hand (class 1 predicted)."""
    return TextExplanation("t", tokens, {"Grad-CAM": cam}, 1, torch.tensor([0.0, 1.0]))


def test_plot_saves_png_with_japanese_labels(tmp_path):
    tokens = ["[CLS]", "私", "は", "不運", "な", "人間", "です", "。", "[SEP]"]
    cam = torch.rand(3, len(tokens), generator=torch.Generator().manual_seed(0))
    path = tmp_path / "cam.png"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = plot_gradcam(cam, tokens, "Grad-CAM 私は不運な人間です。", path=path)
        fig.canvas.draw()
    missing = [
        str(w.message) for w in caught if "missing from" in str(w.message).lower()
    ]
    assert not missing, missing
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == tokens
    assert ax.get_ylim()[0] < ax.get_ylim()[1], "layer 0 must be at the bottom"
    assert fig.axes[1].get_ylabel() == "Grad-CAM / layer max"  # the colour bar
    with pytest.raises(ValueError, match="tokens given"):
        plot_gradcam(cam, tokens[:-1], "x")
    plt.close("all")


def test_plot_gradcam_scales_as_asked_and_says_so_on_the_colour_bar():
    cam = torch.tensor([[0.0, 1.0, 2.0], [0.0, 4.0, 8.0]])
    tokens = ["a", "b", "c"]
    for normalize, label, top_row in (
        ("layer", "Grad-CAM / layer max", [0.0, 0.5, 1.0]),
        ("global", "Grad-CAM / map max", [0.0, 0.5, 1.0]),
        (None, "Grad-CAM", [0.0, 4.0, 8.0]),
    ):
        fig = plot_gradcam(cam, tokens, "t", normalize=normalize)
        assert fig.axes[1].get_ylabel() == label
        assert fig.axes[0].images[0].get_array()[1].tolist() == top_row
    with pytest.raises(ValueError, match="normalize must be"):
        plot_gradcam(cam, tokens, "t", normalize="max")
    with pytest.raises(ValueError, match="top must be"):
        plot_gradcam(cam, tokens, "t", top=0)
    plt.close("all")


def test_layer_statistics_table_and_findings_follow_the_numbers():
    cam = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.1, 0.6, 0.2, 0.1]])
    shown = _record(["[CLS]", "good", "film", "[SEP]"], cam)
    stats = layer_statistics([shown])
    rows = layer_statistics_table(stats)
    assert [r["summary"] for r in rows] == [
        "share of the map on [CLS]/[SEP]",
        "share on the single top token",
        "reviews whose map is all zero",
    ]
    # layer 0 is all zero: no share to give (NaN), and 100 % of reviews empty
    assert rows[0] == {"summary": rows[0]["summary"], "layer 0": "–", "layer 1": "20%"}
    assert rows[1]["layer 1"] == "60%" and rows[2]["layer 0"] == "100%"
    assert rows[2]["layer 1"] == "0%"  # an all-zero summary stays in the table
    html = report.table_html(rows, columns=list(rows[0]))
    assert html.count("<tr>") == 4 and "layer 1" in html
    lines = describe_layer_statistics(stats, shown)
    assert len(lines) == 4
    # layer 0 is all zero: it has no top token (not position 0's `[CLS]`)
    assert "none (all zero), `good`" in lines[0] and "over 2 layers" in lines[0]
    assert "Empty rows" in lines[2] and "100%" in lines[2]
    with pytest.raises(ValueError, match="layer_statistics"):
        layer_statistics_table({"special_share": torch.zeros(2)})


def test_plot_gradcam_long_map_shows_its_top_tokens_in_text_order():
    n = 120
    tokens = [f"w{i}" for i in range(n)]
    cam = torch.full((3, n), 0.1)
    high = [5, 6, 50, 119]
    cam[:, high] = 1.0
    fig = plot_gradcam(cam, tokens, "long", top=4)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["… w5", "w6", "… w50", "… w119"]
    assert "4 of 120 tokens" in ax.get_title()
    assert min(t.get_fontsize() for t in ax.get_xticklabels()) >= 8
    assert fig.get_size_inches()[0] <= 10
    assert ax.images[0].get_cmap().name == highlight.CMAP  # white -> red
    # a short map keeps every token, in order
    short = plot_gradcam(cam[:, :20], tokens[:20], "short")
    assert [t.get_text() for t in short.axes[0].get_xticklabels()] == tokens[:20]

    # ties are broken at random (seeded), not by position
    def drawn(fig):
        return [t.get_text() for t in fig.axes[0].get_xticklabels()]

    flat = torch.ones(2, n)
    first = drawn(plot_gradcam(flat, tokens, "t"))
    assert first == drawn(plot_gradcam(flat, tokens, "t")) and len(first) == 40
    assert [x.split()[-1] for x in first] != tokens[:40]
    plt.close("all")


def _agreement_of(mean):
    return np.asarray(mean, dtype=float)[None]


def test_describe_layer_agreement_names_groups_and_loners():
    rho = _agreement_of(
        [
            [1.0, 0.6, 0.4, 0.1],
            [0.6, 1.0, 0.2, 0.0],
            [0.4, 0.2, 1.0, -0.1],
            [0.1, 0.0, -0.1, 1.0],
        ]
    )
    sentence = describe_layer_agreement(rho, threshold=0.3)
    assert "over 1 reviews" in sentence
    assert "layers 0–2 form one group" in sentence and "0.20 to 0.60" in sentence
    assert "layer 3 stands apart" in sentence and "is 0.10" in sentence
    tight = describe_layer_agreement(rho, threshold=0.1)
    assert "layers 0–3" not in tight  # 0.1 is not > 0.1: layer 3 still apart
    rho[0, 0, 2] = rho[0, 2, 0] = 0.5
    rho[0, 1, 2] = rho[0, 2, 1] = 0.5
    assert "layers 0–2 agree with each other" in describe_layer_agreement(rho)
    assert "one layer" in describe_layer_agreement(_agreement_of([[1.0]]))


def test_plot_layer_agreement_is_signed_centred_at_zero_and_annotated():
    rho = _agreement_of([[1.0, -0.5, float("nan")], [-0.5, 1.0, 0.25], [0, 0.25, 1]])
    rho[0, 2, 0] = float("nan")
    fig = plot_layer_agreement(rho, title="three layers")
    ax = fig.axes[0]
    image = ax.images[0]
    assert image.get_cmap().name == highlight.CMAP_SIGNED
    assert image.get_clim() == (-1, 1)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9 and "-0.50" in texts and "0.25" in texts and "–" in texts
    assert min(t.get_fontsize() for t in ax.texts) >= 8
    plt.close("all")


def test_describe_word_maps_reads_the_first_words_and_their_agreement():
    words = ["私は", "不運", "な", "人間", "です", "。"]
    cam = torch.zeros(3, 6)
    cam[0, 1], cam[1, 1], cam[2, 5] = 1.0, 2.0, 1.0  # two layers on 不運, last on 。
    other = torch.tensor([0.1, 0.9, -0.2, 0.3, 0.0, 0.2])
    lines = describe_word_maps(words, cam, other, "AttnLRP")
    word = escape.isolated("不運")
    assert lines[0].startswith(
        f"- Grad-CAM mean (normalised) of the 3 layers: 「{word}」"
    )
    assert "67% of the mean" in lines[0]  # (1 + 1 + 0) / 3 of the balanced mean
    assert lines[1] == (
        f"- Layers whose own first word is 「{word}」: 2 of 3 (0 and 1); "
        f"the last layer reads 「{escape.isolated('。')}」 first."
    )
    method = escape.isolated("AttnLRP")
    assert lines[2].startswith(f"- {method}: 「{word}」 first, the same first word")
    hostile = describe_word_maps(["<script>", *words[1:]], cam, other, "<b>x")
    assert "<script>" not in "".join(hostile) and "<b>" not in "".join(hostile)
    flipped = describe_word_maps(words, cam, -other, "AttnLRP")[2]
    assert "a different first word from Grad-CAM's mean" in flipped
    assert "ρ between the two" in flipped
    with pytest.raises(ValueError, match="merge both onto the same words"):
        describe_word_maps(words[:2], cam, other, "AttnLRP")


def test_japanese_section_on_a_tiny_12_layer_xlm_r():
    """The chapter's path: 12 rows, specials hidden, padding 0, AttnLRP beside it."""
    texts = [text for text, _ in ja.EXAMPLES]
    model, _ = tiny_architecture("xlm-roberta", layers=12)
    tok = tiny_unigram_tokenizer(texts * 3 + ["私は幸せです。", "不運な一日"], 40)
    tok.add_special_tokens({"mask_token": "<mask>"})
    model.resize_token_embeddings(len(tok))
    assert tok.tokenize(texts[0])[0] == "▁私は"  # a piece across two MeCab words
    results = gradcam_for_texts(model, tok, texts, progress=False)
    enc = dict(tokens.encode(tok, texts, padding=True, return_tensors="pt"))
    batched = attr.GradCam(model).attribute(enc).scores
    assert (enc["attention_mask"] == 0).any()
    assert (
        batched[enc["attention_mask"][:, None, :].expand_as(batched) == 0] == 0
    ).all()
    for res in results:
        words = align.word_map(tok, res.text, words=ja.mecab_words([res.text])[0])
        cam = words.merge(res.score())
        assert cam.shape == (12, len(words.words)) and words.display() == res.text
        assert not set(words.words) & {"<cls>", "<sep>", "<s>", "</s>"}
        torch.testing.assert_close(cam.sum(), res.score()[:, 1:-1].sum())
        plot_gradcam(cam, words.words, res.text)
        plt.close("all")
    article = results[0]
    explainer = attr.explainers(model, tok)["AttnLRP"]
    one = dict(tokens.encode(tok, [article.text], return_tensors="pt"))
    other = explainer.attribute(one, target=article.target).scores[0]
    words = align.word_map(tok, article.text, words=ja.mecab_words([article.text])[0])
    lines = describe_word_maps(
        words.words, words.merge(article.score()), words.merge(other), "AttnLRP"
    )
    assert len(lines) == 3 and "of the 12 layers" in lines[0]
