"""Chapter 2: freezing, cached-feature training, checkpoints, bad input.

Tiny models from tests/tiny.py; seconds.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import warnings

import numpy as np
import pytest
import torch
from tiny import tiny_architecture, tiny_bert, tiny_tokenizer
from transformers import (
    BertModel,
    DataCollatorWithPadding,
    get_linear_schedule_with_warmup,
)

from helpers import data, train
from helpers.book import train_plots
from helpers.config import get_profile
from helpers.data import ReviewSet, encode_texts
from helpers.inputs import batches_by_length
from helpers.models import (
    ModelLoadError,
    SeedClassifier,
    count_parameters,
    freeze_encoder,
    load_model,
    seed_as_hf_classifier,
)
from helpers.train import TrainSettings, finetuned, loop

POS = ["good", "great", "love", "best", "fine"]
NEG = ["bad", "awful", "hate", "worst", "boring"]
FILL = ["the", "movie", "film", "was", "is", "it", "and", "plot", "acting", "story"]
FILL += ["really", "very"]


def toy_reviews(n_per_label: int, seed: int = 0) -> ReviewSet:
    """A learnable task: positive reviews hold positive words, negative negative."""
    rng = random.Random(seed)
    texts, labels = [], []
    for label, words in ((1, POS), (0, NEG)):
        for _ in range(n_per_label):
            n = rng.randint(3, 12)
            tokens = [rng.choice(FILL) for _ in range(n)] + [
                rng.choice(words),
                rng.choice(words),
            ]
            rng.shuffle(tokens)
            texts.append(" ".join(tokens))
            labels.append(label)
    return ReviewSet(texts, labels, "toy")


def tiny(
    dropout: float = 0.1, layers: int = 2, attn: str | None = None, num_labels: int = 2
):
    """``(tokenizer, model)``: the tests' tiny WordPiece tokenizer and BERT (eval)."""
    model = tiny_bert(layers=layers, labels=num_labels, dropout=dropout, attn=attn)
    return tiny_tokenizer(), model


# --------------------------------------------------------------------------- #
# Freezing
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "trainable_layers,changed_prefixes",
    [
        (1, ("bert.encoder.layer.1.", "bert.pooler.", "classifier.")),
        (0, ("bert.pooler.", "classifier.")),
        (
            None,
            (
                "bert.embeddings.",
                "bert.encoder.layer.0.",
                "bert.encoder.layer.1.",
                "bert.pooler.",
                "classifier.",
            ),
        ),
    ],
)
def test_only_the_intended_parameters_change(trainable_layers, changed_prefixes):
    tokenizer, model = tiny()
    before = {k: v.clone() for k, v in model.named_parameters()}
    data = toy_reviews(8)
    train.train_classifier(
        model,
        tokenizer,
        data,
        data,
        TrainSettings(
            epochs=1,
            lr=1e-2,
            batch_size=8,
            trainable_layers=trainable_layers,
            max_length=32,
        ),
    )
    for name, param in model.named_parameters():
        moved = not torch.equal(before[name], param)
        if (
            name == "bert.embeddings.word_embeddings.weight"
            and trainable_layers is None
        ):
            assert moved  # rows of words in the data move
            continue
        assert moved == name.startswith(changed_prefixes), name


def test_trainable_parameter_counts():
    _, model = tiny()
    layer = sum(p.numel() for p in model.bert.encoder.layer[1].parameters())
    head = sum(p.numel() for p in model.bert.pooler.parameters()) + sum(
        p.numel() for p in model.classifier.parameters()
    )
    assert count_parameters(freeze_encoder(model, 1)) == layer + head
    assert count_parameters(freeze_encoder(model, 0)) == head
    assert count_parameters(freeze_encoder(model, None)) == count_parameters(
        model, trainable_only=False
    )
    with pytest.raises(ValueError, match="trainable_layers"):
        freeze_encoder(model, 3)


def test_frozen_modules_stay_in_eval_mode():
    _, model = tiny()
    train.set_train_mode(model, 1)
    assert (
        not model.bert.embeddings.training and not model.bert.encoder.layer[0].training
    )
    assert (
        model.bert.encoder.layer[1].training
        and model.classifier.training
        and model.dropout.training
    )


# --------------------------------------------------------------------------- #
# The cached-feature path equals the model
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_bottom_then_top_equals_model_logits(attn, k):
    tokenizer, model = tiny(layers=3, attn=attn)
    enc = encode_texts(
        tokenizer,
        ["good film", "the plot was awful and boring , really very boring", "fine"],
    )
    assert (enc["attention_mask"] == 0).any()  # padding is present
    with torch.no_grad():
        expected = model(**enc).logits
        hidden = train.bottom_forward(
            model, enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], 3 - k
        )
        got = train.top_forward(model, hidden, enc["attention_mask"], k)
        full_layer = train.top_forward(
            model, hidden, enc["attention_mask"], k, cls_only=False
        )
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(full_layer, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_bottom_then_top_equals_model_logits_for_xlm_r(k):
    """XLM-R's head takes the sequence and has its own dropout (e5 is an XLM-R)."""
    model, tokenizer = tiny_architecture("xlm-roberta", layers=2)
    enc = tokenizer(
        ["good film", "the plot was awful , really"], padding=True, return_tensors="pt"
    )
    assert (enc["attention_mask"] == 0).any()
    with torch.no_grad():
        expected = model(**enc).logits
        hidden = train.bottom_forward(
            model, enc["input_ids"], enc["attention_mask"], n_frozen=2 - k
        )
        got = train.top_forward(model, hidden, enc["attention_mask"], k)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("k", [1, 2])
def test_cached_float16_features_give_the_logits_up_to_rounding(k):
    """The cache as training uses it: float16 storage, then the top ``k`` layers.

    float16 keeps 11 significant bits, so each cached value is off by up to
    2**-11 (about 5e-4) of itself. Stated tolerance: the logits differ by at
    most 2e-3 of the largest logit (4 x 2**-11, for the rounding carried
    through the top layers and the head). The head is scaled up so the logits
    are of a fine-tuned model's size (about 2; measured on real reviews with
    the fine-tuned MiniLM: 3.4e-4 for logits up to 2.6, 1.3e-4 of them). The
    same path in float32 agrees to 1e-6 of them, so what is seen here is the
    rounding.
    """
    tokenizer, model = tiny(layers=3)
    with torch.no_grad():
        model.classifier.weight.mul_(300)
    reviews = toy_reviews(6)
    tokenized = data.TokenizedReviews(tokenizer, reviews, max_length=32)
    collate = DataCollatorWithPadding(tokenizer)
    store = train.cache_features(model, tokenized, collate, n_frozen=3 - k)
    assert store.array.dtype == np.float16
    order = np.arange(len(reviews))
    hidden, mask = store.batch(order, "cpu")
    batch = collate([dict(tokenized[i]) for i in order])
    inputs = {key: v for key, v in batch.items() if key != "labels"}
    with torch.no_grad():
        expected = model(**inputs).logits
        cached = train.top_forward(model, hidden, mask, k)
        exact = train.top_forward(
            model,
            train.bottom_forward(model, **inputs, n_frozen=3 - k),
            inputs["attention_mask"],
            k,
        )
    scale = float(expected.abs().max())
    assert scale > 1  # logits of a fine-tuned size
    rounding = float((cached - expected).abs().max())
    assert float((exact - expected).abs().max()) <= 1e-6 * scale
    assert 1e-5 * scale < rounding <= 2e-3 * scale


@pytest.mark.parametrize("in_memory_bytes", [1 << 30, 0])
def test_feature_cache_round_trip_in_memory_and_on_disk(tmp_path, in_memory_bytes):
    rows = [torch.randn(n, 8) for n in (3, 7, 5)]
    cache = train.FeatureCache(
        [3, 7, 5], 8, cache_dir=tmp_path, in_memory_bytes=in_memory_bytes
    )
    for i, r in enumerate(rows):
        cache.put(i, r)
    hidden, mask = cache.batch(np.array([2, 0]), "cpu")
    assert hidden.shape == (2, 5, 8) and mask.tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    torch.testing.assert_close(hidden[0], rows[2], atol=1e-2, rtol=1e-3)
    torch.testing.assert_close(hidden[1, :3], rows[0], atol=1e-2, rtol=1e-3)
    assert (cache.path is not None) == (in_memory_bytes == 0)
    path = cache.path
    cache.close()
    assert path is None or not path.exists()


def test_a_feature_cache_knows_what_it_was_made_from():
    tokenizer, model = tiny(layers=3)
    tokenized = data.TokenizedReviews(tokenizer, toy_reviews(3), max_length=32)
    store = train.cache_features(
        model, tokenized, DataCollatorWithPadding(tokenizer), n_frozen=2
    )
    made = store.made_from
    name = model.config.name_or_path or "BertForSequenceClassification"
    assert (made.n_frozen, made.model) == (2, name)
    assert made == train.CacheSource.of(model, 2)
    store.check(model, 2)  # the same model, unchanged: fine
    with pytest.raises(ValueError, match=r"output of 2 frozen layers .* after 1"):
        store.check(model, 1)
    with torch.no_grad():
        model.bert.encoder.layer[2].output.dense.bias.add_(1.0)  # above: no matter
    store.check(model, 2)
    with torch.no_grad():
        model.bert.encoder.layer[1].output.dense.bias.add_(1e-3)
    with pytest.raises(ValueError, match=r"frozen weights changed .* cache_features"):
        store.check(model, 2)
    with pytest.raises(ValueError, match="does not record what it was made from"):
        train.FeatureCache([3], 8).check(model, 2)


@pytest.mark.parametrize("bf16_cache", [False, True])
def test_the_caching_pass_runs_in_the_precision_the_settings_say(bf16_cache):
    """``bf16_cache``: the frozen bottom's matrix products in bf16 (CPU autocast).

    Either way the cache holds float16 numbers; they are the float16 rounding
    of the bottom run in the precision the settings name, bit for bit, and
    about a fifth of them differ from the other precision's (measured on this
    tiny BERT; the bound leaves room).
    """
    tokenizer, model = tiny(layers=3)
    reviews = toy_reviews(6)
    settings = TrainSettings(max_length=32, trainable_layers=1, bf16_cache=bf16_cache)
    cpu = torch.device("cpu")
    pipeline = loop._Pipeline(model, tokenizer, reviews, settings, None, cpu, "")
    assert pipeline.store.array.dtype == np.float16
    order = np.arange(len(reviews))
    cached, mask = pipeline.store.batch(order, cpu)
    batch = pipeline.collate([dict(pipeline.tokenized[i]) for i in order])
    ids, attention = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        fp32 = train.bottom_forward(model, ids, attention, n_frozen=2)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = train.bottom_forward(model, ids, attention, n_frozen=2)
    real = mask.bool()

    def same(hidden):
        return float((cached[real] == hidden[real].half().float()).float().mean())

    wanted, other = (bf16, fp32) if bf16_cache else (fp32, bf16)
    assert same(wanted) >= 0.99
    assert same(other) < 0.95


@pytest.mark.parametrize("bf16_train", [False, True])
def test_training_steps_run_in_the_precision_the_settings_say(bf16_train):
    """``bf16_train``: the top layers and the head train under bf16 autocast.

    A hook on the top layer's and the head's outputs sees bf16 in every
    training step (float32 without the setting); validation stays float32,
    and so do the weights the optimizer updates and their gradients.
    """
    tokenizer, model = tiny(layers=2)
    seen = {True: set(), False: set()}  # model.training -> output dtypes

    def record(module, args, output):
        seen[module.training].add(output.dtype)

    model.classifier.register_forward_hook(record)
    model.bert.encoder.layer[1].output.dense.register_forward_hook(record)
    settings = TrainSettings(
        epochs=1, batch_size=4, max_length=32, trainable_layers=1, bf16_train=bf16_train
    )
    train.train_classifier(
        model, tokenizer, toy_reviews(4), toy_reviews(2, seed=1), settings
    )
    assert seen[True] == {torch.bfloat16 if bf16_train else torch.float32}
    assert seen[False] == {torch.float32}
    learned = [p for p in model.parameters() if p.requires_grad]
    assert learned and all(p.dtype == torch.float32 for p in learned)
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in learned)


def test_token_batches_pad_to_the_longest_review_of_each_batch():
    tokenizer, _ = tiny()
    reviews = toy_reviews(4)
    tokenized = data.TokenizedReviews(tokenizer, reviews, max_length=32)
    collate = DataCollatorWithPadding(tokenizer)
    order = [[0, 5, 2], [7]]
    batches = train.token_batches(tokenized, collate, order)
    for idx, batch in zip(order, batches, strict=True):
        ids = [tokenized.features[i]["input_ids"] for i in idx]
        width = max(map(len, ids))
        assert batch["input_ids"].shape == (len(idx), width)
        assert batch["attention_mask"].sum(1).tolist() == [len(r) for r in ids]
        for row, r in zip(batch["input_ids"].tolist(), ids, strict=True):
            assert row == r + [tokenizer.pad_token_id] * (width - len(r))
        assert batch["labels"].dtype == torch.long
        assert batch["labels"].tolist() == [reviews.labels[i] for i in idx]


def test_cached_and_naive_training_give_the_same_model():
    data, val = toy_reviews(12), toy_reviews(4, seed=1)
    weights, results = [], []
    for cache in (True, False):
        # no dropout: both loops compute the same function
        tokenizer, model = tiny(dropout=0.0)
        results.append(
            train.train_classifier(
                model,
                tokenizer,
                data,
                val,
                TrainSettings(
                    epochs=2, lr=1e-3, batch_size=8, max_length=32, cache_features=cache
                ),
            )
        )
        weights.append(model.classifier.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], atol=2e-3, rtol=1e-2)
    for a, b in zip(results[0].history, results[1].history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-3)
        assert a["val_acc"] == pytest.approx(b["val_acc"], abs=0.07)


def test_epoch_seconds_exclude_the_feature_caching(monkeypatch, capsys):
    """Caching runs once, before epoch 1: reported as cache_seconds, not in epoch 1.

    A fake clock makes caching take 1000 s, so the test does not depend on
    how loaded the machine is.
    """
    clock = {"offset": 0.0}
    real_clock, real_cache = loop.time.perf_counter, loop.cache_features

    def slow_cache(*args, **kwargs):
        clock["offset"] += 500.0  # train and validation: 2 x 500 s
        return real_cache(*args, **kwargs)

    monkeypatch.setattr(
        loop,
        "time",
        type("Clock", (), {"perf_counter": lambda: real_clock() + clock["offset"]}),
    )
    monkeypatch.setattr(loop, "cache_features", slow_cache)
    tokenizer, model = tiny()
    result = train.train_classifier(
        model,
        tokenizer,
        toy_reviews(6),
        toy_reviews(2, seed=1),
        TrainSettings(epochs=2, batch_size=4, max_length=32),
    )
    assert result.cache_seconds >= 1000
    assert all(h["seconds"] < 1000 for h in result.history)
    out = capsys.readouterr().out
    assert "feature caching: 1000." in out and "before epoch 1" in out


def test_training_batches_cover_every_review_once_and_are_seeded():
    """The batches training draws (helpers.inputs.batches_by_length, shuffled)."""
    lengths = [random.Random(i).randint(5, 200) for i in range(100)]

    def draw(epoch, **kw):
        return batches_by_length(
            lengths, 8, shuffle=True, seed=1, epoch=epoch, bucket_batches=4, **kw
        )

    a = draw(1)
    assert sorted(i for b in a for i in b) == list(range(100))
    assert a == draw(1) and a != draw(2)
    for batch in a:  # each batch is sorted by length inside its bucket
        assert [lengths[i] for i in batch] == sorted(lengths[i] for i in batch)
    ordered = batches_by_length(lengths, 8)
    assert [lengths[i] for b in ordered for i in b] == sorted(lengths)


# --------------------------------------------------------------------------- #
# Training and evaluation
# --------------------------------------------------------------------------- #
def test_short_training_learns_the_toy_task(tmp_path):
    tokenizer, model = tiny()
    train_set, val = toy_reviews(32), toy_reviews(10, seed=1)
    # a random tiny encoder: its frozen layers carry little signal, so the whole
    # model learns here
    result = train.train_classifier(
        model,
        tokenizer,
        train_set,
        val,
        TrainSettings(
            epochs=5, lr=3e-3, batch_size=8, max_length=32, trainable_layers=None
        ),
        checkpoint_dir=tmp_path / "ckpt",
    )
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.7
    assert result.best["val_acc"] == max(h["val_acc"] for h in result.history) >= 0.9
    assert set(result.history[0]) >= {
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "seconds",
        "samples_per_s",
    }
    # the model holds the best epoch's weights, and so does the checkpoint
    assert train.evaluate(model, tokenizer, val, max_length=32)[
        "accuracy"
    ] == pytest.approx(result.best["val_acc"], abs=1e-6)
    _, reloaded = load_model(tmp_path / "ckpt")
    assert train.evaluate(reloaded, tokenizer, val, max_length=32)[
        "accuracy"
    ] == pytest.approx(result.best["val_acc"], abs=1e-6)
    assert (
        train.read_training_info(tmp_path / "ckpt")["best_epoch"] == result.best_epoch
    )


def test_evaluate_returns_consistent_metrics():
    tokenizer, model = tiny()
    reviews = toy_reviews(5)
    out = train.evaluate(model, tokenizer, reviews, batch_size=4)
    assert out["probs"].shape == (10, 2) and np.allclose(
        out["probs"].sum(1), 1, atol=1e-5
    )
    assert out["confusion"].sum() == 10 and out["confusion"].shape == (2, 2)
    assert out["accuracy"] == pytest.approx(np.trace(out["confusion"]) / 10)
    assert list(out["labels"]) == reviews.labels
    # predictions come back in input order although batches are sorted by length
    with torch.no_grad():
        direct = (
            model(**encode_texts(tokenizer, reviews.texts[:1])).logits.argmax(-1).item()
        )
    assert out["preds"][0] == direct
    rows = train.misclassified(reviews, out, n=3)
    assert all(r["label"] != r["pred"] for r in rows) and len(rows) == min(
        3, 10 - np.trace(out["confusion"])
    )
    html = train_plots.misclassified_html(
        [
            {
                "id": "x",
                "text": "<b>bad</b>" * 100,
                "label": 0,
                "pred": 1,
                "confidence": 0.9,
            }
        ]
    )
    assert "&lt;b&gt;" in html and "<b>bad" not in html and "…" in html


def test_plots_return_figures():
    history = [
        {
            "epoch": 1,
            "train_loss": 0.6,
            "val_loss": 0.5,
            "train_acc": 0.7,
            "val_acc": 0.75,
        },
        {
            "epoch": 2,
            "train_loss": 0.4,
            "val_loss": 0.45,
            "train_acc": 0.8,
            "val_acc": 0.8,
        },
    ]
    fig = train_plots.plot_learning_curves(history)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    assert list(fig.axes[1].lines[1].get_ydata()) == [
        0.75,
        0.8,
    ]  # validation accuracy per epoch
    fig = train_plots.plot_learning_curves(history, best_epoch=2)
    assert len(fig.axes[0].lines) == 3 and list(fig.axes[0].lines[2].get_xdata()) == [
        2,
        2,
    ]
    fig = train_plots.plot_confusion(np.array([[40, 10], [5, 45]]))
    assert fig.axes[0].get_title() == "accuracy 85.0%"
    with pytest.raises(ValueError, match="empty"):
        train_plots.plot_learning_curves([])


def test_seed_classifier_equals_hf_classifier_without_pooler():
    _, hf = tiny(dropout=0.0)
    torch.manual_seed(1)
    seed = SeedClassifier(BertModel(hf.config), num_labels=2).eval()
    assert seed.cls.bias.abs().sum() == 0 and 0.01 < seed.cls.weight.std() < 0.03
    hf = seed_as_hf_classifier(seed, hf).eval()
    ids = torch.randint(5, 30, (3, 9))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    with torch.no_grad():
        torch.testing.assert_close(
            hf(input_ids=ids, attention_mask=mask).logits,
            seed(ids, mask),
            atol=1e-5,
            rtol=1e-4,
        )


# --------------------------------------------------------------------------- #
# Checkpoints
# --------------------------------------------------------------------------- #
def test_checkpoint_round_trip_gives_same_predictions(tmp_path):
    tokenizer, model = tiny()
    reviews = toy_reviews(4)
    path = train.save_checkpoint(
        model, tokenizer, tmp_path / "ckpt", info={"base_model": "tiny"}
    )
    tok2, model2 = load_model(path)
    a = train.predict_logits(model, tokenizer, reviews.texts)
    b = train.predict_logits(model2, tok2, reviews.texts)
    torch.testing.assert_close(a, b)
    assert [
        p.name for p in tmp_path.iterdir() if p.name.startswith(".")
    ] == []  # no temp folders left


def test_interrupted_save_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    tokenizer, model = tiny()
    path = train.save_checkpoint(model, tokenizer, tmp_path / "ckpt")
    good = train.predict_logits(load_model(path)[1], tokenizer, ["good film"])
    with torch.no_grad():
        model.classifier.weight.add_(1.0)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(tokenizer), "save_pretrained", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train.save_checkpoint(model, tokenizer, path)
    torch.testing.assert_close(
        train.predict_logits(load_model(path)[1], tokenizer, ["good film"]), good
    )
    assert (
        sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".ckpt")) == []
    )


def test_a_cached_checkpoint_is_trained_again_only_when_missing_or_corrupt(
    tmp_path, capsys
):
    tokenizer, model = tiny()
    path = tmp_path / "ckpt"
    runs = []

    def fit(out):
        runs.append(out)
        train.save_checkpoint(model, tokenizer, out)

    assert train.checkpoint_problem(path) == "there is no checkpoint yet"
    assert train.ensure_checkpoint(path, fit) and runs == [path]
    assert capsys.readouterr().out.startswith("Training ")
    assert train.checkpoint_problem(path) is None
    assert not train.ensure_checkpoint(path, fit) and runs == [path]
    assert capsys.readouterr().out.startswith("Loading the cached ")

    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")  # one byte changed
    assert "model.safetensors is corrupt" in train.checkpoint_problem(path)
    assert train.ensure_checkpoint(path, fit) and len(runs) == 2
    assert train.checkpoint_problem(path) is None
    # a checksum line naming a file outside the folder is never read
    (tmp_path / "outside").write_text("x")
    sums = path / train.CHECKSUMS
    sums.write_text(sums.read_text() + f"{'0' * 64}  ../outside\n")
    assert "../outside, named in checksums.sha256, is missing" in (
        train.checkpoint_problem(path)
    )
    sums.unlink()  # saved by an older version
    assert "no checksums.sha256" in train.checkpoint_problem(path)


def test_checkpoint_of_other_label_count_or_architecture_is_refused(tmp_path):
    tokenizer, three = tiny(num_labels=3)
    train.save_checkpoint(three, tokenizer, tmp_path / "three")
    with pytest.raises(ModelLoadError, match="3 labels"):
        train.load_checkpoint(tmp_path / "three")
    BertModel(three.config).save_pretrained(tmp_path / "encoder")
    with pytest.raises(ModelLoadError, match="not a sequence classifier"):
        train.load_checkpoint(tmp_path / "encoder")
    _, two = tiny()
    train.save_checkpoint(
        two, tokenizer, tmp_path / "two", info={"base_model": "other-model"}
    )
    with pytest.raises(ModelLoadError, match="fine-tuned from 'other-model'"):
        train.load_checkpoint(tmp_path / "two", base_model="tiny-model")


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
def test_bad_labels_and_empty_sets_raise_clear_errors():
    tokenizer, model = tiny()
    good = toy_reviews(2)
    bad = ReviewSet(["good film", "bad film"], [0, 2], "bad labels")
    with pytest.raises(
        ValueError, match=r"Label 2 at position 1 is outside range\(2\)"
    ):
        train.train_classifier(model, tokenizer, bad, good, TrainSettings(epochs=1))
    with pytest.raises(ValueError, match="train_set is empty"):
        train.train_classifier(
            model,
            tokenizer,
            ReviewSet([], [], "nothing"),
            good,
            TrainSettings(epochs=1),
        )
    with pytest.raises(ValueError, match="val_set is empty"):
        train.train_classifier(
            model,
            tokenizer,
            good,
            ReviewSet([], [], "nothing"),
            TrainSettings(epochs=1),
        )
    with pytest.raises(ValueError, match="outside range"):
        train.check_labels(torch.tensor([0, 1, -1]))
    with pytest.raises(ValueError, match="integers"):
        train.check_labels(torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="ReviewSet"):
        train.train_classifier(
            model, tokenizer, ["good"], good, TrainSettings(epochs=1)
        )


# --------------------------------------------------------------------------- #
# The chapter-2 model for later chapters
# --------------------------------------------------------------------------- #
def test_get_finetuned_model_trains_once_then_loads(
    tmp_path, tiny_model_dir, monkeypatch, make_imdb_folder
):
    monkeypatch.setenv(
        "IMDB_DIR", str(make_imdb_folder(tmp_path / "imdb", per_label=10))
    )
    profile = get_profile("quick").with_(
        model_name=str(tiny_model_dir),
        train_per_label=10,
        test_per_label=4,
        epochs=1,
        max_length=32,
        batch_size=8,
    )
    with pytest.warns(data.GroupingWarning):  # the split's note, when training
        tok, model = train.get_finetuned_model(profile)
    path = train.checkpoint_path(profile)
    assert path.parent.name == "checkpoints" and path.name.startswith("quick-")
    assert train.read_training_info(path)["base_model"] == str(tiny_model_dir)
    monkeypatch.setattr(
        finetuned, "train_classifier", lambda *a, **k: pytest.fail("retrained")
    )
    with warnings.catch_warnings():  # reused: no training, so no note on the split
        warnings.simplefilter("error")
        tok2, model2 = train.get_finetuned_model(profile, attn_implementation="eager")
    assert model2.config._attn_implementation == "eager" and not model2.training
    texts = ["the film was great", "the film was awful"]
    torch.testing.assert_close(
        train.predict_logits(model, tok, texts),
        train.predict_logits(model2, tok2, texts),
    )


@pytest.fixture
def tiny_profile(tiny_model_dir):
    """The quick profile on the tiny saved BERT, small enough to train in seconds."""
    return get_profile("quick").with_(
        model_name=str(tiny_model_dir),
        train_per_label=10,
        test_per_label=4,
        epochs=1,
        max_length=32,
        batch_size=8,
    )


@pytest.fixture
def count_training(monkeypatch):
    """Counts the calls of train.train_classifier (which still trains)."""
    calls = []
    real = train.train_classifier

    def counted(*args, **kwargs):
        calls.append(len(args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(finetuned, "train_classifier", counted)
    return calls


def _offline(monkeypatch):
    """No IMDb anywhere: load_reviews falls back to the synthetic sample."""
    monkeypatch.delenv("IMDB_DIR", raising=False)
    monkeypatch.setattr(data.imdb, "IMDB_URL", "http://127.0.0.1:9/unreachable.tar.gz")


def test_synthetic_checkpoint_is_retrained_once_imdb_is_there(
    tmp_path, monkeypatch, capsys, tiny_profile, count_training, make_imdb_folder
):
    _offline(monkeypatch)
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        train.get_finetuned_model(tiny_profile)
    path = train.checkpoint_path(tiny_profile)
    record = train.read_training_info(path)["trained_on"]
    assert record["data"]["dataset"] == "synthetic" and count_training == [16]
    assert "there is no checkpoint yet" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        train.get_finetuned_model(tiny_profile)  # still offline: reused
    assert count_training == [16]
    monkeypatch.setenv("IMDB_DIR", str(make_imdb_folder(tmp_path, per_label=10)))
    with pytest.warns(data.GroupingWarning):
        train.get_finetuned_model(tiny_profile)
    out = capsys.readouterr().out.splitlines()[0]  # then train_classifier's lines
    assert out == (
        "Fine-tuning <data>/checkpoints/" + path.name + ": it was trained on the "
        "synthetic sample and IMDb is there now."
    )
    assert count_training == [16, 16]
    record = train.read_training_info(path)["trained_on"]
    assert record["data"]["dataset"] == "IMDb" and record["data"]["split"] == "review"
    assert (record["data"]["train_size"], record["data"]["val_size"]) == (16, 4)


@pytest.mark.filterwarnings("ignore::helpers.data.GroupingWarning")
def test_a_changed_setting_retrains_and_says_which(
    tmp_path, monkeypatch, capsys, tiny_profile, count_training, make_imdb_folder
):
    monkeypatch.setenv("IMDB_DIR", str(make_imdb_folder(tmp_path, per_label=10)))
    train.get_finetuned_model(tiny_profile)
    capsys.readouterr()
    train.get_finetuned_model(tiny_profile.with_(lr=1e-3, epochs=2))
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(
        ": the profile asks for other settings or data: "
        "epochs 1 -> 2, lr 0.0003 -> 0.001."
    )
    train.get_finetuned_model(tiny_profile.with_(lr=1e-3, epochs=2, seed=5))
    assert "seed 1234 -> 5" in capsys.readouterr().out
    assert count_training == [16, 16, 16]


@pytest.mark.filterwarnings("ignore::helpers.data.GroupingWarning")
def test_an_imdb_checkpoint_is_kept_when_imdb_is_gone(
    tmp_path, monkeypatch, capsys, tiny_profile, count_training, make_imdb_folder
):
    monkeypatch.setenv("IMDB_DIR", str(make_imdb_folder(tmp_path, per_label=10)))
    train.get_finetuned_model(tiny_profile)
    _offline(monkeypatch)
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        train.get_finetuned_model(tiny_profile)
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out.startswith("Using <data>/checkpoints/") and "IMDb train" in out
    assert count_training == [16]


def test_checkpoint_mismatch_names_each_difference():
    profile = get_profile("quick")
    reviews = data.synthetic_reviews("train", 10)
    reviews.dataset = "IMDb"
    by_review = data.train_val_split(reviews, 0.2, 1234, split="review")
    wanted = train.training_record(profile, *by_review)
    assert train.checkpoint_mismatch(wanted, wanted) is None
    assert "older version" in train.checkpoint_mismatch({}, wanted)
    other_base = {**wanted, "base_model": "bert-base-uncased"}
    assert "fine-tuned from 'bert-base-uncased'" in train.checkpoint_mismatch(
        other_base, wanted
    )
    reviews.movies = [f"tt{i // 2}" for i in range(len(reviews))]
    by_movie = train.training_record(profile, *data.train_val_split(reviews))
    assert "split 'review' -> 'movie'" in train.checkpoint_mismatch(wanted, by_movie)
    shuffled = train.training_record(
        profile, *data.train_val_split(reviews, 0.2, 1234, split="review")
    )
    reviews.ids = [f"other-{i}" for i in range(len(reviews))]
    renamed = train.training_record(
        profile, *data.train_val_split(reviews, 0.2, 1234, split="review")
    )
    assert train.checkpoint_mismatch(shuffled, renamed) == (
        "the training reviews differ (same number, other files)"
    )


def test_misclassified_html_escapes_label_names():
    row = {"id": "7", "text": "fine", "label": 0, "pred": 1, "confidence": 0.75}
    html = train_plots.misclassified_html([row], label_names=("<b>neg</b>", "p&s"))
    assert "<b>" not in html and "&lt;b&gt;neg&lt;/b&gt;" in html
    assert "<bdi>p&amp;s</bdi> (0.75)" in html


def test_best_epoch_prefers_accuracy_then_loss_and_draws_exact_ties():
    def pick(history, seed=0):
        best, ties, rng = 0, [1], np.random.default_rng(seed)
        for epoch in range(1, len(history) + 1):
            if loop._keep_epoch(history[:epoch], best, ties, rng):
                best = epoch
        return best

    row = lambda acc, loss: {"val_acc": acc, "val_loss": loss}  # noqa: E731
    assert pick([row(0.8, 0.5), row(0.9, 0.6), row(0.85, 0.1)]) == 2
    assert pick([row(0.9, 0.5), row(0.9, 0.4), row(0.9, 0.45)]) == 2  # then loss
    tied = [row(0.9, 0.4)] * 3
    drawn = [pick(tied, seed) for seed in range(300)]
    assert set(drawn) == {1, 2, 3}  # not always the first epoch
    assert all(abs(drawn.count(e) / 300 - 1 / 3) < 0.1 for e in (1, 2, 3))
    assert pick(tied, 5) == pick(tied, 5)


def test_misclassified_orders_equal_confidences_at_random_seeded():
    reviews = ReviewSet([f"review {i}" for i in range(6)], [0] * 6, "toy")
    evaluation = {
        "preds": np.ones(6, dtype=int),
        "labels": np.zeros(6, dtype=int),
        "probs": np.tile([0.1, 0.9], (6, 1)),
    }
    evaluation["probs"][5] = [0.02, 0.98]  # the most confident comes first
    firsts = set()
    for seed in range(30):
        rows = train.misclassified(reviews, evaluation, n=3, seed=seed)
        assert rows[0]["index"] == 5 and rows[0]["confidence"] == pytest.approx(0.98)
        firsts.add(rows[1]["index"])
    assert len(firsts) > 1  # ties are not ordered by position
    assert train.misclassified(reviews, evaluation, 3, seed=4) == (
        train.misclassified(reviews, evaluation, 3, seed=4)
    )


# --------------------------------------------------------------------------- #
# Learning-rate schedule and head+tail truncation
# --------------------------------------------------------------------------- #
@pytest.fixture
def seen_rates(monkeypatch):
    """The learning rate of every optimizer step train_classifier takes."""
    rates = []

    class RecordingAdam(torch.optim.Adam):
        def step(self, closure=None):
            rates.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    return rates


@pytest.mark.parametrize("cache", [True, False])
def test_linear_schedule_warms_up_then_decays_to_zero(seen_rates, cache):
    tokenizer, model = tiny()
    train_set, val = toy_reviews(20), toy_reviews(4, seed=1)  # 40 reviews: 10 batches
    result = train.train_classifier(
        model,
        tokenizer,
        train_set,
        val,
        TrainSettings(
            epochs=2,
            lr=1e-3,
            batch_size=4,
            max_length=32,
            cache_features=cache,
            schedule="linear",
        ),
    )
    assert len(seen_rates) == 20  # 2 epochs x 10 steps; warm-up 0.1: 2 steps
    peak = seen_rates.index(max(seen_rates))
    assert seen_rates[:3] == pytest.approx([0, 5e-4, 1e-3]) and peak == 2
    falling = seen_rates[peak:]
    assert all(b < a for a, b in itertools.pairwise(falling))
    assert seen_rates[-1] == pytest.approx(1e-3 / 18)  # (20 - 19) / (20 - 2)
    assert seen_rates == pytest.approx(library_rates(20, 2, 1e-3))
    assert result.settings["schedule"] == "linear"
    assert result.settings["warmup"] == 0.1


def test_constant_schedule_keeps_the_rate(seen_rates):
    tokenizer, model = tiny()
    result = train.train_classifier(
        model,
        tokenizer,
        toy_reviews(8),
        toy_reviews(2, seed=1),
        TrainSettings(epochs=2, lr=1e-3, batch_size=4, max_length=32),
    )
    assert seen_rates == [1e-3] * 8  # 16 reviews: 4 steps per epoch
    assert result.settings["schedule"] == "constant"
    assert result.settings["warmup"] is None


def library_rates(total_steps: int, warmup_steps: int, lr: float) -> list[float]:
    """The rate of each step under transformers' own linear schedule."""
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("total,warmup", [(20, 0.1), (10, 0.3), (7, 0.5), (4, 0.0)])
def test_the_schedule_of_training_is_the_librarys_step_by_step(total, warmup):
    """The scheduler training uses is transformers.get_linear_schedule_with_warmup.

    ``int(warmup * total)`` warm-up steps: the rate rises as ``step / w``, then
    falls linearly to 0 at ``total`` (BERT's fine-tuning schedule).
    """
    warmup_steps = int(warmup * total)
    expected = library_rates(total, warmup_steps, 1e-3)
    assert train.schedule_rates(total, 1e-3, "linear", warmup) == expected
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=1e-3)
    scheduler = train.make_scheduler(optimizer, "linear", total, warmup)
    factors = [scheduler.lr_lambdas[0](k) for k in range(total + 1)]
    assert [1e-3 * f for f in factors[:total]] == pytest.approx(expected)
    assert factors[-1] == 0  # 0 once the last step is taken
    if warmup_steps:
        assert factors[: warmup_steps + 1] == pytest.approx(
            [k / warmup_steps for k in range(warmup_steps + 1)]
        )
    assert train.schedule_rates(total, 1e-3, "constant") == [1e-3] * total


def test_linear_schedule_factors():
    factor = train.make_scheduler(
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), "linear", 10, 0.3
    ).lr_lambdas[0]  # 3 warm-up steps
    assert [factor(k) for k in range(11)] == pytest.approx(
        [0, 1 / 3, 2 / 3, 1, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7, 0]
    )
    assert train.schedule_rates(4, 1.0, "linear", 0.0) == [1, 0.75, 0.5, 0.25]
    with pytest.raises(ValueError, match="total_steps must be a positive integer"):
        train.schedule_rates(0, 1.0)


def test_a_step_the_grad_scaler_skips_does_not_advance_the_schedule():
    """fp16 on CUDA: inf/NaN gradients make the GradScaler skip optimizer.step."""
    _, model = tiny()
    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.Adam([weight], lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    scaler = torch.amp.GradScaler("cpu", enabled=True)  # as make_scaler for fp16
    factors = iter([float("inf"), 1.0, 1.0])  # the first batch's gradient is NaN

    def forward(batch):
        return weight.expand(len(batch["labels"]), 2) * next(factors)

    batches = [{"labels": torch.tensor([0, 1])} for _ in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler.step() before optimizer"
        train.run_epoch(
            model,
            batches,
            forward,
            optimizer=optimizer,
            scaler=scaler,
            scheduler=scheduler,
            device=torch.device("cpu"),
        )
    assert scaler.get_scale() < 65536  # the first step was skipped
    assert scheduler.last_epoch == 2  # two optimizer steps, two scheduler steps


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"schedule": "cosine"}, r"schedule must be one of 'constant', 'linear'"),
        ({"schedule": "linear", "warmup": 1.5}, r"warmup must be .* from 0 to 1"),
        ({"warmup": -0.1}, r"got -0\.1: pass e\.g\. warmup=0\.1"),
        ({"keep": "tail"}, r"keep must be one of 'head', 'head\+tail'"),
        ({"keep": "head+tail", "head": 40}, r"head must be an integer from 0 to 30"),
        ({"epochs": 0}, r"epochs must be an integer >= 1, got 0: pass e\.g\."),
        ({"batch_size": 2.5}, r"batch_size must be an integer >= 1"),
        ({"max_length": 2}, r"max_length must be an integer >= 3"),
        ({"lr": -1e-3}, r"lr must be a positive finite number"),
        ({"lr": "fast"}, r"lr must be a number"),
        ({"trainable_layers": -1}, r"trainable_layers must be an integer >= 0 or None"),
        ({"cache_features": "yes"}, r"cache_features must be True or False"),
        ({"bf16_cache": 1}, r"bf16_cache must be True or False, got 1"),
        ({"bf16_train": "no"}, r"bf16_train must be True or False, got 'no'"),
        ({"seed": 1.5}, r"seed must be an integer, got 1\.5"),
    ],
)
def test_bad_settings_name_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainSettings(**{"max_length": 32, **kwargs})
    with pytest.raises(ValueError, match=message):
        TrainSettings(max_length=32).with_(**kwargs)  # checked again on change


def test_settings_are_frozen_and_read_from_a_profile():
    settings = TrainSettings.from_profile(get_profile("quick"), keep="head+tail")
    assert (settings.epochs, settings.lr, settings.trainable_layers) == (3, 3e-4, 1)
    assert (settings.max_length, settings.batch_size, settings.seed) == (256, 32, 1234)
    assert (settings.keep, settings.schedule) == ("head+tail", "constant")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.epochs = 5
    with pytest.raises(TypeError, match="no field hidden_size: use one of epochs"):
        settings.with_(hidden_size=768)


def test_train_classifier_takes_settings_and_checks_the_tokenizer_first(monkeypatch):
    """``head`` is checked again against the tokenizer's own limit, before work."""
    tokenizer, model = tiny()
    tokenizer.model_max_length = 16  # the content of 16 tokens: 14
    monkeypatch.setattr(
        loop, "TokenizedReviews", lambda *a, **k: pytest.fail("tokenized")
    )
    fine_for_32 = TrainSettings(epochs=1, max_length=32, keep="head+tail", head=20)
    with pytest.raises(ValueError, match=r"head must be an integer from 0 to 14"):
        train.train_classifier(
            model, tokenizer, toy_reviews(2), toy_reviews(2), fine_for_32
        )
    with pytest.raises(TypeError, match="settings must be a TrainSettings"):
        train.train_classifier(
            model, tokenizer, toy_reviews(2), toy_reviews(2), {"epochs": 1}
        )


def test_head_tail_is_used_in_training_and_prediction(monkeypatch):
    tokenizer, model = tiny(dropout=0.0)
    text = "the movie was great and " * 12 + "but the plot was awful ."
    whole = tokenizer([text], verbose=False)["input_ids"][0]
    ids = torch.tensor([whole[:9] + whole[-23:]])  # default head: 8 of 30
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    got = train.predict_logits(
        model, tokenizer, [text], max_length=32, keep="head+tail"
    )
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    first = train.predict_logits(model, tokenizer, [text], max_length=32)
    assert not torch.allclose(first, got)  # "head" reads other tokens
    reviews = ReviewSet([text, "good film"], [1, 0], "two")
    scores = train.evaluate(model, tokenizer, reviews, max_length=32, keep="head+tail")
    assert scores["probs"][0] == pytest.approx(expected.softmax(-1)[0].numpy())
    made = []
    real = loop.TokenizedReviews

    def spy(*args, **kwargs):
        made.append((kwargs["keep"], kwargs["head"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "TokenizedReviews", spy)
    result = train.train_classifier(
        model,
        tokenizer,
        reviews,
        reviews,
        TrainSettings(epochs=1, max_length=32, keep="head+tail"),
    )
    assert made == [("head+tail", 8), ("head+tail", 8)]  # train and validation
    assert (result.settings["keep"], result.settings["head"]) == ("head+tail", 8)
