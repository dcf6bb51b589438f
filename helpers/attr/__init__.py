"""Attribution methods: one base class, one record, one registry (chapters 3–6).

Every method derives from :class:`Attribution` and writes one small function,
its pass over a chunk; ``method.attribute(inputs, target=None)`` returns one
:class:`Attributions` record (``scores`` ``[batch, seq]``: float, CPU, 0 at
padding, higher = more evidence for the target class; ``target``
``[batch]``; ``logits`` ``[batch, labels]``). The package keeps the methods
apart from the metrics (:mod:`helpers.metrics`), as Captum keeps ``attr``
apart from ``metrics``.

* :mod:`.base` — :class:`Attribution`, :class:`Attributions`,
  :class:`Target`, :func:`compute_maps`;
* :mod:`.attention` — :class:`CLSAttention`, :class:`AttentionRollout`;
* :mod:`.gradcam` — :class:`GradCam` (all layers), the per-layer entries and
  their normalised mean, sharing one pass;
* :mod:`.gradients` — :class:`GradientXInput`, :class:`IntegratedGradients`;
* :mod:`.chefer` — :class:`GradientWeightedRollout` (chapter 6);
* :mod:`.lrp` — :class:`ConservativeLRP`, :class:`AttnLRP` (chapter 6);
* :mod:`.baselines` — :class:`RandomScores`;
* :mod:`.stored` — :class:`StoredMaps` (maps computed once, served again).

:func:`explainers` builds the chapters' registry. A new method is a file
with one :class:`Attribution` subclass and one line in that function.
"""

from __future__ import annotations

from torch import nn

from ..models import embeddings_layer, set_eager_attention
from ..tokens import TokenRoles
from .attention import (
    AttentionRollout,
    CLSAttention,
    attention_rollout,
    cls_attention,
)
from .base import Attribution, Attributions, Target, compute_maps
from .baselines import RandomScores
from .chefer import GradientWeightedRollout
from .gradcam import (
    GradCam,
    GradCamLayer,
    GradCamLayers,
    GradCamMean,
    aggregate_layers,
    captum_layer_gradcam,
)
from .gradients import GradientXInput, IntegratedGradients
from .lrp import AttnLRP, ConservativeLRP
from .stored import StoredMaps

#: Registry name of the random baseline (the metrics compare every method to it).
RANDOM = RandomScores.name
#: Registry name of the Grad-CAM mean over layers, each first scaled to sum 1.
GRADCAM_MEAN = GradCamMean.name
#: The registry's methods built for transformers (chapter 6; their classes set
#: ``transformer = True``), in table order.
TRANSFORMER_METHODS = tuple(
    cls.name for cls in (GradientWeightedRollout, ConservativeLRP, AttnLRP)
)

__all__ = [
    "GRADCAM_MEAN",
    "RANDOM",
    "TRANSFORMER_METHODS",
    "AttentionRollout",
    "AttnLRP",
    "Attribution",
    "Attributions",
    "CLSAttention",
    "ConservativeLRP",
    "GradCam",
    "GradCamLayer",
    "GradCamLayers",
    "GradCamMean",
    "GradientWeightedRollout",
    "GradientXInput",
    "IntegratedGradients",
    "RandomScores",
    "StoredMaps",
    "Target",
    "aggregate_layers",
    "attention_rollout",
    "captum_layer_gradcam",
    "cls_attention",
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
    max_tokens: int | None = 4096,
) -> dict[str, Attribution]:
    """The chapters' methods, in table order, keyed by their class's ``name``.

    ``"[CLS] attention"`` (last layer, mean over heads), ``"rollout"``,
    ``"Grad-CAM L0"`` ... ``"Grad-CAM L<n-1>"`` (0 = nearest the embeddings;
    left out with ``gradcam_layers=False``), ``"Grad-CAM mean (normalised)"``
    (all Grad-CAM entries share one forward and backward pass per batch),
    ``"grad x input"``, ``"IG"`` (``ig_steps`` steps, ``ig_baseline`` =
    ``"pad"`` or ``"mask"``, ``internal_batch_size`` copies per pass),
    ``"grad-weighted rollout"`` (Chefer et al. 2021), ``"CP-LRP"`` (Ali et
    al. 2022), ``"AttnLRP"`` (Achtibat et al. 2024; the methods whose class
    sets ``transformer = True`` are left out with
    ``transformer_methods=False``) and ``"random"`` (seeded with ``seed``;
    the metrics average ``random_draws`` maps per review). ``max_tokens``:
    the most tokens (reviews x padded length) one pass of any method sees
    (:class:`Attribution`). The attention methods need the eager attention
    kernel; it is switched on here.
    """
    set_eager_attention(model)
    roles = TokenRoles.from_tokenizer(tokenizer)
    cam = GradCamLayers(model, max_tokens)
    methods: list[Attribution] = [
        CLSAttention(model, max_tokens=max_tokens),
        AttentionRollout(model, max_tokens),
        *(cam.explainers() if gradcam_layers else []),
        cam.mean(roles),
        GradientXInput(model, max_tokens),
        IntegratedGradients(
            model,
            roles,
            tokenizer.pad_token_id,
            n_steps=ig_steps,
            baseline=ig_baseline,
            internal_batch_size=internal_batch_size,
            max_tokens=max_tokens,
        ),
        GradientWeightedRollout(model, max_tokens),
        ConservativeLRP(model, max_tokens),
        AttnLRP(model, max_tokens),
        RandomScores(model, seed, draws=random_draws, max_tokens=max_tokens),
    ]
    return {m.name: m for m in methods if transformer_methods or not m.transformer}
