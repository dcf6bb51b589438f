"""helpers.data.encode: texts to BERT inputs, truncation, dynamic padding."""

import random

import pytest
import torch

from helpers import data
from helpers.models import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def test_encode_texts_truncates_and_warns(tokenizer):
    with pytest.warns(data.TruncationWarning, match=r"text 1 \(\d+ tokens\)"):
        enc = data.encode_texts(tokenizer, ["short", "word " * 700])
    assert enc["input_ids"].shape == (2, 512)
    ids = enc["input_ids"][0].tolist()
    assert ids[0] == tokenizer.cls_token_id and tokenizer.sep_token_id in ids


def test_encode_texts_caps_at_512(tokenizer):
    with pytest.warns(data.TruncationWarning):
        enc = data.encode_texts(tokenizer, ["word " * 900], max_length=4096)
    assert enc["input_ids"].shape[1] == 512


def test_encode_texts_passes_extra_outputs_on(tokenizer):
    """Offsets come with the same truncated, padded ids (ERASER's rationales)."""
    texts = ["a short review", "word " * 20]
    enc = data.encode_texts(
        tokenizer, texts, max_length=8, warn=False, return_offsets_mapping=True
    )
    plain = data.encode_texts(tokenizer, texts, max_length=8, warn=False)
    assert torch.equal(enc["input_ids"], plain["input_ids"])
    assert enc["offset_mapping"].shape == (*plain["input_ids"].shape, 2)
    start, end = enc["offset_mapping"][0, 1].tolist()
    assert texts[0][start:end] == "a"


@pytest.mark.parametrize("bad", [[], ["ok", ""], ["   "]])
def test_encode_texts_rejects_empty(tokenizer, bad):
    with pytest.raises(ValueError, match=r"empty|No texts"):
        data.encode_texts(tokenizer, bad)


def test_make_loader_dynamic_vs_fixed_padding(tokenizer):
    rs = data.ReviewSet(
        ["a good film", "bad", "a very very long and boring film indeed"],
        [1, 0, 0],
        "t",
    )
    dyn = next(iter(data.make_loader(tokenizer, rs, batch_size=3, max_length=256)))
    fix = next(
        iter(
            data.make_loader(
                tokenizer, rs, batch_size=3, max_length=256, pad_to_max=True
            )
        )
    )
    longest = max(data.token_lengths(tokenizer, rs.texts))
    assert dyn["input_ids"].shape == (3, longest)
    assert fix["input_ids"].shape == (3, 256)
    assert dyn["labels"].tolist() == [1, 0, 0] and dyn["labels"].dtype == torch.long
    assert torch.equal(
        fix["input_ids"][:, :longest] * dyn["attention_mask"], dyn["input_ids"]
    )


def test_make_loader_shuffle_is_seeded(tokenizer):
    texts = [f"review number {i}" for i in range(20)]
    rs = data.ReviewSet(texts, [i % 2 for i in range(20)], "numbered")

    def order(shuffle, seed=7):
        loader = data.make_loader(tokenizer, rs, 4, shuffle=shuffle, seed=seed)
        rows = [ids for b in loader for ids in b["input_ids"].tolist()]
        return [tokenizer.decode(ids, skip_special_tokens=True) for ids in rows]

    shuffled = order(True)
    assert order(False) == texts  # unshuffled: the reviews in their order
    assert shuffled != texts and sorted(shuffled) == sorted(texts)
    assert shuffled == order(True)  # same seed, same order
    assert shuffled != order(True, seed=8)


def test_make_loader_rejects_empty_set(tokenizer):
    with pytest.raises(ValueError, match="empty"):
        data.make_loader(tokenizer, data.ReviewSet([], [], "nothing"))


def test_decode_batch_shows_subwords(tokenizer):
    rs = data.ReviewSet(["The cinematography was unforgettable"], [1], "t")
    row = data.decode_batch(
        tokenizer, next(iter(data.make_loader(tokenizer, rs))), n=1
    )[0]
    assert row.startswith("[CLS]") and "##" in row and row.endswith("[SEP]")


def _long_texts():
    words = ["the", "film", "was", "unwatchably", "good", ",", "but", "i"]
    words += ["cannot", "recommend", "it", "!"]
    rng = random.Random(0)
    texts = [
        " ".join(rng.choice(words) for _ in range(n))
        for n in (3, 10, 200, 253, 254, 255, 256, 300, 900)
    ]
    texts.append(
        "\u200b " * 300 + "great movie " * 50
    )  # words that give no token: the cut is not enough
    texts.append(
        "映画はとても良かった。" * 80
    )  # CJK: one token per character, no spaces
    texts.append("word\n\n\t" * 400)  # other whitespace
    texts.append(
        "a " * 254 + "antidisestablishmentarianism " * 3
    )  # the cut ends inside a long word's pieces
    return texts


@pytest.mark.parametrize("max_length", [8, 64, 256, 512])
def test_tokenize_truncated_gives_the_tokenizers_ids(tokenizer, max_length):
    texts = _long_texts()
    fast = data.tokenize_truncated(tokenizer, texts, max_length)
    plain = tokenizer(texts, truncation=True, max_length=max_length)
    for key in plain:
        assert fast[key] == plain[key], key
    assert max(len(ids) for ids in fast["input_ids"]) == max_length


def test_tokenized_reviews_use_the_same_ids(tokenizer):
    texts = _long_texts()
    reviews = data.ReviewSet(texts, [i % 2 for i in range(len(texts))], "test texts")
    dataset = data.TokenizedReviews(tokenizer, reviews, max_length=128)
    assert [f["input_ids"] for f in dataset.features] == tokenizer(
        texts, truncation=True, max_length=128
    )["input_ids"]


# ------------------------------------------------------- head+tail truncation
def _tiny():
    from tiny import tiny_tokenizer

    return tiny_tokenizer()


#: A long review whose ending differs from its start (tiny vocabulary words).
LONG = "the movie was great and " * 20 + "but the plot was boring and awful ."


@pytest.mark.parametrize("kind", ["tiny", "packaged"])
@pytest.mark.parametrize("head", [None, 0, 5, 30])
def test_head_tail_keeps_the_first_and_last_content_tokens(tokenizer, kind, head):
    tok = _tiny() if kind == "tiny" else tokenizer
    max_length = 32
    whole = tok([LONG], verbose=False)["input_ids"][0]
    content = whole[1:-1]
    assert len(whole) > max_length
    got = data.tokenize_truncated(tok, [LONG], max_length, keep="head+tail", head=head)
    n = max_length - 2
    h = 8 if head is None else head  # default: a quarter of 30, halves rounded up
    expected = [whole[0], *content[:h], *content[len(content) - (n - h) :], whole[-1]]
    assert got["input_ids"] == [expected] and len(expected) == max_length
    assert got["attention_mask"] == [[1] * max_length]
    assert got["token_type_ids"] == [[0] * max_length]
    words = tok.convert_ids_to_tokens(got["input_ids"][0])
    assert (words[-3:-1] == ["awful", "."]) == (h < n)  # the ending is kept


@pytest.mark.parametrize("kind", ["tiny", "packaged"])
def test_head_tail_leaves_texts_that_fit_unchanged(tokenizer, kind):
    tok = _tiny() if kind == "tiny" else tokenizer
    fits = "the movie was great " * 3  # 12 content tokens, 14 in all
    texts = ["good film", fits, fits + "!", fits + "! !", LONG]
    max_length = 15
    whole = tok(texts, verbose=False)["input_ids"]
    assert [len(ids) for ids in whole[:4]] == [4, 14, 15, 16]
    got = data.tokenize_truncated(tok, texts, max_length, keep="head+tail")
    assert got["input_ids"][:3] == whole[:3]  # they fit: unchanged
    # one token too many: the default head (3 of 13) and the last 10 kept
    assert got["input_ids"][3] == whole[3][:4] + whole[3][-11:]
    assert [len(ids) for ids in got["input_ids"]] == [4, 14, 15, 15, 15]


@pytest.mark.parametrize("max_length", [8, 64, 256, 512])
def test_keep_head_is_the_tokenizers_truncation(tokenizer, max_length):
    texts = _long_texts()
    plain = tokenizer(texts, truncation=True, max_length=max_length)
    fast = data.tokenize_truncated(tokenizer, texts, max_length, keep="head")
    assert fast == data.tokenize_truncated(tokenizer, texts, max_length)
    for key in plain:
        assert fast[key] == plain[key], key


def test_tokenized_reviews_keep_head_and_tail(tokenizer):
    texts = _long_texts()
    reviews = data.ReviewSet(texts, [i % 2 for i in range(len(texts))], "test texts")
    dataset = data.TokenizedReviews(tokenizer, reviews, 128, keep="head+tail", head=20)
    ids = [f["input_ids"] for f in dataset.features]
    assert (
        ids
        == data.tokenize_truncated(tokenizer, texts, 128, keep="head+tail", head=20)[
            "input_ids"
        ]
    )
    whole = tokenizer(texts, verbose=False)["input_ids"]
    for got, full in zip(ids, whole, strict=True):
        assert got == (full if len(full) <= 128 else full[:21] + full[-107:])
    assert any(len(full) > 128 for full in whole)
    capped = data.TokenizedReviews(tokenizer, reviews, 4096, keep="head+tail")
    assert max(len(f["input_ids"]) for f in capped.features) == 512  # 128 + 382


def test_default_head_is_a_quarter_of_the_content():
    assert data.default_head(512) == 128  # Sun et al. (2019): 128 + 382
    assert [data.default_head(n) for n in (256, 128, 16, 3)] == [64, 32, 4, 0]


@pytest.mark.parametrize(
    "keep,head,max_length,message",
    [
        ("tail", None, 32, r"keep must be one of 'head', 'head\+tail', got 'tail'"),
        ("head+tail", 31, 32, r"head must be an integer from 0 to 30 .* got 31"),
        ("head+tail", -1, 32, r"from 0 to 30 .* got -1: pass a smaller head"),
        ("head+tail", 2.5, 32, r"got 2\.5"),
        ("head+tail", True, 32, r"got True"),
        ("head", 5, 32, r"only used with keep='head\+tail'"),
        ("head+tail", None, 2, r"max_length >= 3"),
    ],
)
def test_bad_keep_or_head_raise_and_name_the_fix(keep, head, max_length, message):
    tok = _tiny()
    with pytest.raises(ValueError, match=message):
        data.tokenize_truncated(tok, [LONG], max_length, keep=keep, head=head)
    reviews = data.ReviewSet([LONG], [1], "one review")
    with pytest.raises(ValueError, match=message):
        data.TokenizedReviews(tok, reviews, max_length, keep=keep, head=head)


def test_token_lengths_count_every_token_uncut(tokenizer):
    texts = ["a good film", "word " * 700]
    lengths = data.token_lengths(tokenizer, texts)
    assert lengths[0] == len(tokenizer("a good film")["input_ids"]) == 5
    assert lengths[1] == 702  # [CLS] + 700 words + [SEP]: no cut at 512
