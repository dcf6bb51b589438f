"""Grad-CAM on every encoder layer, and the registry's per-layer and mean entries.

Grad-CAM (Selvaraju et al., 2017) weights each channel of a layer's
activations by the mean gradient of the target class score. For encoder
layer ``l`` of a transformer the positions are the tokens and the channels
the hidden units::

    w[b, l, h]  = mean over real tokens s of  d logit[b, c] / d H_l[b, s, h]
    cam[b, l, t] = ReLU( sum_h  w[b, l, h] * H_l[b, t, h] )

with ``H_l`` the output of layer ``l`` and ``c`` the target class.
:class:`GradCam` computes all layers with one forward and one backward pass
(scores ``[batch, layers, seq]``). The registry wants one ``[batch, seq]``
map per method, so :class:`GradCamLayers` keeps the last batch's record and
serves it to :class:`GradCamLayer` (``"Grad-CAM L3"``) and
:class:`GradCamMean` (``"Grad-CAM mean (normalised)"``, each layer
normalised per review first by :func:`normalise_layers`): explaining a batch
with all of them costs one forward and one backward pass.
:func:`captum_layer_gradcam` computes the same maps with Captum's
``LayerGradCam``, one layer at a time: the independent reference of the tests
and the benchmark.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ..extras import optional_import
from ..inputs import check_inputs, resolve_target, to_device
from ..models import eval_mode, get_encoder_layers, model_device
from ..tokens import TokenRoles
from .base import Attribution, Attributions


def _hidden_states(output) -> torch.Tensor:
    """The hidden states of a layer's output (a tensor, or a tuple led by one)."""
    if isinstance(output, torch.Tensor):
        return output
    if (
        isinstance(output, (tuple, list))
        and output
        and isinstance(output[0], torch.Tensor)
    ):
        return output[0]
    raise TypeError(
        f"An encoder layer returned {type(output).__name__}; expected a tensor "
        "[batch, seq, hidden] or a tuple starting with one."
    )


def _embeddings_requiring_grad(
    model: nn.Module, input_ids: torch.Tensor
) -> torch.Tensor:
    """Word embeddings of ``input_ids`` as a leaf that requires grad.

    Feeding the model ``inputs_embeds`` that require grad keeps every encoder
    layer's output in the autograd graph even when the model's own parameters
    are frozen (chapter 2 fine-tunes only the top layer).
    """
    with torch.no_grad():
        embeds = model.get_input_embeddings()(input_ids)
    return embeds.detach().requires_grad_(True)


@contextlib.contextmanager
def _capture_outputs(layers: Sequence[nn.Module]) -> Iterator[list]:
    """Forward hooks recording each layer's hidden-state output; removed on exit."""
    captured: list = [None] * len(layers)
    handles = []

    def make_hook(index):
        def hook(module, args, output):
            captured[index] = _hidden_states(output)

        return hook

    try:
        for i, layer in enumerate(layers):
            handles.append(layer.register_forward_hook(make_hook(i)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def _layer_map(
    hidden: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Grad-CAM of one layer: ReLU(sum_h mean_real(grad)_h * hidden_h), 0 at padding."""
    real = mask.to(hidden.dtype).unsqueeze(-1)  # [batch, seq, 1]
    weights = (grad * real).sum(dim=1) / real.sum(dim=1)  # [batch, hidden]
    cam = torch.einsum("bsh,bh->bs", hidden, weights)
    return torch.relu(cam) * mask.to(cam.dtype)


def normalise_layers(cam: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Each layer's map divided by its total over the review's real tokens.

    ``cam``: ``[batch, layers, seq]``; ``real``: boolean ``[batch, seq]``
    (the tokens that count, e.g. ``TokenRoles.real(inputs)`` or the
    attention mask). Returns ``[batch, layers, seq]`` where each layer's
    values on the real tokens sum to 1 (the total is taken of absolute
    values, which for ReLU'd Grad-CAM is the plain sum), 0 elsewhere. A
    layer whose map is 0 on every real token stays 0. Layers differ in scale
    by orders of magnitude, so a mean over layers is only balanced after this.
    """
    if cam.dim() != 3 or real.shape != (cam.shape[0], cam.shape[2]):
        raise ValueError(
            f"cam must be [batch, layers, seq] and real [batch, seq], got "
            f"{tuple(cam.shape)} and {tuple(real.shape)}."
        )
    keep = real.to(cam.device, cam.dtype)[:, None, :]
    kept = cam * keep
    total = kept.abs().sum(dim=-1, keepdim=True)
    return kept / torch.where(total > 0, total, torch.ones_like(total))


def aggregate_layers(cam: torch.Tensor, how: str | int = "mean") -> torch.Tensor:
    """Collapse the layer axis: ``[batch, layers, seq] -> [batch, seq]``.

    Also accepts one map ``[layers, seq] -> [seq]``. ``how``: ``"mean"``,
    ``"max"``, ``"sum"``, ``"last"`` or an int layer index (negative counts
    from the top).
    """
    if not isinstance(cam, torch.Tensor) or cam.dim() not in (2, 3):
        shape = (
            tuple(cam.shape) if isinstance(cam, torch.Tensor) else type(cam).__name__
        )
        raise ValueError(
            f"cam must be a tensor [batch, layers, seq] or [layers, seq], got {shape}."
        )
    axis = cam.dim() - 2
    if isinstance(how, int) and not isinstance(how, bool):
        n = cam.shape[axis]
        if not -n <= how < n:
            raise ValueError(f"layer index {how} is out of range for {n} layers.")
        return cam.select(axis, how)
    reducers = {
        "mean": lambda x: x.mean(dim=axis),
        "max": lambda x: x.amax(dim=axis),
        "sum": lambda x: x.sum(dim=axis),
        "last": lambda x: x.select(axis, -1),
    }
    if how not in reducers:
        raise ValueError(
            f"how must be one of {sorted(reducers)} or a layer index, got {how!r}."
        )
    return reducers[how](cam)


class GradCam(Attribution):
    """Grad-CAM on every encoder layer at once: scores ``[batch, layers, seq]``.

    Row ``l`` of a review's scores is the map of encoder layer ``l`` (0 = the
    first layer, nearest the embeddings); ReLU'd, 0 at padding. ``layers``:
    modules to explain instead of all encoder layers (each must output
    ``[batch, seq, hidden]`` or a tuple led by it); ``max_tokens``: see
    :class:`helpers.attr.Attribution` (4096 keeps a bert-base model on 16 x
    512 tokens under 4 GB). One forward and one backward pass per chunk; each
    review's gradient comes from its own target logit. Works with frozen
    parameters (the word embeddings are fed as a leaf that requires grad).
    """

    name = "Grad-CAM"
    attention_weights = False  # runs on the fused kernel

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[nn.Module] | None = None,
        max_tokens: int | None = 4096,
    ):
        super().__init__(model, max_tokens)
        self.layers = list(get_encoder_layers(model) if layers is None else layers)
        if not self.layers:
            raise ValueError("layers is empty: pass at least one module to explain.")

    def _pass(self, batch, target):
        mask = batch["attention_mask"]
        with torch.enable_grad(), _capture_outputs(self.layers) as hidden:
            logits = self.model(
                inputs_embeds=_embeddings_requiring_grad(
                    self.model, batch["input_ids"]
                ),
                attention_mask=mask,
                token_type_ids=batch.get("token_type_ids"),
            ).logits
            if any(h is None for h in hidden):
                raise RuntimeError(
                    "Some layers did not run during the forward pass: pass modules "
                    "that the model calls (its encoder layers)."
                )
            grads = torch.autograd.grad(target.score(logits), hidden, allow_unused=True)
        maps = [
            _layer_map(h.detach(), torch.zeros_like(h) if g is None else g, mask)
            for h, g in zip(hidden, grads, strict=True)
        ]
        return torch.stack(maps, dim=1), logits


class GradCamLayers:
    """One Grad-CAM pass per batch, shared by the per-layer and mean explainers.

    :meth:`record` returns :class:`GradCam`'s record of a batch
    (``scores`` ``[batch, layers, seq]``); asked again for the same
    ``input_ids``, ``attention_mask`` and target, it returns the stored
    record without running the model. Build the explainers with
    :meth:`layer` / :meth:`mean`, or :meth:`explainers` for every layer.
    """

    def __init__(self, model: nn.Module, max_tokens: int | None = 4096):
        self.gradcam = GradCam(model, max_tokens=max_tokens)
        self._key: tuple | None = None
        self._record: Attributions | None = None

    def settings(self) -> dict | None:
        """The shared :class:`GradCam`'s settings (:meth:`Attribution.settings`)."""
        return self.gradcam.settings()

    @property
    def n_layers(self) -> int:
        """How many encoder layers Grad-CAM explains."""
        return len(self.gradcam.layers)

    def _same(self, key: tuple) -> bool:
        old = self._key
        if old is None or old[0].shape != key[0].shape:
            return False
        if any((a is None) != (b is None) for a, b in zip(old, key, strict=True)):
            return False
        return all(
            a is None or torch.equal(a, b) for a, b in zip(old, key, strict=True)
        )

    def record(
        self, inputs, wanted: torch.Tensor | None = None, groups=None
    ) -> Attributions:
        """Grad-CAM of every layer for this batch (computed once per batch);
        ``wanted`` and ``groups`` as :meth:`Attribution.attribute` takes them."""
        batch = check_inputs(inputs)
        key = (
            batch["input_ids"].cpu(),
            batch["attention_mask"].cpu(),
            None if wanted is None else wanted.cpu(),
            None if groups is None else torch.tensor(groups),
        )
        if self._record is None or not self._same(key):
            self._record = self.gradcam.attribute(batch, key[2], groups=groups)
            self._key = key
        return self._record

    def layer(self, index: int) -> GradCamLayer:
        """The explainer for encoder layer ``index`` (0 = nearest the embeddings)."""
        return GradCamLayer(self, index)

    def mean(
        self, roles: TokenRoles | None = None, normalise: bool = True
    ) -> GradCamMean:
        """The explainer for the mean over layers (normalised by default)."""
        return GradCamMean(self, roles, normalise=normalise)

    def explainers(self) -> list[GradCamLayer]:
        """``Grad-CAM L0`` ... ``Grad-CAM L<n-1>``, all sharing this pass."""
        return [self.layer(i) for i in range(self.n_layers)]


class GradCamLayer(Attribution):
    """The Grad-CAM map of one encoder layer, ``[batch, seq]``: ``"Grad-CAM L<i>"``.

    Non-negative (ReLU), 0 at padding; a review whose map the ReLU zeroed
    entirely gets all zeros. The pass is the shared one of ``shared``.
    """

    name = "Grad-CAM layer"

    def __init__(self, shared: GradCamLayers, index: int):
        if not isinstance(index, int) or not 0 <= index < shared.n_layers:
            raise ValueError(
                f"index must be an integer in 0..{shared.n_layers - 1}, got {index!r}."
            )
        super().__init__(shared.gradcam.model, max_tokens=None)  # shared chunks
        self.shared, self.index = shared, index
        self.name = f"Grad-CAM L{index}"

    def _pass(self, batch, target):
        record = self.shared.record(batch, target.wanted, target.groups)
        return record.scores[:, self.index], record.logits


class GradCamMean(Attribution):
    """Grad-CAM averaged over layers, each layer normalised per review first.

    With ``normalise`` (default), each layer's map is divided by its total
    over the review's real tokens (:func:`normalise_layers`; real =
    ``roles.real(inputs)``, or every attended token without ``roles``), so
    every layer that highlights anything carries the same weight. Without it
    the raw maps are averaged (``"Grad-CAM mean (raw)"``), which the
    largest-scale layers dominate.
    """

    name = "Grad-CAM mean (normalised)"

    def __init__(
        self,
        shared: GradCamLayers,
        roles: TokenRoles | None = None,
        *,
        normalise: bool = True,
    ):
        super().__init__(shared.gradcam.model, max_tokens=None)  # shared chunks
        self.shared, self.roles, self.normalise = shared, roles, normalise
        if not normalise:
            self.name = "Grad-CAM mean (raw)"

    def _pass(self, batch, target):
        record = self.shared.record(batch, target.wanted, target.groups)
        cam = record.scores
        if self.normalise:
            real = (
                batch["attention_mask"].bool()
                if self.roles is None
                else self.roles.real(batch)
            )
            cam = normalise_layers(cam, real.cpu())
        return cam.mean(dim=1), record.logits


# ------------------------------------------------------------- Captum reference


class _ChannelsFirst(nn.Module):
    """[batch, seq, hidden] -> [batch, hidden, seq]: hidden units as Captum channels."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden.transpose(1, 2)


def _route_through(view: nn.Module):
    """Forward hook passing a layer's hidden states through ``view`` and back."""

    def hook(module, args, output):
        hidden = view(_hidden_states(output)).transpose(1, 2)
        if isinstance(output, torch.Tensor):
            return hidden
        return (hidden, *output[1:])

    return hook


def captum_layer_gradcam(
    model: nn.Module, inputs, target=None, progress: bool = False
) -> torch.Tensor:
    """The same per-layer maps from Captum's ``LayerGradCam``, one layer at a time.

    Each encoder layer's output is routed through a transpose module so Captum
    sees the hidden units as channels (``[batch, hidden, seq]``) and the tokens
    as the spatial axis; ``relu_attributions=True``,
    ``attribute_to_layer_input=False``. Captum averages the gradient over *all*
    positions, padding included; the gradient at padding is exactly 0 (padding
    is masked as a key, and the classifier reads [CLS] only), so Captum's
    weights are ours times ``n_real / seq``. The result is rescaled by
    ``seq / n_real`` and zeroed at padding, which makes it comparable on padded
    batches too. Returns ``[batch, n_layers, seq]``. This costs one forward and
    one backward pass per layer: it is the reference for tests and the bench.
    """
    captum = optional_import("captum.attr", "Captum's LayerGradCam reference")

    batch = to_device(check_inputs(inputs), model_device(model))
    mask = batch["attention_mask"]
    layers = list(get_encoder_layers(model))
    views = [_ChannelsFirst() for _ in layers]

    def forward(embeds, attention_mask, token_type_ids):
        return model(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
        ).logits

    handles = []
    with eval_mode(model):
        try:
            for layer, view in zip(layers, views, strict=True):
                handles.append(layer.register_forward_hook(_route_through(view)))
            embeds = _embeddings_requiring_grad(model, batch["input_ids"])
            with torch.no_grad():
                logits = forward(embeds, mask, batch.get("token_type_ids"))
            target_t = resolve_target(target, logits)
            maps = []
            from tqdm.auto import tqdm

            for view in tqdm(views, desc="Captum LayerGradCam", disable=not progress):
                attr = captum.LayerGradCam(forward, view).attribute(
                    embeds,
                    target=target_t.tolist(),
                    additional_forward_args=(mask, batch.get("token_type_ids")),
                    relu_attributions=True,
                    attribute_to_layer_input=False,
                )
                maps.append(attr[:, 0].detach())
        finally:
            for handle in handles:
                handle.remove()
    cams = torch.stack(maps, dim=1)
    scale = mask.shape[1] / mask.sum(dim=1).to(cams.dtype)
    return cams * scale[:, None, None] * mask[:, None, :].to(cams.dtype)
