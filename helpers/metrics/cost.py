"""What an explanation costs: measured passes and milliseconds per review (chapter 6).

:func:`measure_cost` runs every method on the same batches, one method after
the other, and reports per review

* ``ms``: wall-clock milliseconds of ``attribute`` (mean over the batches);
* ``forwards``: model passes, counted as review-rows through the last encoder
  layer divided by the reviews explained (integrated gradients with 20 steps
  shows about 21: the interpolated copies plus the pass that finds the
  predicted class);
* ``backwards``: review-rows whose gradient reached the last encoder layer's
  output, divided by the reviews explained.

The counts are *measured* with hooks, not declared by each method, so a
method that silently runs the model twice shows it. Timings depend on the
machine and on what else runs on it; compare methods measured in one run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ..inputs import check_inputs
from ..models import get_encoder_layers
from .base import Metric

#: Wall-clock milliseconds of ``attribute`` per review.
MS_PER_REVIEW = Metric(
    "ms/review",
    low=0.0,
    high=math.inf,
    best=0.0,
    what="wall-clock milliseconds of attribute per review, measured side by side",
)
#: The cost metrics the book reports.
METRICS = (MS_PER_REVIEW,)


@dataclass(frozen=True)
class Cost:
    """Per-review cost of one method: milliseconds and model passes."""

    ms: float
    forwards: float
    backwards: float
    n: int

    def __post_init__(self):
        MS_PER_REVIEW.check(self.ms)

    def __str__(self) -> str:
        return (
            f"{self.ms:,.0f} ms/review ({self.forwards:g} forward, "
            f"{self.backwards:g} backward per review; n = {self.n})"
        )


def _rows(output) -> int:
    tensor = output[0] if isinstance(output, (tuple, list)) else output
    return int(tensor.shape[0]) if isinstance(tensor, torch.Tensor) else 0


class PassCounter:
    """Counts review-rows through the model's last encoder layer, forward and
    back, while the ``with`` block runs: whole passes (a method that runs only
    the embeddings layer, as integrated gradients does for Captum, is not
    charged a pass for it).

    Hooks are removed on exit, even after an error.
    """

    def __init__(self, model: nn.Module):
        self.last_layer = get_encoder_layers(model)[-1]
        self.forward_rows = 0
        self.backward_rows = 0
        self._handles: list = []

    def _on_layer(self, _module, _args, output) -> None:
        self.forward_rows += _rows(output)
        hidden = output[0] if isinstance(output, (tuple, list)) else output
        if isinstance(hidden, torch.Tensor) and hidden.requires_grad:
            rows = int(hidden.shape[0])

            def count(grad):
                self.backward_rows += rows
                return grad

            hidden.register_hook(count)

    def __enter__(self) -> PassCounter:
        self.forward_rows = self.backward_rows = 0
        self._handles = [self.last_layer.register_forward_hook(self._on_layer)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def measure_cost(
    model: nn.Module,
    methods: Mapping[str, object],
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    warmup: bool = True,
) -> dict[str, Cost]:
    """Milliseconds and passes per review of each method, measured side by side.

    ``batches``: encoded batches (dicts with ``input_ids``, ``attention_mask``,
    or :class:`helpers.data.TextBatch`), explained for the predicted class.
    Each method runs on every batch, in turn, in one process; ``warmup`` first
    runs each method once on the first review alone (untimed), so one-off
    costs (kernel registration, Captum set-up) are not charged to a method.
    Methods that share a pass (the Grad-CAM layers) are each charged the full
    pass: nothing is reused from the method measured before.
    """
    batches = [check_inputs(getattr(b, "inputs", b)) for b in batches]
    if not batches:
        raise ValueError("batches is empty: pass at least one encoded batch.")
    n = sum(int(b["input_ids"].shape[0]) for b in batches)
    out = {}
    for name, method in methods.items():
        if warmup:  # one review: a different input, so no cached map is reused
            method.attribute({k: v[:1] for k, v in batches[0].items()}, target=None)
        seconds = 0.0
        with PassCounter(model) as counter:
            for batch in batches:
                start = time.perf_counter()
                method.attribute(batch, target=None)
                seconds += time.perf_counter() - start
        out[name] = Cost(
            ms=1000.0 * seconds / n,
            forwards=counter.forward_rows / n,
            backwards=counter.backward_rows / n,
            n=n,
        )
    return out
