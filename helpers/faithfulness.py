"""Are the explanations faithful? Metrics, baselines and a sanity check (chapter 5).

Everything goes through ONE call shape, Captum style::

    explainer.attribute(inputs, target=None) -> torch.Tensor [batch, seq]

with ``inputs`` a dict/BatchEncoding (``input_ids``, ``attention_mask``,
optional ``token_type_ids``) and ``target`` None (the predicted class), an int
or a LongTensor ``[batch]``. Higher score = more evidence *for* the target
class. Signed methods (gradient x input, integrated gradients) are ranked by
their signed value, not by ``|.|``: removing tokens that speak *against* the
class would raise its probability, which is not what "most important for this
decision" means in ERASER's comprehensiveness.

* :func:`explainers` builds the registry: last-layer [CLS] attention,
  attention rollout, Grad-CAM per layer and averaged over layers, gradient x
  input, integrated gradients and a seeded random baseline.
* :func:`comprehensiveness` / :func:`sufficiency` / :func:`aopc` implement
  ERASER's metrics (DeYoung et al., 2020). Tokens are *replaced by [MASK]*
  (positions and lengths are kept, so masked copies batch together); [CLS],
  [SEP] and padding are never masked.
* :func:`evaluate_faithfulness` runs all methods on many reviews (batched,
  with progress), keeping per-review numbers for bootstrap confidence
  intervals (:func:`bootstrap_ci`), deletion/insertion curves and the rank
  agreement between methods (:func:`spearman`).
* :func:`cascading_randomisation` / :func:`sanity_check` are Adebayo et al.'s
  (2018) model-parameter randomisation test, adapted to a text classifier.
* :func:`results_table`, :func:`summarise` and the ``plot_*`` functions turn
  the numbers into the chapter's table, figures and generated conclusion.
"""

from __future__ import annotations

import copy
import csv
import html
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .models import check_inputs, get_encoder_layers, model_device

#: ERASER's k (fractions of the real tokens) for comprehensiveness / sufficiency AOPC.
AOPC_FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)
#: Fractions of the real tokens deleted / inserted for the curves (0 and 1 included).
#: The inner points are the AOPC ones, so the curves cost no extra forward pass;
#: pass a denser grid to :func:`evaluate_faithfulness` for smoother curves.
CURVE_FRACTIONS = (0.0, 0.01, 0.05, 0.10, 0.20, 0.50, 1.0)
RANDOM = "random"

__all__ = [
    "AOPC_FRACTIONS",
    "CURVE_FRACTIONS",
    "CascadeResults",
    "ConfidenceInterval",
    "FaithfulnessResults",
    "GradientXInput",
    "IntegratedGradients",
    "RandomScores",
    "TokenRoles",
    "aopc",
    "bootstrap_ci",
    "cascading_randomisation",
    "comprehensiveness",
    "compute_maps",
    "evaluate_faithfulness",
    "explainers",
    "mean_agreement",
    "n_selected",
    "per_review_spearman",
    "plot_agreement",
    "plot_cascade",
    "plot_curves",
    "randomisation_steps",
    "reinitialise_",
    "results_table",
    "sanity_check",
    "spearman",
    "sufficiency",
    "summarise",
    "table_html",
    "table_markdown",
    "target_probabilities",
    "top_fraction_mask",
    "write_csv",
]


# =========================================================================== inputs


def _to(inputs: Mapping[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in inputs.items()}


def _resolve_target(target, logits: torch.Tensor) -> torch.Tensor:
    """Target classes as a LongTensor [batch] (None = the predicted class)."""
    batch, n_classes = logits.shape
    if target is None:
        return logits.argmax(dim=-1)
    if isinstance(target, bool):
        raise TypeError(
            f"target must be None, an int or a LongTensor [batch], got {target!r}."
        )
    tensor = torch.as_tensor(target, device=logits.device)
    if tensor.is_floating_point():
        raise TypeError(
            f"target must hold integer class indices, got dtype {tensor.dtype}."
        )
    tensor = tensor.long()
    if tensor.dim() == 0:
        tensor = tensor.expand(batch)
    if tensor.shape != (batch,):
        raise ValueError(
            f"target must be an int or one class per review ({batch}), got {target!r}."
        )
    if bool(((tensor < 0) | (tensor >= n_classes)).any()):
        raise ValueError(
            f"target holds a class outside 0..{n_classes - 1}: {tensor.tolist()}."
        )
    return tensor


def _logits(model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return model(**inputs).logits


@dataclass(frozen=True)
class TokenRoles:
    """Which ids are never masked ([CLS], [SEP], padding) and which id replaces a token.

    Build it with :meth:`from_tokenizer`. ``real(inputs)`` is the boolean mask of
    the *real* tokens: attended to and not special. [UNK] counts as real text.
    """

    mask_id: int
    special_ids: tuple[int, ...]

    @classmethod
    def from_tokenizer(cls, tokenizer) -> TokenRoles:
        """Roles from a BERT-like tokenizer (it must have a mask token)."""
        if getattr(tokenizer, "mask_token_id", None) is None:
            raise ValueError(
                f"{type(tokenizer).__name__} has no mask token: the metrics replace removed "
                "tokens by [MASK]; pass TokenRoles(mask_id=..., special_ids=...) yourself."
            )
        names = (
            "cls_token_id",
            "sep_token_id",
            "pad_token_id",
            "bos_token_id",
            "eos_token_id",
        )
        special = {getattr(tokenizer, n, None) for n in names} - {None}
        return cls(int(tokenizer.mask_token_id), tuple(sorted(int(i) for i in special)))

    def real(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        ids = inputs["input_ids"]
        special = torch.tensor(self.special_ids, dtype=ids.dtype, device=ids.device)
        return inputs["attention_mask"].bool() & ~torch.isin(ids, special)


# =========================================================================== explainers


def _embeddings_layer(model: nn.Module) -> nn.Module:
    """``model.base_model.embeddings`` (BERT & co.), with a clear error otherwise."""
    base = getattr(model, "base_model", model)
    layer = getattr(base, "embeddings", None)
    if not isinstance(layer, nn.Module):
        raise ValueError(
            f"{type(model).__name__} has no base_model.embeddings module: gradient x input and "
            "integrated gradients attribute to that layer's output; pass a BERT-like model."
        )
    return layer


class GradientXInput:
    """Gradient x input on the embeddings layer's output, summed over hidden units.

    ``score[b, t] = sum_h  d logit[b, target] / d E[b, t, h]  *  E[b, t, h]`` with
    ``E`` the output of ``model.base_model.embeddings`` (word + position +
    segment embeddings after LayerNorm). Signed; 0 at padding.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.layer = _embeddings_layer(model)

    def attribute(self, inputs, target=None) -> torch.Tensor:
        batch = _to(check_inputs(inputs), model_device(self.model))
        captured = {}

        def hook(module, args, output):
            leaf = output.detach().requires_grad_(True)
            captured["e"] = leaf
            return leaf

        handle = self.layer.register_forward_hook(hook)
        try:
            with torch.enable_grad():
                logits = _logits(self.model, batch)
                target_t = _resolve_target(target, logits)
                score = logits.gather(1, target_t[:, None]).sum()
                (grad,) = torch.autograd.grad(score, captured["e"])
        finally:
            handle.remove()
        scores = (grad * captured["e"]).sum(-1).detach()
        return scores * batch["attention_mask"].to(scores.dtype)


class IntegratedGradients:
    """Integrated gradients (Sundararajan et al., 2017) with Captum's ``LayerIntegratedGradients``.

    Attributes to the output of ``model.base_model.embeddings``, summed over
    hidden units -> one signed score per token. The **baseline** input keeps
    [CLS], [SEP] and padding and replaces every real token by ``[PAD]``
    (``baseline="pad"``, the default) or ``[MASK]`` (``baseline="mask"``).
    ``n_steps`` points of the Gauss-Legendre rule; ``internal_batch_size``
    bounds how many interpolated copies go through the model at once (memory).
    By completeness, each review's scores sum to
    ``logit(x) - logit(baseline)`` up to the integration error
    (``last_delta`` after each call).
    """

    def __init__(
        self,
        model: nn.Module,
        roles: TokenRoles,
        pad_id: int,
        *,
        n_steps: int = 50,
        baseline: str = "pad",
        internal_batch_size: int = 16,
    ):
        from captum.attr import LayerIntegratedGradients

        if baseline not in ("pad", "mask"):
            raise ValueError(f"baseline must be 'pad' or 'mask', got {baseline!r}.")
        if n_steps < 1 or internal_batch_size < 1:
            raise ValueError("n_steps and internal_batch_size must be >= 1.")
        self.model, self.roles = model, roles
        self.baseline_id = pad_id if baseline == "pad" else roles.mask_id
        self.n_steps, self.internal_batch_size = n_steps, internal_batch_size
        self._lig = LayerIntegratedGradients(self._forward, _embeddings_layer(model))
        self.last_delta: torch.Tensor | None = None

    def _forward(self, input_ids, attention_mask, token_type_ids=None):
        return self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
        ).logits

    def baseline_ids(self, inputs) -> torch.Tensor:
        """The baseline: real tokens -> [PAD] (or [MASK]); [CLS]/[SEP]/padding kept."""
        ids = inputs["input_ids"]
        return torch.where(
            self.roles.real(inputs), torch.full_like(ids, self.baseline_id), ids
        )

    def attribute(self, inputs, target=None) -> torch.Tensor:
        batch = _to(check_inputs(inputs), model_device(self.model))
        with torch.no_grad():
            target_t = _resolve_target(target, _logits(self.model, batch))
        attributions, delta = self._lig.attribute(
            batch["input_ids"],
            baselines=self.baseline_ids(batch),
            target=target_t,
            additional_forward_args=(
                batch["attention_mask"],
                batch.get("token_type_ids"),
            ),
            n_steps=self.n_steps,
            internal_batch_size=self.internal_batch_size,
            return_convergence_delta=True,
        )
        self.last_delta = delta.detach()
        scores = attributions.sum(-1).detach()
        return scores * batch["attention_mask"].to(scores.dtype)


class RandomScores:
    """The floor: seeded uniform random scores on real positions, 0 at padding.

    Each call draws new scores from one generator seeded at construction, so a
    rerun with the same seed and the same calls gives the same numbers.
    """

    def __init__(self, seed: int = 1234):
        self.generator = torch.Generator().manual_seed(int(seed))

    def attribute(self, inputs, target=None) -> torch.Tensor:
        batch = check_inputs(inputs)
        scores = torch.rand(batch["input_ids"].shape, generator=self.generator)
        return scores * batch["attention_mask"].to(scores.dtype)


class _Cached:
    """Calls ``fn(inputs, target)`` once per (inputs, target) and serves the last result again.

    Lets the Grad-CAM per-layer and aggregated entries share one backward pass.
    """

    def __init__(self, fn: Callable):
        self.fn, self._key, self._value = fn, None, None

    def __call__(self, inputs, target):
        ids = torch.as_tensor(inputs["input_ids"])
        tgt = None if target is None else torch.as_tensor(target)
        key = self._key
        same = (
            key is not None
            and key[0].shape == ids.shape
            and torch.equal(key[0], ids)
            and torch.equal(key[1], torch.as_tensor(inputs["attention_mask"]))
            and (
                (key[2] is None and tgt is None)
                or (key[2] is not None and tgt is not None and torch.equal(key[2], tgt))
            )
        )
        if not same:
            self._value = self.fn(inputs, target)
            self._key = (
                ids.clone(),
                torch.as_tensor(inputs["attention_mask"]).clone(),
                None if tgt is None else tgt.clone(),
            )
        return self._value


class _Adapter:
    """Any ``fn(inputs, target) -> [batch, seq]`` as an explainer with ``attribute``."""

    def __init__(self, fn: Callable, description: str = ""):
        self.fn, self.description = fn, description

    def attribute(self, inputs, target=None) -> torch.Tensor:
        return self.fn(inputs, target)


def explainers(
    model: nn.Module,
    tokenizer,
    *,
    ig_steps: int = 50,
    ig_baseline: str = "pad",
    internal_batch_size: int = 16,
    seed: int = 1234,
    gradcam_layers: bool = True,
) -> dict[str, object]:
    """The chapter's methods, all with ``attribute(inputs, target) -> [batch, seq]``.

    Keys: ``"[CLS] attention"`` (last layer, mean over heads), ``"rollout"``,
    ``"Grad-CAM L0"`` ... (one per encoder layer, 0 = nearest the embeddings;
    left out with ``gradcam_layers=False``), ``"Grad-CAM mean"`` (mean over
    layers), ``"grad x input"``, ``"IG"`` (``ig_steps``, ``ig_baseline``) and
    ``"random"`` (seeded with ``seed``). The attention methods need the
    eager attention kernel; it is switched on here.
    """
    from .attention import AttentionRollout, CLSAttention
    from .gradcam import GradCam, aggregate_layers
    from .models import set_eager_attention

    set_eager_attention(model)
    roles = TokenRoles.from_tokenizer(tokenizer)
    cam = _Cached(GradCam(model).attribute)
    methods: dict[str, object] = {
        "[CLS] attention": CLSAttention(model),
        "rollout": AttentionRollout(model),
    }
    if gradcam_layers:
        for i in range(len(get_encoder_layers(model))):
            methods[f"Grad-CAM L{i}"] = _Adapter(
                lambda inputs, target, i=i: cam(inputs, target)[:, i],
                f"Grad-CAM of layer {i}",
            )
    methods["Grad-CAM mean"] = _Adapter(
        lambda inputs, target: aggregate_layers(cam(inputs, target), how="mean"),
        "Grad-CAM averaged over layers",
    )
    methods["grad x input"] = GradientXInput(model)
    methods["IG"] = IntegratedGradients(
        model,
        roles,
        tokenizer.pad_token_id,
        n_steps=ig_steps,
        baseline=ig_baseline,
        internal_batch_size=internal_batch_size,
    )
    methods[RANDOM] = RandomScores(seed)
    return methods


def compute_maps(
    methods: Mapping[str, object], inputs, target
) -> dict[str, torch.Tensor]:
    """Each method's ``[batch, seq]`` map (float, on the CPU), checked for shape."""
    shape = tuple(torch.as_tensor(inputs["input_ids"]).shape)
    maps = {}
    for name, method in methods.items():
        scores = method.attribute(inputs, target=target)
        if tuple(scores.shape) != shape:
            raise ValueError(
                f"Method {name!r} returned shape {tuple(scores.shape)}; every explainer must "
                f"return [batch, seq] = {shape} (aggregate per-layer maps first)."
            )
        maps[name] = scores.detach().float().cpu()
    return maps


# =========================================================================== ERASER metrics


def n_selected(n_real: torch.Tensor, fraction: float) -> torch.Tensor:
    """How many tokens a fraction selects: ``round(fraction * n)``, at least 1 (0 for fraction 0)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fractions must lie in [0, 1], got {fraction}.")
    if fraction == 0.0:
        return torch.zeros_like(n_real)
    counts = torch.floor(n_real.double() * fraction + 0.5).long()
    return torch.minimum(counts.clamp(min=1), n_real)


def top_fraction_mask(
    scores: torch.Tensor, real: torch.Tensor, fraction: float
) -> torch.Tensor:
    """Boolean [batch, seq]: the top ``fraction`` of each review's real tokens by score.

    Ties are broken by position (stable sort); non-real positions are never chosen.
    """
    if scores.shape != real.shape:
        raise ValueError(
            f"scores {tuple(scores.shape)} and token mask {tuple(real.shape)} differ."
        )
    keyed = torch.where(
        real, scores.float(), torch.full_like(scores.float(), -math.inf)
    )
    order = torch.argsort(keyed, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(
        1, order, torch.arange(order.shape[1], device=order.device).expand_as(order)
    )
    counts = n_selected(real.sum(1), fraction).to(rank.device)
    return (rank < counts[:, None]) & real


@torch.no_grad()
def target_probabilities(
    model: nn.Module, inputs, target: torch.Tensor, batch_size: int = 32
) -> torch.Tensor:
    """p(target | inputs) for each row, computed in chunks of ``batch_size`` rows."""
    batch = check_inputs(inputs)
    device = model_device(model)
    n = batch["input_ids"].shape[0]
    out = []
    for start in range(0, n, batch_size):
        chunk = {k: v[start : start + batch_size].to(device) for k, v in batch.items()}
        probs = _logits(model, chunk).softmax(-1)
        out.append(
            probs.gather(1, target[start : start + batch_size].to(device)[:, None])[
                :, 0
            ].cpu()
        )
    return torch.cat(out)


def _masked_probabilities(
    model,
    inputs,
    scores,
    target,
    roles: TokenRoles,
    fractions: Sequence[float],
    keep: bool,
    batch_size: int,
) -> torch.Tensor:
    """p(target) after masking, [batch, len(fractions)].

    ``keep=False`` (deletion): the top fraction of real tokens becomes [MASK].
    ``keep=True`` (insertion / sufficiency): every real token *except* the top
    fraction becomes [MASK]. All masked copies go through the model together.
    """
    batch = check_inputs(inputs)
    real = roles.real(batch)
    scores = torch.as_tensor(scores).to(real.device)
    variants = []
    for fraction in fractions:
        top = top_fraction_mask(scores, real, fraction)
        hide = (real & ~top) if keep else top
        variants.append(
            torch.where(
                hide,
                torch.full_like(batch["input_ids"], roles.mask_id),
                batch["input_ids"],
            )
        )
    n_b, n_f = batch["input_ids"].shape[0], len(fractions)
    stacked = {"input_ids": torch.stack(variants, 1).reshape(n_b * n_f, -1)}
    for key in ("attention_mask", "token_type_ids"):
        if key in batch:
            stacked[key] = batch[key].repeat_interleave(n_f, 0)
    probs = target_probabilities(
        model, stacked, target.repeat_interleave(n_f), batch_size
    )
    return probs.reshape(n_b, n_f)


def _prepare(model, inputs, target):
    batch = check_inputs(inputs)
    with torch.no_grad():
        logits = _logits(model, _to(batch, model_device(model))).cpu()
    target_t = _resolve_target(target, logits).cpu()
    p_full = logits.softmax(-1).gather(1, target_t[:, None])[:, 0]
    return batch, target_t, p_full


def comprehensiveness(
    model,
    inputs,
    scores,
    roles: TokenRoles,
    target=None,
    fractions: Sequence[float] = AOPC_FRACTIONS,
    batch_size: int = 32,
) -> torch.Tensor:
    """ERASER comprehensiveness per review and k: ``p(full) - p(top k % replaced by [MASK])``.

    Returns ``[batch, len(fractions)]``. High = the explanation's top tokens
    were needed. ``target`` None = the predicted class.
    """
    batch, target_t, p_full = _prepare(model, inputs, target)
    masked = _masked_probabilities(
        model, batch, scores, target_t, roles, fractions, False, batch_size
    )
    return p_full[:, None] - masked


def sufficiency(
    model,
    inputs,
    scores,
    roles: TokenRoles,
    target=None,
    fractions: Sequence[float] = AOPC_FRACTIONS,
    batch_size: int = 32,
) -> torch.Tensor:
    """ERASER sufficiency per review and k: ``p(full) - p(only top k % kept, rest [MASK])``.

    Returns ``[batch, len(fractions)]``. Low (even negative) = the top tokens
    alone were enough for the prediction.
    """
    batch, target_t, p_full = _prepare(model, inputs, target)
    kept = _masked_probabilities(
        model, batch, scores, target_t, roles, fractions, True, batch_size
    )
    return p_full[:, None] - kept


def aopc(per_k: torch.Tensor) -> torch.Tensor:
    """Area over the perturbation curve: the mean over k of a ``[batch, k]`` metric -> ``[batch]``."""
    return torch.as_tensor(per_k).float().mean(dim=-1)


# =========================================================================== statistics


def spearman(a, b) -> float:
    """Spearman rank correlation of two vectors (average ranks for ties); NaN if one is constant."""
    from scipy.stats import rankdata

    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"spearman needs vectors of one length, got {a.shape} and {b.shape}."
        )
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def per_review_spearman(
    maps_a: torch.Tensor, maps_b: torch.Tensor, real: torch.Tensor
) -> np.ndarray:
    """Spearman correlation of two [batch, seq] maps per review, over its real tokens."""
    return np.array(
        [
            spearman(maps_a[i][real[i]].numpy(), maps_b[i][real[i]].numpy())
            for i in range(real.shape[0])
        ]
    )


@dataclass(frozen=True)
class ConfidenceInterval:
    """A mean with its bootstrap percentile interval over ``n`` values."""

    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_ci(
    values, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 1234
) -> ConfidenceInterval:
    """Mean and percentile bootstrap interval (resampling reviews with replacement, seeded).

    NaN values (e.g. a correlation on a constant map) are left out.
    """
    values = np.asarray(values, dtype=float).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one (non-NaN) value.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(
        axis=1
    )
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return ConfidenceInterval(
        float(values.mean()), float(low), float(high), int(values.size)
    )


# =========================================================================== evaluation


@dataclass
class FaithfulnessResults:
    """Per-review numbers of :func:`evaluate_faithfulness` (NumPy arrays, reviews first).

    ``comprehensiveness[m]`` / ``sufficiency[m]``: ``[n, len(fractions)]``;
    ``deletion[m]`` / ``insertion[m]``: p(target) ``[n, len(curve_fractions)]``;
    ``agreement``: Spearman ``[n, n_methods, n_methods]``; ``p_full``: ``[n]``.
    """

    methods: list[str]
    fractions: tuple[float, ...]
    curve_fractions: tuple[float, ...]
    comprehensiveness: dict[str, np.ndarray]
    sufficiency: dict[str, np.ndarray]
    deletion: dict[str, np.ndarray]
    insertion: dict[str, np.ndarray]
    agreement: np.ndarray
    p_full: np.ndarray
    n_tokens: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.p_full.shape[0])

    def aopc(self, metric: str, method: str) -> np.ndarray:
        """Per-review AOPC (mean over k) of ``"comprehensiveness"`` or ``"sufficiency"``."""
        if metric not in ("comprehensiveness", "sufficiency"):
            raise ValueError(
                f"metric must be 'comprehensiveness' or 'sufficiency', got {metric!r}."
            )
        return getattr(self, metric)[method].mean(axis=1)


def _batches_by_length(encoded, batch_size: int) -> list[list[int]]:
    lengths = encoded["attention_mask"].sum(1)
    order = sorted(range(len(lengths)), key=lambda i: int(lengths[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _slice(encoded, rows: list[int]) -> dict[str, torch.Tensor]:
    width = int(encoded["attention_mask"][rows].sum(1).max())
    return {
        k: v[rows, :width] for k, v in encoded.items() if isinstance(v, torch.Tensor)
    }


def evaluate_faithfulness(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    methods: Mapping[str, object],
    *,
    fractions: Sequence[float] = AOPC_FRACTIONS,
    curve_fractions: Sequence[float] = CURVE_FRACTIONS,
    max_length: int = 256,
    batch_size: int = 8,
    forward_batch_size: int = 64,
    progress: bool = True,
) -> FaithfulnessResults:
    """Comprehensiveness, sufficiency, curves and agreement of every method on ``texts``.

    Each review is explained for the class the model predicts. Reviews are
    tokenized with :func:`helpers.data.encode_texts` (truncated to
    ``max_length``), grouped by length into batches of ``batch_size`` and all
    masked copies are scored ``forward_batch_size`` rows at a time.
    """
    from tqdm.auto import tqdm

    from .data import encode_texts

    if len(texts) == 0:
        raise ValueError("texts is empty: pass at least one review.")
    if not methods:
        raise ValueError(
            "methods is empty: pass explainers(model, tokenizer) or a subset of it."
        )
    roles = TokenRoles.from_tokenizer(tokenizer)
    encoded = encode_texts(tokenizer, list(texts), max_length=max_length)
    names = list(methods)
    inner = sorted({f for f in (*fractions, *curve_fractions) if 0.0 < f < 1.0})
    n = len(texts)
    comp = {m: np.zeros((n, len(fractions))) for m in names}
    suff = {m: np.zeros((n, len(fractions))) for m in names}
    dele = {m: np.zeros((n, len(curve_fractions))) for m in names}
    ins = {m: np.zeros((n, len(curve_fractions))) for m in names}
    agreement = np.full((n, len(names), len(names)), np.nan)
    p_full_all, n_tokens = np.zeros(n), np.zeros(n, dtype=int)
    for rows in tqdm(
        _batches_by_length(encoded, batch_size),
        desc="faithfulness",
        disable=not progress,
    ):
        batch, target, p_full = _prepare(model, _slice(encoded, rows), None)
        real = roles.real(batch)
        empty = target_probabilities(
            model, _masked_all(batch, real, roles), target, forward_batch_size
        )
        maps = compute_maps(methods, batch, target)
        p_full_all[rows], n_tokens[rows] = p_full.numpy(), real.sum(1).numpy()
        for m in names:
            delete = _masked_probabilities(
                model, batch, maps[m], target, roles, inner, False, forward_batch_size
            )
            keep = _masked_probabilities(
                model, batch, maps[m], target, roles, inner, True, forward_batch_size
            )
            at = {0.0: (p_full, empty), 1.0: (empty, p_full)}
            at.update({f: (delete[:, j], keep[:, j]) for j, f in enumerate(inner)})
            comp[m][rows] = torch.stack(
                [p_full - at[f][0] for f in fractions], 1
            ).numpy()
            suff[m][rows] = torch.stack(
                [p_full - at[f][1] for f in fractions], 1
            ).numpy()
            dele[m][rows] = torch.stack([at[f][0] for f in curve_fractions], 1).numpy()
            ins[m][rows] = torch.stack([at[f][1] for f in curve_fractions], 1).numpy()
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                agreement[rows, i, j] = (
                    1.0 if i == j else per_review_spearman(maps[a], maps[b], real)
                )
    settings = {
        "n_reviews": n,
        "max_length": max_length,
        "replacement": "[MASK]",
        "target": "predicted class",
    }
    return FaithfulnessResults(
        names,
        tuple(fractions),
        tuple(curve_fractions),
        comp,
        suff,
        dele,
        ins,
        agreement,
        p_full_all,
        n_tokens,
        settings,
    )


def _masked_all(batch, real, roles: TokenRoles):
    ids = torch.where(
        real, torch.full_like(batch["input_ids"], roles.mask_id), batch["input_ids"]
    )
    return {**batch, "input_ids": ids}


# =========================================================================== sanity check


def randomisation_steps(
    model: nn.Module, include_head: bool = True
) -> list[tuple[str, list[str]]]:
    """The cascade's steps, top down: ``(label, [module names re-initialised at this step])``.

    First the classifier head (``classifier`` and the pooler, the part above the
    encoder that Adebayo et al.'s cascade starts with, at the logits), then
    encoder layer L-1, L-2, ..., 0. Embeddings are never randomised.
    """
    names = dict(model.named_modules())
    steps: list[tuple[str, list[str]]] = []
    if include_head:
        head = [
            n
            for n in names
            if n.split(".")[-1] in ("classifier", "pooler") and n.count(".") <= 1
        ]
        if not head:
            raise ValueError(
                f"{type(model).__name__} has no 'classifier' (or pooler) module to randomise; "
                "pass include_head=False."
            )
        steps.append(("head", head))
    layers = get_encoder_layers(model)
    prefix = next(n for n, m in names.items() if m is layers)
    for i in reversed(range(len(layers))):
        steps.append((f"layer {i}", [f"{prefix}.{i}"]))
    return steps


def reinitialise_(
    module: nn.Module, std: float, generator: torch.Generator
) -> nn.Module:
    """Re-initialise ``module`` in place like BERT's ``_init_weights``, but seeded.

    Linear and Embedding weights ~ Normal(0, ``std``), biases 0; LayerNorm
    weight 1, bias 0.
    """
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, (nn.Linear, nn.Embedding)):
                sub.weight.copy_(
                    torch.randn(sub.weight.shape, generator=generator) * std
                )
                if getattr(sub, "bias", None) is not None:
                    sub.bias.zero_()
            elif isinstance(sub, nn.LayerNorm):
                if sub.weight is not None:
                    sub.weight.fill_(1.0)
                if sub.bias is not None:
                    sub.bias.zero_()
    return module


@dataclass
class CascadeStep:
    """One step of the cascade: the (cumulatively) randomised model and what changed."""

    label: str
    model: nn.Module
    randomised: list[str]


def cascading_randomisation(
    model: nn.Module, seed: int = 1234, include_head: bool = True
) -> Iterator[CascadeStep]:
    """Yield a deep copy of ``model`` randomised cumulatively from the top down.

    Step 1 re-initialises the classifier head, step 2 also the last encoder
    layer, and so on until every encoder layer is random (the embeddings stay).
    Weights ~ Normal(0, ``config.initializer_range``) with a generator seeded
    by ``seed + step``. The same copy is modified in place between steps, so
    use each yielded model before asking for the next. ``model`` is untouched.
    """
    std = float(getattr(getattr(model, "config", None), "initializer_range", 0.02))
    randomised = copy.deepcopy(model).eval()
    modules = dict(randomised.named_modules())
    done: list[str] = []
    for step, (label, names) in enumerate(
        randomisation_steps(randomised, include_head), start=1
    ):
        generator = torch.Generator().manual_seed(int(seed) + step)
        for name in names:
            reinitialise_(modules[name], std, generator)
        done = done + names
        yield CascadeStep(label, randomised, list(done))


@dataclass
class CascadeResults:
    """Spearman correlation with the original map: ``rho[method]`` is ``[n_reviews, n_steps]``."""

    methods: list[str]
    steps: list[str]
    rho: dict[str, np.ndarray]


def sanity_check(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    make_methods: Callable[..., Mapping[str, object]],
    *,
    seed: int = 1234,
    max_length: int = 256,
    batch_size: int = 8,
    progress: bool = True,
) -> CascadeResults:
    """Adebayo et al.'s cascading randomisation on ``texts``.

    ``make_methods(model, seed=...)`` builds the explainers (e.g.
    ``functools.partial(explainers, tokenizer=tok, ig_steps=20)``). Every map is
    computed for the class the *original* model predicts, and compared with the
    original map by Spearman correlation over the real tokens. The random
    baseline is re-seeded at each step, so its row shows the chance level.
    """
    from tqdm.auto import tqdm

    from .data import encode_texts

    if len(texts) == 0:
        raise ValueError("texts is empty: pass at least one review.")
    roles = TokenRoles.from_tokenizer(tokenizer)
    encoded = encode_texts(tokenizer, list(texts), max_length=max_length)
    groups = _batches_by_length(encoded, batch_size)
    batches = [_slice(encoded, rows) for rows in groups]
    targets = [_prepare(model, b, None)[1] for b in batches]

    def maps_of(m, step_seed):
        methods = make_methods(m, seed=step_seed)
        return [compute_maps(methods, b, t) for b, t in zip(batches, targets)], list(
            methods
        )

    original, names = maps_of(model, seed)
    steps = list(randomisation_steps(model))
    rho = {name: np.full((len(texts), len(steps)), np.nan) for name in names}
    cascade = cascading_randomisation(model, seed=seed)
    for s, step in enumerate(
        tqdm(
            cascade,
            total=len(steps),
            desc="randomisation cascade",
            disable=not progress,
        )
    ):
        maps, _ = maps_of(step.model, seed + 1000 * (s + 1))
        for rows, batch, before, after in zip(groups, batches, original, maps):
            real = roles.real(batch)
            for name in names:
                rho[name][rows, s] = per_review_spearman(
                    before[name], after[name], real
                )
    return CascadeResults(names, [label for label, _ in steps], rho)


# =========================================================================== table & summary


def results_table(
    results: FaithfulnessResults,
    cascade: CascadeResults | None = None,
    n_resamples: int = 1000,
    seed: int = 1234,
) -> list[dict]:
    """One row per method: AOPC comprehensiveness / sufficiency with 95 % bootstrap CIs.

    ``comp - random``: the paired per-review difference to the random baseline
    (bootstrap CI over reviews). ``deletion AUC`` / ``insertion AUC``: area
    under the p(target) curves (trapezoid over the curve fractions).
    ``cascade rho``: with ``cascade``, the mean Spearman correlation with the
    original map once everything is randomised (last step).
    """
    rows = []
    rand_comp = (
        results.aopc("comprehensiveness", RANDOM) if RANDOM in results.methods else None
    )
    x = np.asarray(results.curve_fractions)
    for m in results.methods:
        comp = results.aopc("comprehensiveness", m)
        row = {
            "method": m,
            "comprehensiveness": bootstrap_ci(comp, n_resamples, seed=seed),
            "sufficiency": bootstrap_ci(
                results.aopc("sufficiency", m), n_resamples, seed=seed
            ),
            "comp - random": (
                bootstrap_ci(comp - rand_comp, n_resamples, seed=seed)
                if rand_comp is not None
                else None
            ),
            "deletion AUC": float(np.trapezoid(results.deletion[m].mean(0), x)),
            "insertion AUC": float(np.trapezoid(results.insertion[m].mean(0), x)),
        }
        if cascade is not None and m in cascade.rho:
            row["cascade rho"] = bootstrap_ci(
                cascade.rho[m][:, -1], n_resamples, seed=seed
            )
        rows.append(row)
    return rows


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table_markdown(rows: list[dict]) -> str:
    """The table as GitHub markdown (means with [95 % CI])."""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def table_html(rows: list[dict], caption: str = "") -> str:
    """The table as an HTML string (for ``IPython.display.HTML``); the best AOPC values in bold."""
    cols = list(rows[0])
    best = {}
    for col, pick in (("comprehensiveness", max), ("sufficiency", min)):
        vals = [r[col].mean for r in rows if r.get(col) is not None]
        best[col] = pick(vals) if vals else None
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            text = html.escape(_cell(r.get(c)))
            if c in best and r.get(c) is not None and r[c].mean == best[c]:
                text = f"<b>{text}</b>"
            cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_csv(rows: list[dict], path: str | os.PathLike) -> str:
    """Write the table as CSV (mean, low, high in separate columns); returns the path."""
    cols = []
    for c in rows[0]:
        if isinstance(rows[0][c], ConfidenceInterval) or c in (
            "comp - random",
            "cascade rho",
        ):
            cols += [f"{c}", f"{c} low", f"{c} high"]
        else:
            cols.append(c)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(cols)
        for r in rows:
            out = []
            for c, v in r.items():
                if isinstance(v, ConfidenceInterval):
                    out += [f"{v.mean:.5f}", f"{v.low:.5f}", f"{v.high:.5f}"]
                elif v is None:
                    out += ["", "", ""]
                else:
                    out.append(f"{v:.5f}" if isinstance(v, float) else v)
            writer.writerow(out)
    return str(path)


def _interval_overlap(a: ConfidenceInterval, b: ConfidenceInterval) -> bool:
    return a.low <= b.high and b.low <= a.high


def summarise(
    rows: list[dict], cascade: CascadeResults | None = None, pass_threshold: float = 0.3
) -> str:
    """The chapter's conclusion, written from the numbers in ``rows`` (and ``cascade``).

    Names the most comprehensive method, its margin over the random baseline
    (paired CI), whether its lead over the runner-up is clear (CIs apart), the
    most sufficient method and, with ``cascade``, which methods pass the
    sanity check: mean rank correlation with the original map below
    ``pass_threshold`` once all layers are randomised (a threshold fixed in
    advance; Adebayo et al. judge by eye).
    """
    by = {r["method"]: r for r in rows}
    ranked = sorted(
        (r for r in rows if r["method"] != RANDOM),
        key=lambda r: r["comprehensiveness"].mean,
        reverse=True,
    )
    if not ranked:
        raise ValueError("rows holds no method besides the random baseline.")
    best, second = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    n = best["comprehensiveness"].n
    text = [
        f"On {n} reviews, the most comprehensive method is **{best['method']}** "
        f"(AOPC comprehensiveness {best['comprehensiveness']})"
    ]
    diff = best.get("comp - random")
    if diff is not None:
        verdict = "clearly above" if diff.low > 0 else "not distinguishable from"
        text[-1] += (
            f", {verdict} the random baseline (difference {diff}; random alone "
            f"{by[RANDOM]['comprehensiveness']})."
        )
    else:
        text[-1] += "."
    if second is not None:
        if _interval_overlap(best["comprehensiveness"], second["comprehensiveness"]):
            text.append(
                f"Its lead over {second['method']} ({second['comprehensiveness']}) is "
                "within the confidence intervals, so the two are not separated at this sample size."
            )
        else:
            text.append(
                f"It is ahead of the runner-up, {second['method']} "
                f"({second['comprehensiveness']}), beyond the confidence intervals."
            )
    suff = min(
        (r for r in rows if r["method"] != RANDOM), key=lambda r: r["sufficiency"].mean
    )
    text.append(
        f"The most sufficient (lowest AOPC sufficiency) is **{suff['method']}** "
        f"({suff['sufficiency']}; random {by[RANDOM]['sufficiency'] if RANDOM in by else '–'})."
    )
    beaten = [
        r["method"]
        for r in rows
        if r["method"] != RANDOM
        and r.get("comp - random") is not None
        and r["comp - random"].high < 0
    ]
    if beaten:
        text.append(
            "Worse than random on comprehensiveness: " + ", ".join(beaten) + "."
        )
    if cascade is not None:
        final = {m: float(np.nanmean(cascade.rho[m][:, -1])) for m in cascade.methods}
        passed = [
            m for m, v in final.items() if m != RANDOM and abs(v) < pass_threshold
        ]
        failed = [
            m for m, v in final.items() if m != RANDOM and abs(v) >= pass_threshold
        ]
        cams = [m for m in final if m.startswith("Grad-CAM")]
        cam_text = ", ".join(f"{m} {final[m]:+.2f}" for m in cams)
        text.append(
            f"Sanity check (all encoder layers and the head randomised; pass = |rank correlation "
            f"with the original map| < {pass_threshold}): passed by "
            f"{', '.join(passed) if passed else 'no method'}; failed by "
            f"{', '.join(failed) if failed else 'no method'}."
            + (f" Grad-CAM: {cam_text}." if cams else "")
        )
        text.append(_cascade_path(cascade, pass_threshold))
    text.append(_recommendation(rows, cascade, pass_threshold))
    return " ".join(t for t in text if t)


def _cascade_path(cascade: CascadeResults, pass_threshold: float) -> str:
    """Which maps ignore the head, and which stay correlated deep into the cascade."""
    means = {
        m: np.nanmean(cascade.rho[m], axis=0) for m in cascade.methods if m != RANDOM
    }
    parts = []
    if cascade.steps and cascade.steps[0] == "head":
        same = [m for m, v in means.items() if v[0] >= 0.9]
        if same:
            parts.append(
                "Randomising the classifier head alone leaves "
                + ", ".join(same)
                + " unchanged (rank correlation >= 0.9): these maps do not depend on the "
                "classifier, so they cannot say which class a token supports."
            )
    slow = []
    for m, v in means.items():
        below = np.flatnonzero(np.abs(v) < pass_threshold)
        first = int(below[0]) if below.size else None
        if first is None or first > len(v) // 2:
            where = cascade.steps[first] if first is not None else "never"
            slow.append(f"{m} (first below {pass_threshold} at: {where})")
    if slow:
        parts.append("Slow to react to randomisation: " + ", ".join(slow) + ".")
    return " ".join(parts)


def _recommendation(
    rows: list[dict], cascade: CascadeResults | None, pass_threshold: float
) -> str:
    """The method to use: most comprehensive among those above random (and passing the sanity check)."""
    ok = [
        r
        for r in rows
        if r["method"] != RANDOM
        and (r.get("comp - random") is None or r["comp - random"].low > 0)
    ]
    if cascade is not None:
        final = {
            m: abs(float(np.nanmean(cascade.rho[m][:, -1]))) for m in cascade.methods
        }
        ok = [r for r in ok if final.get(r["method"], 0.0) < pass_threshold]
    if not ok:
        return (
            "**Recommendation:** no method is both clearly better than random and sensitive to "
            "the model's weights here; read every highlight with caution."
        )
    pick = max(ok, key=lambda r: r["comprehensiveness"].mean)
    return (
        f"**Recommendation:** for this model, explain with **{pick['method']}**, the most "
        "comprehensive method that beats random"
        + (" and passes the sanity check." if cascade is not None else ".")
    )


def mean_agreement(
    results: FaithfulnessResults, a: str, b: str, seed: int = 1234
) -> ConfidenceInterval:
    """Mean per-review Spearman correlation between methods ``a`` and ``b`` (bootstrap CI)."""
    for name in (a, b):
        if name not in results.methods:
            raise ValueError(
                f"{name!r} is not one of the evaluated methods {results.methods}."
            )
    i, j = results.methods.index(a), results.methods.index(b)
    return bootstrap_ci(results.agreement[:, i, j], seed=seed)


# =========================================================================== plots


_COLOURS = {
    "[CLS] attention": "tab:blue",
    "rollout": "tab:orange",
    "Grad-CAM mean": "tab:green",
    "grad x input": "tab:red",
    "IG": "tab:purple",
}


def _style(name: str) -> dict:
    """Line style per method: random dashed black, per-layer Grad-CAM thin greens (darker = higher)."""
    if name == RANDOM:
        return {"color": "black", "linestyle": "--", "linewidth": 2}
    if name.startswith("Grad-CAM L") and name[10:].isdigit():
        import matplotlib

        shade = 0.35 + 0.1 * min(int(name[10:]), 6)
        return {
            "color": matplotlib.colormaps["Greens"](shade),
            "linewidth": 1,
            "alpha": 0.9,
        }
    return {"color": _COLOURS.get(name), "linewidth": 2.2}


def plot_curves(results: FaithfulnessResults, path=None):
    """Deletion and insertion curves: mean p(predicted class) vs fraction of tokens, per method."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    x = np.asarray(results.curve_fractions)
    for ax, curves, title in (
        (
            axes[0],
            results.deletion,
            "Deletion (top tokens -> [MASK]); lower = more faithful",
        ),
        (
            axes[1],
            results.insertion,
            "Insertion (only top tokens kept); higher = more faithful",
        ),
    ):
        for m in results.methods:
            ax.plot(x, curves[m].mean(0), marker=".", label=m, **_style(m))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("fraction of real tokens, in score order")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean p(predicted class)")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(f"Deletion / insertion curves ({results.n} reviews)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def plot_agreement(results: FaithfulnessResults, path=None):
    """Heatmap of the mean per-review Spearman correlation between methods."""
    import matplotlib.pyplot as plt

    mean = np.nanmean(results.agreement, axis=0)
    k = len(results.methods)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.8 + 0.5 * k))
    image = ax.imshow(mean, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(k), results.methods, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), results.methods, fontsize=8)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{mean[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if abs(mean[i, j]) > 0.6 else "black",
            )
    fig.colorbar(image, ax=ax, label="mean Spearman rho", fraction=0.04)
    ax.set_title(f"Agreement between methods ({results.n} reviews)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def plot_cascade(cascade: CascadeResults, path=None, seed: int = 1234):
    """Sanity check: mean Spearman with the original map (95 % CI band) as layers are randomised."""
    import matplotlib.pyplot as plt

    x = np.arange(
        len(cascade.steps) + 1
    )  # 0 = the original model (rho = 1 by definition)
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for m in cascade.methods:
        cis = [
            bootstrap_ci(cascade.rho[m][:, s], seed=seed)
            for s in range(len(cascade.steps))
        ]
        mean = np.array([1.0] + [c.mean for c in cis])
        style = _style(m)
        ax.plot(x, mean, marker="o", markersize=3, label=m, **style)
        ax.fill_between(
            x,
            [1.0] + [c.low for c in cis],
            [1.0] + [c.high for c in cis],
            color=style.get("color"),
            alpha=0.10,
        )
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(x, ["original"] + [f"+{s}" for s in cascade.steps], rotation=30)
    ax.set_xlabel("randomised so far (cumulative, from the top)")
    ax.set_ylabel("Spearman rho with the original map")
    ax.set_ylim(-0.5, 1.05)
    ax.set_title(
        f"Cascading randomisation ({cascade.rho[cascade.methods[0]].shape[0]} reviews)"
    )
    ax.legend(fontsize=7, ncol=1, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
