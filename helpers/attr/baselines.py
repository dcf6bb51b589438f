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

from ..inputs import check_inputs, review_generators

__all__ = ["RandomScores"]


class RandomScores:
    """Seeded uniform random scores on attended positions, 0 at padding.

    ``attribute(inputs, target=None, draw=0) -> [batch, seq]``: ``draw``
    picks one of the independent maps (0, 1, ...); the same ``seed``,
    ``draw`` and review always give the same scores. ``draws`` tells the
    metrics how many maps to average per review. ``target`` is not used:
    random scores do not depend on the class.
    """

    name = "random"

    def __init__(self, seed: int = 1234, draws: int = 10):
        if not isinstance(draws, int) or draws < 1:
            raise ValueError(f"draws must be an integer >= 1, got {draws!r}.")
        self.seed, self.draws = int(seed), draws

    def attribute(self, inputs, target=None, draw: int = 0) -> torch.Tensor:
        """Uniform scores in [0, 1) on attended positions, ``[batch, seq]``."""
        batch = check_inputs(inputs)
        mask = batch["attention_mask"].cpu().bool()
        scores = torch.zeros(mask.shape)
        for i, generator in enumerate(review_generators(batch, self.seed, draw)):
            scores[i, mask[i]] = torch.rand(int(mask[i].sum()), generator=generator)
        return scores

    def __repr__(self) -> str:
        return f"RandomScores(seed={self.seed}, draws={self.draws})"
