"""Slow tokenizers with a word tokenizer: explain(), the text explorer, the words.

The Japanese article's model, ``daigo/bert-base-japanese-sentiment``, has
only a slow tokenizer, ``BertJapaneseTokenizer`` (MeCab words with ipadic,
then WordPiece pieces). Here a tiny one over a few words and a tiny random
BERT (``tests/tiny.py``); no network.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
import torch
from tiny import tiny_bert, tiny_mecab_tokenizer, tiny_slow_tokenizer, tiny_tokenizer

from helpers import ja
from helpers.align import align, word_map
from helpers.attr import GradientXInput
from helpers.data import encode_texts
from helpers.explain import explain
from helpers.explorer import comparison_html, text_explorer
from helpers.gradcam import gradcam_for_texts, layer_mean
from helpers.tokens import special_tokens

SENTENCE = "私は不運な人間です。"
WORDS = ["私", "は", "不運", "な", "人間", "です", "。"]
#: 人間 is two pieces (人 ##間); 猫 is not in the vocabulary ([UNK]).
JA_WORDS = [
    *["私", "は", "不運", "幸運", "な", "人", "##間", "です", "。", "と"],
    *["カタカナ", "A", "##B", "##C", "1", "##2", "##3", "ガ", "##ギ", "平成"],
    *["[", "]", "S", "##E", "##P"],
]
FAST = {"progress": False}


@pytest.fixture(scope="module")
def japanese():
    """``(tokenizer, model)``: the tiny MeCab tokenizer and a tiny 2-label BERT."""
    tokenizer = tiny_mecab_tokenizer(JA_WORDS)
    model = tiny_bert(vocab_size=len(tokenizer), dropout=0.0, perturb=0.05)
    return tokenizer, model


def _visible_text(fragment: str) -> str:
    return re.sub(r"<[^>]+>", "", fragment)


def test_explain_gives_the_mecab_words_and_their_scores(japanese):
    tokenizer, model = japanese
    assert not tokenizer.is_fast
    result = explain(model, tokenizer, SENTENCE, ["grad x input"], **FAST)
    assert result.words[0] == WORDS == ja.mecab_words([SENTENCE])[0]
    assert result.gaps[0] == [""] * len(WORDS)  # Japanese: no spaces added
    assert not set(result.words[0]) & special_tokens(tokenizer)
    batch = encode_texts(tokenizer, [SENTENCE])
    pieces = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    assert pieces == [
        "[CLS]",
        "私",
        "は",
        "不運",
        "な",
        "人",
        "##間",
        "です",
        "。",
        "[SEP]",
    ]
    tokens = GradientXInput(model).attribute(batch, result[0].target).scores[0]
    expected = [*tokens[1:5], tokens[5] + tokens[6], *tokens[7:9]]  # 人 + ##間
    torch.testing.assert_close(result.scores["grad x input"][0], torch.stack(expected))


def test_the_text_explorer_re_explains_an_edited_japanese_sentence(japanese):
    tokenizer, model = japanese
    explorer = text_explorer(model, tokenizer, SENTENCE, methods=["grad x input"])
    first = explorer.output.value
    assert "Cannot explain" not in first and "不運" in _visible_text(first)
    explorer.text.value = "私は幸運な人間です。"  # re-explains on change
    edited = explorer.output.value
    assert explorer.before == SENTENCE and "Cannot explain" not in edited
    shown = _visible_text(edited)
    assert "幸運*" in shown and "人間" in shown and "不運" in shown
    method = explorer.registry["grad x input"]
    before = explain(model, tokenizer, SENTENCE, [method], **FAST)
    after = explain(
        model, tokenizer, "私は幸運な人間です。", [method], before.target[0], **FAST
    )
    assert edited == comparison_html(before, after)


def test_an_unknown_character_keeps_its_own_text(japanese):
    tokenizer, model = japanese
    text = "私は猫です。"
    assert "[UNK]" in tokenizer.tokenize(text)
    result = explain(model, tokenizer, text, ["grad x input"], **FAST)
    assert result.words[0] == ["私", "は", "猫", "です", "。"]
    assert len(result.scores["grad x input"][0]) == 5


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("ｶﾀｶﾅです。", ["ｶﾀｶﾅ"]),  # half-width katakana
        ("ＡＢＣ１２３です。", ["ＡＢＣ", "１２３"]),  # full-width letters, digits
        ("ｶﾞｷﾞと㍻", ["ｶﾞｷﾞ", "㍻"]),  # ｶﾞ: two characters, one ガ; ㍻ = 平成
        ("私は 人間\u3000です。", ["人間"]),  # spaces, an ideographic one too
    ],
    ids=["half-width", "full-width", "nfkc-composed", "spaces"],
)
def test_words_keep_their_original_width_and_form(japanese, text, kept):
    tokenizer, model = japanese
    mapped = word_map(tokenizer, text)
    for word in kept:
        assert word in mapped.words
    for word, (start, end) in zip(mapped.words, mapped.spans, strict=True):
        assert text[start:end] == word
    assert "".join(mapped.words) == "".join(text.split())
    normalised = [unicodedata.normalize("NFKC", w) for w in mapped.words]
    assert normalised == ja.mecab_words([text])[0]
    aligned = align(tokenizer, text)
    assert aligned.ids == tokenizer(text)["input_ids"]  # the tokenizer's own ids
    result = explain(model, tokenizer, text, ["grad x input"], **FAST)
    assert result.words[0] == mapped.words


def test_special_tokens_typed_in_the_text_stay_text(japanese):
    tokenizer, _ = japanese
    text = "私は[SEP]です。"
    mapped = word_map(tokenizer, text)
    assert mapped.words == ["私", "は", "[", "SEP", "]", "です", "。"]
    ids = align(tokenizer, text).ids
    assert ids.count(tokenizer.sep_token_id) == 1 and ids[-1] == tokenizer.sep_token_id


def test_truncation_cuts_the_words_where_the_tokens_stop(japanese):
    tokenizer, _ = japanese
    mapped = word_map(tokenizer, SENTENCE, max_length=7)  # [CLS] 5 pieces [SEP]
    assert mapped.words == [*WORDS[:4], "人"] and mapped.truncated
    assert mapped.n_tokens == 7 and mapped.index[0] is None


def test_chapter_4_gradcam_merges_with_the_same_words(japanese):
    tokenizer, model = japanese
    (result,) = gradcam_for_texts(model, tokenizer, [SENTENCE], progress=False)
    words = word_map(tokenizer, result.text, max_length=len(result.tokens))
    scores = words.merge(layer_mean(result, tokenizer.all_special_tokens))
    assert words.words == WORDS and scores.shape == (len(WORDS),)


def test_a_slow_word_tokenizer_gives_the_fast_tokenizers_words():
    text = "The acting was boringly bad!"
    assert word_map(tiny_slow_tokenizer(), text).words == (
        word_map(tiny_tokenizer(), text).words
    )


def test_a_slow_tokenizer_without_words_is_refused_naming_what_is_missing():
    slow = tiny_slow_tokenizer(word_tokenize=False)
    with pytest.raises(TypeError, match="word_tokenizer and subword_tokenizer"):
        word_map(slow, "good film")
    with pytest.raises(TypeError, match="use_fast=True"):
        explain(tiny_bert(), slow, "good film", **FAST)
