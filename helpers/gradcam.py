"""Grad-CAM on every encoder layer of a BERT classifier (chapter 4).

Grad-CAM (Selvaraju et al., 2017) explains a CNN's decision with the
activations ``A`` of one convolutional layer and the gradient ``g`` of the
target class score with respect to them: each channel ``k`` gets the weight
``w_k = mean over positions of g_k`` and the map is ``ReLU(sum_k w_k A_k)``,
one value per spatial position.

For a transformer encoder layer the "positions" are the tokens and the
"channels" the hidden units, so for layer ``l``, review ``b`` and token ``t``::

    w[b, l, h]  = mean over real tokens s of  d logit[b, c] / d H_l[b, s, h]
    cam[b, l, t] = ReLU( sum_h  w[b, l, h] * H_l[b, t, h] )

with ``H_l`` the output of encoder layer ``l`` and ``c`` the target class.
:class:`GradCam` computes all layers with one forward and one backward pass;
padding is left out of the token average and gets 0.

Public API: :class:`GradCam` (Captum-style ``attribute``),
:func:`gradcam_for_texts` (texts in, per-review maps and tokens out),
:func:`aggregate_layers` (one score per token, for chapter 5),
:func:`plot_gradcam` (the layers x tokens figure) and
:func:`captum_layer_gradcam` (the same maps from Captum's ``LayerGradCam``,
one layer at a time: the independent reference used by tests and the bench).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .data import BookWarning
from .inputs import (
    check_inputs,
    resolve_target,
    target_tensor,
    text_batches,
    to_device,
)
from .models import eval_mode, get_encoder_layers, model_device

__all__ = [
    "GradCam",
    "TextGradCam",
    "aggregate_layers",
    "captum_layer_gradcam",
    "describe_layer_statistics",
    "gradcam_for_texts",
    "layer_statistics",
    "normalise_layers",
    "plot_gradcam",
    "plot_layer_statistics",
]


# --------------------------------------------------------------------------- inputs


def _split_output(output):
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
            captured[index] = _split_output(output)

        return hook

    try:
        for i, layer in enumerate(layers):
            handles.append(layer.register_forward_hook(make_hook(i)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


# --------------------------------------------------------------------------- Grad-CAM


class GradCam:
    """Grad-CAM on every encoder layer at once, with the Captum call shape.

    ``GradCam(model).attribute(inputs, target=None)`` returns a tensor
    ``[batch, n_layers, seq]``: row ``l`` is the map of encoder layer ``l``
    (0 = the first layer, nearest the embeddings), zeros at padding.

    Parameters
    ----------
    model:
        A transformers sequence classifier (BERT-like: ``get_encoder_layers``
        must find its layer list; ``ValueError`` otherwise).
    layers:
        Optional list of modules to explain instead of all encoder layers; each
        must output ``[batch, seq, hidden]`` (or a tuple starting with it).
    max_tokens:
        Memory bound: a batch larger than ``max_tokens`` (reviews x padded
        length) is run as several forward/backward passes of at most that many
        tokens (at least one review each). The maps do not change (reviews are
        independent); ``None`` runs the whole batch at once. The default, 4096,
        keeps a bert-base-size model on a batch of 16 x 512 tokens under 4 GB
        of CPU memory.

    After ``attribute``, ``last_target`` holds the classes explained
    ([batch]) and ``last_logits`` the model's logits.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[nn.Module] | None = None,
        max_tokens: int | None = 4096,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"model must be a torch nn.Module, got {type(model).__name__}."
            )
        if max_tokens is not None and (
            not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise ValueError(
                f"max_tokens must be a positive int or None, got {max_tokens!r}."
            )
        self.model = model
        self.max_tokens = max_tokens
        self.layers = list(get_encoder_layers(model) if layers is None else layers)
        if not self.layers:
            raise ValueError("layers is empty: pass at least one module to explain.")
        self.last_target: torch.Tensor | None = None
        self.last_logits: torch.Tensor | None = None

    def attribute(self, inputs, target=None) -> torch.Tensor:
        """Per-layer Grad-CAM maps ``[batch, n_layers, seq]`` (ReLU'd, 0 at padding).

        ``inputs``: dict/BatchEncoding with ``input_ids`` and ``attention_mask``
        (``token_type_ids`` optional). ``target``: None (the predicted class),
        an int (the same class for every review) or a LongTensor ``[batch]``;
        a class outside the model's labels raises ``ValueError``.
        One forward and one backward pass for the whole batch (or per chunk of
        ``max_tokens``); each review's gradient comes from its own target logit
        (their sum is differentiated, and reviews do not interact).
        """
        batch = to_device(check_inputs(inputs), model_device(self.model))
        n, seq = batch["input_ids"].shape
        targets = target_tensor(target, n)
        step = n if self.max_tokens is None else max(1, self.max_tokens // seq)
        cams, used, logits = [], [], []
        for start in range(0, n, step):
            rows = slice(start, start + step)
            chunk = {key: value[rows] for key, value in batch.items()}
            cam, chunk_target, chunk_logits = self._one_pass(
                chunk, None if targets is None else targets[rows]
            )
            cams.append(cam)
            used.append(chunk_target)
            logits.append(chunk_logits)
        self.last_target = torch.cat(used)
        self.last_logits = torch.cat(logits)
        return torch.cat(cams)

    def _one_pass(self, batch: dict, target):
        """Maps, targets and logits of one chunk: one forward and one backward pass."""
        mask = batch["attention_mask"]
        with (
            eval_mode(self.model),
            torch.enable_grad(),
            _capture_outputs(self.layers) as hidden,
        ):
            embeds = _embeddings_requiring_grad(self.model, batch["input_ids"])
            logits = self.model(
                inputs_embeds=embeds,
                attention_mask=mask,
                token_type_ids=batch.get("token_type_ids"),
            ).logits
            target_t = resolve_target(target, logits)
            if any(h is None for h in hidden):
                raise RuntimeError(
                    "Some layers did not run during the forward pass: pass modules "
                    "that the model calls (its encoder layers)."
                )
            score = logits[
                torch.arange(logits.shape[0], device=logits.device), target_t
            ].sum()
            grads = torch.autograd.grad(score, hidden, allow_unused=True)
        grads = [
            torch.zeros_like(h) if g is None else g
            for h, g in zip(hidden, grads, strict=True)
        ]
        cams = torch.stack(
            [
                _layer_map(h.detach(), g, mask)
                for h, g in zip(hidden, grads, strict=True)
            ],
            dim=1,
        )
        return cams, target_t.detach(), logits.detach()


def _layer_map(
    hidden: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Grad-CAM of one layer: ReLU(sum_h mean_real(grad)_h * hidden_h), 0 at padding.

    ``hidden``, ``grad``: [batch, seq, hidden]; ``mask``: [batch, seq] (1 = real token).
    """
    real = mask.to(hidden.dtype).unsqueeze(-1)  # [batch, seq, 1]
    weights = (grad * real).sum(dim=1) / real.sum(dim=1)  # [batch, hidden]
    cam = torch.einsum("bsh,bh->bs", hidden, weights)
    return torch.relu(cam) * mask.to(cam.dtype)


# --------------------------------------------------------------------------- texts


@dataclass
class TextGradCam:
    """Grad-CAM of one review, trimmed to its real tokens.

    ``cam``: [n_layers, n_tokens]; ``tokens``: the tokenizer's tokens (with
    [CLS]/[SEP]); ``target``: the class explained; ``prediction``: the model's
    class; ``probabilities``: softmax of the logits; ``truncated``: whether the
    text was cut to ``max_length`` tokens.
    """

    text: str
    tokens: list[str]
    cam: torch.Tensor
    target: int
    prediction: int
    probabilities: torch.Tensor
    truncated: bool


def gradcam_for_texts(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    target=None,
    max_length: int = 512,
    batch_size: int = 16,
    progress: bool = True,
) -> list[TextGradCam]:
    """Grad-CAM of every encoder layer for each text, in batches.

    Texts are tokenized with :func:`helpers.data.encode_texts` (an empty text
    raises ``ValueError`` naming its index; texts longer than ``max_length``
    tokens are truncated with a ``TruncationWarning``), sorted by length so a
    batch holds similar lengths (less padding), explained with :class:`GradCam`
    and returned in the input order. ``target``: None (predicted class), an int,
    or one class per text.
    """
    from tqdm.auto import tqdm

    texts = [texts] if isinstance(texts, str) else list(texts)
    targets = target_tensor(target, len(texts))
    batches = text_batches(
        tokenizer, texts, max_length=max_length, batch_size=batch_size
    )
    explainer = GradCam(model)
    results: list[TextGradCam | None] = [None] * len(texts)
    for batch in tqdm(
        batches, desc="Grad-CAM", disable=not progress or len(batches) < 2
    ):
        chunk_target = None if targets is None else targets[batch.rows]
        cams = explainer.attribute(batch.inputs, target=chunk_target).cpu()
        probs = explainer.last_logits.softmax(dim=-1).cpu()
        tokens = batch.tokens(tokenizer)
        for row, index in enumerate(batch.rows):
            results[index] = TextGradCam(
                text=texts[index],
                tokens=tokens[row],
                cam=cams[row, :, : batch.lengths[row]],
                target=int(explainer.last_target[row]),
                prediction=int(probs[row].argmax()),
                probabilities=probs[row],
                truncated=batch.truncated[row],
            )
    return results  # type: ignore[return-value]


# --------------------------------------------------------------------------- aggregate


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


def layer_statistics(
    results: Sequence[TextGradCam], special_tokens: Sequence[str] = ("[CLS]", "[SEP]")
) -> dict[str, torch.Tensor]:
    """Per-layer summaries of many reviews' maps (each a tensor [n_layers]).

    ``special_share``: mean over reviews of the share of the layer's Grad-CAM
    mass on special tokens (reviews whose map is all zero are left out; NaN
    when all are); ``all_zero``: fraction of reviews whose map for the layer is
    zero everywhere (the ReLU removed every token); ``peak_token_share``: mean
    share of the mass on the single highest token; ``corr_with_last``: mean
    Pearson correlation over tokens between the layer's map and the last
    layer's (NaN where a map is constant).
    """
    if not results:
        raise ValueError("results is empty: pass the output of gradcam_for_texts.")
    special = set(special_tokens)
    shares, zeros, peaks, corrs = [], [], [], []
    for res in results:
        cam = res.cam.double()
        total = cam.sum(dim=1)
        is_special = torch.tensor([t in special for t in res.tokens], dtype=torch.bool)
        nonzero = total > 0
        safe = torch.where(nonzero, total, torch.ones_like(total))
        nan = torch.full_like(total, float("nan"))
        shares.append(torch.where(nonzero, cam[:, is_special].sum(dim=1) / safe, nan))
        peaks.append(torch.where(nonzero, cam.amax(dim=1) / safe, nan))
        zeros.append((~nonzero).double())
        corrs.append(_row_correlations(cam, cam[-1]))
    return {
        "special_share": torch.stack(shares).nanmean(dim=0),
        "all_zero": torch.stack(zeros).mean(dim=0),
        "peak_token_share": torch.stack(peaks).nanmean(dim=0),
        "corr_with_last": torch.stack(corrs).nanmean(dim=0),
    }


#: The four series of :func:`plot_layer_statistics`: marker style and legend.
_STAT_SERIES = {
    "special_share": ("o-", "share of the map on [CLS]/[SEP]"),
    "peak_token_share": ("s-", "share on the single top token"),
    "all_zero": ("^-", "reviews whose map is all zero"),
    "corr_with_last": ("d-", "correlation with the last layer's map"),
}


def plot_layer_statistics(stats: dict[str, torch.Tensor], title: str = "", path=None):
    """The four per-layer summaries of :func:`layer_statistics` in one figure.

    x: encoder layer (0 = first); y: the shares and the correlation, in [0, 1]
    (a negative correlation shows below 0). Saved to ``path`` when given.
    """
    import matplotlib.pyplot as plt

    missing = set(_STAT_SERIES) - set(stats)
    if missing:
        raise ValueError(
            f"stats lacks {sorted(missing)}: pass the output of layer_statistics."
        )
    layers = range(len(stats["special_share"]))
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for key, (style, label) in _STAT_SERIES.items():
        ax.plot(layers, stats[key], style, label=label)
    ax.set(xlabel="encoder layer (0 = first)", xticks=list(layers), ylim=(-0.05, 1.05))
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _per_layer(values, fmt: str = "{:.2f}") -> str:
    return ", ".join(f"{n}: {fmt.format(v)}" for n, v in enumerate(values))


def _code(token: str) -> str:
    return "`" + token.replace("`", "'") + "`"


def describe_layer_statistics(
    stats: dict[str, torch.Tensor], shown: TextGradCam
) -> list[str]:
    """Five markdown bullets on ``stats``, written from the numbers.

    ``shown``: one review's result, whose top token per layer is named. The
    sentences are generated, so they stay true when a rerun moves the numbers.
    """
    corr = stats["corr_with_last"][:-1].tolist()
    special = stats["special_share"].tolist()
    peak = stats["peak_token_share"].tolist()
    empty = stats["all_zero"].tolist()
    top = [shown.tokens[int(row.argmax())] for row in shown.cam]
    agree = bool(corr) and max(corr) >= 0.5
    return [
        "* **Agreement between layers.** Mean correlation of each layer's map with "
        f"the last layer's (layers {_per_layer(corr)}): "
        + (
            "at least one lower layer broadly agrees with the last one."
            if agree
            else "no lower layer's map is much like the last layer's. There is no "
            'single "where" that sharpens with depth, as the layers of a CNN do.'
        ),
        f"* **Top token per layer** in the review shown (layer 0 first): "
        f"{', '.join(_code(tok) for tok in top)}; {len(set(top))} different "
        f"tokens over {len(top)} layers.",
        f"* **Special tokens** get {min(special):.0%} to {max(special):.0%} of the "
        f"map ({special[-1]:.0%} in the last layer, whose `[CLS]` the classifier "
        "reads). How much goes to special tokens is a property of the model, not "
        "of the method.",
        (
            "* **No empty rows**: no layer's map is all zero for any review."
            if max(empty) == 0
            else f"* **Empty rows**: up to {max(empty):.0%} of the reviews have an "
            f"all-zero map in some layer ({_per_layer(empty, '{:.0%}')})."
        )
        + " The ReLU keeps only evidence *for* the target class, so an all-zero "
        "row does not mean the layer is irrelevant.",
        f"* **Concentration**: the single top token holds {min(peak):.0%} to "
        f"{max(peak):.0%} of a layer's map on average.",
    ]


def _row_correlations(rows: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of ``rows`` [n, tokens] with ``reference``."""
    x = rows - rows.mean(dim=1, keepdim=True)
    y = reference - reference.mean()
    denominator = x.norm(dim=1) * y.norm()
    nan = torch.full_like(denominator, float("nan"))
    return torch.where(
        denominator > 0, (x @ y) / torch.where(denominator > 0, denominator, 1.0), nan
    )


# --------------------------------------------------------------------------- plot


def plot_gradcam(
    cam,
    tokens: Sequence[str],
    title: str,
    path=None,
    normalize: str | None = "layer",
    cmap: str = "cool",
):
    """The layers x tokens Grad-CAM figure (the seed's figure), optionally saved as PNG.

    Layer 0 (the first encoder layer, nearest the embeddings) is at the
    **bottom**, the last layer at the top; tokens run left to right.
    ``normalize``: ``"layer"`` divides each layer's row by its maximum (layers
    have very different scales, so a shared scale would show one or two layers
    only), ``"global"`` by the maximum of the whole map, ``None`` plots raw
    values. Japanese tokens render through ``japanize_matplotlib``. Returns the
    matplotlib Figure; ``path`` saves it (PNG, 150 dpi).
    """
    import matplotlib.pyplot as plt

    try:  # Japanese font for token labels; harmless for English
        import japanize_matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the install
        warnings.warn(
            "japanize_matplotlib is not installed: Japanese labels may not render "
            "(pip install japanize-matplotlib).",
            BookWarning,
            stacklevel=2,
        )

    data = torch.as_tensor(cam, dtype=torch.float32).detach().cpu()
    if data.dim() != 2:
        raise ValueError(
            f"cam must be [layers, tokens], got shape {tuple(data.shape)}."
        )
    n_layers, n_tokens = data.shape
    if len(tokens) != n_tokens:
        raise ValueError(f"{len(tokens)} tokens given for a map of {n_tokens} tokens.")
    data, label = _normalized(data, normalize)

    width = min(max(6.0, 0.22 * n_tokens + 2.0), 40.0)
    height = max(2.5, 0.35 * n_layers + 1.6)
    fontsize = max(5.0, min(10.0, 14.0 - n_tokens / 12))
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(
        data.numpy(), cmap=cmap, aspect="auto", origin="lower", interpolation="nearest"
    )
    ax.set_xticks(range(n_tokens))
    ax.set_xticklabels(list(tokens), rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n_layers))
    ax.set_yticklabels([str(i) for i in range(n_layers)], fontsize=9)
    ax.set_ylabel("encoder layer\n(0 = first, at the bottom)", fontsize=9)
    ax.set_xlabel("token")
    ax.set_title(_wrap(title, width), fontsize=10)
    fig.colorbar(image, ax=ax, label=label, fraction=0.03, pad=0.01)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _wrap(title: str, width_inches: float) -> str:
    """Break a long title into lines that fit the figure (CJK characters count 2)."""
    import textwrap
    import unicodedata

    columns = int(width_inches * 11)
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in title)
    return (
        "\n".join(textwrap.wrap(title, width=max(20, columns - wide)))
        if len(title) + wide > columns
        else title
    )


def _normalized(data: torch.Tensor, normalize: str | None) -> tuple[torch.Tensor, str]:
    """Scale the map for display; returns it with the colour bar label."""
    if normalize is None:
        return data, "Grad-CAM"
    if normalize == "layer":
        peak = data.amax(dim=1, keepdim=True)
        return data / torch.where(
            peak > 0, peak, torch.ones_like(peak)
        ), "Grad-CAM / layer max"
    if normalize == "global":
        peak = float(data.max())
        return data / (peak if peak > 0 else 1.0), "Grad-CAM / map max"
    raise ValueError(f"normalize must be 'layer', 'global' or None, got {normalize!r}.")


# --------------------------------------------------------------------- Captum reference


class _ChannelsFirst(nn.Module):
    """[batch, seq, hidden] -> [batch, hidden, seq]: hidden units as Captum channels."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden.transpose(1, 2)


def _route_through(view: nn.Module):
    """Forward hook passing a layer's hidden states through ``view`` and back."""

    def hook(module, args, output):
        hidden = view(_split_output(output)).transpose(1, 2)
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
    from captum.attr import LayerGradCam

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
                attr = LayerGradCam(forward, view).attribute(
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
