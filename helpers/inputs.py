"""One place for what every explainer and metric needs from a batch: checked
inputs on the model's device, Captum-style targets (``None``, an int, a
``[batch]`` LongTensor or a label's name), label names, batches grouped by
length, and one seeded generator per review.

Attention (chapter 3), Grad-CAM (chapter 4), the attribution methods and the
metrics (chapters 5–6) and training (chapter 2) all call these; none keeps a
copy of its own.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Mapping, Sequence

import torch

from .config import LABEL_NAMES

_ENCODE_HINT = "use helpers.data.encode_texts(tokenizer, texts)"


def check_inputs(inputs) -> dict[str, torch.Tensor]:
    """The batch as ``[batch, seq]`` LongTensors: ids, attention and token types.

    ``attention_mask`` defaults to ones. Raises ``TypeError``/``ValueError``
    naming the fix for a non-mapping, missing ids, wrong shapes or dtypes, or
    a row whose mask is all zeros.
    """
    if not isinstance(inputs, Mapping) and not hasattr(inputs, "keys"):
        raise TypeError(
            "inputs must be a dict or BatchEncoding with 'input_ids' and "
            f"'attention_mask', got {type(inputs).__name__}: {_ENCODE_HINT}."
        )
    if "input_ids" not in inputs:
        raise ValueError(f"inputs has no 'input_ids': {_ENCODE_HINT}.")
    ids = torch.as_tensor(inputs["input_ids"])
    if ids.dim() != 2 or ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(
            "input_ids must be a non-empty [batch, seq] tensor, "
            f"got shape {tuple(ids.shape)}: {_ENCODE_HINT}."
        )
    if ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise TypeError(
            f"input_ids must hold integer token ids, got dtype {ids.dtype}."
        )
    ids = ids.long()
    out = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    for key in ("attention_mask", "token_type_ids"):
        if inputs.get(key) is None:
            continue
        value = torch.as_tensor(inputs[key], device=ids.device)
        if value.shape != ids.shape:
            raise ValueError(
                f"{key} has shape {tuple(value.shape)} but input_ids "
                f"{tuple(ids.shape)}: they must match."
            )
        out[key] = value.long()
    if bool((out["attention_mask"].sum(dim=1) == 0).any()):
        raise ValueError(
            "a row of attention_mask is all 0: every review needs at least one "
            "real token."
        )
    return out


def to_device(inputs: Mapping[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    """The tensors of ``inputs`` moved to ``device`` (a new dict)."""
    return {k: v.to(device) for k, v in inputs.items() if isinstance(v, torch.Tensor)}


def check_int(name: str, value, low: int = 1, fix: str = "") -> int:
    """``value`` when it is an integer (not a bool) of at least ``low``; else a
    ``ValueError`` naming ``name`` and, when given, the ``fix``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        fix = f": {fix}." if fix else "."
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}{fix}")
    return value


_PLACEHOLDER = re.compile(r"LABEL_\d+")


def label_names(model_or_config, n_labels: int | None = None) -> list[str]:
    """The label names of a classifier, in class order, from ``config.id2label``.

    ``model_or_config``: a transformers model or its config. Names missing
    from ``id2label`` become ``LABEL_<i>``. A binary head whose names are
    transformers' placeholders (``LABEL_0``, ``LABEL_1``: trained without
    naming its labels, as the book's IMDb models are) gets the book's names
    :data:`helpers.config.LABEL_NAMES` (negative, positive). ``n_labels``:
    how many classes there are (default: ``config.num_labels``).
    """
    config = getattr(model_or_config, "config", model_or_config)
    id2label = dict(getattr(config, "id2label", None) or {})
    id2label = {int(k): str(v) for k, v in id2label.items()}
    if n_labels is None:
        n_labels = int(getattr(config, "num_labels", None) or len(id2label) or 2)
    names = [id2label.get(i, f"LABEL_{i}") for i in range(n_labels)]
    if n_labels == len(LABEL_NAMES) and all(_PLACEHOLDER.fullmatch(n) for n in names):
        return list(LABEL_NAMES)
    return names


def _class_of(name: str, names: Sequence[str] | None) -> int:
    """The index of label ``name``: exact, else case-insensitive when that is unique.

    ``ValueError`` naming every label when none matches, or naming the labels
    when several differ from ``name`` only in case."""
    if names is None:
        raise TypeError(
            f"target {name!r} is a label name, but no label names were given: pass "
            "a class index, or names=helpers.inputs.label_names(model)."
        )
    exact = [i for i, c in enumerate(names) if str(c).strip() == name.strip()]
    if exact:
        return exact[0]
    wanted = name.strip().casefold()
    folded = [i for i, c in enumerate(names) if str(c).strip().casefold() == wanted]
    if len(folded) == 1:
        return folded[0]
    if len(folded) > 1:
        raise ValueError(
            f"target {name!r} matches several labels that differ only in case "
            f"({[str(names[i]) for i in folded]}): write the label exactly, or pass "
            "its class index."
        )
    raise ValueError(
        f"target {name!r} is not one of the model's labels: pass one of "
        f"{[str(n) for n in names]} (any case), a class index "
        f"0..{len(names) - 1}, or None for the prediction."
    )


def target_tensor(
    target, batch: int, names: Sequence[str] | None = None
) -> torch.Tensor | None:
    """``target`` as ``None`` or a LongTensor ``[batch]``.

    Type and shape are checked here, the class range by :func:`resolve_target`.
    With ``names`` (:func:`label_names`) a target may also be a label name,
    or a list of names and indices (one per review); an unknown name raises
    ``ValueError`` listing the valid ones.
    """
    if target is None:
        return None
    if isinstance(target, str):
        target = _class_of(target, names)
    elif isinstance(target, (list, tuple)) and any(isinstance(t, str) for t in target):
        target = [_class_of(t, names) if isinstance(t, str) else t for t in target]
    if isinstance(target, bool):
        raise TypeError(
            f"target must be None, an int or a LongTensor [batch], got {target!r}."
        )
    try:
        tensor = torch.as_tensor(target)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"target must be None, an int or a LongTensor [batch], got {target!r}."
        ) from err
    if tensor.dtype == torch.bool or tensor.is_floating_point() or tensor.is_complex():
        raise TypeError(
            f"target must hold integer class indices, got {target!r} ({tensor.dtype})."
        )
    tensor = tensor.long()
    if tensor.dim() == 0:
        return tensor.expand(batch).clone()
    if tensor.shape != (batch,):
        raise ValueError(
            f"target must be an int or have one class per review ({batch}), "
            f"got shape {tuple(tensor.shape)}."
        )
    return tensor


def resolve_target(
    target, logits: torch.Tensor, names: Sequence[str] | None = None
) -> torch.Tensor:
    """Target classes as a LongTensor ``[batch]`` on the logits' device.

    ``None`` = the predicted class (``argmax``). A class outside
    ``0..n_classes-1`` raises ``ValueError``. With ``names``, label names
    are accepted too (:func:`target_tensor`).
    """
    batch, n_classes = logits.shape
    tensor = target_tensor(target, batch, names)
    if tensor is None:
        return logits.argmax(dim=-1)
    tensor = tensor.to(logits.device)
    bad = (tensor < 0) | (tensor >= n_classes)
    if bool(bad.any()):
        raise ValueError(
            f"target class {tensor[bad][0].item()} is outside the model's labels "
            f"0..{n_classes - 1}: pass a class index in that range, or None for the "
            "prediction."
        )
    return tensor


def batches_by_length(
    lengths: Sequence[int] | torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 1234,
    epoch: int = 0,
    bucket_batches: int = 16,
) -> list[list[int]]:
    """Batches of indices whose items have similar lengths, so a batch pads little.

    Without ``shuffle`` (evaluation, explanation): one pass sorted by length;
    equal lengths keep their input order, so the result is deterministic.
    With ``shuffle`` (training): indices are permuted (seeded by ``seed`` and
    ``epoch``), cut into buckets of ``bucket_batches * batch_size``, sorted by
    length inside each bucket, cut into batches, and the batch order is
    shuffled.
    """
    check_int("batch_size", batch_size)
    lengths = [
        int(n) for n in (lengths.tolist() if torch.is_tensor(lengths) else lengths)
    ]
    order = list(range(len(lengths)))
    if not shuffle:
        order.sort(key=lambda i: lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = random.Random(f"{seed}-{epoch}")
    rng.shuffle(order)
    size = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), size):
        bucket = sorted(order[start : start + size], key=lambda i: lengths[i])
        batches += [
            bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size)
        ]
    rng.shuffle(batches)
    return batches


def slice_batch(encoded: Mapping[str, torch.Tensor], rows: Sequence[int]) -> dict:
    """Rows ``rows`` of an encoded batch, cut to the longest of them (less padding)."""
    rows = list(rows)
    width = int(torch.as_tensor(encoded["attention_mask"])[rows].sum(1).max())
    return {
        k: torch.as_tensor(v)[rows, :width]
        for k, v in encoded.items()
        if isinstance(v, torch.Tensor)
    }


def review_generators(
    inputs: Mapping[str, torch.Tensor], seed: int, salt: int = 0
) -> list[torch.Generator]:
    """One ``torch.Generator`` per review, seeded by ``seed``, ``salt`` and its tokens.

    The key is the review's attended token ids (padding left out), so a
    review gets the same random draws whatever batch it is in and however
    wide that batch is padded. Two identical reviews get the same draws.
    """
    ids = torch.as_tensor(inputs["input_ids"]).cpu()
    mask = inputs.get("attention_mask")
    mask = torch.ones_like(ids) if mask is None else torch.as_tensor(mask).cpu()
    generators = []
    for row, keep in zip(ids, mask.bool(), strict=True):
        digest = zlib.crc32(row[keep].to(torch.int64).numpy().tobytes())
        key = (int(seed) * 1_000_003 + int(salt) * 7_919 + digest) % (2**63 - 1)
        generators.append(torch.Generator().manual_seed(key))
    return generators
