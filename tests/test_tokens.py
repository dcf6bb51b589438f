"""One merge, one set of special tokens, one source of label names: on WordPiece
(BERT), byte-level BPE (RoBERTa) and SentencePiece unigram (XLM-R-like)
tokenizers built here from small vocabularies (no network)."""

from __future__ import annotations

import re

import pytest
import torch
from tiny import TEXTS, tiny_bert, tiny_bpe_tokenizer, tiny_tokenizer
from tiny import tiny_unigram_tokenizer as tiny_unigram

from helpers import ja
from helpers.align import word_map
from helpers.config import LABEL_NAMES
from helpers.highlight import highlight_html
from helpers.inputs import label_names
from helpers.tokens import (
    TokenRoles,
    merge_pieces,
    merge_scores,
    piece_words,
    special_ids,
    special_tokens,
)

TOKENIZERS = {
    "wordpiece": tiny_tokenizer,
    "bpe": tiny_bpe_tokenizer,
    "sentencepiece": tiny_unigram,
}


@pytest.fixture(params=sorted(TOKENIZERS), scope="module")
def tokenizer(request):
    return TOKENIZERS[request.param]()


def _pieces(tokenizer, text):
    return tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])


def test_special_tokens_are_the_tokenizers_own(tokenizer):
    ids = special_ids(tokenizer)
    names = special_tokens(tokenizer)
    assert names == set(tokenizer.convert_ids_to_tokens(sorted(ids)))
    assert tokenizer.cls_token in names and tokenizer.pad_token in names
    assert tokenizer.unk_token not in names  # an unknown word is a word
    assert {tokenizer.cls_token_id, tokenizer.sep_token_id} <= ids
    if tokenizer.mask_token_id is not None:
        roles = TokenRoles.from_tokenizer(tokenizer)
        assert set(roles.special_ids) == ids - {tokenizer.mask_token_id}
        enc = tokenizer(TEXTS[:2], padding=True, return_tensors="pt")
        real = roles.real(enc)
        assert not real[:, 0].any()  # the first token is <s>/[CLS]
        assert int(real.sum()) < int(enc["attention_mask"].sum())


def test_one_merge_from_offsets_and_from_token_strings(tokenizer):
    """The exact words (word_map) and the guessed ones (piece_words) agree, and
    both merge through merge_scores."""
    text = TEXTS[1]
    pieces = _pieces(tokenizer, text)
    mapped = word_map(tokenizer, text)
    words, index = piece_words(pieces, special_tokens(tokenizer))
    assert words == mapped.words and index == mapped.index
    scores = torch.arange(len(pieces), dtype=torch.float32)
    for merge in ("sum", "max", "mean"):
        merged_words, merged = merge_pieces(
            pieces, scores, special_tokens(tokenizer), merge=merge
        )
        assert merged_words == words
        torch.testing.assert_close(merged, mapped.merge(scores, merge))
        torch.testing.assert_close(
            merged, merge_scores(scores, index, len(words), merge)
        )
    total = merge_pieces(pieces, scores, special_tokens(tokenizer))[1].sum()
    real = [i for i, w in enumerate(index) if w is not None]
    assert float(total) == pytest.approx(float(scores[real].sum()))  # sum: additive


def test_highlight_hides_exactly_the_tokenizers_special_tokens(tokenizer):
    pieces = _pieces(tokenizer, TEXTS[0])
    specials = special_tokens(tokenizer)
    html = highlight_html(pieces, [1.0] * len(pieces), special_tokens=specials)
    shown = re.findall(r'title="\u2068score\u2069: [^"]*">([^<]*)</span>', html)
    assert not specials & set(shown)
    merged = highlight_html(
        pieces, [1.0] * len(pieces), special_tokens=specials, merge="sum"
    )
    words = re.findall(r'title="\u2068score\u2069: [^"]*">([^<]*)</span>', merged)
    assert words == word_map(tokenizer, TEXTS[0]).words


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
def test_label_names_have_one_source(kind):
    tokenizer = TOKENIZERS[kind]()
    model = tiny_bert(vocab_size=len(tokenizer))
    assert label_names(model) == list(LABEL_NAMES)  # LABEL_0/1: the book's names
    assert ja.positive_label_id(model) == label_names(model).index("positive")
    model.config.id2label = {0: "ポジティブ", 1: "ネガティブ"}
    model.config.label2id = {"ポジティブ": 0, "ネガティブ": 1}
    assert label_names(model) == ["ポジティブ", "ネガティブ"]
    assert ja.positive_label_id(model) == 0 and ja.label_name(model, 1) == "negative"


def _japanese_pieces():
    """A SentencePiece tokenizer whose first piece ``▁私は`` spans two MeCab words."""
    import tokenizers
    from transformers import PreTrainedTokenizerFast

    pieces = ["<unk>", "<s>", "</s>", "▁", "▁私は", "不", "運", "な", "人間"]
    pieces += ["です", "。", "カ", "゙", "ソ", "リン", "高い"]
    model = tokenizers.models.Unigram([(p, -1.0) for p in pieces], 0, False)
    backend = tokenizers.Tokenizer(model)
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace()
    backend.post_processor = tokenizers.processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def test_word_map_groups_sentencepiece_pieces_by_mecab_words():
    tok = _japanese_pieces()
    text = "私は不運な人間です。"
    assert word_map(tok, text).words == [text]  # no spaces: one "word" alone
    words = word_map(tok, text, words=ja.mecab_words([text])[0])
    # 私 and は share the piece ▁私は, so they are one word; 不 + 運 make 不運
    assert words.words == ["私は", "不運", "な", "人間", "です", "。"]
    assert words.display() == text and set(words.gaps) == {""}
    scores = torch.arange(1.0, len(words.index) + 1)
    merged = words.merge(scores)
    assert merged.tolist() == [2, 3 + 4, 5, 6, 7, 8]  # specials (1, 9) dropped
    # half-width katakana: MeCab reads the NFKC form, the words show the original
    text = "ｶﾞｿﾘﾝ 高い"
    words = word_map(tok, text, words=ja.mecab_words([text])[0])
    assert words.words == ["ｶﾞｿﾘﾝ", "高い"] and words.display() == text
    with pytest.raises(ValueError, match="'安い' is not in the text"):
        word_map(tok, text, words=["安い"])


def test_check_int_names_the_setting_and_the_fix():
    from helpers.inputs import check_int

    assert check_int("overlap", 0, 0) == 0
    for bad in (True, 2.0, "3", 0):
        with pytest.raises(ValueError, match=r"^batch_size must be an integer >= 1"):
            check_int("batch_size", bad)
    with pytest.raises(ValueError, match=r"got -1: pass 0 for no overlap\.$"):
        check_int("overlap", -1, 0, "pass 0 for no overlap")
