"""Your model, your text: tokens of fast tokenizers, explain(), the text explorer.

Tiny models built here, offline: a 3-label BERT with a WordPiece tokenizer, a
3-label RoBERTa with a byte-level BPE tokenizer trained on a few sentences,
and a SentencePiece-style Unigram tokenizer (words only, no model).
"""

from __future__ import annotations

import html
import re

import pytest
import torch
from tiny import (
    tiny_bert,
    tiny_bpe_tokenizer,
    tiny_roberta,
    tiny_slow_tokenizer,
    tiny_tokenizer,
    tiny_unigram_tokenizer,
)

import helpers
from helpers import tokens as tokens_module
from helpers.align import word_map
from helpers.attention import (
    attention_mass,
    render_review,
    review_attentions,
    token_kind,
)
from helpers.attr.explanation import TextExplanation
from helpers.explain import DEFAULT_METHODS, Explanation, explain
from helpers.explorer import edit_gallery, text_explorer, word_differences
from helpers.gradcam import layer_statistics
from helpers.highlight import highlight_html
from helpers.inputs import label_names, resolve_target
from helpers.tokens import (
    TokenRoles,
    merge_pieces,
    merge_scores,
    special_tokens,
)

LABELS = {0: "neg", 1: "neutral", 2: "pos"}
TEXT = "The acting was boringly bad!"
FAST = {"progress": False, "ig_steps": 4}


@pytest.fixture(scope="module")
def bert():
    """``(tokenizer, model)``: a tiny 3-label BERT and its WordPiece tokenizer."""
    return tiny_tokenizer(), tiny_bert(id2label=LABELS, dropout=0.0, perturb=0.05)


@pytest.fixture(scope="module")
def roberta():
    """``(tokenizer, model)``: a tiny 3-label RoBERTa and its byte-level BPE."""
    tokenizer = tiny_bpe_tokenizer()
    return tokenizer, tiny_roberta(tokenizer, id2label=LABELS, perturb=0.05)


def _visible_text(fragment: str) -> str:
    """The text a browser shows of a fragment (tags dropped, entities kept)."""
    return re.sub(r"<[^>]+>", "", fragment)


# --------------------------------------------------------------------------- words


@pytest.mark.parametrize(
    ("make", "words", "split"),
    [
        (tiny_tokenizer, ["The", "acting", "was", "boringly", "bad", "!"], "boringly"),
        (tiny_bpe_tokenizer, ["The", "acting", "was", "boringly", "bad", "!"], "The"),
        (tiny_unigram_tokenizer, ["The", "acting", "was", "boringly", "bad!"], "bad!"),
    ],
    ids=["wordpiece", "byte-level-bpe", "sentencepiece"],
)
def test_pieces_merge_into_the_words_as_written(make, words, split):
    tokenizer = make()
    mapped = word_map(tokenizer, TEXT)
    assert mapped.words == words
    pieces = [t for t, w in enumerate(mapped.index) if w == words.index(split)]
    assert len(pieces) >= 2  # that word was cut into pieces and comes back whole
    assert mapped.index[0] is None and mapped.index[-1] is None  # framing tokens
    assert mapped.display() == TEXT
    assert not special_tokens(tokenizer) & set(mapped.words)


def test_japanese_words_keep_the_text_without_spaces():
    text = "映画はとても良かった。great!"
    mapped = word_map(tiny_bpe_tokenizer(), text)
    assert mapped.display() == text
    fragment = highlight_html(
        mapped.words, [1.0] * len(mapped.words), gaps=mapped.gaps, special_tokens=()
    )
    assert text in _visible_text(fragment)


def test_merge_rules_sum_max_mean():
    index = [None, 0, 0, 1, None]
    scores = [9.0, 1.0, 3.0, -2.0, 9.0]
    assert merge_scores(scores, index, 2).tolist() == [4.0, -2.0]  # the book's rule
    assert merge_scores(scores, index, 2, "max").tolist() == [3.0, -2.0]
    assert merge_scores(scores, index, 2, "mean").tolist() == [2.0, -2.0]
    with pytest.raises(ValueError, match="merge must be one of"):
        merge_scores(scores, index, 2, "median")
    with pytest.raises(ValueError, match="one score per token"):
        merge_scores(scores[:-1], index, 2)


def test_special_tokens_come_from_the_tokenizer(roberta):
    tokenizer, _ = roberta
    assert {"<s>", "</s>", "<pad>", "<mask>"} <= special_tokens(tokenizer)
    assert "<unk>" not in special_tokens(tokenizer)  # an unknown word is a word
    roles = TokenRoles.from_tokenizer(tokenizer)
    assert roles.mask_id == tokenizer.mask_token_id
    assert set(roles.special_ids) == {0, 1, 2}  # <s>, <pad>, </s>
    assert TokenRoles.from_tokenizer(tiny_tokenizer()).special_ids == (0, 2, 3)


def test_string_tokens_merge_with_bpe_and_sentencepiece_markers():
    words, merged = merge_pieces(
        ["<s>", "T", "he", "Ġact", "ing", "Ġbad", "</s>"],
        [9, 1, 1, 2, 3, 4, 9],
        {"<s>", "</s>"},
    )
    assert words == ["The", "acting", "bad"] and merged.tolist() == [2, 5, 4]
    words, _ = merge_pieces(
        ["<cls>", "▁go", "od", "▁film", "<sep>"], [0, 1, 1, 1, 0], ("<cls>", "<sep>")
    )
    assert words == ["good", "film"]
    shown = _visible_text(
        highlight_html(
            ["<s>", "Ġgo", "od", "Ġfilm", "</s>"],
            [1] * 5,
            special_tokens=special_tokens(tiny_bpe_tokenizer()),
        )
    )
    assert "good film" in shown and "&lt;s&gt;" not in shown


def test_a_slow_tokenizer_raises_how_to_get_a_fast_one(bert):
    slow = tiny_slow_tokenizer(word_tokenize=False)  # no words to align
    with pytest.raises(TypeError, match=r"use_fast=True"):
        word_map(slow, TEXT)
    with pytest.raises(TypeError, match="PreTrainedTokenizerFast"):
        explain(bert[1], slow, TEXT, **FAST)


# --------------------------------------------------------------------------- labels


def test_label_names_and_targets_by_name():
    assert label_names(tiny_bert(labels=2)) == ["negative", "positive"]
    assert label_names(tiny_bert(id2label=LABELS)) == ["neg", "neutral", "pos"]
    logits = torch.zeros(2, 3)
    names = ["neg", "neutral", "pos"]
    assert resolve_target("POS", logits, names).tolist() == [2, 2]
    assert resolve_target(["neg", 1], logits, names).tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"\['neg', 'neutral', 'pos'\]"):
        resolve_target("happy", logits, names)
    with pytest.raises(TypeError, match="label names"):
        resolve_target("pos", logits)


# --------------------------------------------------------------------------- explain


def test_explain_a_three_label_bert(bert):
    tokenizer, model = bert
    texts = ["the movie was great", "awful boring plot and very bad acting"]
    result = explain(model, tokenizer, texts, methods=("AttnLRP", "IG"), **FAST)
    assert isinstance(result, Explanation) and len(result) == 2
    assert result.labels == ["neg", "neutral", "pos"]
    assert result.probs.shape == (2, 3)
    torch.testing.assert_close(result.probs.sum(1), torch.ones(2))
    assert result.target == result.predicted
    assert set(result.predicted) <= set(result.labels)
    assert result.words[1] == [
        "awful",
        "boring",
        "plot",
        "and",
        "very",
        "bad",
        "acting",
    ]
    for method in ("AttnLRP", "IG"):
        for words, scores in zip(result.words, result.scores[method], strict=True):
            assert scores.shape == (len(words),)
            assert bool(torch.isfinite(scores).all())
    assert "[CLS]" not in result.html() and "[SEP]" not in result.html()
    assert len(result.rows()) == 2 * sum(len(w) for w in result.words)


@pytest.mark.parametrize(
    ("fixture", "typed"),
    [("bert", "[CLS] [SEP] [PAD] [MASK]"), ("roberta", "<s></s><pad><mask>")],
)
def test_special_tokens_typed_in_a_text_are_text(fixture, typed, request):
    tokenizer, model = request.getfixturevalue(fixture)
    result = explain(model, tokenizer, f"good {typed} film", methods=("IG",), **FAST)
    words = result.words[0]
    assert words[0] == "good" and words[-1] == "film"
    assert "".join(words[1:-1]).replace(" ", "") == typed.replace(" ", "")
    ids = tokens_module.encode(tokenizer, typed)["input_ids"]
    control = {tokenizer.pad_token_id, tokenizer.mask_token_id}
    assert not control & set(ids)  # the model never sees them as control tokens
    assert ids.count(tokenizer.cls_token_id) == 1  # only the framing [CLS]/<s>
    only_specials = explain(model, tokenizer, typed, methods=("IG",), **FAST)
    assert len(only_specials.words[0]) > 0


def _meta_bert():
    with torch.device("meta"):
        return tiny_bert()


@pytest.mark.parametrize(
    ("case", "error", "fix"),
    [
        ("none", TypeError, "a string or a list of strings"),
        ("bytes", TypeError, r"decode it first"),
        ("name", TypeError, r"a name: load it first"),
        ("swapped", TypeError, "swapped"),
        ("meta", ValueError, "'meta' device"),
        ("regression", ValueError, "regression head"),
        ("vocabulary", ValueError, "do not belong together"),
        ("inference", RuntimeError, r"inference_mode\(\): explanations need"),
    ],
)
def test_bad_input_gets_an_error_that_names_the_fix(bert, case, error, fix):
    tokenizer, model = bert
    args = {
        "none": (model, tokenizer, None),
        "bytes": (model, tokenizer, b"good film"),
        "name": ("bert-base-uncased", tokenizer, "good film"),
        "swapped": (tokenizer, model, "good film"),
        "meta": (_meta_bert() if case == "meta" else None, tokenizer, "good"),
        "regression": (tiny_bert(labels=1), tokenizer, "good film"),
        "vocabulary": (tiny_bert(vocab_size=10), tokenizer, "good film"),
        "inference": (model, tokenizer, "good film"),
    }[case]
    with pytest.raises(error, match=fix):
        if case == "inference":
            with torch.inference_mode():
                explain(*args, methods=("IG",), **FAST)
        else:
            explain(*args, methods=("IG",), **FAST)


def test_labels_that_differ_only_in_case_need_the_exact_name():
    names = ["pos", "POS", "neg"]
    assert resolve_target("POS", torch.zeros(1, 3), names).tolist() == [1]
    assert resolve_target("pos", torch.zeros(1, 3), names).tolist() == [0]
    assert resolve_target("NEG", torch.zeros(1, 3), names).tolist() == [2]
    with pytest.raises(ValueError, match="differ only in case"):
        resolve_target("Pos", torch.zeros(1, 3), names)


def test_default_methods_are_chapter_6s_recommendation(bert):
    tokenizer, model = bert
    result = explain(model, tokenizer, "good film", **FAST)
    assert result.methods == list(DEFAULT_METHODS) == ["AttnLRP", "[CLS] attention"]


def test_target_by_name_or_index_and_unknown_names(bert):
    tokenizer, model = bert
    by_name = explain(model, tokenizer, TEXT, ["grad x input"], target="Pos", **FAST)
    by_index = explain(model, tokenizer, TEXT, ["grad x input"], target=2, **FAST)
    other = explain(model, tokenizer, TEXT, ["grad x input"], target="neg", **FAST)
    assert by_name.target == by_index.target == ["pos"]
    torch.testing.assert_close(
        by_name.scores["grad x input"][0], by_index.scores["grad x input"][0]
    )
    assert not torch.equal(
        by_name.scores["grad x input"][0], other.scores["grad x input"][0]
    )
    with pytest.raises(ValueError, match=r"neg.*neutral.*pos"):
        explain(model, tokenizer, TEXT, ["grad x input"], target="happy", **FAST)
    with pytest.raises(ValueError, match="unknown method"):
        explain(model, tokenizer, TEXT, ["LIME"], **FAST)


def test_every_chapter_method_explains_a_roberta(roberta):
    tokenizer, model = roberta
    methods = [
        "[CLS] attention",
        "rollout",
        "Grad-CAM L1",
        "Grad-CAM mean (normalised)",
        "grad x input",
        "IG",
        "grad-weighted rollout",
        "CP-LRP",
        "AttnLRP",
        "random",
    ]
    result = explain(model, tokenizer, [TEXT, "a good film"], methods, **FAST)
    assert result.labels == ["neg", "neutral", "pos"]
    assert result.words == [
        ["The", "acting", "was", "boringly", "bad", "!"],
        ["a", "good", "film"],
    ]
    for method in methods:
        assert [s.shape[0] for s in result.scores[method]] == [6, 3]
        assert all(bool(torch.isfinite(s).all()) for s in result.scores[method])
    shown = _visible_text(result.html())
    assert "&lt;s&gt;" not in shown and "&lt;/s&gt;" not in shown and "Ġ" not in shown
    assert "The acting was boringly bad!" in shown


def test_a_long_text_is_read_in_windows_not_cut(bert):
    tokenizer, model = bert
    text = " ".join(["the movie was great but the plot was bad"] * 6) + " and boring"
    result = explain(model, tokenizer, text, ["grad x input"], max_length=16, **FAST)
    assert result.windows == [5] and result.window_length == 14
    assert result.words[0][-2:] == ["and", "boring"]  # the end was not cut
    assert result.scores["grad x input"][0].shape == (len(result.words[0]),)
    assert "5 overlapping windows" in result.html()


def test_html_is_escaped_and_the_saved_file_loads_nothing(bert, tmp_path):
    tokenizer, model = bert
    text = (
        'the movie <script>alert("x")</script> <img src=x onerror=alert(1)> was great'
    )
    result = explain(model, tokenizer, text, ["grad x input"], **FAST)
    page = result._repr_html_()
    assert "<script" not in page and "<img" not in page
    assert text in html.unescape(_visible_text(page))  # shown as text, not run
    path = result.save_html(tmp_path / "explained.html")
    saved = path.read_text(encoding="utf-8")
    assert "<script" not in saved and "<img" not in saved
    assert not re.search(r"https?://", saved)
    assert "Content-Security-Policy" in saved and "default-src 'none'" in saved


def test_rows_and_top_words(bert):
    tokenizer, model = bert
    result = explain(model, tokenizer, "good film", ["grad x input"], **FAST)
    assert [r["word"] for r in result.rows()] == ["good", "film"]
    assert result.top_words(k=1)[0][0] in {"good", "film"}
    with pytest.raises(ValueError, match=r"'IG' was not run: pick from \['grad x"):
        result.top_words(method="IG")


def test_helpers_explain_is_the_module_and_the_call(bert):
    tokenizer, model = bert
    assert callable(helpers.explain)
    result = helpers.explain(model, tokenizer, "good film", ["random"], progress=False)
    assert result.words == [["good", "film"]]


# --------------------------------------------------------------------------- explorer


def test_word_differences_follow_the_alignment_rule():
    change, kinds, removed = word_differences(
        ["the", "film", "was", "good"],
        [1, 2, 3, 4],
        ["the", "film", "was", "not", "bad"],
        [1, 1, 1, 5, 6],
    )
    assert kinds == ["kept", "kept", "kept", "new", "new"]
    assert change.tolist() == [0, -1, -2, 5, 6] and removed == [("good", 4.0)]
    change, kinds, removed = word_differences(
        ["a", "good", "film"], [1, 2, 3], ["a", "bad", "film"], [1, 5, 3]
    )
    assert kinds == ["kept", "replaced", "kept"] and change.tolist() == [0, 3, 0]
    assert removed == []


def test_the_text_explorer_refuses_what_explain_refuses_before_it_is_shown(bert):
    tokenizer, model = bert
    with pytest.raises(ValueError, match=r"merge must be one of .*the book uses 'sum'"):
        text_explorer(model, tokenizer, "good film", merge="median")
    with pytest.raises(TypeError, match="swapped"):
        text_explorer(tokenizer, model, "good film")


def test_the_text_explorer_explains_an_edit(bert):
    tokenizer, model = bert
    explorer = text_explorer(
        model,
        tokenizer,
        "the movie was great",
        methods=["grad x input", "AttnLRP"],
        ig_steps=4,
    )
    first = explorer.output.value
    assert "great" in first and "predicted" in first and explorer.before is None
    assert [o[0] for o in explorer.target.options] == [
        "predicted",
        "neg",
        "neutral",
        "pos",
    ]
    assert explorer.method.value == "AttnLRP"
    explorer.text.value = "the movie was not great"  # re-explains on change
    edited = explorer.explain()
    assert edited == explorer.output.value != first
    assert explorer.before == "the movie was great"
    assert "not" in _visible_text(edited) and "before" in edited and "after" in edited
    before = explain(model, tokenizer, "the movie was great", ["AttnLRP"], **FAST)
    after = explain(
        model,
        tokenizer,
        "the movie was not great",
        ["AttnLRP"],
        before.target[0],
        **FAST,
    )
    change = float(after.probs[0, 0] - before.probs[0, 0])
    assert f"{change:+.3f}" in edited  # the change in p(neg)
    explorer.target.value = 1  # neutral (values are class indices)
    explorer.button.click()
    assert "for <bdi>neutral</bdi>" in explorer.output.value
    explorer.text.value = " "
    assert "Type a text" in explorer.output.value


def test_an_unexpected_error_replaces_the_stale_output(bert, monkeypatch):
    tokenizer, model = bert
    explorer = text_explorer(
        model, tokenizer, "the movie was great", methods=["grad x input"]
    )
    assert explorer.target.value == -1  # shown as "predicted", never blank
    assert explorer.target.label == "predicted"
    assert "great" in explorer.output.value

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory <b>")

    monkeypatch.setattr(explorer, "_render", out_of_memory)
    explorer.text.value = "the movie was awful"
    shown = explorer.output.value
    visible = _visible_text(shown)
    assert "Cannot explain this text: RuntimeError: CUDA out of memory" in visible
    assert "&lt;b&gt;" in shown and "great" not in shown


def test_edit_gallery_renders_both_texts(bert):
    tokenizer, model = bert
    fragment = edit_gallery(
        model,
        tokenizer,
        [
            ("the movie was good", "the movie was not good <script>x</script>"),
            ("bad plot", "good plot"),
        ],
        method="grad x input",
    )
    shown = _visible_text(fragment)
    assert "edit 1" in shown and "edit 2" in shown
    assert "the movie was good" in shown and "not" in shown and "good plot" in shown
    assert "<script" not in fragment and "&lt;" in fragment
    with pytest.raises(TypeError, match="two strings"):
        edit_gallery(model, tokenizer, ["just one text"], method="random")


# --------------------------------------------------------------------------- chapters


def test_attention_views_use_the_tokenizers_special_tokens(roberta):
    tokenizer, model = roberta
    ((_, ra),) = review_attentions(model, tokenizer, ["a good film"], progress=False)
    assert ra.tokens[0] == "<s>" and ra.cls_token == "<s>" and ra.sep_token == "</s>"
    mass = attention_mass(ra)
    assert bool((mass[:, 0] > 0).all()) and bool((mass[:, 1] > 0).all())
    fragment = render_review(ra)
    assert "&lt;s&gt;" not in fragment and "&lt;/s&gt;" not in fragment
    assert re.search(r"predicted (neg|neutral|pos)", _visible_text(fragment))
    assert token_kind("<s>") == "[CLS]" and token_kind("Ġ!") == "punctuation"


def test_gradcam_statistics_count_roberta_framing_tokens():
    result = TextExplanation(
        text="a",
        tokens=["<s>", "Ġa", "</s>"],
        scores={"Grad-CAM": torch.tensor([[1.0, 1.0, 2.0]])},
        target=0,
        logits=torch.tensor([1.0, 0.0]),
    )
    assert float(layer_statistics([result])["special_share"][0]) == pytest.approx(0.75)


def test_top_words_break_ties_at_random_not_by_position(bert):
    import dataclasses

    tokenizer, model = bert
    result = explain(model, tokenizer, "good film", ["grad x input"], **FAST)
    words = ["a", "b", "c", "d", "e", "f"]
    record = dataclasses.replace(
        result[0], tokens=words, scores={"grad x input": torch.ones(len(words))}
    )
    flat = dataclasses.replace(result, records=[record])
    firsts = {flat.top_words(0, k=1, seed=s)[0][0] for s in range(30)}
    assert len(firsts) > 1
    assert flat.top_words(0, k=6, seed=3) == flat.top_words(0, k=6, seed=3)
