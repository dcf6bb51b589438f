"""Measured cost per review, and stored maps served again (chapter 6)."""

from __future__ import annotations

import pytest
import torch
from tiny import encode, tiny_bert, tiny_tokenizer

from helpers import attr
from helpers.attr.stored import StoredMaps
from helpers.metrics.cost import PassCounter, measure_cost


@pytest.fixture(scope="module")
def tiny():
    return tiny_tokenizer(), tiny_bert(perturb=0.05)


def test_pass_counts_are_measured_per_review(tiny):
    tokenizer, model = tiny
    batch = encode(tokenizer)
    methods = attr.explainers(model, tokenizer, ig_steps=5, internal_batch_size=64)
    wanted = ["grad x input", "IG", "random", "CP-LRP", attr.GRADCAM_MEAN]
    cost = measure_cost(model, {m: methods[m] for m in wanted}, [batch])
    # random scores need no gradient; one forward pass gives its record's logits
    assert cost["random"].forwards == 1 and cost["random"].backwards == 0
    assert cost["grad x input"].forwards == 1 and cost["grad x input"].backwards == 1
    assert cost["CP-LRP"].forwards == 1 and cost["CP-LRP"].backwards == 1
    # Grad-CAM is charged its full pass even though its layers share one
    assert cost[attr.GRADCAM_MEAN].backwards == 1
    # IG: 5 interpolation steps forward and backward, plus the prediction pass
    # (Captum's reading of the embeddings runs that layer only: no pass)
    assert cost["IG"].backwards == 5
    assert cost["IG"].forwards == 6
    assert all(c.n == len(batch["input_ids"]) and c.ms >= 0 for c in cost.values())


def test_pass_counter_removes_its_hooks(tiny):
    _, model = tiny
    layer = model.bert.encoder.layer[-1]
    before = len(layer._forward_hooks), len(model.bert.embeddings._forward_hooks)
    with PassCounter(model):
        pass
    assert (len(layer._forward_hooks), len(model.bert.embeddings._forward_hooks)) == (
        before
    )


def test_stored_maps_are_found_by_tokens_not_by_position(tiny):
    tokenizer, model = tiny
    batch = encode(tokenizer)
    maps = torch.arange(batch["input_ids"].numel(), dtype=torch.float32)
    maps = maps.reshape(batch["input_ids"].shape) * batch["attention_mask"]
    stored = StoredMaps(model, "m", batch, maps)
    order = [2, 0]  # a different order, re-padded to the longer of the two
    width = int(batch["attention_mask"][order].sum(1).max())
    sub = {k: v[order, :width] for k, v in batch.items()}
    out = stored.attribute(sub).scores
    assert out.shape == sub["input_ids"].shape
    assert torch.equal(out, maps[order, :width])
    with pytest.raises(KeyError, match="not stored"):
        stored.attribute(encode(tokenizer, ["good good good"]))


def test_stored_maps_refuse_another_target(tiny):
    tokenizer, model = tiny
    batch = encode(tokenizer)
    maps = torch.zeros(batch["input_ids"].shape)
    stored = StoredMaps(model, "m", batch, maps, [1] * 4)
    record = stored.attribute(batch, target=1)
    assert record.scores.shape == batch["input_ids"].shape
    assert record.target.tolist() == [1] * 4
    with pytest.raises(ValueError, match="explains class 1"):
        stored.attribute(batch, target=0)


def test_stored_maps_with_logits_run_no_forward_pass(tiny):
    tokenizer, model = tiny
    batch = encode(tokenizer)
    maps = torch.rand(batch["input_ids"].shape) * batch["attention_mask"]
    with torch.no_grad():
        logits = model(**batch).logits
    stored = StoredMaps(model, "m", batch, maps, logits=logits)
    order = [3, 1]
    sub = {k: v[order] for k, v in batch.items()}
    with PassCounter(model) as counter:
        record = stored.attribute(sub)
    assert counter.forward_rows == 0  # the logits of the run that made the maps
    assert torch.equal(record.logits, logits[order])
    assert torch.equal(record.target, logits[order].argmax(-1))
    assert torch.equal(record.scores, maps[order])
    # a review without stored logits: the model runs for the batch
    without = StoredMaps(model, "m", batch, maps)
    with PassCounter(model) as counter:
        again = without.attribute(sub)
    assert counter.forward_rows == 2
    assert torch.allclose(again.logits, record.logits, atol=1e-5)
    with pytest.raises(ValueError, match=r"\[n, labels\]"):
        StoredMaps(model, "m", batch, maps, logits=logits[:2])
