"""Grad-CAM as explainers: one map per encoder layer, and their balanced mean.

:class:`helpers.gradcam.GradCam` returns every layer at once,
``[batch, layers, seq]`` (chapter 4 shows them all). The book's explainer
contract wants one ``[batch, seq]`` map, so :class:`GradCamLayers` runs
Grad-CAM once per batch and serves the result to

* :class:`GradCamLayer` — the map of one layer (``"Grad-CAM L3"``), and
* :class:`GradCamMean` — the mean over layers after each layer's map is
  normalised per review by its total over the real tokens
  (``"Grad-CAM mean (normalised)"``; ``normalise=False`` gives the plain mean,
  named ``"Grad-CAM mean (raw)"``, which the largest-scale layers dominate).

Explaining one batch with all of them costs one forward and one backward pass.
"""

from __future__ import annotations

import torch
from torch import nn

from ..gradcam import GradCam, normalise_layers
from ..inputs import check_inputs, target_tensor
from ..tokens import TokenRoles

__all__ = ["GradCamLayer", "GradCamLayers", "GradCamMean"]


class GradCamLayers:
    """Per-layer Grad-CAM maps of the last batch asked for, computed once.

    ``maps(inputs, target) -> [batch, layers, seq]`` (float, CPU). A second
    call with the same ``input_ids``, ``attention_mask`` and ``target`` returns
    the stored maps without running the model again. Build the explainers with
    :meth:`layer` / :meth:`mean`, or :meth:`explainers` for all of them.
    """

    def __init__(self, model: nn.Module, max_tokens: int | None = 4096):
        self.gradcam = GradCam(model, max_tokens=max_tokens)
        self._key: tuple | None = None
        self._maps: torch.Tensor | None = None

    @property
    def n_layers(self) -> int:
        """How many encoder layers Grad-CAM explains."""
        return len(self.gradcam.layers)

    @property
    def last_target(self) -> torch.Tensor | None:
        """The classes explained in the last Grad-CAM pass, ``[batch]``."""
        return self.gradcam.last_target

    def _same(self, key: tuple) -> bool:
        old = self._key
        if old is None or old[0].shape != key[0].shape:
            return False
        same_target = (old[2] is None and key[2] is None) or (
            old[2] is not None and key[2] is not None and torch.equal(old[2], key[2])
        )
        return (
            same_target and torch.equal(old[0], key[0]) and torch.equal(old[1], key[1])
        )

    def maps(self, inputs, target=None) -> torch.Tensor:
        """Grad-CAM of every layer, ``[batch, layers, seq]``, 0 at padding."""
        batch = check_inputs(inputs)
        ids, mask = batch["input_ids"].cpu(), batch["attention_mask"].cpu()
        wanted = target_tensor(target, ids.shape[0])
        key = (ids, mask, None if wanted is None else wanted.cpu())
        if not self._same(key):
            self._maps = self.gradcam.attribute(batch, target).detach().float().cpu()
            self._key = (ids.clone(), mask.clone(), None if wanted is None else key[2])
        return self._maps

    def layer(self, index: int) -> GradCamLayer:
        """The explainer for encoder layer ``index`` (0 = nearest the embeddings)."""
        return GradCamLayer(self, index)

    def mean(
        self, roles: TokenRoles | None = None, normalise: bool = True
    ) -> GradCamMean:
        """The explainer for the mean over layers (normalised by default)."""
        return GradCamMean(self, roles, normalise=normalise)

    def explainers(self) -> dict[str, GradCamLayer]:
        """``{"Grad-CAM L0": ..., "Grad-CAM L<n-1>": ...}``, all sharing this pass."""
        methods = [self.layer(i) for i in range(self.n_layers)]
        return {m.name: m for m in methods}


class GradCamLayer:
    """Explainer: the Grad-CAM map of one encoder layer, ``[batch, seq]``.

    ``name``: ``"Grad-CAM L<index>"``. Non-negative (ReLU), 0 at padding; a
    review whose map the ReLU zeroed entirely gets all zeros.
    """

    def __init__(self, shared: GradCamLayers, index: int):
        if not isinstance(index, int) or not 0 <= index < shared.n_layers:
            raise ValueError(
                f"index must be an integer in 0..{shared.n_layers - 1}, got {index!r}."
            )
        self.shared, self.index = shared, index
        self.name = f"Grad-CAM L{index}"

    def attribute(self, inputs, target=None) -> torch.Tensor:
        """Layer ``index``'s Grad-CAM, ``[batch, seq]`` (float, CPU)."""
        return self.shared.maps(inputs, target)[:, self.index].clone()


class GradCamMean:
    """Explainer: Grad-CAM averaged over layers, each layer normalised first.

    With ``normalise`` (default), each layer's map is divided by its total
    over the review's real tokens (:func:`helpers.gradcam.normalise_layers`;
    real = ``roles.real(inputs)``, or every attended token without
    ``roles``), so every layer that highlights anything carries the same
    weight; ``name = "Grad-CAM mean (normalised)"``. Without it the raw maps
    are averaged (``"Grad-CAM mean (raw)"``).
    """

    def __init__(
        self,
        shared: GradCamLayers,
        roles: TokenRoles | None = None,
        *,
        normalise: bool = True,
    ):
        self.shared, self.roles, self.normalise = shared, roles, normalise
        self.name = f"Grad-CAM mean ({'normalised' if normalise else 'raw'})"

    def attribute(self, inputs, target=None) -> torch.Tensor:
        """Mean over layers, ``[batch, seq]`` (float, CPU, 0 at padding)."""
        batch = check_inputs(inputs)
        cam = self.shared.maps(batch, target)
        mask = batch["attention_mask"].cpu()
        if self.normalise:
            real = mask.bool() if self.roles is None else self.roles.real(batch).cpu()
            cam = normalise_layers(cam, real)
        return cam.mean(dim=1) * mask.to(cam.dtype)
