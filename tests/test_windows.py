"""Tests for helpers.windows: long texts classified and explained in windows.

Tiny models from tests/tiny.py with 64 positions, so a window holds at most
62 content tokens and "long" means more than that.
"""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from helpers.attr import Attribution, GradCam
from helpers.attr.gradcam import aggregate_layers
from helpers.book.long_reviews import describe_long
from helpers.data import TruncationWarning
from helpers.highlight import highlight_html
from helpers.windows import (
    classify_long,
    encode_long,
    explain_long,
    max_window,
    pick_long_text,
    pool_logits,
    stitch_scores,
    stitch_weights,
    windows,
)
from tests.tiny import TEXTS, WORDS, tiny_bert, tiny_tokenizer

PLAIN_WORDS = [w for w in WORDS if w.isalpha()]


def long_text(n_words: int, seed: int = 0) -> str:
    """Seeded words of the tiny vocabulary, some with suffixes (two pieces)."""
    rng = random.Random(seed)
    words = [rng.choice(PLAIN_WORDS) for _ in range(n_words)]
    return " ".join(w + "s" if i % 7 == 3 else w for i, w in enumerate(words))


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model():
    return tiny_bert(perturb=0.05, seed=3)


# --------------------------------------------------------------------------- explainers


class GradXInput(Attribution):
    """Gradient x input at the word embeddings, written here as a reference."""

    name = "grad x input (test)"

    def _pass(self, batch, target):
        with torch.enable_grad():
            embeds = self.model.get_input_embeddings()(batch["input_ids"])
            embeds = embeds.detach().requires_grad_(True)
            logits = self.model(
                inputs_embeds=embeds,
                attention_mask=batch["attention_mask"],
                token_type_ids=batch.get("token_type_ids"),
            ).logits
            (grad,) = torch.autograd.grad(target.score(logits), embeds)
        return (grad * embeds).sum(-1), logits


class GradCamMeanOfLayers(GradCam):
    """helpers.attr.GradCam aggregated over layers (mean), as an explainer."""

    name = "Grad-CAM mean"

    def _pass(self, batch, target):
        cam, logits = super()._pass(batch, target)
        return aggregate_layers(cam, "mean"), logits


class NoGrad(Attribution):
    """A test explainer that reads the logits without gradients."""

    def _logits(self, batch) -> torch.Tensor:
        with torch.no_grad():
            return self.model(**batch).logits


class WindowIndex(NoGrad):
    """Scores ``k + 1`` at every position of the ``k``-th window it is asked for."""

    name = "window index"

    def __init__(self, model):
        super().__init__(model)
        self.seen = 0
        self.targets: list[int] = []

    def _pass(self, batch, target):
        mask = batch["attention_mask"].float()
        values = torch.arange(self.seen + 1, self.seen + 1 + mask.shape[0]).float()
        self.seen += mask.shape[0]
        self.targets += target.wanted.tolist()
        return values[:, None] * mask, self._logits(batch)


class TokenIds(NoGrad):
    """Scores each position by its own token id (checks the alignment)."""

    name = "token ids"

    def _pass(self, batch, target):
        return batch["input_ids"].float(), self._logits(batch)


class CountModel(nn.Module):
    """Logits ``[#bad, 3 * #great]`` per window; records its mode and grad state."""

    def __init__(self, tokenizer):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.bad, self.great = tokenizer.convert_tokens_to_ids(["bad", "great"])
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        self.seen.append((self.training, torch.is_grad_enabled()))
        bad = (input_ids == self.bad).sum(1).float()
        great = (input_ids == self.great).sum(1).float()
        return SimpleNamespace(logits=torch.stack([bad, 3 * great], dim=1))


# --------------------------------------------------------------------------- windows


def test_windows_hand_computed_spans():
    assert windows(100, 40, 10) == [(0, 40), (30, 70), (60, 100)]
    # the last window is moved left to end at the text's end: it shares 20
    assert windows(90, 40, 10) == [(0, 40), (30, 70), (50, 90)]
    assert windows(40, 40, 10) == [(0, 40)]
    assert windows(41, 40, 0) == [(0, 40), (1, 41)]
    assert windows(5) == [(0, 5)]
    assert windows(1000) == [(0, 510), (382, 892), (490, 1000)]


@pytest.mark.parametrize(
    ("window", "overlap"),
    [(w, o) for w in (1, 2, 7, 62, 510) for o in (0, 1, 5, 128) if o < w],
)
def test_windows_cover_every_token_within_the_limit(window, overlap):
    for n in [1, window - 1, window, window + 1, 3 * window + 5, 3000]:
        if n < 1:
            continue
        spans = windows(n, window, overlap)
        covered = torch.zeros(n, dtype=torch.long)
        for start, end in spans:
            assert end - start == min(window, n)
            covered[start:end] += 1
        assert bool((covered >= 1).all())
        assert spans[0][0] == 0 and spans[-1][1] == n
        starts = [s for s, _ in spans]
        assert starts == sorted(set(starts))
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end - start >= overlap
        expected = 1 if n <= window else 1 + -(-(n - window) // (window - overlap))
        assert len(spans) == expected


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        ((0, 40, 10), "no tokens"),
        ((10, 0, 0), "window"),
        ((10, 2.5, 0), "window"),
        ((10, True, 0), "window"),
        ((10, 40, -1), "overlap"),
        ((10, 40, 40), "overlap=10"),
        ((10, 40, 50), "smaller than window"),
    ],
)
def test_windows_bad_values_name_the_fix(args, fix):
    with pytest.raises(ValueError, match=fix):
        windows(*args)


def test_window_limit_comes_from_tokenizer_and_model(tokenizer, model):
    assert max_window(tokenizer) == 62
    assert max_window(tokenizer, tiny_bert(max_positions=32)) == 30
    assert encode_long(tokenizer, long_text(200), None, 16).spans[0] == (0, 62)
    with pytest.raises(ValueError, match="window <= 62"):
        encode_long(tokenizer, "good film", window=63, overlap=16)
    with pytest.raises(ValueError, match="window <= 30"):
        classify_long(tiny_bert(max_positions=32), tokenizer, "good", window=40)
    with pytest.raises(ValueError, match="overlap"):
        encode_long(tokenizer, "good film", window=62)  # default overlap 128


@pytest.mark.parametrize("text", ["", "   \n "])
def test_empty_text_raises(tokenizer, model, text):
    with pytest.raises(ValueError, match="empty"):
        encode_long(tokenizer, text, 40, 10)
    with pytest.raises(ValueError, match="empty"):
        classify_long(model, tokenizer, ["good", text], window=40, overlap=10)
    with pytest.raises(ValueError, match="empty"):
        explain_long(TokenIds(model), model, tokenizer, text, window=40, overlap=10)
    with pytest.raises(ValueError, match="at least one"):
        classify_long(model, tokenizer, [], window=40, overlap=10)


# --------------------------------------------------------------------------- encoding


def test_encode_long_keeps_every_token_and_frames_windows(tokenizer):
    text = long_text(150)
    enc = encode_long(tokenizer, text, window=40, overlap=10)
    plain = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert enc.ids == plain and enc.n_tokens == len(plain) > 150
    assert enc.tokens == tokenizer.convert_ids_to_tokens(plain)
    assert enc.spans == windows(len(plain), 40, 10)
    for token, (start, end) in zip(enc.tokens, enc.offsets, strict=True):
        assert text[start:end] == token.removeprefix("##")
    batch = enc.window_inputs()
    assert tuple(batch["input_ids"].shape) == (len(enc.spans), 42)
    assert bool((batch["attention_mask"] == 1).all())
    for row, (start, end) in enumerate(enc.spans):
        ids = batch["input_ids"][row].tolist()
        assert ids == [
            tokenizer.cls_token_id,
            *plain[start:end],
            tokenizer.sep_token_id,
        ]
    assert bool((batch["token_type_ids"] == 0).all())


def test_short_window_inputs_equal_the_tokenizer(tokenizer):
    enc = encode_long(tokenizer, TEXTS[3], window=62, overlap=16)
    plain = tokenizer(TEXTS[3], return_tensors="pt")
    assert enc.spans == [(0, enc.n_tokens)]
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(enc.window_inputs()[key], plain[key])


# ---------------------------------------------------------------- one window = one pass


@pytest.mark.parametrize("pool", ["mean", "max"])
def test_text_in_one_window_gives_the_plain_logits(tokenizer, model, pool):
    plain = model(**tokenizer(list(TEXTS), padding=True, return_tensors="pt")).logits
    logits = classify_long(model, tokenizer, TEXTS, window=62, overlap=16, pool=pool)
    torch.testing.assert_close(logits, plain.detach(), atol=1e-5, rtol=1e-5)


def test_windows_are_classified_on_the_fused_kernel(tokenizer):
    """Chapter 9's counterfactuals classify with a model loaded eager (for the
    explanations): the windows' pass needs no attention weights."""
    model = tiny_bert(attn="eager")
    seen = []
    hook = model.register_forward_pre_hook(
        lambda m, _: seen.append(m.config._attn_implementation)
    )
    try:
        logits = classify_long(model, tokenizer, TEXTS, window=40, overlap=10)
    finally:
        hook.remove()
    assert seen and set(seen) == {"sdpa"}
    assert model.config._attn_implementation == "eager"  # restored
    assert logits.shape == (len(TEXTS), 2)


@pytest.mark.parametrize("make", [GradXInput, GradCamMeanOfLayers])
@pytest.mark.parametrize("stitch", ["mean", "taper"])
def test_text_in_one_window_gives_the_plain_scores(tokenizer, model, make, stitch):
    explainer = make(model)
    plain = tokenizer(TEXTS[3], return_tensors="pt")
    expected = explainer.attribute(plain).scores[0, 1:-1]
    result = explain_long(
        explainer, model, tokenizer, TEXTS[3], window=62, overlap=16, stitch=stitch
    )
    assert result.tokens == tokenizer.tokenize(TEXTS[3])
    torch.testing.assert_close(result.score(), expected.float(), atol=1e-5, rtol=1e-4)
    assert result.target == int(model(**plain).logits.argmax())
    assert float(expected.abs().sum()) > 0


# --------------------------------------------------------------------------- long texts


def test_3000_token_text_gets_one_score_per_token(tokenizer, model, recwarn):
    text = long_text(2700, seed=1)
    expected = tokenizer.convert_ids_to_tokens(
        tokenizer(text, add_special_tokens=False)["input_ids"]
    )
    assert len(expected) >= 3000
    result = explain_long(
        GradXInput(model), model, tokenizer, text, overlap=16, progress=False
    )
    assert result.tokens == expected
    assert tuple(result.score().shape) == (len(expected),)
    assert bool(torch.isfinite(result.score()).all())
    assert result.windows.spans == windows(len(expected), 62, 16)
    n_windows = 1 + -(-(len(expected) - 62) // (62 - 16))
    assert len(result.windows.scores) == len(result.windows.spans) == n_windows
    assert tuple(result.windows.logits.shape) == (n_windows, 2)
    torch.testing.assert_close(result.probabilities.sum(), torch.tensor(1.0))
    logits = classify_long(model, tokenizer, text, overlap=16, progress=False)
    torch.testing.assert_close(result.logits, logits[0])
    assert not [w for w in recwarn if issubclass(w.category, TruncationWarning)]
    assert not [w for w in recwarn if "sequence length" in str(w.message)]
    page = highlight_html(result.tokens, result.score(), merge="max")
    assert "truncated" not in page and "Token indices" not in page
    assert page.count('<span style="background') == len(
        [t for t in expected if not t.startswith("##")]
    )
    assert "truncated" not in result.html(merge="max", title="whole review")


def test_several_texts_in_one_call_match_single_calls(tokenizer, model):
    texts = [long_text(300, seed=2), "good film", long_text(90, seed=3)]
    together = classify_long(
        model, tokenizer, texts, window=40, overlap=8, batch_size=3
    )
    for i, text in enumerate(texts):
        alone = classify_long(model, tokenizer, text, window=40, overlap=8)
        torch.testing.assert_close(together[i], alone[0], atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------- the overlap rule


def hundred_tokens(tokenizer) -> str:
    text = long_text(100, seed=4).replace("s ", " ").removesuffix("s")
    assert len(tokenizer.tokenize(text)) == 100
    return text


def test_stitch_mean_averages_the_windows(tokenizer, model):
    explainer = WindowIndex(model)
    result = explain_long(
        explainer,
        model,
        tokenizer,
        hundred_tokens(tokenizer),
        window=40,
        overlap=10,
        batch_size=2,  # windows reach the explainer over two calls
    )
    assert result.windows.spans == [(0, 40), (30, 70), (60, 100)]
    expected = torch.cat(
        [
            torch.full((30,), 1.0),
            torch.full((10,), 1.5),  # windows 1 and 2
            torch.full((20,), 2.0),
            torch.full((10,), 2.5),  # windows 2 and 3
            torch.full((30,), 3.0),
        ]
    )
    torch.testing.assert_close(result.score(), expected)
    assert explainer.targets == [result.target] * 3


def test_stitch_taper_weights_by_distance_to_the_edge(tokenizer, model):
    result = explain_long(
        WindowIndex(model),
        model,
        tokenizer,
        hundred_tokens(tokenizer),
        window=40,
        overlap=10,
        stitch="taper",
    )
    s = result.score()
    # token 30: window 1 at p=30 (weight min(31, 10, 11) = 10), window 2 at p=0 (1)
    assert s[30].item() == pytest.approx((10 * 1 + 1 * 2) / 11)
    # token 35: weights min(36, 5, 11) = 5 and min(6, 35, 11) = 6
    assert s[35].item() == pytest.approx((5 * 1 + 6 * 2) / 11)
    # token 39: weights 1 and min(10, 31, 11) = 10
    assert s[39].item() == pytest.approx((1 * 1 + 10 * 2) / 11)
    # token 65: window 2 at p=35 (5), window 3 at p=5 (6)
    assert s[65].item() == pytest.approx((5 * 2 + 6 * 3) / 11)
    # tokens covered by one window keep its value
    assert s[:30].tolist() == [1.0] * 30 and s[40:60].tolist() == [2.0] * 20
    assert s[70:].tolist() == [3.0] * 30


def test_stitch_weights_and_scores_by_hand():
    assert stitch_weights(6, 1, "taper").tolist() == [1, 2, 2, 2, 2, 1]
    assert stitch_weights(6, 10, "taper").tolist() == [1, 2, 3, 3, 2, 1]
    assert stitch_weights(4, 2, "mean").tolist() == [1, 1, 1, 1]
    scores = [torch.tensor([1.0, 1, 1, 1]), torch.tensor([5.0, 5, 5, 5])]
    mean = stitch_scores(scores, [(0, 4), (2, 6)], 6, overlap=2, stitch="mean")
    assert mean.tolist() == [1, 1, 3, 3, 5, 5]
    taper = stitch_scores(scores, [(0, 4), (2, 6)], 6, overlap=2, stitch="taper")
    # token 2: weights 2 (p=2 of 4: min(3, 2, 3)) and 1 (p=0); token 3: 1 and 2
    assert taper.tolist() == pytest.approx([1, 1, (2 + 5) / 3, (1 + 10) / 3, 5, 5])
    with pytest.raises(ValueError, match="in no window"):
        stitch_scores(scores, [(0, 4), (3, 7)], 8, overlap=1)
    with pytest.raises(ValueError, match="one score per content token"):
        stitch_scores(scores, [(0, 4), (2, 5)], 5, overlap=2)
    with pytest.raises(ValueError, match="stitch"):
        stitch_weights(4, 2, "linear")


@pytest.mark.parametrize("stitch", ["mean", "taper"])
def test_scores_are_aligned_with_the_tokens(tokenizer, model, stitch):
    text = long_text(200, seed=5)
    result = explain_long(
        TokenIds(model), model, tokenizer, text, window=40, overlap=12, stitch=stitch
    )
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert result.score().tolist() == [float(i) for i in ids]


def test_normalise_sum_gives_each_window_the_same_mass(tokenizer, model):
    result = explain_long(
        WindowIndex(model),
        model,
        tokenizer,
        hundred_tokens(tokenizer),
        window=40,
        overlap=10,
        normalise="sum",
    )
    for scores in result.windows.scores:
        assert float(scores.abs().sum()) == pytest.approx(1.0)
    torch.testing.assert_close(result.score(), torch.full((100,), 1 / 40))


# --------------------------------------------------------------------------- pooling


POOL_TEXT = " ".join(
    ["great"] + ["the"] * 9 + (["bad", "bad"] + ["the"] * 8) * 2
)  # windows of 10: logits [0, 3], [2, 0], [2, 0]


def test_pool_mean_and_max_differ_as_documented(tokenizer):
    model = CountModel(tokenizer).train()
    mean = classify_long(model, tokenizer, POOL_TEXT, window=10, overlap=0)
    top = classify_long(model, tokenizer, POOL_TEXT, window=10, overlap=0, pool="max")
    torch.testing.assert_close(mean, torch.tensor([[4 / 3, 1.0]]))
    torch.testing.assert_close(top, torch.tensor([[2.0, 3.0]]))
    assert int(mean.argmax()) == 0 and int(top.argmax()) == 1
    assert model.training  # restored
    assert model.seen and all(s == (False, False) for s in model.seen)  # eval, no grad
    windows_logits = torch.tensor([[0.0, 3], [2, 0], [2, 0]])
    assert pool_logits(windows_logits, "max").tolist() == [2, 3]
    with pytest.raises(ValueError, match="pool"):
        classify_long(model, tokenizer, POOL_TEXT, window=10, overlap=0, pool="sum")


@pytest.mark.parametrize(("pool", "target"), [("mean", 0), ("max", 1)])
def test_every_window_is_explained_for_the_whole_texts_class(tokenizer, pool, target):
    model = CountModel(tokenizer).train()
    explainer = WindowIndex(model)
    result = explain_long(
        explainer, model, tokenizer, POOL_TEXT, window=10, overlap=0, pool=pool
    )
    assert result.target == target == result.prediction
    assert explainer.targets == [target] * 3  # window 1 alone would predict 1
    assert model.training
    forced = explain_long(
        WindowIndex(model), model, tokenizer, POOL_TEXT, window=10, overlap=0, target=1
    )
    assert forced.target == 1


def test_explain_long_bad_arguments(tokenizer, model):
    text = long_text(80)
    with pytest.raises(ValueError, match="outside the model's labels"):
        explain_long(TokenIds(model), model, tokenizer, text, overlap=8, target=5)
    with pytest.raises(ValueError, match="stitch"):
        explain_long(
            TokenIds(model), model, tokenizer, text, overlap=8, stitch="linear"
        )
    with pytest.raises(ValueError, match="normalise"):
        explain_long(
            TokenIds(model), model, tokenizer, text, overlap=8, normalise="max"
        )
    with pytest.raises(ValueError, match="pool"):
        explain_long(TokenIds(model), model, tokenizer, text, overlap=8, pool="median")
    with pytest.raises(ValueError, match="one map per token"):
        explain_long(GradCam(model), model, tokenizer, text, overlap=8)


# --------------------------------------------------------------------------- the demo


def test_pick_long_text_draws_among_the_long_ones(tokenizer):
    texts = [long_text(n, seed=n) for n in (10, 80, 12, 90, 5)]
    lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
    picks = {pick_long_text(tokenizer, texts, limit=64, seed=s) for s in range(20)}
    assert picks == {(1, lengths[1]), (3, lengths[3])}  # both drawn, nothing else
    assert pick_long_text(tokenizer, texts, 64, seed=7) == pick_long_text(
        tokenizer, texts, 64, seed=7
    )
    # nothing long: the longest, ties drawn at random rather than the first
    same = [long_text(10, seed=1)] * 3 + [long_text(3, seed=2)]
    drawn = {pick_long_text(tokenizer, same, limit=500, seed=s)[0] for s in range(20)}
    assert drawn == {0, 1, 2}


def test_describe_long_says_what_the_cut_loses(tokenizer, model):
    text = long_text(150, seed=4)
    result = explain_long(
        TokenIds(model), model, tokenizer, text, overlap=16, progress=False
    )
    n, kept = len(result.tokens), 62
    cut = torch.tensor([2.0, 0.0])  # the cut text says negative, p = 0.88
    text_md = describe_long(result, cut, label=1)
    assert f"The review has {n} tokens" in text_md
    assert f"keeps the first {kept} ({kept / n:.0%})" in text_md
    assert "Cut: **<bdi>negative</bdi>** (p = 0.88)" in text_md
    assert f"in {len(result.windows.spans)} windows of at most {kept} tokens" in text_md
    assert "the label is **<bdi>positive</bdi>**" in text_md
    hostile = describe_long(result, cut, label=1, names=("<b>neg\u202e", "pos"))
    assert "**<bdi>&lt;b&gt;neg\u202e\u202c</bdi>**" in hostile and "<b>" not in hostile
    share = float(result.score()[kept:].sum() / result.score().sum())
    assert f"{share:.0%} of the explanation's positive mass" in text_md
    short = explain_long(
        TokenIds(model), model, tokenizer, "a great film", overlap=16, progress=False
    )
    assert "positive mass" not in describe_long(short, cut)
