"""helpers.metrics: ERASER metrics, tie-breaking, the runner and the statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny import TEXTS, encode, tiny_bert, tiny_tokenizer
from toys import (
    MASK,
    ROLES,
    VOCAB,
    MeanProbabilityModel,
    ScoresFrom,
    make_batch,
    trigger_model,
)

from helpers import attr, metrics
from helpers.tokens import TokenRoles

# --------------------------------------------------------------------------- selection


def test_n_selected_rounds_keeps_at_least_one_and_caps():
    n = torch.tensor([1, 30, 200])
    assert metrics.n_selected(n, 0.01).tolist() == [1, 1, 2]
    assert metrics.n_selected(n, 0.5).tolist() == [1, 15, 100]
    assert metrics.n_selected(n, 1.0).tolist() == [1, 30, 200]
    assert metrics.n_selected(n, 0.0).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.n_selected(n, 1.5)


def test_top_fraction_never_selects_special_or_padding():
    batch = make_batch([[10, 11, 12, 13], [20, 21]])
    real = ROLES.real(batch)
    scores = torch.full(batch["input_ids"].shape, 100.0)  # specials score highest
    scores[real] = torch.tensor([1.0, 4.0, 3.0, 2.0, 1.0, 2.0])
    top = metrics.top_fraction_mask(scores, real, 0.5)
    assert top.tolist() == [
        [False, False, True, True, False, False],
        [False, False, True, False, False, False],
    ]


def _first_three(real):
    first = torch.zeros_like(real)
    first[0, 1:4] = True
    return first


def test_ties_are_broken_at_random_not_by_position():
    batch = make_batch([list(range(10, 20))])  # 10 real tokens
    real = ROLES.real(batch)
    flat = torch.zeros(real.shape)  # an all-zero map: every token ties
    ids = batch["input_ids"]
    # the old stable argsort took the first three real tokens, always
    picks = [
        metrics.top_fraction_mask(flat, real, 0.3, seed=s, ids=ids) for s in range(200)
    ]
    assert all(p.sum() == 3 for p in picks)
    assert sum(torch.equal(p, _first_three(real)) for p in picks) < 10  # 1/120 each
    counts = torch.stack(picks).sum(0)[0][real[0]].float() / 200
    assert ((counts > 0.18) & (counts < 0.42)).all(), counts  # about 0.3 each
    same = metrics.top_fraction_mask(flat, real, 0.3, seed=3, ids=ids)
    assert torch.equal(same, picks[3])
    assert any(not torch.equal(picks[0], p) for p in picks[1:5])
    # a token that is not tied is always taken first
    scores = flat.clone()
    scores[0, 7] = 1.0
    for s in range(20):
        top = metrics.top_fraction_mask(scores, real, 0.2, seed=s, ids=ids)
        assert top[0, 7] and top.sum() == 2


def test_the_tie_order_of_a_review_does_not_depend_on_its_batch():
    review = list(range(10, 22))
    alone = make_batch([review])
    together = make_batch([list(range(5, 30)), review])  # wider padding, other review

    def pick(batch, row):
        real = ROLES.real(batch)
        flat = torch.zeros(real.shape)
        top = metrics.top_fraction_mask(
            flat, real, 0.25, seed=9, ids=batch["input_ids"]
        )
        return batch["input_ids"][row][top[row]].tolist()

    assert pick(alone, 0) == pick(together, 1)


def test_tied_selection_counts_selected_tokens_equal_to_a_left_out_one():
    batch = make_batch([[10, 11, 12, 13, 14], [10, 11, 12, 13], [10, 11, 12, 13]])
    real = ROLES.real(batch)
    scores = torch.zeros(real.shape)
    scores[0, 1:6] = torch.tensor([3.0, 2.0, 2.0, 2.0, 1.0])  # pick 2: 3 and one 2
    scores[1, 1:5] = torch.tensor([3.0, 2.0, 1.0, 0.0])  # pick 2: no tie
    # row 2: all zero, pick 2 of 4: both are ties
    fraction = 0.4
    top = metrics.top_fraction_mask(scores, real, fraction, seed=0)
    assert top.sum(1).tolist() == [2, 2, 2]
    assert metrics.tied_selection(scores, real, top).tolist() == [1, 0, 2]
    everything = real.clone()  # nothing left out: nothing can be a tie
    assert metrics.tied_selection(scores, real, everything).tolist() == [0, 0, 0]


# --------------------------------------------------------------------------- ERASER


def test_oracle_explanation_is_maximally_comprehensive_and_sufficient():
    model = trigger_model()
    batch = make_batch([[10, 11, 7, 12, 13, 14, 15, 16, 17, 18]])
    oracle = (batch["input_ids"] == 7).float()
    p_full = torch.sigmoid(torch.tensor(3.0))
    p_without = torch.sigmoid(torch.tensor(-2.0))
    comp = metrics.comprehensiveness(model, batch, oracle, ROLES)
    suff = metrics.sufficiency(model, batch, oracle, ROLES)
    assert comp.shape == (1, len(metrics.AOPC_FRACTIONS))
    torch.testing.assert_close(comp, (p_full - p_without).expand_as(comp))
    torch.testing.assert_close(suff, torch.zeros_like(suff))
    anti = 1.0 - oracle  # the trigger last: worst on both metrics
    assert metrics.aopc(metrics.comprehensiveness(model, batch, anti, ROLES)) < 0.5
    assert metrics.aopc(metrics.sufficiency(model, batch, anti, ROLES)) > 0.3


def test_random_scores_remove_the_expected_share_of_the_probability():
    gen = torch.Generator().manual_seed(0)
    values = 0.6 + 0.4 * torch.rand(VOCAB, generator=gen)
    values[MASK] = 0.0
    model = MeanProbabilityModel(values)
    n_real, reviews = 40, 300
    rows = torch.randint(5, VOCAB, (reviews, n_real), generator=gen)
    batch = make_batch(rows.tolist())
    p = values[rows].mean(1)  # p(class 1) of each full review
    scores = attr.RandomScores(model, seed=3).attribute(batch).scores
    comp = metrics.comprehensiveness(model, batch, scores, ROLES, target=1)
    counts = torch.tensor(
        [
            metrics.n_selected(torch.tensor([n_real]), f).item()
            for f in metrics.AOPC_FRACTIONS
        ]
    )
    expected = (p[:, None] * counts / n_real).mean(0)
    stderr = comp.std(0) / reviews**0.5 + 1e-6
    assert (torch.abs(comp.mean(0) - expected) < 4 * stderr).all()


def test_bad_inputs_raise_clear_errors():
    model = trigger_model()
    with pytest.raises(TypeError, match="input_ids"):
        metrics.comprehensiveness(model, torch.zeros(2, 3), torch.zeros(2, 3), ROLES)
    batch = make_batch([[10, 11]])
    with pytest.raises(ValueError, match="outside"):
        metrics.comprehensiveness(model, batch, torch.zeros(1, 4), ROLES, target=5)
    with pytest.raises(ValueError, match="differ"):
        metrics.comprehensiveness(model, batch, torch.zeros(1, 9), ROLES)


def test_target_probabilities_run_in_eval_mode_and_restore_the_mode():
    tokenizer = tiny_tokenizer()
    model = tiny_bert(dropout=0.5)
    batch = encode(tokenizer, TEXTS)
    target = torch.tensor([0, 1, 1, 0])
    expected = metrics.target_probabilities(model, batch, target)
    model.train()
    first = metrics.target_probabilities(model, batch, target, batch_size=3)
    second = metrics.target_probabilities(model, batch, target)
    assert model.training
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(second, expected)
    roles = TokenRoles.from_tokenizer(tokenizer)
    scores = torch.rand(batch["input_ids"].shape)
    comp = metrics.comprehensiveness(model, batch, scores, roles)
    assert model.training and torch.isfinite(comp).all()


def test_scoring_passes_use_the_fused_attention_kernel_and_restore_eager():
    """A model loaded eager (to read attention) is scored with sdpa, which is
    faster at long inputs, to the same probabilities; then eager again."""
    tokenizer = tiny_tokenizer()
    model = tiny_bert(perturb=0.05)
    batch = encode(tokenizer, TEXTS)
    target = torch.tensor([0, 1, 1, 0])
    kernels = []
    model.register_forward_hook(
        lambda *_: kernels.append(model.config._attn_implementation)
    )
    got = metrics.target_probabilities(model, batch, target)
    assert kernels == ["sdpa"]
    assert model.config._attn_implementation == "eager"
    with torch.no_grad():
        probs = model(**batch).logits.softmax(-1)
    torch.testing.assert_close(got, probs.gather(1, target[:, None])[:, 0])
    assert kernels[-1] == "eager"
    roles = TokenRoles.from_tokenizer(tokenizer)
    scores = torch.rand(batch["input_ids"].shape)
    metrics.comprehensiveness(model, batch, scores, roles)  # full and masked passes
    assert len(kernels) > 3 and set(kernels[2:]) == {"sdpa"}
    assert model.config._attn_implementation == "eager"


# --------------------------------------------------------------------------- runner


@pytest.fixture(scope="module")
def tiny():
    return tiny_tokenizer(), tiny_bert(perturb=0.05)


def constant(model):
    """An explainer that scores every token the same: every pick is a tie."""
    return ScoresFrom(model, "constant", lambda b, t: b["attention_mask"].float())


def test_evaluate_keeps_curves_ties_and_agreement_consistent(tiny):
    tokenizer, model = tiny
    methods = {
        "grad x input": attr.GradientXInput(model),
        "constant": constant(model),
        "random": attr.RandomScores(model, 0, draws=3),
    }
    res = metrics.evaluate_faithfulness(
        model, tokenizer, TEXTS, methods, batch_size=3, progress=False
    )
    assert res.n == 4 and res.comprehensiveness["random"].shape == (4, 5)
    for m in res.methods:  # nothing deleted = full input; all deleted = none kept
        np.testing.assert_allclose(res.deletion[m][:, 0], res.p_full, atol=1e-6)
        np.testing.assert_allclose(res.deletion[m][:, -1], res.insertion[m][:, 0])
        np.testing.assert_allclose(res.insertion[m][:, -1], res.p_full, atol=1e-6)
    assert res.tie_share("constant") == 1.0
    assert res.tie_share("grad x input") == 0.0
    assert res.settings["maps_averaged"] == {"random": 3}
    np.testing.assert_allclose(res.agreement[:, 0, 0], 1.0)
    assert np.isnan(res.agreement[:, 0, 1]).all()  # a constant map has no ranking
    lengths = [len(tokenizer.tokenize(t)) for t in TEXTS]
    assert res.n_tokens.tolist() == lengths
    with pytest.raises(ValueError, match="methods is empty"):
        metrics.evaluate_faithfulness(model, tokenizer, TEXTS, {})


def test_the_random_floor_is_the_mean_over_its_draws(tiny):
    tokenizer, model = tiny
    rnd = attr.RandomScores(model, seed=11, draws=4)
    res = metrics.evaluate_faithfulness(
        model, tokenizer, TEXTS, {"random": rnd}, batch_size=2, seed=5, progress=False
    )
    roles = TokenRoles.from_tokenizer(tokenizer)
    for i, text in enumerate(TEXTS):  # each review alone, each draw on its own
        one = encode(tokenizer, [text])
        per_draw = [
            metrics.comprehensiveness(
                model, one, rnd.attribute(one, draw=d).scores, roles, seed=5
            )
            for d in range(4)
        ]
        expected = torch.cat(per_draw).mean(0).numpy()
        np.testing.assert_allclose(
            res.comprehensiveness["random"][i], expected, atol=1e-5
        )
        single = per_draw[0][0].numpy()
        assert not np.allclose(res.comprehensiveness["random"][i], single, atol=1e-5)


def test_versus_baseline_is_the_paired_difference_to_random():
    from helpers.stats import bootstrap_ci

    n, names = 6, ["AttnLRP", "random"]
    comp = {
        "AttnLRP": np.tile([[0.5], [0.3]], (3, 2)),  # per review 0.5, 0.3, 0.5...
        "random": np.full((n, 2), 0.1),
    }
    results = metrics.FaithfulnessResults(
        methods=names,
        fractions=(0.1, 0.5),
        curve_fractions=(0.0, 1.0),
        comprehensiveness=comp,
        sufficiency={m: np.zeros((n, 2)) for m in names},
        deletion={m: np.zeros((n, 2)) for m in names},
        insertion={m: np.zeros((n, 2)) for m in names},
        tied={m: np.zeros((n, 2)) for m in names},
        selected=np.ones((n, 2), int),
        agreement=np.zeros((n, 2, 2)),
        p_full=np.ones(n),
        n_tokens=np.full(n, 10),
    )
    diff = results.versus_baseline("AttnLRP", seed=3)
    assert diff == bootstrap_ci([0.4, 0.2] * 3, seed=3)
    assert diff.low > 0 and diff.n == n
    assert results.versus_baseline("random").mean == 0
    alone = metrics.FaithfulnessResults(**{**results.__dict__, "methods": ["AttnLRP"]})
    with pytest.raises(ValueError, match="baseline 'random' was not run"):
        alone.versus_baseline("AttnLRP")
