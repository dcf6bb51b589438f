"""Every registry method on tiny random models of seven architectures.

Each method either gives a map that passes the contract checks (shape, finite,
0 at padding, not all zero, the same alone and in a padded batch, the
predicted class as target; CP-LRP also conserves the logit) or raises
:class:`helpers.attr.support.NotSupported` naming the architecture and why.
The API reference's table is what these checks measure (``_static/architectures.md``).
"""

from __future__ import annotations

import pytest
import torch
from architectures import TABLE, _batch, _conservation_error, check, measure, page
from tiny import ARCHITECTURES, tiny_architecture

from helpers import attr
from helpers.attr.support import NotSupported, check_lrp_support

SUPPORTED_BY_LRP = ("bert", "roberta", "xlm-roberta", "distilbert", "electra")


@pytest.fixture(scope="module")
def cells():
    return measure()


def test_every_method_is_checked_on_every_architecture(cells):
    assert list(cells) == list(ARCHITECTURES)
    names = {tuple(row) for row in cells.values()}
    assert len(names) == 1  # the same registry for every architecture
    assert {"CP-LRP", "AttnLRP", "IG", "rollout"} <= set(next(iter(names)))


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_each_method_is_correct_or_says_why_not(cells, arch):
    failed = {m: c for m, c in cells[arch].items() if c.startswith("✗")}
    assert not failed


@pytest.mark.parametrize("arch", SUPPORTED_BY_LRP)
def test_cp_lrp_conserves_the_logit_on_every_supported_architecture(arch):
    model, tokenizer = tiny_architecture(arch)
    assert _conservation_error(model, tokenizer) < 1e-3


def test_roberta_head_tanh_gets_the_identity_rule():
    """RoBERTa's head calls torch.tanh as a function; without its rule the
    relevances miss the logit by far (they did before the head was patched)."""
    model, tokenizer = tiny_architecture("roberta")
    assert _conservation_error(model, tokenizer) < 1e-3
    head = model.classifier
    forward = head.forward
    batch = _batch(tokenizer, ["the movie was great"])
    with attr.lrp.lrp_rules(model):
        assert head.forward is not forward  # patched inside ...
        inside = model(**batch).logits
    assert head.forward == forward  # ... and restored after
    assert torch.allclose(inside, model(**batch).logits, atol=1e-5)


@pytest.mark.parametrize(
    ("arch", "why"),
    [("deberta-v2", "AttentionInterface"), ("modernbert", "gated linear unit")],
)
def test_lrp_refuses_what_its_rules_do_not_cover(arch, why):
    model, tokenizer = tiny_architecture(arch)
    with pytest.raises(NotSupported, match=f"not supported for {arch}: .*{why}"):
        check_lrp_support(model, "CP-LRP")
    cell = check(model, tokenizer, "AttnLRP", attr.AttnLRP(model))
    assert cell.startswith("not supported:") and why in cell


def test_a_failing_check_shows_in_the_cell():
    model, tokenizer = tiny_architecture("bert")

    class PaddingLeaks:
        name = "leaky"

        def attribute(self, inputs, target=None):
            return torch.ones(inputs["input_ids"].shape)

    assert check(model, tokenizer, "leaky", PaddingLeaks()) == "✗ padding not 0"


def test_the_api_reference_table_is_what_the_checks_measure(cells):
    assert TABLE.read_text(encoding="utf-8") == page(cells), (
        "_static/architectures.md is out of date: run `.venv/bin/python "
        "tests/architectures.py` and commit it."
    )
