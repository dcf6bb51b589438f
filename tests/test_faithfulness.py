"""Tests for helpers.faithfulness on hand-built and tiny models (seconds on a CPU)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from helpers.faithfulness import (
    AOPC_FRACTIONS,
    GradientXInput,
    IntegratedGradients,
    RandomScores,
    TokenRoles,
    aopc,
    bootstrap_ci,
    cascading_randomisation,
    comprehensiveness,
    evaluate_faithfulness,
    n_selected,
    randomisation_steps,
    results_table,
    sanity_check,
    spearman,
    sufficiency,
    summarise,
    table_html,
    top_fraction_mask,
    write_csv,
)

PAD, UNK, CLS, SEP, MASK = range(5)
ROLES = TokenRoles(mask_id=MASK, special_ids=(PAD, CLS, SEP))
VOCAB = 40
TRIGGER = 7


class LinearTokenModel(nn.Module):
    """HF-like toy: logit[1] = bias + sum over attended tokens of w[id]; logit[0] = 0."""

    def __init__(self, weights: torch.Tensor, bias: float = 0.0):
        super().__init__()
        self.embeddings = nn.Embedding(len(weights), 1)
        with torch.no_grad():
            self.embeddings.weight.copy_(weights[:, None])
        self.bias = bias

    @property
    def base_model(self):
        return self

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        e = self.embeddings(input_ids)[..., 0] * mask
        one = e.sum(-1) + self.bias
        return SimpleNamespace(logits=torch.stack([torch.zeros_like(one), one], -1))


class MeanProbabilityModel(nn.Module):
    """HF-like toy whose p(class 1) is the mean of v[id] over the real positions.

    [MASK] has v = 0 and keeps its position, so replacing k of n real tokens at
    random lowers p on average to p * (1 - k / n).
    """

    def __init__(self, values: torch.Tensor):
        super().__init__()
        self.values = values

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        real = ROLES.real(
            {"input_ids": input_ids, "attention_mask": attention_mask}
        ).float()
        p = (self.values[input_ids] * real).sum(-1) / real.sum(-1)
        return SimpleNamespace(logits=torch.stack([torch.log1p(-p), torch.log(p)], -1))


def make_batch(rows: list[list[int]]) -> dict[str, torch.Tensor]:
    """[CLS] ids [SEP] [PAD]..., padded to the longest row."""
    width = max(len(r) for r in rows) + 2
    ids = torch.full((len(rows), width), PAD)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r) + 2] = torch.tensor([CLS, *r, SEP])
        mask[i, : len(r) + 2] = 1
    return {"input_ids": ids, "attention_mask": mask}


def trigger_model():
    weights = torch.zeros(VOCAB)
    weights[TRIGGER] = 5.0
    return LinearTokenModel(weights, bias=-2.0)


# --------------------------------------------------------------------------- selection


def test_n_selected_rounds_keeps_at_least_one_and_caps():
    n = torch.tensor([1, 30, 200])
    assert n_selected(n, 0.01).tolist() == [1, 1, 2]
    assert n_selected(n, 0.5).tolist() == [1, 15, 100]
    assert n_selected(n, 1.0).tolist() == [1, 30, 200]
    assert n_selected(n, 0.0).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        n_selected(n, 1.5)


def test_top_fraction_never_selects_special_or_padding():
    batch = make_batch([[10, 11, 12, 13], [20, 21]])
    real = ROLES.real(batch)
    scores = torch.full(
        batch["input_ids"].shape, 100.0
    )  # specials and padding score highest
    scores[real] = torch.tensor([1.0, 4.0, 3.0, 2.0, 1.0, 2.0])
    top = top_fraction_mask(scores, real, 0.5)
    assert top.tolist() == [
        [False, False, True, True, False, False],
        [False, False, True, False, False, False],
    ]


# --------------------------------------------------------------------------- ERASER


def test_oracle_explanation_is_maximally_comprehensive_and_sufficient():
    model = trigger_model()
    batch = make_batch([[10, 11, TRIGGER, 12, 13, 14, 15, 16, 17, 18]])
    oracle = (batch["input_ids"] == TRIGGER).float()
    p_full = torch.sigmoid(torch.tensor(3.0))
    p_without = torch.sigmoid(torch.tensor(-2.0))
    comp = comprehensiveness(model, batch, oracle, ROLES)
    suff = sufficiency(model, batch, oracle, ROLES)
    assert comp.shape == (1, len(AOPC_FRACTIONS))
    assert torch.allclose(comp, (p_full - p_without).expand_as(comp), atol=1e-6)
    assert torch.allclose(suff, torch.zeros_like(suff), atol=1e-6)
    # an explanation that puts the trigger last is worst on both metrics
    anti = 1.0 - oracle
    assert aopc(comprehensiveness(model, batch, anti, ROLES)) < aopc(comp)
    assert aopc(sufficiency(model, batch, anti, ROLES)) > aopc(suff)


def test_gradient_x_input_ranks_the_decisive_token_first():
    model = trigger_model()
    batch = make_batch([[10, 11, 12, TRIGGER, 13], [TRIGGER, 20, 21]])
    scores = GradientXInput(model).attribute(batch, target=1)
    real = ROLES.real(batch)
    assert (batch["input_ids"][top_fraction_mask(scores, real, 0.01)] == TRIGGER).all()
    comp = comprehensiveness(model, batch, scores, ROLES, target=1, fractions=(0.01,))
    assert torch.allclose(
        comp[:, 0], torch.sigmoid(torch.tensor(3.0)) - torch.sigmoid(torch.tensor(-2.0))
    )


def test_gradient_x_input_is_complete_for_a_linear_model():
    weights = torch.linspace(-1, 1, VOCAB)
    model = LinearTokenModel(weights, bias=0.3)
    batch = make_batch([[10, 11, 12, 30], [5, 39]])
    scores = GradientXInput(model).attribute(batch, target=1)
    logit = model(**batch).logits[:, 1]
    assert torch.allclose(
        scores.sum(1), logit - 0.3, atol=1e-6
    )  # f(x) - f(zero embeddings)
    assert (scores[batch["attention_mask"] == 0] == 0).all()


def test_random_baseline_comprehensiveness_matches_its_expected_value():
    gen = torch.Generator().manual_seed(0)
    values = 0.6 + 0.4 * torch.rand(VOCAB, generator=gen)
    values[MASK] = 0.0
    model = MeanProbabilityModel(values)
    n_real, reviews = 40, 400
    row = torch.randint(5, VOCAB, (n_real,), generator=gen).tolist()
    batch = make_batch([row] * reviews)
    p = values[torch.tensor(row)].mean()
    scores = RandomScores(seed=3).attribute(batch)
    comp = comprehensiveness(model, batch, scores, ROLES)
    suff = sufficiency(model, batch, scores, ROLES)
    counts = torch.tensor(
        [n_selected(torch.tensor([n_real]), f).item() for f in AOPC_FRACTIONS]
    )
    expected_comp = p * counts / n_real
    stderr = comp.std(0) / reviews**0.5 + 1e-6
    assert (torch.abs(comp.mean(0) - expected_comp) < 4 * stderr).all()
    assert torch.allclose(suff.mean(0), p - expected_comp, atol=4 * float(stderr.max()))


def test_random_scores_are_seeded_and_zero_at_padding():
    batch = make_batch([[10, 11, 12], [13]])
    a, b = RandomScores(5).attribute(batch), RandomScores(5).attribute(batch)
    assert torch.equal(a, b)
    assert not torch.equal(a, RandomScores(6).attribute(batch))
    assert (a[batch["attention_mask"] == 0] == 0).all()


def test_bad_inputs_raise_clear_errors():
    model = trigger_model()
    with pytest.raises(TypeError, match="input_ids"):
        comprehensiveness(model, torch.zeros(2, 3), torch.zeros(2, 3), ROLES)
    batch = make_batch([[10, 11]])
    with pytest.raises(ValueError, match="outside"):
        comprehensiveness(model, batch, torch.zeros(1, 4), ROLES, target=5)
    with pytest.raises(ValueError, match="differ"):
        comprehensiveness(model, batch, torch.zeros(1, 9), ROLES)


# --------------------------------------------------------------------------- statistics


def test_spearman_on_known_vectors():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 30), rng.normal(size=30)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    with pytest.raises(ValueError, match="one length"):
        spearman([1, 2], [1, 2, 3])


def test_bootstrap_ci_contains_mean_and_narrows_with_n():
    rng = np.random.default_rng(1)
    small = bootstrap_ci(rng.normal(2.0, 1.0, 30), seed=0)
    large = bootstrap_ci(rng.normal(2.0, 1.0, 3000), seed=0)
    for ci in (small, large):
        assert ci.low < ci.mean < ci.high
    assert (large.high - large.low) < 0.5 * (small.high - small.low)
    assert large.low < 2.0 < large.high
    assert bootstrap_ci([1.0, np.nan, 3.0]).n == 2
    assert bootstrap_ci([1.0, 2.0, 3.0], seed=4) == bootstrap_ci(
        [1.0, 2.0, 3.0], seed=4
    )
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_ci([np.nan])


# --------------------------------------------------------------------------- tiny BERT


@pytest.fixture(scope="module")
def tiny():
    import tempfile
    from pathlib import Path

    from conftest import WORDS
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = Path(tempfile.mkdtemp())
    vocab = folder / "vocab.txt"
    vocab.write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n"
    )
    tokenizer = BertTokenizer(vocab=str(vocab), model_max_length=64)
    config = BertConfig(
        vocab_size=5 + len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    with (
        torch.no_grad()
    ):  # move every weight off its init value (LayerNorms are 1/0 at init)
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return tokenizer, model


TEXTS = [
    "the movie was great",
    "awful boring plot and very bad acting",
    "good film",
    "it was not the best story but i really love the acting",
]


def test_integrated_gradients_is_complete(tiny):
    tokenizer, model = tiny
    batch = dict(tokenizer(TEXTS[:2], padding=True, return_tensors="pt"))
    roles = TokenRoles.from_tokenizer(tokenizer)
    ig = IntegratedGradients(
        model, roles, tokenizer.pad_token_id, n_steps=300, internal_batch_size=64
    )
    scores = ig.attribute(batch, target=1)
    with torch.no_grad():
        full = model(**batch).logits[:, 1]
        base = model(**{**batch, "input_ids": ig.baseline_ids(batch)}).logits[:, 1]
    assert torch.allclose(
        scores.sum(1), full - base, atol=2e-3 * float((full - base).abs().max()) + 1e-4
    )
    assert (ig.baseline_ids(batch)[:, 0] == tokenizer.cls_token_id).all()
    assert (scores[batch["attention_mask"] == 0] == 0).all()


def test_cascade_changes_exactly_the_weights_it_claims(tiny):
    _, model = tiny
    original = {k: v.clone() for k, v in model.state_dict().items()}
    steps = randomisation_steps(model)
    assert [label for label, _ in steps] == ["head", "layer 1", "layer 0"]
    seen = []
    for step in cascading_randomisation(model, seed=3):
        state = step.model.state_dict()
        for name, value in state.items():
            claimed = any(name.startswith(m + ".") for m in step.randomised)
            assert torch.equal(value, original[name]) != claimed, (step.label, name)
        seen.append(step.label)
        dense = state["bert.encoder.layer.1.intermediate.dense.weight"]
        if step.label != "head":
            assert dense.std().item() == pytest.approx(
                model.config.initializer_range, rel=0.15
            )
    assert seen == ["head", "layer 1", "layer 0"]
    for name, value in model.state_dict().items():  # the original is untouched
        assert torch.equal(value, original[name])


def test_evaluate_and_summary_on_tiny_bert(tiny, tmp_path):
    tokenizer, model = tiny
    methods = {"grad x input": GradientXInput(model), "random": RandomScores(0)}
    res = evaluate_faithfulness(
        model, tokenizer, TEXTS, methods, batch_size=3, progress=False
    )
    assert res.n == 4 and res.comprehensiveness["random"].shape == (
        4,
        len(AOPC_FRACTIONS),
    )
    for m in (
        res.methods
    ):  # curve endpoints: nothing deleted = full input; all deleted = nothing inserted
        assert np.allclose(res.deletion[m][:, 0], res.p_full, atol=1e-6)
        assert np.allclose(res.deletion[m][:, -1], res.insertion[m][:, 0], atol=1e-6)
        assert np.allclose(res.insertion[m][:, -1], res.p_full, atol=1e-6)
    assert np.allclose(res.agreement[:, 0, 0], 1.0)
    rows = results_table(res, n_resamples=200)
    assert [r["method"] for r in rows] == ["grad x input", "random"]
    text = summarise(rows)
    best = max(rows[:1], key=lambda r: r["comprehensiveness"].mean)
    assert best["method"] in text and f"{best['comprehensiveness'].mean:.3f}" in text
    assert "<table>" in table_html(rows) and "grad x input" in table_html(rows)
    lines = open(write_csv(rows, tmp_path / "t.csv")).read().splitlines()
    assert (
        lines[0].startswith("method,comprehensiveness,comprehensiveness low")
        and len(lines) == 3
    )


def test_sanity_check_on_tiny_bert(tiny):
    tokenizer, model = tiny

    def make(m, seed):
        return {"grad x input": GradientXInput(m), "random": RandomScores(seed)}

    res = sanity_check(model, tokenizer, TEXTS, make, batch_size=2, progress=False)
    assert res.steps == ["head", "layer 1", "layer 0"]
    assert res.rho["grad x input"].shape == (4, 3)
    assert np.nanmax(np.abs(res.rho["random"])) <= 1.0
    # a fully random model gives a different gradient x input map
    assert np.nanmean(res.rho["grad x input"][:, -1]) < 0.99


def test_registry_gives_one_call_shape(tiny):
    pytest.importorskip("helpers.attention")
    from helpers.faithfulness import compute_maps, explainers

    tokenizer, model = tiny
    batch = dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))
    methods = explainers(model, tokenizer, ig_steps=4, internal_batch_size=8)
    assert {
        "[CLS] attention",
        "rollout",
        "Grad-CAM L0",
        "Grad-CAM L1",
        "Grad-CAM mean",
        "grad x input",
        "IG",
        "random",
    } <= set(methods)
    maps = compute_maps(methods, batch, None)
    for name, m in maps.items():
        assert m.shape == batch["input_ids"].shape, name
        assert (m[batch["attention_mask"] == 0] == 0).all(), name
    mean = (maps["Grad-CAM L0"] + maps["Grad-CAM L1"]) / 2
    assert torch.allclose(maps["Grad-CAM mean"], mean, atol=1e-6)


def _row(method, comp, diff, suff=0.1):
    from helpers.faithfulness import ConfidenceInterval as CI

    return {
        "method": method,
        "comprehensiveness": CI(comp, comp - 0.01, comp + 0.01, 50),
        "sufficiency": CI(suff, suff - 0.01, suff + 0.01, 50),
        "comp - random": CI(diff, diff - 0.01, diff + 0.01, 50),
    }


def test_summary_follows_the_numbers():
    from helpers.faithfulness import CascadeResults

    rows = [
        _row("A", 0.30, 0.20),
        _row("B", 0.25, 0.15, suff=0.02),
        _row("random", 0.10, 0.0),
    ]
    text = summarise(rows)
    assert (
        "**A**" in text and "clearly above" in text and "beyond the confidence" in text
    )
    assert "most sufficient (lowest AOPC sufficiency) is **B**" in text
    assert "explain with **A**" in text
    # A keeps its map when the model is destroyed -> fails; the recommendation moves to B
    n = 5
    cascade = CascadeResults(
        ["A", "B", "random"],
        ["head", "layer 0"],
        {
            "A": np.full((n, 2), 0.9),
            "B": np.full((n, 2), 0.05),
            "random": np.zeros((n, 2)),
        },
    )
    text = summarise(rows, cascade)
    assert "passed by B; failed by A" in text and "explain with **B**" in text
    # nothing beats random -> no recommendation of a method
    weak = [_row("A", 0.10, -0.001), _row("random", 0.10, 0.0)]
    text = summarise(weak)
    assert "not distinguishable from" in text and "no method is both" in text


def test_summary_names_maps_that_ignore_the_head():
    from helpers.faithfulness import CascadeResults

    rows = [_row("A", 0.30, 0.20), _row("B", 0.25, 0.15), _row("random", 0.10, 0.0)]
    n = 4
    rho_a = np.tile(
        [1.0, 0.8, 0.7, 0.1], (n, 1)
    )  # ignores the head, decorrelates at the last step
    rho_b = np.tile([0.2, 0.1, 0.0, 0.0], (n, 1))
    cascade = CascadeResults(
        ["A", "B", "random"],
        ["head", "layer 2", "layer 1", "layer 0"],
        {"A": rho_a, "B": rho_b, "random": np.zeros((n, 4))},
    )
    text = summarise(rows, cascade)
    assert "head alone leaves A unchanged" in text
    assert "A (first below 0.3 at: layer 0)" in text and "B (first" not in text
