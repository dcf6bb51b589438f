"""The model-randomisation sanity check (Adebayo et al., 2018), for a text classifier.

An explanation that stays the same when the model is destroyed cannot be
explaining the model. :func:`cascading_randomisation` re-initialises a copy
of the model from the top down (the classifier head, then encoder layer
L-1, L-2, ..., 0; the embeddings stay), and :func:`sanity_check` recomputes
every method's map after each step for the class the *original* model
predicted, comparing it with the original map review by review.

As in Adebayo et al., two rank correlations are reported: Spearman's ρ of the
signed maps and ρ of their absolute values. Degenerate maps are counted, not
dropped (:func:`rank_change`): a map that *becomes* constant (or NaN) after
randomisation has changed (ρ = 0); one constant before and after has not
(ρ = 1).

A method passes (:meth:`CascadeResults.verdict`) on two criteria fixed in
advance: its map must change once the classifier head *alone* is randomised
(mean signed ρ after that first step below :data:`HEAD_THRESHOLD`: a map that
does not read the classifier, such as attention rollout, cannot say which
class a token supports), and both mean correlations at the last step must be
below :data:`PASS_THRESHOLD` (the map does not survive the whole cascade). A
method absent from the cascade fails; a baseline (the random scores) gets no
verdict: it is the chance level.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..attr.base import compute_maps
from ..attr.baselines import RandomScores
from ..data import text_batches
from ..inputs import resolve_target, to_device
from ..models import eval_mode, get_encoder_layers, model_device
from ..stats import ConfidenceInterval, bootstrap_ci, spearman
from ..tokens import TokenRoles
from .base import Metric
from .cache import CachedRun, as_cache, inputs_fingerprint

#: A method passes when ``|mean ρ|`` (signed and absolute) is below this after
#: the cascade.
PASS_THRESHOLD = 0.3
#: A map has changed with the classifier head when its mean signed ρ after the
#: head-only step is below this (a map that ignores the head keeps ρ = 1).
HEAD_THRESHOLD = 0.9

#: The verdicts of :meth:`CascadeResults.verdict`.
PASS = "pass"
FAIL = "fail"
BASELINE = "baseline"
#: Why a method fails, as the verdict says it (``"fail: ignores the classifier"``).
IGNORES_HEAD = "ignores the classifier"
SURVIVES = "survives the cascade"
NOT_CHECKED = "not checked"

#: Spearman's ρ of a review's map before and after the cascade (signed maps).
CASCADE_RHO = Metric(
    "cascade rho",
    low=-1.0,
    high=1.0,
    best=0.0,
    what="rank correlation of the map with the original after randomisation",
)
#: The same ρ on the maps' absolute values.
CASCADE_RHO_ABS = Metric(
    "cascade rho abs",
    low=-1.0,
    high=1.0,
    best=0.0,
    what="rank correlation of |map| with the original |map| after randomisation",
)
#: The sanity-check metrics the book reports.
METRICS = (CASCADE_RHO, CASCADE_RHO_ABS)


# --------------------------------------------------------------------------- cascade


def randomisation_steps(
    model: nn.Module, include_head: bool = True
) -> list[tuple[str, list[str]]]:
    """The cascade's steps, top down: ``(label, [module names re-initialised])``.

    First the classifier head (``classifier`` and the pooler: Adebayo et al.
    start at the logits), then encoder layer L-1, L-2, ..., 0. The
    embeddings are never randomised.
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
                f"{type(model).__name__} has no 'classifier' (or pooler) module to "
                "randomise; pass include_head=False."
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
                noise = torch.randn(sub.weight.shape, generator=generator) * std
                sub.weight.copy_(noise)
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
    layer, and so on until every encoder layer is random (the embeddings
    stay). Weights ~ Normal(0, ``config.initializer_range``) with a generator
    seeded by ``seed + step``. The copy is in eval mode and is modified in
    place between steps, so use each yielded model before asking for the
    next. ``model`` is untouched.
    """
    std = float(getattr(getattr(model, "config", None), "initializer_range", 0.02))
    randomised = copy.deepcopy(model).eval()
    modules = dict(randomised.named_modules())
    done: list[str] = []
    steps = randomisation_steps(randomised, include_head)
    for step, (label, names) in enumerate(steps, start=1):
        generator = torch.Generator().manual_seed(int(seed) + step)
        for name in names:
            reinitialise_(modules[name], std, generator)
        done = done + names
        yield CascadeStep(label, randomised, list(done))


# --------------------------------------------------------------------------- comparison


def rank_change(before, after) -> tuple[float, bool]:
    """``(ρ, degenerate)``: Spearman of two maps of one review, degenerate cases ruled.

    ``before``, ``after``: 1-D scores over the review's real tokens.
    ``after`` NaN/infinite or constant while ``before`` is not: the map has
    changed, ρ = 0. Both constant: the (empty) ranking is unchanged, ρ = 1.
    ``before`` constant, ``after`` not: changed, ρ = 0. ``degenerate`` is
    True in these cases, False when ρ is an ordinary Spearman correlation.
    """
    before = np.asarray(before, dtype=float).ravel()
    after = np.asarray(after, dtype=float).ravel()
    if not np.isfinite(after).all():
        return 0.0, True
    flat_before, flat_after = np.ptp(before) == 0, np.ptp(after) == 0
    if flat_before and flat_after:
        return 1.0, True
    if flat_before or flat_after:
        return 0.0, True
    return spearman(before, after), False


@dataclass
class CascadeResults:
    """Per-review correlations with the original map, one column per step.

    ``rho[m]`` (signed maps), ``rho_abs[m]`` (absolute values) and
    ``degenerate[m]`` (a constant or NaN map ruled by :func:`rank_change`):
    ``[n_reviews, n_steps]``. ``steps``: the labels (``"head"``,
    ``"layer 5"``, ...). ``baselines``: the methods that are chance levels,
    not explanations (the random scores), which get no pass or fail.
    """

    methods: list[str]
    steps: list[str]
    rho: dict[str, np.ndarray]
    rho_abs: dict[str, np.ndarray]
    degenerate: dict[str, np.ndarray]
    baselines: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of reviews in the cascade."""
        return int(next(iter(self.rho.values())).shape[0])

    def final(
        self, method: str, kind: str = "signed", seed: int = 1234
    ) -> ConfidenceInterval:
        """Mean ρ after the last step with its CI; ``kind``: ``"signed"``/``"abs"``."""
        self._check(method)
        table = {"signed": self.rho, "abs": self.rho_abs}.get(kind)
        if table is None:
            raise ValueError(f"kind must be 'signed' or 'abs', got {kind!r}.")
        return bootstrap_ci(table[method][:, -1], seed=seed)

    def passes(
        self,
        method: str,
        threshold: float = PASS_THRESHOLD,
        head_threshold: float = HEAD_THRESHOLD,
    ) -> bool:
        """True when :meth:`verdict` is ``"pass"`` (a baseline never passes)."""
        return self.verdict(method, threshold, head_threshold) == PASS

    def reasons(
        self,
        method: str,
        threshold: float = PASS_THRESHOLD,
        head_threshold: float = HEAD_THRESHOLD,
    ) -> list[str]:
        """Why ``method`` fails: :data:`NOT_CHECKED`, :data:`IGNORES_HEAD`,
        :data:`SURVIVES`; empty when it passes.

        :data:`IGNORES_HEAD`: the cascade starts with the head alone and the
        mean signed ρ after that step is not below ``head_threshold``.
        :data:`SURVIVES`: ``|mean ρ|`` or ``|mean ρ of |maps||`` after the last
        step is not below ``threshold``.
        """
        if method not in self.methods:
            return [NOT_CHECKED]
        reasons = []
        head = bool(self.steps) and self.steps[0] == "head"
        if head and float(np.mean(self.rho[method][:, 0])) >= head_threshold:
            reasons.append(IGNORES_HEAD)
        finals = (self.rho[method][:, -1], self.rho_abs[method][:, -1])
        if not all(abs(float(np.mean(v))) < threshold for v in finals):
            reasons.append(SURVIVES)
        return reasons

    def verdict(
        self,
        method: str,
        threshold: float = PASS_THRESHOLD,
        head_threshold: float = HEAD_THRESHOLD,
    ) -> str:
        """``"pass"``, ``"baseline"`` or ``"fail: <reasons>"`` (:meth:`reasons`).

        A method passes when its map changes with the classifier head alone
        and no longer resembles the original once every layer is random. A
        baseline is the chance level: it gets ``"baseline"``, never a pass.
        """
        if method in self.baselines:
            return BASELINE
        reasons = self.reasons(method, threshold, head_threshold)
        return FAIL + ": " + ", ".join(reasons) if reasons else PASS

    def n_degenerate(self, method: str, step: int = -1) -> int:
        """Reviews whose map at ``step`` was constant or NaN (ruled, not dropped)."""
        self._check(method)
        return int(self.degenerate[method][:, step].sum())

    def _check(self, method: str) -> None:
        if method not in self.methods:
            raise ValueError(
                f"{method!r} was not in the cascade (methods: {self.methods}); "
                "it fails the sanity check."
            )


# --------------------------------------------------------------------------- runner


def _original_targets(model, batches) -> list[torch.Tensor]:
    """The class the original model predicts for each batch (eval mode)."""
    device, targets = model_device(model), []
    with eval_mode(model), torch.no_grad():
        for batch in batches:
            logits = model(**to_device(batch.inputs, device)).logits
            targets.append(resolve_target(None, logits).cpu())
    return targets


def _compare(before, after, real, out, rows, step) -> None:
    """Fill ``out`` (rho, rho_abs, degenerate) for one batch and step."""
    rho, rho_abs, degenerate = out
    for i, row in enumerate(rows):
        a, b = before[i][real[i]].numpy(), after[i][real[i]].numpy()
        rho[row, step], flat = rank_change(a, b)
        rho_abs[row, step], flat_abs = rank_change(np.abs(a), np.abs(b))
        degenerate[row, step] = flat or flat_abs


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
    cache=None,
) -> CascadeResults:
    """Adebayo et al.'s cascading randomisation on ``texts``.

    ``make_methods(model, seed=...)`` builds the explainers (e.g.
    ``functools.partial(attr.explainers, tokenizer=tok, ig_steps=20)``); it
    must return the same names at every step (``ValueError`` otherwise).
    Every map is computed for the class the *original* model predicts. The
    random baseline is re-seeded at each step, so its row is the chance level;
    it is recorded in ``baselines`` (no pass or fail). ``cache``: a
    :class:`~helpers.metrics.cache.ResultsCache` or a folder: each method's
    correlations made from the same model, settings (as ``make_methods``
    builds them for the original model), reviews and code are loaded from it
    instead of computed, and those computed are saved to it.
    """
    roles = TokenRoles.from_tokenizer(tokenizer)
    batches = text_batches(
        tokenizer, texts, max_length=max_length, batch_size=batch_size, warn=False
    )
    targets = _original_targets(model, batches)

    built = make_methods(model, seed=seed)
    names = list(built)
    steps = randomisation_steps(model)
    labels = [label for label, _ in steps]
    cached = _cached_run(cache, model, built, batches, labels, roles, seed)
    out = _empty_tables(names, sum(len(b.rows) for b in batches), len(steps))
    for name, arrays in cached.loaded.items():
        out[name] = (arrays["rho"], arrays["rho_abs"], arrays["degenerate"])

    if cached.todo:
        reviews = (batches, targets, roles)
        _fill_cascade(
            model, built, make_methods, reviews, cached.todo, out, seed, progress
        )
    for name in cached.todo:
        rho, rho_abs, degenerate = out[name]
        cached.save(name, {"rho": rho, "rho_abs": rho_abs, "degenerate": degenerate})
    chance = [n for n, m in built.items() if _is_chance(m)]
    return _results(names, labels, out, chance)


def _cached_run(cache, model, built, batches, labels, roles, seed) -> CachedRun:
    """The :class:`~.cache.CachedRun` of one :func:`sanity_check` call: its
    methods' correlations loaded from ``cache`` when they were made from the
    same model, settings (``built``), reviews, steps, seed and roles."""
    run = {
        "inputs": inputs_fingerprint(batches),
        "seed": seed,
        "steps": labels,
        "roles": [roles.mask_id, list(roles.special_ids)],
    }
    return CachedRun(as_cache(cache), "sanity", model, built, run)


def _fill_cascade(model, built, make_methods, reviews, todo, out, seed, progress):
    """Fill ``out``'s tables of the methods ``todo`` along the cascade.

    ``reviews``: ``(batches, targets, roles)``. Every map is computed for the
    original model's classes (``targets``, one per batch) and compared with
    the map of ``built`` (the methods of the original model); the methods of
    step ``s`` are built with ``seed + 1000 * (s + 1)``. ``ValueError`` when
    ``make_methods`` builds other names than ``built``'s at a step.
    """
    from tqdm.auto import tqdm

    batches, targets, roles = reviews

    def maps_of(methods, m):
        chosen = {n: methods[n] for n in todo}
        return [
            compute_maps(chosen, b.inputs, t, check_finite=m is model)
            for b, t in zip(batches, targets, strict=True)
        ]

    names = list(built)
    original = maps_of(built, model)
    cascade = cascading_randomisation(model, seed=seed)
    n_steps = len(randomisation_steps(model))
    for s, step in enumerate(
        tqdm(cascade, total=n_steps, desc="cascade", disable=not progress)
    ):
        step_methods = make_methods(step.model, seed=seed + 1000 * (s + 1))
        if list(step_methods) != names:
            raise ValueError(
                f"make_methods returned {list(step_methods)} at step "
                f"{step.label!r} but {names} for the original model: it must "
                "build the same methods."
            )
        maps = maps_of(step_methods, step.model)
        for batch, before, after in zip(batches, original, maps, strict=True):
            real = roles.real(batch.inputs)
            for m in todo:
                _compare(before[m], after[m], real, out[m], batch.rows, s)


def _is_chance(method) -> bool:
    """A baseline that does not read the model (the random scores)."""
    return isinstance(method, RandomScores)


def _empty_tables(names, n_reviews: int, n_steps: int) -> dict[str, tuple]:
    """Per method: (ρ, ρ of |maps|, degenerate), each ``[n_reviews, n_steps]``."""
    shape = (n_reviews, n_steps)
    return {
        m: (np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=bool))
        for m in names
    }


def _results(
    names, steps: list[str], out: dict[str, tuple], baselines: list[str]
) -> CascadeResults:
    """The :class:`CascadeResults` of the filled tables, range-checked."""
    return CascadeResults(
        names,
        steps,
        {m: CASCADE_RHO.check(v[0]) for m, v in out.items()},
        {m: CASCADE_RHO_ABS.check(v[1]) for m, v in out.items()},
        {m: v[2] for m, v in out.items()},
        baselines,
    )
