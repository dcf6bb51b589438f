"""The attribution contract, checked for every registry method on a tiny BERT.

One base class (:class:`helpers.attr.Attribution`) owns the path from the
inputs to the record; every method writes one pass. These tests hold each
registry method to that: the record's shape, 0 at padding, the target and
logits returned, the model's mode restored (also after an error in the
pass), chunking that changes nothing, and the name taken from the class.
"""

from __future__ import annotations

import pytest
import torch
from tiny import TEXTS, encode, tiny_bert, tiny_tokenizer
from toys import LinearTokenModel, make_batch

from helpers import attr
from helpers.attr import Attribution, Attributions, Target
from helpers.explain import explain
from helpers.windows import explain_long

LAYER_ENTRIES = ("Grad-CAM L0", "Grad-CAM L1")


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def batch(tokenizer):
    return encode(tokenizer, TEXTS)


def registry(model, tokenizer, **options):
    return attr.explainers(
        model, tokenizer, ig_steps=4, internal_batch_size=8, random_draws=2, **options
    )


NAMES = list(registry(tiny_bert(), tiny_tokenizer()))


def test_the_registry_is_every_method_once_each_from_the_one_base(tokenizer):
    methods = registry(tiny_bert(), tokenizer)
    assert len(NAMES) == 11 and len(set(NAMES)) == 11
    for name, method in methods.items():
        assert isinstance(method, Attribution), name
        assert type(method).attribute is Attribution.attribute, name  # one path
        assert "_pass" in vars(type(method)) or name == "AttnLRP", name
    assert (
        tuple(n for n, m in methods.items() if m.transformer)
        == attr.TRANSFORMER_METHODS
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_name_comes_from_the_class(tokenizer, name):
    method = registry(tiny_bert(), tokenizer)[name]
    assert method.name == name
    if name in LAYER_ENTRIES:  # one class, one instance per layer
        assert name == f"Grad-CAM L{method.index}"
    else:
        assert type(method).name == name


@pytest.mark.parametrize("name", NAMES)
def test_record_shape_padding_target_and_logits(tokenizer, batch, name):
    model = tiny_bert(perturb=0.05)
    record = registry(model, tokenizer)[name].attribute(batch)
    assert isinstance(record, Attributions)
    pad = batch["attention_mask"] == 0
    assert pad.any()
    assert record.scores.shape == batch["input_ids"].shape
    assert record.scores.dtype == torch.float32 and record.scores.device.type == "cpu"
    assert (record.scores[pad] == 0).all()
    assert (record.scores[~pad] != 0).any()
    with torch.no_grad():
        logits = model(**batch).logits
    torch.testing.assert_close(record.logits, logits, atol=1e-5, rtol=1e-4)
    assert record.target.dtype == torch.long
    assert torch.equal(record.target, logits.argmax(-1))
    torch.testing.assert_close(record.probabilities, logits.softmax(-1))


@pytest.mark.parametrize("name", NAMES)
def test_the_target_asked_for_is_the_target_returned(tokenizer, batch, name):
    method = registry(tiny_bert(perturb=0.05), tokenizer)[name]
    mixed = torch.tensor([0, 1, 1, 0])
    assert torch.equal(method.attribute(batch, target=mixed).target, mixed)
    assert method.attribute(batch, target=0).target.tolist() == [0] * 4
    with pytest.raises(ValueError, match="outside the model's labels"):
        method.attribute(batch, target=2)


@pytest.mark.parametrize("name", NAMES)
def test_chunks_give_the_same_record(tokenizer, batch, name):
    model = tiny_bert(perturb=0.05)
    whole = registry(model, tokenizer, max_tokens=None)[name].attribute(batch)
    seq = batch["input_ids"].shape[1]
    small = registry(model, tokenizer, max_tokens=seq + 1)[name]  # one review a pass
    chunked = small.attribute(batch)
    torch.testing.assert_close(chunked.scores, whole.scores, atol=1e-6, rtol=1e-4)
    assert torch.equal(chunked.target, whole.target)
    torch.testing.assert_close(chunked.logits, whole.logits, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_train_mode_is_restored_also_after_an_error(tokenizer, batch, name):
    model = tiny_bert(perturb=0.05, dropout=0.3)
    method = registry(model, tokenizer)[name]
    model.train()
    try:
        method.attribute(batch)
        assert model.training and all(m.training for m in model.modules())

        def explode(module, args):
            raise RuntimeError("injected failure")

        handle = model.classifier.register_forward_pre_hook(explode)
        try:
            fresh = registry(model, tokenizer)[name]  # no Grad-CAM pass cached
            with pytest.raises(RuntimeError, match="injected"):
                fresh.attribute(batch)
        finally:
            handle.remove()
        assert model.training and all(m.training for m in model.modules())
    finally:
        model.eval()


def test_a_pass_that_fails_leaves_eval_mode_off():
    model = tiny_bert(dropout=0.3).train()

    class Broken(Attribution):
        name = "broken"

        def _pass(self, batch, target):
            assert not self.model.training  # the base class switched it
            raise RuntimeError("broken pass")

    with pytest.raises(RuntimeError, match="broken pass"):
        Broken(model).attribute(encode(tiny_tokenizer(), TEXTS[:1]))
    assert model.training


def test_the_target_is_resolved_once_per_chunk_from_its_logits():
    logits = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    target = Target(None)
    first = target(logits)
    assert first.tolist() == [1, 0]
    assert target(torch.tensor([[5.0, 0.0], [0.0, 5.0]])) is first  # resolved once
    assert float(Target(torch.tensor([0, 0])).score(logits)) == 2.0
    with pytest.raises(ValueError, match="outside"):
        Target(torch.tensor([0, 2]))(logits)


class ChosenClass(Attribution):
    """Scores every token with the class its row is explained for; records the
    rows of each pass."""

    name = "chosen class"
    passes: list[int]

    def _pass(self, batch, target):
        self.passes.append(len(batch["input_ids"]))
        logits = self.model(**batch).logits
        chosen = target(logits).float()[:, None]
        return chosen.expand(batch["input_ids"].shape), logits


def test_groups_share_the_class_of_their_mean_logits_and_are_never_split():
    weights = torch.zeros(10)
    weights[5], weights[6] = 3.0, -1.0  # logit[1] = the sum over the row's tokens
    model = LinearTokenModel(weights)
    # text A: windows with logit[1] 3, -1, -1 (mean 1/3); text B: -4, 3 (mean -1/2)
    batch = make_batch([[5], [6], [6], [6, 6, 6, 6], [5]])
    explainer = ChosenClass(model, max_tokens=2 * batch["input_ids"].shape[1])
    explainer.passes = passes = []
    assert explainer.attribute(batch).target.tolist() == [1, 0, 0, 0, 1]
    assert passes == [2, 2, 1]
    passes.clear()
    grouped = explainer.attribute(batch, groups=[3, 2])
    assert grouped.target.tolist() == [1, 1, 1, 0, 0]
    assert passes == [3, 2]  # a group larger than a chunk is one chunk, not split
    assert grouped.scores[:, 1].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    given = explainer.attribute(
        batch, target=torch.tensor([0, 0, 0, 1, 1]), groups=[3, 2]
    )
    assert given.target.tolist() == [0, 0, 0, 1, 1]  # a given target is kept
    with pytest.raises(ValueError, match="summing to the batch"):
        explainer.attribute(batch, groups=[3, 3])


@pytest.mark.parametrize("name", NAMES)
def test_every_method_explains_a_group_for_its_pooled_class(name, tokenizer, batch):
    model = tiny_bert(perturb=0.5, seed=2)
    with torch.no_grad():
        logits = model(**batch).logits
    pooled = int(logits.mean(0).argmax())
    assert logits.argmax(-1).tolist() == [0, 1, 1, 1] and pooled == 1  # 0 differs
    n = len(logits)
    grouped = registry(model, tokenizer)[name].attribute(batch, groups=[n])
    given = registry(model, tokenizer)[name].attribute(batch, target=[pooled] * n)
    assert grouped.target.tolist() == [pooled] * n
    assert torch.allclose(grouped.scores, given.scores, atol=1e-6)


class EmbeddingNorm(Attribution):
    """A new method in a few lines: the norm of each token's word embedding."""

    name = "embedding norm"

    def _pass(self, batch, target):
        with torch.no_grad():
            logits = self.model(**batch).logits
            words = self.model.get_input_embeddings()(batch["input_ids"])
        return words.norm(dim=-1), logits


def test_a_new_method_is_one_class_and_works_everywhere(tokenizer, batch):
    model = tiny_bert(perturb=0.05)
    method = EmbeddingNorm(model)
    maps = attr.compute_maps({method.name: method}, batch, None)
    assert (maps["embedding norm"][batch["attention_mask"] == 0] == 0).all()
    long = explain_long(method, model, tokenizer, TEXTS[3], window=62, overlap=16)
    assert long.method == "embedding norm"
    assert long.score().shape == (len(long.tokens),)
    result = explain(
        model, tokenizer, TEXTS[:2], [method, "grad x input"], progress=False
    )
    assert result.methods == ["embedding norm", "grad x input"]
    assert [len(s) for s in result.scores["embedding norm"]] == [
        len(w) for w in result.words
    ]


def test_a_pass_with_the_wrong_shape_is_named(tokenizer, batch):
    class Wrong(EmbeddingNorm):
        def _pass(self, batch, target):
            scores, logits = super()._pass(batch, target)
            return scores[:, :-1], logits

    with pytest.raises(RuntimeError, match="Wrong produced shape"):
        Wrong(tiny_bert()).attribute(batch)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        EmbeddingNorm("bert")
    with pytest.raises(ValueError, match="max_tokens"):
        EmbeddingNorm(tiny_bert(), max_tokens=0)
