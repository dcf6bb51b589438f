"""Plausibility metrics against human rationales (helpers.metrics.plausibility)."""

import math

import numpy as np
import pytest
import torch
from tiny import tiny_bert, tiny_tokenizer

from helpers.attr import Attribution
from helpers.data.eraser import RationaleReview, RationaleSpan
from helpers.metrics import plausibility as pl


def reference_ap(scores, y) -> float:
    """AP from its definition: Σ over distinct thresholds t of ΔR(t) · P(t)."""
    scores, y = np.asarray(scores, float), np.asarray(y, bool)
    ap, last_recall = 0.0, 0.0
    for t in sorted(set(scores), reverse=True):
        chosen = scores >= t
        precision = (chosen & y).sum() / chosen.sum()
        recall = (chosen & y).sum() / y.sum()
        ap += (recall - last_recall) * precision
        last_recall = recall
    return ap


# ----------------------------------------------------------------- AUPRC
def test_auprc_hand_computed():
    # thresholds 0.9 (P 1, R .5), 0.8 (P .5, R .5), 0.7 (P 2/3, R 1)
    assert pl.auprc([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx(
        0.5 + 0.5 * 2 / 3
    )
    assert pl.auprc([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1]) == pytest.approx(1.0)
    assert pl.auprc([0.9, 0.8, 0.1, 0.2], [0, 0, 1, 1]) == pytest.approx(
        0.5 * 1 / 3 + 0.5 * 2 / 4
    )


def test_auprc_ties_form_one_threshold():
    # the tied pair {1, 1} enters together: P .5 at R .5, then P .5 at R 1
    assert pl.auprc([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.5)
    assert pl.auprc([1, 1, 0, 0], [0, 1, 0, 1]) == pytest.approx(0.5)
    # an all-constant map scores the rationale's share, whatever the order
    assert pl.auprc(np.zeros(8), [1, 0, 0, 0, 0, 0, 0, 1]) == pytest.approx(0.25)
    assert pl.auprc(torch.zeros(8), torch.tensor([0] * 6 + [1, 1])) == 0.25


def test_auprc_matches_the_definition_on_random_maps():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 4, size=30).astype(float)  # many ties
        y = rng.random(30) < 0.3
        y[0] = True
        assert pl.auprc(scores, y) == pytest.approx(reference_ap(scores, y))


def test_eraser_auprc_is_the_trapezoid_from_recall_zero():
    # points (0, 1), (.5, 1), (.5, .5), (1, 2/3): 0.5 + 0 + .5 * (.5 + 2/3) / 2
    got = pl.eraser_auprc([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0])
    assert got == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    # ties: (0, 1), (.5, .5), (1, .5)
    assert pl.eraser_auprc([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.625)
    # stops at full recall: the trailing negative at 0.1 changes nothing
    assert pl.eraser_auprc([0.9, 0.5, 0.1], [1, 1, 0]) == pytest.approx(1.0)


def test_no_rationale_is_nan_and_bad_input_is_refused():
    for metric in (pl.auprc, pl.eraser_auprc, pl.token_f1_at_k):
        assert math.isnan(metric([0.3, 0.2], [0, 0]))
    with pytest.raises(ValueError, match="NaN or inf"):
        pl.auprc([0.3, float("nan")], [1, 0])
    with pytest.raises(ValueError, match="1-D and of one length"):
        pl.auprc([0.3, 0.2, 0.1], [1, 0])


# ----------------------------------------------------------------- F1 at k
def test_token_f1_hand_computed():
    scores, y = [0.9, 0.1, 0.8, 0.2], [1, 1, 0, 0]
    assert pl.token_f1_at_k(scores, y) == pytest.approx(0.5)  # k = 2: {0, 2}
    assert pl.token_f1_at_k(scores, y, k=1) == pytest.approx(2 / 3)
    assert pl.token_f1_at_k(scores, y, k=4) == pytest.approx(2 * 2 / 6)
    assert pl.token_f1_at_k([0.1, 0.9, 0.8, 0.2], y) == pytest.approx(0.5)
    assert pl.token_f1_at_k([0.9, 0.8, 0.1, 0.2], y) == pytest.approx(1.0)


def test_ties_are_broken_at_random_not_by_position():
    scores = np.zeros(10)
    first = [pl.top_k_mask(scores, 3, seed=s) for s in range(200)]
    assert all(m.sum() == 3 for m in first)
    assert np.array_equal(pl.top_k_mask(scores, 3, seed=7), first[7])  # seeded
    counts = np.sum(first, axis=0)
    assert counts.min() > 25 and counts.max() < 95  # every position drawn ~60x
    # the old stable-argsort rule would always take the first tokens: F1 = 1 here
    y = np.r_[np.ones(3, bool), np.zeros(7, bool)]
    f1 = [pl.token_f1_at_k(scores, y, seed=s) for s in range(200)]
    assert 0.2 < np.mean(f1) < 0.4  # expectation 3/10
    # a strictly higher score is always chosen whatever the seed
    assert all(pl.top_k_mask(np.r_[0.0, 0.0, 1.0], 1, seed=s)[2] for s in range(20))


def test_chosen_by_lot_counts_ties_at_the_cut():
    scores = [3, 2, 2, 2, 1]
    assert pl.chosen_by_lot(scores, 2) == 1  # one of three 2s, by lot
    assert pl.chosen_by_lot(scores, 3) == 2
    assert pl.chosen_by_lot(scores, 4) == 0  # all three 2s are in
    assert pl.chosen_by_lot(scores, 1) == 0
    with pytest.raises(ValueError, match="k must be between"):
        pl.top_k_mask([1.0, 2.0], 3)


# ----------------------------------------------------------------- evaluation
SENTIMENT = {"great", "awful", "boring", "good", "bad", "best", "worst"}


def review(text, label, name) -> RationaleReview:
    """Rationale = every sentiment word of ``text`` (so an oracle can find it)."""
    tokens = text.split(" ")
    spans = [RationaleSpan(i, i + 1, w) for i, w in enumerate(tokens) if w in SENTIMENT]
    return RationaleReview(name, name, label, tokens, spans)


DOCS = [
    review("the movie was great and the acting good", 1, "pos1"),
    review("awful boring plot and very bad acting", 0, "neg1"),
    review("it was not the best story but i really love the acting", 1, "pos2"),
    review("the worst film", 0, "neg2"),
    review("the film is a movie", 1, "none"),  # no rationale at all
    review("the story was very very very very very long and good", 1, "cut"),
]


class Oracle(Attribution):
    """Scores 1 on sentiment words: exactly the human rationale of DOCS."""

    name = "oracle"

    def __init__(self, tokenizer, model):
        super().__init__(model)
        self.ids = torch.tensor(tokenizer.convert_tokens_to_ids(sorted(SENTIMENT)))
        self.calls = []

    def _pass(self, batch, target):
        self.calls.append((self.model.training, target.wanted))
        with torch.no_grad():
            logits = self.model(**batch).logits
        return torch.isin(batch["input_ids"], self.ids).float(), logits


class Random(Attribution):
    name = "random"

    def __init__(self, model, seed=0):
        super().__init__(model)
        self.generator = torch.Generator().manual_seed(seed)

    def _pass(self, batch, target):
        with torch.no_grad():
            logits = self.model(**batch).logits
        return torch.rand(batch["input_ids"].shape, generator=self.generator), logits


@pytest.fixture(scope="module")
def setup():
    tokenizer, model = tiny_tokenizer(), tiny_bert(dropout=0.5)
    model.train()  # the evaluation must switch to eval mode and back
    oracle = Oracle(tokenizer, model)
    result = pl.evaluate_plausibility(
        model,
        tokenizer,
        DOCS,
        [oracle, Random(model)],
        max_length=12,
        batch_size=2,
        progress=False,
    )
    return tokenizer, model, oracle, result


def test_oracle_scores_one_and_random_lower(setup):
    _, _, _, result = setup
    scored = [0, 1, 2, 3]
    assert np.allclose(result.auprc["oracle"][scored], 1.0)
    assert np.allclose(result.f1["oracle"][scored], 1.0)
    assert np.allclose(result.eraser_auprc["oracle"][scored], 1.0)
    assert np.nanmean(result.auprc["random"]) < 0.9
    assert np.nanmean(result.f1["random"]) < 0.9
    rows = {r["method"]: r for r in result.summary()}
    assert rows["oracle"]["n"] == 4 and rows["oracle"]["auprc"] == pytest.approx(1)


def test_reviews_without_rationale_in_view_are_nan(setup):
    _, _, _, result = setup
    # "none" has no rationale; "cut" has its only one ("good") beyond 12 tokens
    assert result.ids[4:] == ["none", "cut"]
    assert result.rationale_tokens[4:].tolist() == [0, 0]
    assert np.isnan(result.auprc["oracle"][4:]).all()
    assert math.isnan(result.coverage[4]) and result.coverage[5] == 0.0
    assert result.scored.tolist() == [True] * 4 + [False] * 2


def test_predictions_targets_and_mode(setup):
    _, model, oracle, result = setup
    assert model.training  # restored
    assert all(not training for training, _ in oracle.calls)  # explained in eval
    assert all(target is None for _, target in oracle.calls)  # predicted class
    model.eval()
    with torch.no_grad():
        logits = model(**result.encoding.inputs).logits
    model.train()
    assert result.predictions.tolist() == logits.argmax(-1).tolist()
    # the logits are kept, for attr.StoredMaps to serve without running the model
    assert np.allclose(result.logits, logits.numpy(), atol=1e-5)
    assert np.allclose(result.p_predicted, logits.softmax(-1).max(-1).values, atol=1e-5)
    assert result.targets.tolist() == result.predictions.tolist()
    assert result.accuracy == pytest.approx(
        np.mean(result.predictions == result.labels)
    )
    assert result.labels.tolist() == [1, 0, 1, 0, 1, 1]


def test_tokens_scores_and_texts_are_kept(setup):
    _, _, _, result = setup
    enc = result.encoding
    assert (
        result.n_tokens.tolist() == (enc.inputs["attention_mask"].sum(1) - 2).tolist()
    )
    assert result.texts[0] == "the movie was great and the acting good"
    assert result.max_length == 12
    oracle = result.scores["oracle"]
    assert oracle.shape == enc.inputs["input_ids"].shape
    assert torch.equal(oracle.bool(), enc.rationale)  # 0 at specials and padding


def test_label_target_and_bad_methods():
    tokenizer, model = tiny_tokenizer(), tiny_bert()
    oracle = Oracle(tokenizer, model)
    result = pl.evaluate_plausibility(
        model, tokenizer, DOCS[:3], {"o": oracle}, target="label", progress=False
    )
    assert result.targets.tolist() == [1, 0, 1]
    assert all(torch.is_tensor(t) for _, t in oracle.calls)
    with pytest.raises(ValueError, match="target must be"):
        pl.evaluate_plausibility(model, tokenizer, DOCS, [oracle], target="gold")
    with pytest.raises(TypeError, match="attribute"):
        pl.evaluate_plausibility(model, tokenizer, DOCS, {"x": object()})

    class Wrong(Attribution):
        name = "wrong"

        def _pass(self, batch, target):
            return torch.zeros(1, 3), self.model(**batch).logits

    with pytest.raises(RuntimeError, match=r"Wrong produced shape"):
        pl.evaluate_plausibility(model, tokenizer, DOCS, [Wrong(model)], progress=False)
