"""The floor every method must beat: seeded random scores.

:class:`RandomScores` draws uniform scores per review from a generator keyed
by the seed, the draw number and the review's own tokens
(:func:`helpers.inputs.review_generators`), so a review gets the same scores
whatever batch it is in. The metrics average ``draws`` such maps per review
(:func:`helpers.metrics.evaluate_faithfulness`), so the floor is not itself
noisy.
"""

from __future__ import annotations

import torch
from torch import nn

from ..inputs import review_generators
from .base import Attribution


class RandomScores(Attribution):
    """Seeded uniform random scores in [0, 1) on attended positions, 0 at padding.

    ``attribute(inputs, target=None, draw=0)``: ``draw`` picks one of the
    independent maps (0, 1, ...); the same ``seed``, ``draw`` and review
    always give the same scores. ``draws`` tells the metrics how many maps to
    average per review. The scores do not depend on the class; the model
    runs one forward pass without gradients for the logits and the target
    of the record.
    """

    name = "random"
    attention_weights = False  # runs on the fused kernel

    def __init__(
        self,
        model: nn.Module,
        seed: int = 1234,
        draws: int = 10,
        max_tokens: int | None = 4096,
    ):
        super().__init__(model, max_tokens)
        if not isinstance(draws, int) or draws < 1:
            raise ValueError(f"draws must be an integer >= 1, got {draws!r}.")
        self.seed, self.draws = int(seed), draws

    def _pass(self, batch, target, draw: int = 0):
        with torch.no_grad():
            logits = self.model(**batch).logits
        mask = batch["attention_mask"].cpu().bool()
        scores = torch.zeros(mask.shape)
        for i, generator in enumerate(review_generators(batch, self.seed, draw)):
            scores[i, mask[i]] = torch.rand(int(mask[i].sum()), generator=generator)
        return scores, logits

    def __repr__(self) -> str:
        return f"RandomScores(seed={self.seed}, draws={self.draws})"
