"""Majority class and bag-of-words logistic regression on tiny hand-made sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.data import ReviewSet
from helpers.ja import baselines as jb


def split_words(texts):
    """A whitespace tokenizer, so the hand-made sets need no MeCab."""
    return [t.split() for t in texts]


def reviews(rows):
    return ReviewSet([t for t, _ in rows], [y for _, y in rows], "hand-made")


GOOD = ["good day", "good food", "very good", "good friends", "good luck"]
BAD = ["bad day", "bad food", "very bad", "bad friends", "bad luck"]


def test_majority_picks_the_most_frequent_training_label():
    train = reviews([("a", 0), ("b", 0), ("c", 1)])
    test = reviews([("x", 0), ("y", 1), ("z", 1), ("w", 1)])
    result = jb.majority_baseline(train, test)
    assert result == {"accuracy": 0.25, "n": 4, "label": 0}


def test_majority_tie_is_broken_by_the_seed_not_by_order():
    train = reviews([("a", 1), ("b", 0)])
    test = reviews([("x", 1), ("y", 1), ("z", 0)])
    labels = {jb.majority_baseline(train, test, seed=s)["label"] for s in range(20)}
    assert labels == {0, 1}
    assert jb.majority_baseline(train, test, seed=3) == jb.majority_baseline(
        train, test, seed=3
    )


def test_bag_of_words_separates_a_separable_set():
    train = reviews([(t, 1) for t in GOOD] + [(t, 0) for t in BAD])
    valid = reviews([("good morning", 1), ("bad morning", 0)])
    test = reviews([("so good", 1), ("so bad", 0), ("good good", 1), ("bad", 0)])
    result = jb.bow_logistic_regression(train, valid, test, tokenize=split_words)
    assert result["accuracy"] == 1.0 and result["n"] == 4
    assert result["valid_accuracy"] == 1.0 and result["C"] in jb.DEFAULT_CS
    assert result["vocab_size"] == 7  # good bad day food very friends luck
    model = result["model"]
    top = model.top_words(1)
    assert top["positive"][0][0] == "good" and top["negative"][0][0] == "bad"
    probs = model.predict_proba(["good", "bad", "unknown words"])
    assert probs.shape == (3, 2) and np.allclose(probs.sum(1), 1)
    assert probs[0, 1] > 0.5 > probs[1, 1]
    # an unseen text gets only the bias: here 0 (balanced classes, symmetric data)
    assert probs[2, 1] == pytest.approx(0.5, abs=1e-6)


def test_logistic_regression_matches_the_hand_computed_optimum():
    """One word present in 1 positive text, absent in 1 negative one; C = 1.

    Objective: log(1 + e^-(w+b)) + log(1 + e^b) + w^2/2. Setting the gradient
    in b to zero gives b = -(w+b), i.e. b = -w/2; in w: w = sigmoid(-(w+b)) =
    sigmoid(-w/2), so w solves w = 1 / (1 + e^(w/2)).
    """
    model = jb.fit_bow_logistic_regression([["x"], []], [1, 0], C=1.0)
    w = 0.5
    for _ in range(100):
        w = 1 / (1 + math.exp(w / 2))
    assert float(model.weight[0]) == pytest.approx(w, abs=1e-6)
    assert model.bias == pytest.approx(-w / 2, abs=1e-6)


def test_stronger_regularisation_gives_smaller_weights():
    tokens = split_words(GOOD + BAD)
    labels = [1] * 5 + [0] * 5
    small = jb.fit_bow_logistic_regression(tokens, labels, C=0.01)
    large = jb.fit_bow_logistic_regression(tokens, labels, C=100.0)
    assert small.weight.norm() < large.weight.norm()
    assert small.weight.dtype == torch.float64


def test_regularisation_is_chosen_on_validation_not_test():
    train = reviews([(t, 1) for t in GOOD] + [(t, 0) for t in BAD])
    valid = reviews([("good morning", 1), ("bad morning", 0)])
    # a test set labelled the other way round: its accuracy must not steer C
    flipped = reviews([("so good", 0), ("so bad", 1)])
    upright = reviews([("so good", 1), ("so bad", 0)])
    a = jb.bow_logistic_regression(train, valid, flipped, tokenize=split_words)
    b = jb.bow_logistic_regression(train, valid, upright, tokenize=split_words)
    assert a["C"] == b["C"] and a["valid_scores"] == b["valid_scores"]
    assert a["accuracy"] == 0.0 and b["accuracy"] == 1.0


def test_bad_input_is_refused():
    train = reviews([("good", 1), ("bad", 0)])
    with pytest.raises(ValueError, match="test is empty"):
        jb.majority_baseline(train, reviews([]))
    with pytest.raises(ValueError, match="labels \\[2\\]"):
        jb.majority_baseline(reviews([("a", 2)]), train)
    with pytest.raises(ValueError, match="C must be positive"):
        jb.fit_bow_logistic_regression([["a"]], [1], C=0)


def test_default_tokenizer_is_the_models_mecab_words():
    assert jb.bow_logistic_regression.__defaults__[0] is jb.mecab_words
    words = jb.mecab_words(["私は不運な人間です。"])[0]
    assert words == ["私", "は", "不運", "な", "人間", "です", "。"]
