"""ERASER faithfulness: comprehensiveness, sufficiency, AOPC, curves (chapter 5).

DeYoung et al. (2020). For a review, its target class ``c`` and the top
``k`` % of its real tokens by an explanation's score:

* comprehensiveness ``= p(c | x) - p(c | x without the top tokens)``;
* sufficiency ``= p(c | x) - p(c | only the top tokens)``;
* AOPC: the mean over ``k`` in :data:`AOPC_FRACTIONS`.

Tokens are *replaced by [MASK]* (positions and lengths stay, so the masked
copies of a batch go through the model together); [CLS], [SEP] and padding
are never touched. **Ties** in the ranking are broken in a seeded random
order drawn per review (:func:`.ranking.top_fraction_mask`), never by position,
and :func:`.ranking.tied_selection` counts how many selected tokens were ties. Every
probability is computed in eval mode with the fastest attention kernel
(:func:`target_probabilities`).
:func:`evaluate_faithfulness` runs a registry of explainers on many reviews
and keeps per-review numbers (:class:`FaithfulnessResults`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..attr.base import compute_maps, fast_attention
from ..attr.baselines import RandomScores
from ..data import text_batches
from ..inputs import check_inputs, resolve_target, to_device
from ..models import eval_mode, model_device
from ..stats import ConfidenceInterval, bootstrap_ci, per_review_spearman
from ..tokens import TokenRoles
from .base import Metric
from .cache import CachedRun, as_cache, inputs_fingerprint
from .ranking import n_selected, rank_tokens, tied_selection

#: ERASER's k (fractions of the real tokens) for comprehensiveness / sufficiency.
AOPC_FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)
#: Fractions deleted / inserted for the curves (0 and 1 included). The inner
#: points are the AOPC ones, so the curves cost no extra forward pass.
CURVE_FRACTIONS = (0.0, 0.01, 0.05, 0.10, 0.20, 0.50, 1.0)
#: The registry name of the floor every method is compared with.
RANDOM = RandomScores.name

#: AOPC comprehensiveness: p(class) lost when the top tokens become [MASK].
COMPREHENSIVENESS = Metric(
    "comprehensiveness",
    low=-1.0,
    high=1.0,
    best=1.0,
    what="p(class) lost when the top k % of tokens become [MASK], mean over k",
)
#: AOPC sufficiency: p(class) lost when only the top tokens are kept.
SUFFICIENCY = Metric(
    "sufficiency",
    low=-1.0,
    high=1.0,
    best=-1.0,
    what="p(class) lost when only the top k % of tokens are kept, mean over k",
)
#: Comprehensiveness minus the random baseline's, paired per review.
COMP_MINUS_RANDOM = Metric(
    "comp - random",
    low=-2.0,
    high=2.0,
    best=2.0,
    what="a review's comprehensiveness minus the random baseline's on it",
)
#: Area under the deletion curve (mean p(class) as the top tokens go).
DELETION_AUC = Metric(
    "deletion AUC",
    low=0.0,
    high=1.0,
    best=0.0,
    what="area under mean p(class) as the top tokens become [MASK]",
)
#: Area under the insertion curve (mean p(class) as the top tokens come back).
INSERTION_AUC = Metric(
    "insertion AUC",
    low=0.0,
    high=1.0,
    best=1.0,
    what="area under mean p(class) as only the top tokens are kept",
)
#: The faithfulness metrics the book reports, in its column order.
METRICS = (
    COMPREHENSIVENESS,
    SUFFICIENCY,
    COMP_MINUS_RANDOM,
    DELETION_AUC,
    INSERTION_AUC,
)


# ------------------------------------------------------------------ probabilities


def target_probabilities(
    model: nn.Module, inputs, target: torch.Tensor, batch_size: int = 32
) -> torch.Tensor:
    """``p(target | inputs)`` per row, ``[batch]`` on the CPU.

    ``target``: LongTensor ``[batch]``. Runs in eval mode without gradients
    (the model's mode is restored), ``batch_size`` rows per forward pass,
    with PyTorch's fused attention (:func:`fast_attention`).
    """
    batch = check_inputs(inputs)
    device = model_device(model)
    n = batch["input_ids"].shape[0]
    out = []
    with eval_mode(model), torch.no_grad(), fast_attention(model):
        for start in range(0, n, batch_size):
            rows = slice(start, start + batch_size)
            chunk = to_device({k: v[rows] for k, v in batch.items()}, device)
            probs = model(**chunk).logits.float().softmax(-1)
            picked = probs.gather(1, target[rows].to(device)[:, None])[:, 0]
            out.append(picked.cpu())
    return torch.cat(out)


def _prepare(model, inputs, target):
    """``(batch on the CPU, target [batch], p(target | full input) [batch])``."""
    batch = {k: v.cpu() for k, v in check_inputs(inputs).items()}
    with eval_mode(model), torch.no_grad(), fast_attention(model):
        logits = model(**to_device(batch, model_device(model))).logits.float().cpu()
    target_t = resolve_target(target, logits).cpu()
    return batch, target_t, logits.softmax(-1).gather(1, target_t[:, None])[:, 0]


def _masked_probabilities(
    model, batch, scores, target, roles, fractions, keep, batch_size, seed
) -> tuple[torch.Tensor, torch.Tensor]:
    """p(target) after masking ``[batch, len(fractions)]`` and tie counts (same shape).

    ``keep=False`` (deletion): the top fraction of real tokens becomes
    [MASK]. ``keep=True`` (insertion / sufficiency): every real token
    *except* the top fraction becomes [MASK].
    """
    real = roles.real(batch)
    scores = torch.as_tensor(scores).detach().float().cpu()
    rank = rank_tokens(scores, real, seed=seed, ids=batch["input_ids"])
    ids, variants, ties = batch["input_ids"], [], []
    for fraction in fractions:
        top = (rank < n_selected(real.sum(1), fraction)[:, None]) & real
        ties.append(tied_selection(scores, real, top))
        hide = (real & ~top) if keep else top
        variants.append(torch.where(hide, torch.full_like(ids, roles.mask_id), ids))
    n_b, n_f = ids.shape[0], len(fractions)
    stacked = {"input_ids": torch.stack(variants, 1).reshape(n_b * n_f, -1)}
    for key in ("attention_mask", "token_type_ids"):
        if key in batch:
            stacked[key] = batch[key].repeat_interleave(n_f, 0)
    probs = target_probabilities(
        model, stacked, target.repeat_interleave(n_f), batch_size
    )
    return probs.reshape(n_b, n_f), torch.stack(ties, 1)


def _erasure_metric(
    model, inputs, scores, roles, target, fractions, batch_size, seed, keep
):
    """``p(full) - p(masked)`` ``[batch, len(fractions)]``; see the two callers."""
    batch, target_t, p_full = _prepare(model, inputs, target)
    scores = torch.as_tensor(scores)
    if scores.shape != batch["input_ids"].shape:
        raise ValueError(
            f"scores {tuple(scores.shape)} and inputs "
            f"{tuple(batch['input_ids'].shape)} differ: pass one score per token."
        )
    probs, _ = _masked_probabilities(
        model, batch, scores, target_t, roles, fractions, keep, batch_size, seed
    )
    return p_full[:, None] - probs


def comprehensiveness(
    model: nn.Module,
    inputs,
    scores: torch.Tensor,
    roles: TokenRoles,
    target=None,
    fractions: Sequence[float] = AOPC_FRACTIONS,
    batch_size: int = 32,
    seed: int = 0,
) -> torch.Tensor:
    """ERASER comprehensiveness ``[batch, len(fractions)]``.

    ``p(full) - p(top k % replaced by [MASK])`` per review and k. High = the
    explanation's top tokens were needed. ``scores``: ``[batch, seq]``;
    ``target`` None = the predicted class; ``seed``: the tie-break order.
    """
    return COMPREHENSIVENESS.check(
        _erasure_metric(
            model, inputs, scores, roles, target, fractions, batch_size, seed, False
        )
    )


def sufficiency(
    model: nn.Module,
    inputs,
    scores: torch.Tensor,
    roles: TokenRoles,
    target=None,
    fractions: Sequence[float] = AOPC_FRACTIONS,
    batch_size: int = 32,
    seed: int = 0,
) -> torch.Tensor:
    """ERASER sufficiency ``[batch, len(fractions)]``.

    ``p(full) - p(only the top k % kept, the rest [MASK])``. Low (even
    negative) = the top tokens alone were enough for the prediction.
    """
    return SUFFICIENCY.check(
        _erasure_metric(
            model, inputs, scores, roles, target, fractions, batch_size, seed, True
        )
    )


def aopc(per_k: torch.Tensor) -> torch.Tensor:
    """Area over the perturbation curve: mean over k, ``[batch, k] -> [batch]``."""
    return torch.as_tensor(per_k).float().mean(dim=-1)


# --------------------------------------------------------------------------- runner


@dataclass
class FaithfulnessResults:
    """Per-review numbers of :func:`evaluate_faithfulness` (NumPy, reviews first).

    ``comprehensiveness[m]`` / ``sufficiency[m]``: ``[n, len(fractions)]``;
    ``deletion[m]`` / ``insertion[m]``: p(target) ``[n, len(curve_fractions)]``;
    ``tied[m]``: selected tokens that were ties ``[n, len(fractions)]`` (the
    mean over draws for the random baseline); ``selected``: tokens selected
    ``[n, len(fractions)]``; ``agreement``: Spearman
    ``[n, n_methods, n_methods]``; ``p_full`` / ``n_tokens``: ``[n]``.
    """

    methods: list[str]
    fractions: tuple[float, ...]
    curve_fractions: tuple[float, ...]
    comprehensiveness: dict[str, np.ndarray]
    sufficiency: dict[str, np.ndarray]
    deletion: dict[str, np.ndarray]
    insertion: dict[str, np.ndarray]
    tied: dict[str, np.ndarray]
    selected: np.ndarray
    agreement: np.ndarray
    p_full: np.ndarray
    n_tokens: np.ndarray
    baseline: str = RANDOM
    settings: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of reviews."""
        return int(self.p_full.shape[0])

    def aopc(self, metric: str, method: str) -> np.ndarray:
        """Per-review AOPC ``[n]`` of ``"comprehensiveness"`` or ``"sufficiency"``."""
        if metric not in ("comprehensiveness", "sufficiency"):
            raise ValueError(
                f"metric must be 'comprehensiveness' or 'sufficiency', got {metric!r}."
            )
        if method not in self.methods:
            raise ValueError(f"{method!r} is not one of {self.methods}.")
        return getattr(self, metric)[method].mean(axis=1)

    def versus_baseline(
        self,
        method: str,
        metric: str = "comprehensiveness",
        n_resamples: int = 1000,
        seed: int = 1234,
    ) -> ConfidenceInterval:
        """``method``'s AOPC minus the random baseline's, paired per review.

        The book's check that a method beats the floor: the mean of the
        per-review differences and its 95 % bootstrap interval
        (:func:`helpers.stats.bootstrap_ci`, ``n_resamples``, seeded). An
        interval above 0 beats random on ``metric``; one that holds 0 does
        not tell the two apart. Needs the baseline among ``methods``.
        """
        if self.baseline not in self.methods:
            raise ValueError(
                f"the baseline {self.baseline!r} was not run: add it to methods."
            )
        difference = self.aopc(metric, method) - self.aopc(metric, self.baseline)
        return bootstrap_ci(difference, n_resamples, seed=seed)

    def tie_share(self, method: str) -> float:
        """Share of all selected tokens (every review and k) that were ties."""
        return float(self.tied[method].sum() / self.selected.sum())


def _method_numbers(model, batch, target, ends, scores_of, draws, roles, grids, cfg):
    """One method's numbers on one batch, averaged over ``draws`` maps.

    ``ends``: p(target) of the full and of the all-[MASK] input, ``[batch]``
    each; ``grids``: ``(fractions, curve_fractions)``; ``cfg``:
    ``(forward_batch_size, seed)``. Returns ``{"comprehensiveness",
    "sufficiency", "tied": [batch, k], "deletion", "insertion": [batch, c]}``.
    """
    fractions, curve = grids
    inner = sorted({f for f in (*fractions, *curve) if 0.0 < f < 1.0})
    p_full, empty = ends
    deleted = kept = tied = 0.0
    for draw in range(draws):
        scores = scores_of(draw)
        d, ties = _masked_probabilities(
            model, batch, scores, target, roles, inner, False, *cfg
        )
        k, _ = _masked_probabilities(
            model, batch, scores, target, roles, inner, True, *cfg
        )
        deleted, kept, tied = deleted + d, kept + k, tied + ties.double()
    at = {0.0: (p_full, empty), 1.0: (empty, p_full)}
    at.update(
        {f: (deleted[:, j] / draws, kept[:, j] / draws) for j, f in enumerate(inner)}
    )

    def column(values):
        return torch.stack(values, 1).numpy()

    def tie_column(fraction):  # at 0 nothing is selected, at 1 nothing left out
        if fraction in inner:
            return tied[:, inner.index(fraction)] / draws
        return torch.zeros_like(p_full, dtype=torch.float64)

    return {
        "comprehensiveness": column([p_full - at[f][0] for f in fractions]),
        "sufficiency": column([p_full - at[f][1] for f in fractions]),
        "deletion": column([at[f][0] for f in curve]),
        "insertion": column([at[f][1] for f in curve]),
        "tied": column([tie_column(f) for f in fractions]),
    }


def _agreement(maps: Mapping[str, torch.Tensor], real: torch.Tensor) -> np.ndarray:
    """Spearman between every pair of maps, per review: ``[batch, m, m]``."""
    names = list(maps)
    out = np.ones((real.shape[0], len(names), len(names)))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            out[:, i, j] = out[:, j, i] = per_review_spearman(
                maps[a], maps[names[j]], real
            )
    return out


def _batch_numbers(model, methods, inputs, roles, grids, cfg, known) -> dict:
    """Everything :func:`evaluate_faithfulness` keeps, for one batch of reviews.

    ``known``: ``{name: map [batch, seq]}`` of the methods whose numbers were
    loaded (:mod:`.cache`), which enter only the agreement; ``methods``
    are those to compute.
    """
    batch, target, p_full = _prepare(model, inputs, None)
    real = roles.real(batch)
    empty = target_probabilities(model, _masked_all(batch, real, roles), target, cfg[0])
    maps = compute_maps(
        {n: m for n, m in methods.items() if n not in known}, batch, target
    )
    per_method = {}
    for name, method in methods.items():
        if name in known:
            continue

        def scores_of(draw, name=name, method=method):
            return (
                maps[name]
                if draw == 0
                else method.attribute(batch, target, draw=draw).scores
            )

        per_method[name] = _method_numbers(
            model,
            batch,
            target,
            (p_full, empty),
            scores_of,
            _draws(method),
            roles,
            grids,
            cfg,
        )
    n_real = real.sum(1)
    every = {name: maps[name] if name in maps else known[name] for name in methods}
    return {
        "p_full": p_full.numpy(),
        "n_tokens": n_real.numpy(),
        "selected": torch.stack([n_selected(n_real, f) for f in grids[0]], 1).numpy(),
        "agreement": _agreement(every, real),
        "methods": per_method,
        "maps": maps,
    }


def _draws(method) -> int:
    """How many maps of ``method`` the metrics average (``draws``, else 1)."""
    return int(getattr(method, "draws", 1))


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
    seed: int = 1234,
    progress: bool = True,
    cache=None,
) -> FaithfulnessResults:
    """Comprehensiveness, sufficiency, curves, ties and agreement on ``texts``.

    Each review is explained for the class the model predicts. Reviews are
    tokenized once (the first ``max_length`` tokens), grouped by length into
    batches of ``batch_size``, and the masked copies are scored
    ``forward_batch_size`` rows at a time. Ties are broken in a random order
    seeded by ``seed``. A method with a ``draws`` attribute (the random
    baseline) is scored on that many maps per review
    (``attribute(..., draw=d)``) and its numbers are the mean over them; its
    draw-0 map enters the agreement. ``cache``: a
    :class:`~helpers.metrics.cache.ResultsCache` or a folder: each method's
    numbers made from the same model, settings, reviews and code are loaded
    from it instead of computed, and those computed are saved to it.
    """
    if not methods:
        raise ValueError("methods is empty: pass attr.explainers(model, tokenizer).")
    roles = TokenRoles.from_tokenizer(tokenizer)
    batches = text_batches(
        tokenizer, texts, max_length=max_length, batch_size=batch_size, warn=False
    )
    names = list(methods)
    grids = (tuple(fractions), tuple(curve_fractions))
    cached = _cached_run(
        cache, model, methods, batches, grids, roles, forward_batch_size, seed
    )
    store, per_method = _score_batches(
        model,
        methods,
        batches,
        roles,
        grids,
        (forward_batch_size, seed),
        cached,
        progress,
    )
    return FaithfulnessResults(
        methods=names,
        fractions=grids[0],
        curve_fractions=grids[1],
        **{key: {n: per_method[key][n] for n in names} for key in _PER_METHOD},
        **store,
        baseline=RANDOM,
        settings=_settings(batches, methods, max_length, seed),
    )


def _score_batches(model, methods, batches, roles, grids, cfg, cached, progress):
    """``(store, per_method)``: the tables of :class:`FaithfulnessResults`, batch
    by batch; the numbers of the methods ``cached`` loaded are copied, their
    maps enter the agreement, and the numbers and maps computed are saved to it."""
    from tqdm.auto import tqdm

    n = sum(len(b.rows) for b in batches)
    store = _empty_store(n, len(grids[0]), len(methods))
    per_method = {
        key: {name: arrays[key] for name, arrays in cached.loaded.items()}
        for key in _PER_METHOD
    }
    for b, text_batch in enumerate(
        tqdm(batches, desc="faithfulness", disable=not progress)
    ):
        known = {
            name: torch.from_numpy(a[f"map{b}"]) for name, a in cached.loaded.items()
        }
        numbers = _batch_numbers(
            model, methods, text_batch.inputs, roles, grids, cfg, known
        )
        _store_batch(store, per_method, numbers, text_batch.rows, n)
        for name, scores in numbers["maps"].items():
            cached.add(name, f"map{b}", scores.numpy())
    for name in cached.todo:
        cached.save(name, {key: per_method[key][name] for key in _PER_METHOD})
    return store, per_method


def _cached_run(cache, model, methods, batches, grids, roles, forward_batch_size, seed):
    """The :class:`~.cache.CachedRun` of one :func:`evaluate_faithfulness` call:
    its methods' numbers loaded from ``cache`` when they were made from the same
    model, settings, reviews (``batches``), grids, batch size, seed and roles."""
    run = {
        "inputs": inputs_fingerprint(batches),
        "grids": grids,
        "forward_batch_size": forward_batch_size,
        "seed": seed,
        "roles": [roles.mask_id, list(roles.special_ids)],
    }
    return CachedRun(as_cache(cache), "faithfulness", model, methods, run)


#: The per-method tables of :class:`FaithfulnessResults`.
_PER_METHOD = ("comprehensiveness", "sufficiency", "deletion", "insertion", "tied")


def _empty_store(n: int, n_fractions: int, n_methods: int) -> dict[str, np.ndarray]:
    """The per-review arrays shared by every method, filled batch by batch."""
    return {
        "p_full": np.zeros(n),
        "n_tokens": np.zeros(n, dtype=int),
        "selected": np.zeros((n, n_fractions), dtype=int),
        "agreement": np.zeros((n, n_methods, n_methods)),
    }


def _store_batch(store: dict, per_method: dict, numbers: dict, rows, n: int) -> None:
    """Copy one batch's :func:`_batch_numbers` into the rows ``rows`` of the tables."""
    for key, array in store.items():
        array[rows] = numbers[key]
    for name, values in numbers["methods"].items():
        for key in _PER_METHOD:
            width = values[key].shape[1]
            table = per_method[key].setdefault(name, np.zeros((n, width)))
            table[rows] = values[key]


def _settings(batches, methods: Mapping[str, object], max_length: int, seed) -> dict:
    """How the numbers were made (:attr:`FaithfulnessResults.settings`)."""
    return {
        "n_reviews": sum(len(b.rows) for b in batches),
        "max_length": max_length,
        "truncated_reviews": sum(sum(b.truncated) for b in batches),
        "replacement": "[MASK]",
        "target": "predicted class",
        "tie_break": f"seeded random order per review (seed {seed})",
        "maps_averaged": {
            m: _draws(methods[m]) for m in methods if _draws(methods[m]) > 1
        },
    }


def _masked_all(batch, real, roles: TokenRoles):
    """The batch with every real token replaced by [MASK] (specials kept)."""
    ids = torch.where(
        real, torch.full_like(batch["input_ids"], roles.mask_id), batch["input_ids"]
    )
    return {**batch, "input_ids": ids}
