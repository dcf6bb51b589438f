"""Hand-built toy classifiers whose explanations and metrics have exact values.

Used by the attribution and metric tests (never from ``conftest``). Token ids:
0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 [MASK]; 5.. are words.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from helpers.attr import Attribution
from helpers.tokens import TokenRoles

PAD, UNK, CLS, SEP, MASK = range(5)
ROLES = TokenRoles(mask_id=MASK, special_ids=(PAD, CLS, SEP))
VOCAB = 40
TRIGGER = 7


class LinearTokenModel(nn.Module):
    """HF-like toy: ``logit[1] = bias + sum of w[id] over attended tokens``."""

    def __init__(self, weights: torch.Tensor, bias: float = 0.0):
        super().__init__()
        self.embeddings = nn.Embedding(len(weights), 1)
        with torch.no_grad():
            self.embeddings.weight.copy_(weights[:, None])
        self.bias = bias

    @property
    def base_model(self):
        return self

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        one = (self.embeddings(input_ids)[..., 0] * mask).sum(-1) + self.bias
        return SimpleNamespace(logits=torch.stack([torch.zeros_like(one), one], -1))


class MeanProbabilityModel(nn.Module):
    """HF-like toy whose p(class 1) is the mean of ``values[id]`` over real tokens.

    [MASK] has value 0 and keeps its position, so replacing k of n real tokens
    at random lowers p on average to ``p * (1 - k / n)``.
    """

    def __init__(self, values: torch.Tensor):
        super().__init__()
        self.values = values

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        real = ROLES.real(batch).float()
        p = (self.values[input_ids] * real).sum(-1) / real.sum(-1)
        return SimpleNamespace(logits=torch.stack([torch.log1p(-p), torch.log(p)], -1))


def make_batch(rows: list[list[int]]) -> dict[str, torch.Tensor]:
    """``[CLS] ids [SEP] [PAD]...`` per row, padded to the longest."""
    width = max(len(r) for r in rows) + 2
    ids = torch.full((len(rows), width), PAD)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r) + 2] = torch.tensor([CLS, *r, SEP])
        mask[i, : len(r) + 2] = 1
    return {"input_ids": ids, "attention_mask": mask}


def trigger_model() -> LinearTokenModel:
    """logit[1] = 5 per TRIGGER token - 2: the TRIGGER decides the class."""
    weights = torch.zeros(VOCAB)
    weights[TRIGGER] = 5.0
    return LinearTokenModel(weights, bias=-2.0)


class ScoresFrom(Attribution):
    """A test explainer: ``scores(batch, target)`` with the model's logits.

    The logits come from one forward pass without gradients; ``scores``
    gets the checked, on-device chunk and its :class:`helpers.attr.Target`.
    """

    def __init__(self, model: nn.Module, name: str, scores):
        super().__init__(model)
        self.name, self.scores = name, scores

    def _pass(self, batch, target):
        with torch.no_grad():
            logits = self.model(**batch).logits
        return self.scores(batch, target), logits
