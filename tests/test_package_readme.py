"""helpers/README.md: its example method runs as written, and its table names
every module of the package."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from tiny import TEXTS, encode, tiny_bert, tiny_tokenizer

from helpers.attr import Attribution, compute_maps

README = Path(__file__).resolve().parent.parent / "helpers" / "README.md"


def _example_class():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    namespace = {"Attribution": Attribution, "torch": torch}
    exec(code, namespace)
    return next(
        v
        for v in namespace.values()
        if isinstance(v, type) and v is not Attribution and issubclass(v, Attribution)
    )


def test_the_example_method_follows_the_contract():
    method = _example_class()(tiny_bert(perturb=0.1))
    batch = encode(tiny_tokenizer(), TEXTS)
    result = method.attribute(batch)
    mask = batch["attention_mask"].bool()
    assert result.scores.shape == mask.shape and bool((result.scores[~mask] == 0).all())
    assert bool((result.scores[mask] > 0).all())  # a norm: positive on real tokens
    assert torch.equal(result.target, result.logits.argmax(-1))
    maps = compute_maps({method.name: method}, batch, None)
    assert list(maps) == ["grad norm"]


def test_the_layer_table_names_every_module():
    text = README.read_text()
    root = README.parent
    for path in sorted(root.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        name = path.stem if path.parent == root else f"{path.parent.name}/"
        assert f"`{name}`" in text or f"`{path.stem}`" in text, path
