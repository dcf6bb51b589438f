"""helpers.attention on a tiny BERT: extraction, [CLS] attention, rollout,
explainers, rendering and the explorer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from tiny import tiny_bert, tiny_tokenizer

from helpers.attention import (
    attention_probabilities,
    explain_review,
    render_review,
    review_attentions,
    unsaturated_review,
)
from helpers.attr.attention import (
    AttentionRollout,
    CLSAttention,
    attention_rollout,
    cls_attention,
)
from helpers.data import TruncationWarning, encode_texts
from helpers.explorer import attention_explorer

TEXTS = [
    "the movie was great",
    "awful",
    "the plot was boring and the acting was bad !",
    "good film",
]


@pytest.fixture(scope="module")
def tiny():
    """A 2-layer, 4-head BERT classifier (default kernel) and its tokenizer."""
    tokenizer = tiny_tokenizer()
    assert "[UNK]" not in tokenizer.tokenize(TEXTS[2])
    return tokenizer, tiny_bert(attn=None)


@pytest.fixture(scope="module")
def batch(tiny):
    return encode_texts(tiny[0], TEXTS)


# --------------------------------------------------------------------------- extraction


def test_attention_shape_rows_and_padding(tiny, batch):
    _, model = tiny
    attn = attention_probabilities(model, batch)
    mask = batch["attention_mask"]
    b, s = mask.shape
    assert attn.shape == (b, 2, 4, s, s)
    assert (
        model.config._attn_implementation == "eager"
    )  # switched on for the extraction
    real_rows = attn.sum(dim=-1)[mask[:, None, None, :].expand(b, 2, 4, s).bool()]
    torch.testing.assert_close(real_rows, torch.ones_like(real_rows))
    pad = mask == 0
    assert pad.any()
    assert (attn.permute(0, 3, 1, 2, 4)[pad] == 0).all()  # rows of padding queries
    assert (attn.permute(0, 4, 1, 2, 3)[pad] == 0).all()  # columns of padding keys


def test_batch_and_one_at_a_time_agree_on_real_tokens(tiny, batch):
    tokenizer, model = tiny
    together = attention_probabilities(model, batch)
    lengths = batch["attention_mask"].sum(dim=1)
    for i, text in enumerate(TEXTS):
        alone = attention_probabilities(model, encode_texts(tokenizer, [text]))[0]
        n = int(lengths[i])
        assert alone.shape[-1] == n
        torch.testing.assert_close(
            together[i, :, :, :n, :n], alone, atol=1e-5, rtol=1e-4
        )


def test_small_batch_size_gives_the_same_result(tiny, batch):
    _, model = tiny
    torch.testing.assert_close(
        attention_probabilities(model, batch, batch_size=1),
        attention_probabilities(model, batch),
        atol=1e-5,
        rtol=1e-4,
    )
    with pytest.raises(ValueError, match="batch_size"):
        attention_probabilities(model, batch, batch_size=0)


def test_extraction_is_done_in_eval_mode_and_restores_the_mode(tiny, batch):
    _, model = tiny
    model.train()
    try:
        a1, a2 = (
            attention_probabilities(model, batch),
            attention_probabilities(model, batch),
        )
        assert model.training
    finally:
        model.eval()
    torch.testing.assert_close(a1, a2)  # no dropout noise


def test_bad_inputs_raise_clear_errors(tiny):
    _, model = tiny
    with pytest.raises(ValueError, match="input_ids"):
        attention_probabilities(model, {"attention_mask": torch.ones(1, 3)})
    with pytest.raises(ValueError, match=r"\[batch, seq\]"):
        attention_probabilities(model, {"input_ids": torch.tensor([2, 5, 3])})
    with pytest.raises(ValueError, match="must match"):
        attention_probabilities(
            model,
            {
                "input_ids": torch.ones(1, 3, dtype=torch.long),
                "attention_mask": torch.ones(1, 4),
            },
        )
    with pytest.raises(TypeError, match="encode_texts"):
        attention_probabilities(model, "the movie")


# ------------------------------------------------------------ [CLS] attention, rollout


def test_cls_attention_is_the_cls_row(tiny, batch):
    _, model = tiny
    attn = attention_probabilities(model, batch)
    torch.testing.assert_close(cls_attention(attn), attn[:, 1, :, 0, :])
    torch.testing.assert_close(cls_attention(attn, layer=0), attn[:, 0, :, 0, :])
    out = model(
        **batch, output_attentions=True
    )  # outputs.attentions, a tuple per layer, works too
    torch.testing.assert_close(
        cls_attention(out.attentions)[0, :, : int(batch["attention_mask"][0].sum())],
        cls_attention(attn)[0, :, : int(batch["attention_mask"][0].sum())],
        atol=1e-5,
        rtol=1e-4,
    )
    with pytest.raises(ValueError, match="layer must be"):
        cls_attention(attn, layer=2)
    with pytest.raises(ValueError, match=r"attn\[None\]"):
        cls_attention(attn[0])


def _hand_rollout(attn: np.ndarray) -> np.ndarray:
    """Rollout of one review by loops: (A + I) row-normalised, last layer first."""
    n_layers, n_heads, n, _ = attn.shape
    result = np.eye(n)
    for layer in range(n_layers):
        mixed = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                mixed[i, j] = sum(
                    attn[layer, h, i, j] for h in range(n_heads)
                ) / n_heads + (i == j)
            mixed[i] /= mixed[i].sum()
        product = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                product[i, j] = sum(mixed[i, k] * result[k, j] for k in range(n))
        result = product
    return result


def test_rollout_matches_a_hand_computation_on_a_two_layer_toy():
    generator = torch.Generator().manual_seed(3)
    attn = torch.rand(1, 2, 3, 4, 4, generator=generator).softmax(
        dim=-1
    )  # [batch, layers, heads, seq, seq]
    expected = _hand_rollout(attn[0].double().numpy())
    got = attention_rollout(attn)[0].double().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # layer order matters: Ã_2 Ã_1, not Ã_1 Ã_2
    flipped = _hand_rollout(attn[0].flip(0).double().numpy())
    assert not np.allclose(got, flipped, atol=1e-4)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-6)


def test_rollout_rows_sum_to_one_and_padding_is_zero(tiny, batch):
    _, model = tiny
    mask = batch["attention_mask"]
    rollout = attention_rollout(attention_probabilities(model, batch), mask)
    sums = rollout.sum(dim=-1)
    torch.testing.assert_close(sums[mask.bool()], torch.ones(int(mask.sum())))
    assert (sums[~mask.bool()] == 0).all()
    assert (rollout.transpose(1, 2)[~mask.bool()] == 0).all()
    with pytest.raises(ValueError, match="attention_mask has shape"):
        attention_rollout(attention_probabilities(model, batch), mask[:, :-1])


# --------------------------------------------------------------------------- explainers


def test_cls_attention_explainer(tiny, batch):
    _, model = tiny
    attn = attention_probabilities(model, batch)
    mask = batch["attention_mask"]
    mean = CLSAttention(model).attribute(batch).scores
    assert mean.shape == mask.shape
    torch.testing.assert_close(mean, attn[:, -1, :, 0, :].mean(dim=1))
    assert (mean[mask == 0] == 0).all()
    torch.testing.assert_close(
        CLSAttention(model, layer=0, head=2).attribute(batch).scores,
        attn[:, 0, 2, 0, :],
    )
    # target is ignored: attention does not depend on the class explained
    by_class = CLSAttention(model).attribute(batch, target=1)
    torch.testing.assert_close(by_class.scores, mean)
    record = CLSAttention(model).attribute(batch)
    torch.testing.assert_close(
        record.logits, model(**batch).logits, atol=1e-5, rtol=1e-4
    )
    assert torch.equal(record.target, model(**batch).logits.argmax(-1))
    with pytest.raises(ValueError, match="head must be"):
        CLSAttention(model, head=4)


def test_attention_explainers_keep_the_explainer_contract(tiny, batch):
    from helpers.attr import Attribution

    _, model = tiny
    assert CLSAttention(model).name == "[CLS] attention"
    assert CLSAttention(model, layer=0, head=2).name == "[CLS] attention L0 head 2"
    assert CLSAttention(model, layer=1).name == "[CLS] attention"  # 1 is the last
    assert AttentionRollout(model).name == "rollout"
    for explainer in (CLSAttention(model), AttentionRollout(model)):
        assert isinstance(explainer, Attribution)
        record = explainer.attribute(batch, target=torch.tensor([0, 1, 1, 0]))
        scores = record.scores
        assert scores.dtype == torch.float32 and scores.device.type == "cpu"
        assert record.target.tolist() == [0, 1, 1, 0]
        with pytest.raises(ValueError, match="outside the model's labels"):
            explainer.attribute(batch, target=2)
    model.train()
    try:  # eval mode inside, the caller's mode restored
        scores = AttentionRollout(model).attribute(batch).scores
        assert model.training
    finally:
        model.eval()
    torch.testing.assert_close(scores, AttentionRollout(model).attribute(batch).scores)


def test_rollout_explainer(tiny, batch):
    _, model = tiny
    mask = batch["attention_mask"]
    scores = AttentionRollout(model).attribute(batch, target=0).scores
    assert scores.shape == mask.shape
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(len(TEXTS)))
    assert (scores[mask == 0] == 0).all()
    expected = attention_rollout(attention_probabilities(model, batch), mask)[:, 0]
    torch.testing.assert_close(scores, expected)


def test_explainers_switch_an_sdpa_model_to_eager(tiny):
    from transformers import BertForSequenceClassification

    _, model = tiny
    other = BertForSequenceClassification(model.config).eval()
    other.set_attn_implementation("sdpa")
    CLSAttention(other)
    assert other.config._attn_implementation == "eager"


# ------------------------------------------------------------ reviews and rendering


def test_review_attentions_yield_every_review_trimmed(tiny):
    tokenizer, model = tiny
    seen = dict(
        review_attentions(model, tokenizer, TEXTS, batch_size=2, progress=False)
    )
    assert sorted(seen) == list(range(len(TEXTS)))
    for i, ra in seen.items():
        assert ra.tokens[0] == "[CLS]" and ra.tokens[-1] == "[SEP]"
        n = len(ra.tokens)
        assert ra.attentions.shape == (2, 4, n, n)
        assert ra.cls().shape == (n,) and ra.rollout().shape == (n,)
        assert abs(float(ra.rollout().sum()) - 1) < 1e-5
        assert not ra.truncated
        assert ra.prediction == int(
            model(**encode_texts(tokenizer, [TEXTS[i]])).logits.argmax()
        )


def test_long_review_is_truncated_with_a_warning_and_a_marker(tiny):
    tokenizer, model = tiny
    with pytest.warns(TruncationWarning):
        ra = explain_review(model, tokenizer, "the movie was great " * 10, max_length=8)
    assert ra.truncated and len(ra.tokens) == 8
    assert "[truncated at 8 tokens]" in render_review(ra)


def test_render_review_views(tiny):
    tokenizer, model = tiny
    ra = explain_review(model, tokenizer, TEXTS[2])
    grid = render_review(ra, head="grid", true_label=1, name="review 7")
    for h in range(4):
        assert f"<bdi>head {h}</bdi></th>" in grid
    assert "<bdi>mean</bdi></th>" in grid
    assert "true <bdi>positive</bdi>" in grid and "predicted" in grid
    assert ("✓" in grid) == (ra.prediction == 1)
    assert "layer 1 (last)" in grid
    assert "layer 0 of" in render_review(ra, layer=0, head=3)
    assert "rollout" in render_review(ra, rollout=True)
    assert (
        "[CLS]" not in render_review(ra).split("</div>", 1)[1]
    )  # special tokens are not shown
    with pytest.raises(ValueError, match="head must be"):
        render_review(ra, head=9)


def test_render_review_one_row_per_layer(tiny):
    tokenizer, model = tiny
    ra = explain_review(model, tokenizer, TEXTS[0])
    rows = render_review(ra, layer="all", head=1)
    assert "<bdi>layer 0</bdi></th>" in rows and "<bdi>layer 1</bdi></th>" in rows
    assert "head 1" in rows


def test_attention_mass_by_token_kind(tiny):
    import matplotlib

    matplotlib.use("Agg")
    from helpers.attention import TOKEN_KINDS, attention_mass, token_kind
    from helpers.book.attention_figures import plot_attention_mass

    assert [token_kind(t) for t in ["[CLS]", "[SEP]", "!", "##s", "film"]] == [
        "[CLS]",
        "[SEP]",
        "punctuation",
        "word",
        "word",
    ]
    tokenizer, model = tiny
    ra = explain_review(
        model, tokenizer, "the movie was great !"
    )  # [CLS] 4 words ! [SEP]
    mass = attention_mass(ra)
    assert mass.shape == (2, len(TOKEN_KINDS))
    torch.testing.assert_close(mass.sum(dim=1), torch.ones(2))
    cls_row = ra.attentions[:, :, 0, :].mean(dim=1)
    torch.testing.assert_close(mass[:, 0], cls_row[:, 0])
    torch.testing.assert_close(mass[:, 2], cls_row[:, 5])
    torch.testing.assert_close(mass[:, 3], cls_row[:, 1:5].sum(dim=1))
    fig = plot_attention_mass(mass)
    assert len(fig.axes[0].patches) == 2 * len(TOKEN_KINDS)
    with pytest.raises(ValueError, match="attention_mass"):
        plot_attention_mass(mass[:, :2])


def test_explorer_builds_and_updates_lazily(tiny):
    pytest.importorskip("ipywidgets")
    tokenizer, model = tiny
    explorer = attention_explorer(
        model, tokenizer, [(TEXTS[0], 1), (TEXTS[2], 0), (TEXTS[3], 1)]
    )
    first = explorer.output.value
    assert "<bdi>review 0</bdi>: true <bdi>positive</bdi>" in first
    assert "mean over 4 heads" in first
    computed = explorer._cached.cache_info
    assert computed().currsize == 1  # only the shown review was computed
    explorer.review.value = 1
    assert "<bdi>review 1</bdi>: true <bdi>negative</bdi>" in explorer.output.value
    assert computed().currsize == 2
    explorer.layer.value = 0
    assert "layer 0 of" in explorer.output.value
    explorer.head.value = "grid"
    assert "<bdi>head 3</bdi></th>" in explorer.output.value
    explorer.head.value = 2
    assert "head 2" in explorer.output.value
    explorer.merge.value = "sum"
    assert "merged into words (sum)" in explorer.output.value
    explorer.rollout.value = True
    assert "rollout" in explorer.output.value and explorer.layer.disabled
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ReviewSet works too, with its ids as names
        from helpers.data import ReviewSet

        explorer = attention_explorer(
            model, tokenizer, ReviewSet([TEXTS[0]], [1], "t", ["test/pos/9"])
        )
    assert "review test/pos/9" in explorer.output.value
    with pytest.raises(ValueError, match="reviews is empty"):
        attention_explorer(model, tokenizer, [])


def test_render_review_merges_pieces_into_words(tiny):
    tokenizer, model = tiny
    ra = explain_review(model, tokenizer, "good films")
    assert ra.tokens == ["[CLS]", "good", "film", "##s", "[SEP]"]
    pieces, words = render_review(ra), render_review(ra, merge="sum")
    assert (
        ">film</span><span" in pieces and ">s</span>" in pieces
    )  # glued pieces, two spans
    assert ">films</span>" in words and "merged into words (sum)" in words


def test_unsaturated_review_picks_the_probability_nearest_the_target():
    p = {0: 0.994, 1: 0.55, 2: 0.80, 3: 0.99, 4: 0.70}
    assert unsaturated_review(p, [0, 1, 2, 3]) == 2
    assert unsaturated_review(p, [0, 1, 3]) == 1  # 0.55 is nearer 0.75 than 0.99
    assert unsaturated_review([0.9, 0.6], [0, 1], target=0.95) == 0
    # 0.80 and 0.70 are as near 0.75: decided by the seed, not by position
    picks = {unsaturated_review(p, [2, 4], seed=s) for s in range(20)}
    assert picks == {2, 4}
    with pytest.raises(ValueError, match="empty"):
        unsaturated_review(p, [])
    with pytest.raises(ValueError, match="target"):
        unsaturated_review(p, [0], target=0.3)


def test_mask_each_word_replaces_every_piece_of_one_word_by_the_mask_id():
    from helpers.attention import mask_each_word
    from helpers.tokens import encode

    tokenizer = tiny_tokenizer()
    model = tiny_bert(dropout=0.0, perturb=0.5, seed=3)
    text = "the acting was boringly"  # "boringly": two pieces
    words, probs = mask_each_word(model, tokenizer, text)
    assert words.words == ["the", "acting", "was", "boringly"]
    assert probs.shape == (1 + len(words.words), 2)
    ids = encode(tokenizer, [text], return_tensors="pt")["input_ids"]
    assert (ids == tokenizer.mask_token_id).sum() == 0
    with torch.no_grad():
        whole = model(input_ids=ids).logits.softmax(-1)[0]
        last = ids.clone()
        last[0, [i for i, w in enumerate(words.index) if w == 3]] = (
            tokenizer.mask_token_id
        )
        masked = model(input_ids=last).logits.softmax(-1)[0]
        typed = model(
            **encode(tokenizer, ["the acting was [MASK]"], return_tensors="pt")
        ).logits.softmax(-1)[0]
    assert sum(w == 3 for w in words.index) > 1
    assert torch.allclose(probs[0], whole, atol=1e-6)
    assert torch.allclose(probs[4], masked, atol=1e-6)
    assert not torch.allclose(probs[4], typed, atol=1e-4)  # typed "[MASK]" is text
