"""The explainer contract every attribution method of the book follows.

An *explainer* has a ``name`` and one call::

    explainer.attribute(inputs, target=None) -> torch.Tensor [batch, seq]

``inputs`` is a dict/BatchEncoding with ``input_ids``, ``attention_mask`` and
optionally ``token_type_ids``; ``target`` is ``None`` (the class the model
predicts), an int, or a LongTensor ``[batch]``, resolved only by
:func:`helpers.inputs.resolve_target`. The result is float, on the CPU, 0 at
padding, and higher means more evidence *for* the target class.

:class:`Explainer` states the contract as a ``typing.Protocol`` (classes
satisfy it by shape, as ``helpers.attention.CLSAttention`` does without
inheriting anything). :class:`Attribution` is a base class that does the
common work, so a method overrides one small function, ``_attribute``.
:func:`compute_maps` runs a registry of explainers on one batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from ..inputs import check_inputs, to_device
from ..models import eval_mode, model_device

__all__ = ["Attribution", "Explainer", "compute_maps"]


@runtime_checkable
class Explainer(Protocol):
    """A ``name`` and ``attribute(inputs, target=None) -> [batch, seq]``."""

    name: str

    def attribute(self, inputs, target=None) -> torch.Tensor:
        """One score per token ``[batch, seq]``: float, CPU, 0 at padding."""
        ...


class Attribution:
    """Base class: checks inputs, eval mode, device, padding, dtype — once.

    :meth:`attribute` checks ``inputs`` (:func:`helpers.inputs.check_inputs`),
    moves them to the model's device, runs :meth:`_attribute` in eval mode
    (the model's previous train/eval mode is restored, even after an error),
    checks the shape, and returns float scores on the CPU with padding set
    to 0. Subclasses set ``name`` and write ``_attribute(batch, target)``,
    which resolves ``target`` with :func:`helpers.inputs.resolve_target`
    against the logits it computes anyway.
    """

    name: str = "attribution"

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"model must be a torch nn.Module, got {type(model).__name__}."
            )
        self.model = model
        self.last_target: torch.Tensor | None = None

    def _attribute(self, batch: dict[str, torch.Tensor], target) -> torch.Tensor:
        """Scores ``[batch, seq]`` for a checked batch already on the model's device."""
        raise NotImplementedError

    def attribute(self, inputs, target=None) -> torch.Tensor:
        """One score per token, ``[batch, seq]`` (float, CPU, 0 at padding)."""
        batch = to_device(check_inputs(inputs), model_device(self.model))
        with eval_mode(self.model):
            scores = self._attribute(batch, target)
        mask = batch["attention_mask"]
        if tuple(scores.shape) != tuple(mask.shape):
            raise RuntimeError(
                f"{type(self).__name__} produced shape {tuple(scores.shape)}, "
                f"expected [batch, seq] = {tuple(mask.shape)}."
            )
        return (scores.detach() * mask.to(scores.dtype)).float().cpu()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def compute_maps(
    methods: Mapping[str, Explainer], inputs, target, *, check_finite: bool = True
) -> dict[str, torch.Tensor]:
    """Every method's map on one batch: ``{name: [batch, seq]}`` (float, CPU).

    Raises ``ValueError`` naming the method when a map has the wrong shape or,
    with ``check_finite``, holds NaN or infinity (the sanity check passes
    ``check_finite=False``: a randomised model may break a method, and that
    counts as a changed map there).
    """
    shape = tuple(torch.as_tensor(inputs["input_ids"]).shape)
    maps = {}
    for name, method in methods.items():
        scores = method.attribute(inputs, target=target)
        if tuple(scores.shape) != shape:
            raise ValueError(
                f"Method {name!r} returned shape {tuple(scores.shape)}; every "
                f"explainer must return [batch, seq] = {shape} (aggregate "
                "per-layer maps first)."
            )
        scores = scores.detach().float().cpu()
        if check_finite and not bool(torch.isfinite(scores).all()):
            raise ValueError(
                f"Method {name!r} returned NaN or infinite scores: its ranking "
                "is undefined. Check the model and the method's settings."
            )
        maps[name] = scores
    return maps
