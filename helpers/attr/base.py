"""The attribution contract: one base class, one override point, one record.

Every method of the book derives from :class:`Attribution` and writes one
small function, its single pass over a chunk of reviews::

    class MyMethod(Attribution):
        name = "my method"

        def _pass(self, batch, target):
            logits = self.model(**batch).logits          # its forward pass
            chosen = target(logits)                      # [b]: the class explained
            ...                                          # its backward pass
            return scores, logits                        # [b, seq], [b, labels]

:meth:`Attribution.attribute` owns the rest of the path: it checks the
inputs (:func:`helpers.inputs.check_inputs`), moves them to the model's
device, runs in eval mode (the model's mode is restored afterwards, even on
an error), cuts the batch into chunks of at most ``max_tokens`` tokens
(reviews x padded length), resolves the target once per chunk from the
logits of that chunk (:class:`Target`, with
:func:`helpers.inputs.resolve_target`), sets padding to 0 and returns one
:class:`Attributions` record on the CPU. Nothing is kept on the explainer
after the call.

:func:`compute_maps` runs a registry of explainers on one batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ..inputs import check_inputs, resolve_target, target_tensor, to_device
from ..models import eval_mode, model_device


@dataclass(frozen=True)
class Attributions:
    """What :meth:`Attribution.attribute` returns for a batch (all on the CPU).

    ``scores``: ``[batch, seq]`` float, 0 at padding, higher = more evidence
    for the target class (Grad-CAM over all layers: ``[batch, layers, seq]``);
    ``target``: the classes explained, LongTensor ``[batch]``; ``logits``:
    the model's logits ``[batch, labels]`` from the same pass.
    """

    scores: torch.Tensor
    target: torch.Tensor
    logits: torch.Tensor

    @property
    def probabilities(self) -> torch.Tensor:
        """Softmax of the logits, ``[batch, labels]``."""
        return self.logits.softmax(dim=-1)

    @property
    def prediction(self) -> torch.Tensor:
        """The model's classes, ``[batch]`` (argmax of the logits)."""
        return self.logits.argmax(dim=-1)


class Target:
    """The class explained in one chunk, resolved once from the chunk's logits.

    ``wanted``: ``None`` (the predicted class) or a LongTensor ``[b]``. A pass
    calls ``target(logits)`` after its forward pass and gets a LongTensor
    ``[b]`` on the logits' device (a class outside the labels raises
    ``ValueError``); later calls return the same tensor. ``groups``: sizes
    of consecutive rows explained for one class (a text's windows); with
    ``wanted=None`` each group gets the class of its mean logits (the pooling
    of :func:`helpers.windows.pool_logits`). A pass whose scores
    do not depend on the class never calls it: the base class resolves it
    from the logits the pass returns.
    """

    def __init__(self, wanted: torch.Tensor | None, groups: list[int] | None = None):
        self.wanted = wanted
        self.groups = groups
        self._resolved: torch.Tensor | None = None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if self._resolved is None and self.wanted is None and self.groups:
            pooled = torch.stack([g.mean(0) for g in logits.split(self.groups)])
            sizes = torch.tensor(self.groups, device=logits.device)
            self._resolved = pooled.argmax(-1).repeat_interleave(sizes)
        if self._resolved is None:
            self._resolved = resolve_target(self.wanted, logits)
        return self._resolved

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """The sum over reviews of each one's target logit: what a pass differentiates.

        Reviews do not interact, so its gradient gives each review the
        gradient of its own target logit.
        """
        return logits.gather(1, self(logits)[:, None]).sum()


@contextlib.contextmanager
def attention_implementation(model: nn.Module, name: str) -> Iterator[nn.Module]:
    """Run the block with ``model``'s attention kernel set to ``name``, then restore it.

    ``name``: ``"eager"`` (returns attention probabilities), ``"sdpa"``,
    ``"cp_lrp"``... The previous implementation is set back even when the
    block raises. ``ValueError`` for a model that is not a transformers model.
    """
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "set_attn_implementation"):
        raise ValueError(
            f"{type(model).__name__} is not a transformers model (no config / "
            "set_attn_implementation): pass a model from helpers.models.load_model."
        )
    previous = config._attn_implementation
    if previous != name:
        model.set_attn_implementation(name)
    try:
        yield model
    finally:
        if config._attn_implementation != previous:
            model.set_attn_implementation(previous)


@contextlib.contextmanager
def fast_attention(model: nn.Module):
    """The block runs ``model`` with the ``"sdpa"`` attention kernel, if it has one.

    A model loaded with ``attn_implementation="eager"`` (to read attention
    probabilities) then scores inputs about 1.7 times faster at 512 tokens
    on a CPU, with probabilities that agree to about 1e-7. The kernel is
    restored afterwards; a model that cannot switch runs unchanged.
    """
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(ValueError, ImportError):  # not transformers, no sdpa
            stack.enter_context(attention_implementation(model, "sdpa"))
        yield model


def check_max_tokens(max_tokens) -> int | None:
    """``max_tokens`` if it is None or a positive int, else ``ValueError``."""
    if max_tokens is not None and (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or max_tokens < 1
    ):
        raise ValueError(
            f"max_tokens must be a positive int or None, got {max_tokens!r}."
        )
    return max_tokens


class Attribution:
    """Base class of every attribution method: the whole path but one pass.

    ``Attribution(model, max_tokens=4096)``: ``model`` a torch module whose
    output has ``.logits`` (a transformers sequence classifier);
    ``max_tokens`` bounds the memory of one pass: a batch of more than
    ``max_tokens`` tokens (reviews x padded length) runs as several passes
    (at least one review each); ``None`` runs the whole batch at once. The
    scores do not depend on it (reviews are independent).

    A subclass sets the class attribute ``name`` (its registry name),
    for the methods built for transformers (chapter 6) ``transformer =
    True``, and ``attention_weights = False`` when its pass reads no
    attention probabilities (then it runs on the fused attention kernel);
    it writes :meth:`_pass`.
    """

    #: The method's name in the registry and in every table.
    name: str = "attribution"
    #: True for the methods built for transformers (chapter 6's three).
    transformer: bool = False
    #: True when the pass reads attention probabilities, or sets its own attention
    #: kernel: it runs with the model's kernel as it is. False: it runs with
    #: PyTorch's fused kernel (:func:`fast_attention`), the same scores up to
    #: float rounding, faster (IG about 15 % at 128 tokens on a CPU).
    attention_weights: bool = True
    #: Attributes :meth:`settings` leaves out: the model (a results cache keys
    #: on its weights apart) and what a method builds from its other settings.
    derived_attributes: tuple[str, ...] = ("model",)

    def __init__(self, model: nn.Module, max_tokens: int | None = 4096):
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"model must be a torch nn.Module, got {type(model).__name__}."
            )
        self.model = model
        self.max_tokens = check_max_tokens(max_tokens)

    def _pass(
        self, batch: dict[str, torch.Tensor], target: Target, **options
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores [b, seq], logits [b, labels])`` of one checked, on-device chunk.

        Call ``target(logits)`` for the classes to explain. Padding need not
        be zeroed; the base class does it.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define _pass(batch, target)."
        )

    def attribute(self, inputs, target=None, groups=None, **options) -> Attributions:
        """Explain a batch: one :class:`Attributions` record (float, CPU).

        ``inputs``: dict/BatchEncoding with ``input_ids`` and
        ``attention_mask`` ``[batch, seq]`` (``token_type_ids`` optional).
        ``target``: None (the predicted class), an int, or a LongTensor
        ``[batch]``. ``groups``: sizes of consecutive rows that are the
        windows of one text (summing to the batch): with ``target=None``
        each group is explained for the class of its mean logits, in the
        same pass, and no chunk splits a group (:class:`Target`). ``options``
        go to the method's pass (the random
        baseline's ``draw=``). ``RuntimeError`` inside ``torch.inference_mode()``,
        where no method can take the gradients or keep the tensors it needs.
        """
        if torch.is_inference_mode_enabled():
            raise RuntimeError(
                f"{self.name} was called inside torch.inference_mode(): explanations "
                "need gradients. Call it outside that block (torch.no_grad() "
                "around it is fine)."
            )
        batch = to_device(check_inputs(inputs), model_device(self.model))
        n, seq = batch["input_ids"].shape
        wanted = target_tensor(target, n)
        step = n if self.max_tokens is None else max(1, self.max_tokens // seq)
        parts = []
        kernel = (
            contextlib.nullcontext()
            if self.attention_weights
            else fast_attention(self.model)
        )
        with eval_mode(self.model), kernel:
            for rows, sizes in _chunks(n, step, groups):
                chunk = {key: value[rows] for key, value in batch.items()}
                chunk_target = Target(None if wanted is None else wanted[rows], sizes)
                parts.append(self._checked_pass(chunk, chunk_target, options))
        scores, targets, logits = (torch.cat(part) for part in zip(*parts, strict=True))
        return Attributions(scores=scores, target=targets, logits=logits)

    def _checked_pass(self, chunk, target: Target, options) -> tuple:
        """One pass, its shape checked, padding zeroed, moved to the CPU."""
        scores, logits = self._pass(chunk, target, **options)
        chosen = target(logits)
        mask = chunk["attention_mask"]
        if scores.dim() not in (2, 3) or (scores.shape[0], scores.shape[-1]) != tuple(
            mask.shape
        ):
            raise RuntimeError(
                f"{type(self).__name__} produced shape {tuple(scores.shape)}, "
                f"expected [batch, seq] = {tuple(mask.shape)}."
            )
        mask = mask.to(scores.device, scores.dtype)
        mask = mask[:, None, :] if scores.dim() == 3 else mask
        return (
            (scores.detach() * mask).float().cpu(),
            chosen.detach().cpu(),
            logits.detach().float().cpu(),
        )

    def settings(self) -> dict | None:
        """What the scores depend on besides the model's weights and the inputs.

        A JSON-able dict: the class (module and name) and every attribute but
        :attr:`derived_attributes`, a submodule of the model as its name in
        the model, a tensor by its SHA-256, a dataclass or an object with a
        ``settings()`` method by its fields or settings. ``None`` when an
        attribute is none of these: then nothing keyed on the settings (the
        metrics' :class:`helpers.metrics.cache.ResultsCache`) reuses the
        scores.
        """
        try:
            described = {
                key: _describe(value, self.model)
                for key, value in sorted(vars(self).items())
                if key not in self.derived_attributes
            }
        except _Opaque:
            return None
        cls = type(self)
        return {"class": f"{cls.__module__}.{cls.__qualname__}", **described}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class _Opaque(Exception):
    """A value :func:`_describe` cannot turn into settings."""


def _describe(value, model: nn.Module):
    """``value`` as JSON-able settings (see :meth:`Attribution.settings`)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_describe(v, model) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _describe(v, model) for k, v in sorted(value.items())}
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1)
        digest = hashlib.sha256(data.view(torch.uint8).numpy().tobytes()).hexdigest()
        return {"tensor": digest, "dtype": str(data.dtype), "shape": list(data.shape)}
    if isinstance(value, nn.Module):
        for name, module in model.named_modules():
            if module is value:
                return {"module": name}
        raise _Opaque
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"dataclass": type(value).__qualname__, **_describe(fields, model)}
    if callable(getattr(value, "settings", None)):
        settings = value.settings()
        if settings is None:
            raise _Opaque
        return settings
    raise _Opaque


def _chunks(n: int, step: int, groups) -> list[tuple[slice, list[int] | None]]:
    """Row slices of at most ``step`` rows (or one whole group), never splitting
    a group of ``groups``, and the group sizes inside each."""
    if groups is None:
        return [(slice(s, s + step), None) for s in range(0, n, step)]
    groups = [int(g) for g in groups]
    if sum(groups) != n or min(groups, default=0) < 1:
        raise ValueError(
            f"groups {groups} must be positive sizes summing to the batch ({n} "
            "rows): one size per text, its number of windows."
        )
    out, start, sizes = [], 0, []
    for size in groups:
        if sizes and sum(sizes) + size > step:
            out.append((slice(start, start + sum(sizes)), sizes))
            start, sizes = start + sum(sizes), []
        sizes.append(size)
    out.append((slice(start, start + sum(sizes)), sizes))
    return out


def compute_maps(
    methods: Mapping[str, Attribution], inputs, target, *, check_finite: bool = True
) -> dict[str, torch.Tensor]:
    """Every method's scores on one batch: ``{name: [batch, seq]}`` (float, CPU).

    Raises ``ValueError`` naming the method when a map has the wrong shape or,
    with ``check_finite``, holds NaN or infinity (the sanity check passes
    ``check_finite=False``: a randomised model may break a method, and that
    counts as a changed map there).
    """
    shape = tuple(torch.as_tensor(inputs["input_ids"]).shape)
    maps = {}
    for name, method in methods.items():
        scores = method.attribute(inputs, target=target).scores
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
