"""Evaluation of a classifier: logits, accuracy, loss, confusion, the worst errors."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding

from ..data import ReviewSet, TokenizedReviews
from ..inputs import batches_by_length, to_device
from ..models import eval_mode, model_device
from .amp import autocast
from .settings import check_reviews


@torch.no_grad()
def predict_logits(
    model,
    tokenizer,
    texts,
    *,
    batch_size: int = 64,
    max_length: int = 256,
    keep: str = "head",
    head: int | None = None,
) -> torch.Tensor:
    """Logits ``[n, num_labels]`` for texts, in their order.

    Batches are sorted by length internally and padded to their longest text;
    the model runs in eval mode without gradients, and its previous mode is
    restored afterwards. ``keep``/``head``: which tokens of a text longer than
    ``max_length`` are read (as in :class:`~helpers.train.TrainSettings`;
    default the first ones).
    """
    reviews = ReviewSet(list(texts), [0] * len(texts), "texts")
    tokenized = TokenizedReviews(tokenizer, reviews, max_length, keep=keep, head=head)
    collate = DataCollatorWithPadding(tokenizer)
    device = model_device(model)
    lengths = [len(f["input_ids"]) for f in tokenized.features]
    out = torch.zeros(len(lengths), model.config.num_labels)
    with eval_mode(model):
        batches = batches_by_length(lengths, batch_size)
        for idx in tqdm(batches, desc="predicting", leave=False):
            batch = collate([tokenized.features[i] for i in idx])
            with autocast(device):
                out[idx] = model(**to_device(batch, device)).logits.float().cpu()
    return out


def evaluate(
    model,
    tokenizer,
    reviews: ReviewSet,
    *,
    batch_size: int = 64,
    max_length: int = 256,
    keep: str = "head",
    head: int | None = None,
) -> dict:
    """Accuracy, mean loss, predictions, probabilities, confusion on ``reviews``.

    Returns a dict: ``accuracy``, ``loss``, ``preds`` (array [n]), ``probs``
    (array [n, num_labels]), ``labels`` (array [n]) and ``confusion``
    (array [num_labels, num_labels]; rows = true label, columns = prediction).
    ``keep``/``head``: which tokens of a longer review are read, as in
    :func:`predict_logits`. :func:`scores_from_logits` makes the same dict from
    logits already computed.
    """
    check_reviews(reviews, "reviews", model.config.num_labels)
    logits = predict_logits(
        model,
        tokenizer,
        reviews.texts,
        batch_size=batch_size,
        max_length=max_length,
        keep=keep,
        head=head,
    )
    return scores_from_logits(logits, reviews)


def scores_from_logits(logits: torch.Tensor, reviews: ReviewSet) -> dict:
    """:func:`evaluate`'s dict for ``logits`` ``[n, num_labels]`` of ``reviews``
    computed elsewhere (a pass that also returns ``[CLS]`` vectors, say), so
    the model does not run again."""
    num_labels = logits.shape[-1]
    check_reviews(reviews, "reviews", num_labels)
    if logits.shape[0] != len(reviews.texts):
        raise ValueError(
            f"{logits.shape[0]} rows of logits for {len(reviews.texts)} reviews: "
            "pass the logits of these reviews, in their order."
        )
    logits = logits.float()
    labels = torch.tensor(list(reviews.labels), dtype=torch.long)
    preds = logits.argmax(-1)
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (labels.numpy(), preds.numpy()), 1)
    return {
        "accuracy": float((preds == labels).float().mean()),
        "loss": float(F.cross_entropy(logits, labels)),
        "preds": preds.numpy(),
        "probs": logits.softmax(-1).numpy(),
        "labels": labels.numpy(),
        "confusion": confusion,
    }


def misclassified(
    reviews: ReviewSet, evaluation: dict, n: int = 5, seed: int = 0
) -> list[dict]:
    """The ``n`` most confidently wrong reviews.

    Dicts with index, id, text, label, pred, confidence. Equal confidences
    are ordered at random (seeded by ``seed``), not by position.
    """
    wrong = np.flatnonzero(evaluation["preds"] != evaluation["labels"])
    conf = evaluation["probs"][wrong, evaluation["preds"][wrong]]
    order = np.random.default_rng(seed).permutation(len(wrong))
    rows = []
    triples = zip(wrong.tolist(), conf.tolist(), order.tolist(), strict=True)
    for i, c, _ in sorted(triples, key=lambda t: (-t[1], t[2]))[:n]:
        rows.append(
            {
                "index": i,
                "id": reviews.ids[i],
                "text": reviews.texts[i],
                "label": int(reviews.labels[i]),
                "pred": int(evaluation["preds"][i]),
                "confidence": float(c),
            }
        )
    return rows
