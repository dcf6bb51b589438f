"""Maps computed once, served again: :class:`StoredMaps` (chapter 6).

Chapter 6 explains each ERASER review once for the plausibility metrics and
then measures the same maps' faithfulness. Running integrated gradients twice
on 512-token reviews would double the chapter's cost, so the maps are stored
with the token ids they belong to and handed back by an explainer that only
looks them up.
"""

from __future__ import annotations

import torch
from torch import nn

from ..inputs import check_inputs
from .base import Attribution


def _key(ids: torch.Tensor, mask: torch.Tensor) -> tuple[int, ...]:
    return tuple(ids[mask.bool()].tolist())


class StoredMaps(Attribution):
    """An explainer that returns maps computed earlier for the same reviews.

    ``StoredMaps(model, name, inputs, maps)``: ``inputs`` the encoded reviews
    (``input_ids``, ``attention_mask`` ``[n, seq]``), ``maps`` their scores
    ``[n, seq]``, ``name`` the method that made them. ``attribute(inputs,
    target)`` finds each row by its real token ids (padding and row order do
    not matter) and returns its map cut or padded to the batch's width. The
    record's logits are ``logits`` ``[n, labels]`` (the model's, stored with
    the maps: nothing runs); without them the model runs one forward pass
    without gradients, on the fused attention kernel. The maps were computed
    for one target each (``targets``, when given): asking for another class
    raises ``ValueError``; a review that was not stored raises ``KeyError``.
    """

    name = "stored maps"
    attention_weights = False  # the forward pass only gives the logits

    def __init__(
        self, model: nn.Module, name: str, inputs, maps, targets=None, logits=None
    ):
        super().__init__(model)
        batch = check_inputs(inputs)
        maps = torch.as_tensor(maps).float().cpu()
        if maps.shape != batch["input_ids"].shape:
            raise ValueError(
                f"maps has shape {tuple(maps.shape)} but the inputs "
                f"{tuple(batch['input_ids'].shape)}: store one map per review."
            )
        self.name = name
        if logits is not None:
            logits = torch.as_tensor(logits).float().cpu()
            if logits.dim() != 2 or logits.shape[0] != maps.shape[0]:
                raise ValueError(
                    f"logits has shape {tuple(logits.shape)}: pass the model's "
                    f"logits of the {maps.shape[0]} reviews, [n, labels]."
                )
        self._maps: dict[tuple[int, ...], torch.Tensor] = {}
        self._targets: dict[tuple[int, ...], int | None] = {}
        self._logits: dict[tuple[int, ...], torch.Tensor] = {}
        for i in range(maps.shape[0]):
            mask = batch["attention_mask"][i].bool()
            key = _key(batch["input_ids"][i], mask)
            self._maps[key] = maps[i][mask]
            self._targets[key] = None if targets is None else int(targets[i])
            if logits is not None:
                self._logits[key] = logits[i]

    def __len__(self) -> int:
        return len(self._maps)

    def _pass(self, batch, target):
        ids, mask = batch["input_ids"].cpu(), batch["attention_mask"].cpu().bool()
        keys = [_key(ids[i], mask[i]) for i in range(ids.shape[0])]
        if self._logits and all(key in self._logits for key in keys):
            logits = torch.stack([self._logits[key] for key in keys])
            logits = logits.to(batch["input_ids"].device)
        else:
            with torch.no_grad():
                logits = self.model(**batch).logits
        out = torch.zeros(ids.shape, dtype=torch.float32)
        for i, key in enumerate(keys):
            if key not in self._maps:
                raise KeyError(
                    f"{self.name}: review {i} of this batch was not stored; build "
                    "StoredMaps from the same reviews, encoded the same way."
                )
            stored = self._targets[key]
            wanted = None if target.wanted is None else int(target.wanted[i])
            if None not in (wanted, stored) and wanted != stored:
                raise ValueError(
                    f"{self.name}: the stored map of review {i} explains class "
                    f"{stored}, not {wanted}."
                )
            out[i, mask[i]] = self._maps[key]
        return out, logits
