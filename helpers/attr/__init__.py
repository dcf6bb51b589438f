"""Attribution methods: one contract, one registry (chapters 5–6).

Every method is an :class:`Explainer`: a ``name`` and
``attribute(inputs, target=None) -> [batch, seq]`` (float, CPU, 0 at padding,
higher = more evidence for the target class). The package keeps them apart
from the metrics (:mod:`helpers.metrics`), as Captum keeps ``attr`` apart
from ``metrics``.

* :mod:`.base` — :class:`Explainer`, :class:`Attribution`, :func:`compute_maps`;
* :mod:`.gradients` — :class:`GradientXInput`, :class:`IntegratedGradients`;
* :mod:`.layers` — Grad-CAM per layer and its normalised mean;
* :mod:`.chefer` — :class:`GradientWeightedRollout` (chapter 6);
* :mod:`.lrp` — :class:`ConservativeLRP`, :class:`AttnLRP` (chapter 6);
* :mod:`.baselines` — :class:`RandomScores`;
* ``helpers.attention`` — :class:`CLSAttention`, :class:`AttentionRollout`
  (chapter 3; re-exported here).

:func:`explainers` builds the chapter's registry.
"""

from __future__ import annotations

from torch import nn

from ..attention import AttentionRollout, CLSAttention
from ..models import set_eager_attention
from ..tokens import TokenRoles
from .base import Attribution, Explainer, compute_maps
from .baselines import RandomScores
from .chefer import GradientWeightedRollout
from .gradients import GradientXInput, IntegratedGradients, embeddings_layer
from .layers import GradCamLayer, GradCamLayers, GradCamMean
from .lrp import AttnLRP, ConservativeLRP
from .stored import StoredMaps

#: Registry name of the random baseline (the metrics compare every method to it).
RANDOM = "random"
#: Registry name of the layer-balanced Grad-CAM mean.
GRADCAM_MEAN = "Grad-CAM mean (normalised)"
#: The registry's methods built for transformers (chapter 6).
TRANSFORMER_METHODS = ("grad-weighted rollout", "CP-LRP", "AttnLRP")

__all__ = [
    "GRADCAM_MEAN",
    "RANDOM",
    "TRANSFORMER_METHODS",
    "AttentionRollout",
    "AttnLRP",
    "Attribution",
    "CLSAttention",
    "ConservativeLRP",
    "Explainer",
    "GradCamLayer",
    "GradCamLayers",
    "GradCamMean",
    "GradientWeightedRollout",
    "GradientXInput",
    "IntegratedGradients",
    "RandomScores",
    "StoredMaps",
    "compute_maps",
    "embeddings_layer",
    "explainers",
]


def explainers(
    model: nn.Module,
    tokenizer,
    *,
    ig_steps: int = 50,
    ig_baseline: str = "pad",
    internal_batch_size: int = 16,
    seed: int = 1234,
    random_draws: int = 10,
    gradcam_layers: bool = True,
    transformer_methods: bool = True,
) -> dict[str, Explainer]:
    """The chapter's methods, in table order, keyed by name.

    ``"[CLS] attention"`` (last layer, mean over heads), ``"rollout"``,
    ``"Grad-CAM L0"`` ... ``"Grad-CAM L<n-1>"`` (0 = nearest the embeddings;
    left out with ``gradcam_layers=False``), ``"Grad-CAM mean (normalised)"``
    (all Grad-CAM entries share one forward and backward pass per batch),
    ``"grad x input"``, ``"IG"`` (``ig_steps`` steps, ``ig_baseline`` =
    ``"pad"`` or ``"mask"``, ``internal_batch_size`` copies per pass),
    ``"grad-weighted rollout"`` (Chefer et al. 2021), ``"CP-LRP"`` (Ali et
    al. 2022), ``"AttnLRP"`` (Achtibat et al. 2024; the three are left out
    with ``transformer_methods=False``) and
    ``"random"`` (seeded with ``seed``; the metrics average
    ``random_draws`` maps per review). The attention methods need the eager
    attention kernel; it is switched on here. Every value satisfies
    :class:`Explainer`. A new method is one more line in the dict below.
    """
    set_eager_attention(model)
    roles = TokenRoles.from_tokenizer(tokenizer)
    cam = GradCamLayers(model)
    methods: dict[str, Explainer] = {
        "[CLS] attention": CLSAttention(model),
        "rollout": AttentionRollout(model),
        **(cam.explainers() if gradcam_layers else {}),
        GRADCAM_MEAN: cam.mean(roles),
        "grad x input": GradientXInput(model),
        "IG": IntegratedGradients(
            model,
            roles,
            tokenizer.pad_token_id,
            n_steps=ig_steps,
            baseline=ig_baseline,
            internal_batch_size=internal_batch_size,
        ),
        "grad-weighted rollout": GradientWeightedRollout(model),
        "CP-LRP": ConservativeLRP(model),
        "AttnLRP": AttnLRP(model),
        RANDOM: RandomScores(seed, draws=random_draws),
    }
    if not transformer_methods:
        for name in TRANSFORMER_METHODS:
            methods.pop(name)
    return methods
