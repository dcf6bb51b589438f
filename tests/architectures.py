"""Every registry method on tiny random models of each architecture: checked.

Run as a script to rewrite the architecture × method table that the API
reference includes (``_static/architectures.md``)::

    .venv/bin/python tests/architectures.py

``tests/test_architectures.py`` runs the same checks and fails when the
committed table differs from what they measure, so the table is never typed.

A cell is one of:

* ``✓`` — the map has the batch's shape, is finite, is 0 at padding, is not
  all zero, is the same for a text alone and inside a padded batch, and comes
  with the predicted class as its target; for CP-LRP also: the token
  relevances add up to the target logit on the same model with its biases set
  to 0 (``Σ = logit``, the conservation Ali et al. 2022 claim);
* ``not supported: <why>`` — the method raised
  :class:`helpers.attr.support.NotSupported`, naming the reason;
* ``✗ <check>`` — a check failed (the test fails on any such cell).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from tiny import ARCHITECTURES, tiny_architecture  # noqa: E402

from helpers import attr  # noqa: E402
from helpers.attr.support import NotSupported  # noqa: E402

TABLE = HERE.parent / "_static" / "architectures.md"
TEXTS = ["the movie was great", "an awful boring plot and very bad acting"]
#: Conservation tolerance for CP-LRP (relative to the logit).
CONSERVATION_RTOL = 1e-3


def _scores(result) -> torch.Tensor:
    return result.scores if hasattr(result, "scores") else result


def _batch(tokenizer, texts) -> dict[str, torch.Tensor]:
    return dict(tokenizer(list(texts), padding=True, return_tensors="pt"))


def zero_biases(model: nn.Module) -> nn.Module:
    """A copy of ``model``: every Linear bias and post-embedding LayerNorm beta 0."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        for name, module in model.named_modules():
            bias = getattr(module, "bias", None)
            linear = isinstance(module, nn.Linear)
            norm = isinstance(module, nn.LayerNorm) and "embeddings" not in name
            if bias is not None and (linear or norm):
                bias.zero_()
    return model


def _conservation_error(model, tokenizer) -> float:
    """Largest |Σ relevance − logit| / |logit| of CP-LRP on the bias-free copy."""
    bias_free = zero_biases(model)
    batch = _batch(tokenizer, TEXTS[1:])
    result = attr.ConservativeLRP(bias_free).attribute(batch, target=0)
    with torch.no_grad():
        logit = bias_free(**batch).logits[:, 0]
    return float(((_scores(result).sum(1) - logit).abs() / logit.abs()).max())


def _failed_check(scores, alone, batch, target, logits) -> str | None:
    """The first contract check that ``scores`` fails, or ``None``."""
    mask = batch["attention_mask"].bool()
    if tuple(scores.shape) != tuple(mask.shape):
        return f"shape {tuple(scores.shape)}"
    if not bool(torch.isfinite(scores).all()):
        return "NaN or infinite scores"
    if bool(scores[~mask].abs().gt(0).any()):
        return "padding not 0"
    if not bool(scores[mask].abs().gt(0).any()):
        return "all scores 0"
    n = alone.shape[1]
    scale = float(alone.abs().max())
    if not torch.allclose(scores[:1, :n], alone, atol=1e-4 * scale, rtol=1e-3):
        return "padding changes the scores"
    if target is not None and not torch.equal(target, logits.argmax(-1)):
        return "target is not the predicted class"
    return None


def check(model, tokenizer, name: str, method) -> str:
    """One cell of the table: ``✓``, ``not supported: …`` or ``✗ …``."""
    batch = _batch(tokenizer, TEXTS)
    try:
        result = method.attribute(batch, target=None)
        alone = _scores(method.attribute(_batch(tokenizer, TEXTS[:1]), target=None))
    except NotSupported as error:
        return "not supported: " + str(error).split(": ", 1)[1].split(". ")[0]
    except Exception as error:  # a crash is a failed check, shown in the table
        return f"✗ {type(error).__name__}: {error}"[:120]
    with torch.no_grad():
        logits = model(**batch).logits
    target = getattr(result, "target", None)
    failed = _failed_check(_scores(result), alone, batch, target, logits)
    if failed:
        return f"✗ {failed}"
    if name == "CP-LRP":
        error = _conservation_error(model, tokenizer)
        if error > CONSERVATION_RTOL:
            return f"✗ Σ ≠ logit (relative error {error:.1e})"
        return "✓ Σ = logit"
    return "✓"


def measure() -> dict[str, dict[str, str]]:
    """``{architecture: {method: cell}}`` for every registry method."""
    cells = {}
    for arch in ARCHITECTURES:
        model, tokenizer = tiny_architecture(arch)
        methods = attr.explainers(model, tokenizer, ig_steps=8, random_draws=1)
        cells[arch] = {
            name: check(model, tokenizer, name, method)
            for name, method in methods.items()
        }
    return cells


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def table(cells: dict[str, dict[str, str]]) -> str:
    """The Markdown table (methods as rows, architectures as columns)."""
    methods = list(next(iter(cells.values())))
    lines = [
        "| method | " + " | ".join(cells) + " |",
        "|---|" + "---|" * len(cells),
    ]
    for method in methods:
        row = [_escape(cells[arch].get(method, "—")) for arch in cells]
        lines.append(f"| {method} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def page(cells) -> str:
    """The whole included file: a note on how it was made, then the table."""
    return (
        "<!-- Written by tests/architectures.py; tests/test_architectures.py "
        "checks it. Do not edit by hand. -->\n\n" + table(cells)
    )


if __name__ == "__main__":
    TABLE.write_text(page(measure()), encoding="utf-8")
    print(TABLE.read_text(encoding="utf-8"))
