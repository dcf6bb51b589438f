"""Which tokens an erasure metric selects: ranking with seeded tie-breaks.

The top ``k`` % of a review's real tokens by an explanation's score
(:func:`top_fraction_mask`, :func:`n_selected`), ties broken in a seeded
random order drawn per review (:func:`rank_tokens`), never by position, and
how many selected tokens were ties (:func:`tied_selection`).
:mod:`.faithfulness` masks what these select.
"""

from __future__ import annotations

import torch

from ..inputs import review_generators

_TIE_SALT = 7_777  # keeps the tie order independent of the random baseline's draws


def n_selected(n_real: torch.Tensor, fraction: float) -> torch.Tensor:
    """Tokens a fraction selects: ``round(fraction * n)``, at least 1 (0 at 0).

    ``n_real``: LongTensor ``[batch]`` -> LongTensor ``[batch]``, capped at
    ``n_real``. Rounds half up.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fractions must lie in [0, 1], got {fraction}.")
    if fraction == 0.0:
        return torch.zeros_like(n_real)
    counts = torch.floor(n_real.double() * fraction + 0.5).long()
    return torch.minimum(counts.clamp(min=1), n_real)


def _tie_keys(real: torch.Tensor, seed: int, ids: torch.Tensor | None) -> torch.Tensor:
    """Uniform draws ``[batch, seq]`` that order tied tokens at random.

    With ``ids`` each review draws from its own generator keyed by its real
    tokens, so the order does not depend on the batch; without, one
    generator seeded by ``seed`` serves the whole batch.
    """
    keys = torch.ones(real.shape, dtype=torch.float64)  # non-real: never first
    if ids is None:
        generator = torch.Generator().manual_seed(int(seed))
        draws = torch.rand(real.shape, generator=generator, dtype=torch.float64)
        return torch.where(real.cpu(), draws, keys)
    roles = {"input_ids": ids.cpu(), "attention_mask": real.cpu().long()}
    for i, generator in enumerate(review_generators(roles, seed, _TIE_SALT)):
        n = int(real[i].sum())
        keys[i, real[i].cpu()] = torch.rand(n, generator=generator, dtype=torch.float64)
    return keys


def rank_tokens(
    scores: torch.Tensor,
    real: torch.Tensor,
    *,
    seed: int = 0,
    ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rank of every position, LongTensor ``[batch, seq]``: 0 = highest score.

    Real tokens (``real``, boolean ``[batch, seq]``) come first, by score
    (descending); equal scores are ordered by seeded random keys
    (:func:`_tie_keys`; pass the reviews' ``input_ids`` as ``ids`` to key them
    per review). Non-real positions rank after every real token.
    """
    if scores.shape != real.shape:
        raise ValueError(
            f"scores {tuple(scores.shape)} and token mask {tuple(real.shape)} differ."
        )
    scores, real = scores.detach().double().cpu(), real.cpu().bool()
    keyed = torch.where(real, scores, torch.full_like(scores, -torch.inf))
    shuffle = torch.argsort(_tie_keys(real, seed, ids), dim=1)
    within = torch.argsort(
        keyed.gather(1, shuffle), dim=1, descending=True, stable=True
    )
    order = shuffle.gather(1, within)
    rank = torch.empty_like(order)
    positions = torch.arange(order.shape[1]).expand_as(order)
    return rank.scatter_(1, order, positions)


def top_fraction_mask(
    scores: torch.Tensor,
    real: torch.Tensor,
    fraction: float,
    *,
    seed: int = 0,
    ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean ``[batch, seq]``: the top ``fraction`` of each review's real tokens.

    ``n_selected(n_real, fraction)`` tokens by :func:`rank_tokens`: ties are
    broken in a seeded random order (``seed``; with ``ids`` the order is fixed
    per review whatever its batch), so an all-zero map selects a random
    subset, not the first tokens. Non-real positions are never chosen.
    """
    rank = rank_tokens(scores, real, seed=seed, ids=ids)
    counts = n_selected(real.cpu().sum(1), fraction)
    return (rank < counts[:, None]) & real.cpu().bool()


def tied_selection(
    scores: torch.Tensor, real: torch.Tensor, top: torch.Tensor
) -> torch.Tensor:
    """Selected tokens that were ties, LongTensor ``[batch]`` (a count per review).

    A selected token (``top``) is a *tie* when its score equals the score of
    a real token that was not selected: the tie-break, not the map, decided
    between them. ``scores``, ``real``, ``top``: ``[batch, seq]``.
    """
    scores, real, top = scores.detach().cpu(), real.cpu().bool(), top.cpu().bool()
    left_out = real & ~top
    equal = scores[:, :, None] == scores[:, None, :]  # [batch, seq, seq]
    tie = top & (equal & left_out[:, None, :]).any(dim=-1)
    return tie.sum(dim=1)
