"""Chapter 2's figures and tables: learning curves, confusion matrix, worst errors."""

from __future__ import annotations

import numpy as np

from ..data import LABEL_NAMES
from ..escape import isolated


def plot_learning_curves(history: list[dict], best_epoch: int | None = None):
    """Loss and accuracy per epoch, train vs validation; returns the matplotlib figure.

    ``best_epoch`` (e.g. ``result.best_epoch``) is marked with a dashed line.
    """
    import matplotlib.pyplot as plt

    if not history:
        raise ValueError("history is empty: train at least one epoch first.")
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, title in (
        (axes[0], "loss", "cross-entropy loss"),
        (axes[1], "acc", "accuracy"),
    ):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        if best_epoch is not None:
            ax.axvline(
                best_epoch,
                color="grey",
                linestyle="--",
                linewidth=1,
                label=f"kept (epoch {best_epoch})",
            )
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion(confusion, labels=("negative", "positive")):
    """A confusion matrix (rows = true, columns = predicted) with counts; the figure."""
    import matplotlib.pyplot as plt

    confusion = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    ax.imshow(confusion, cmap="Blues")
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(
            j,
            i,
            str(v),
            ha="center",
            va="center",
            color="white" if v > confusion.max() / 2 else "black",
            fontsize=12,
        )
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {np.trace(confusion) / max(confusion.sum(), 1):.1%}")
    fig.tight_layout()
    return fig


def misclassified_html(
    rows: list[dict], max_chars: int = 300, label_names=LABEL_NAMES
) -> str:
    """An HTML table of :func:`helpers.train.misclassified` rows, truncated texts.

    Ids, label names and texts are HTML-escaped and direction-isolated
    (:func:`helpers.escape.isolated`).
    """

    cells = []
    for r in rows:
        text = (
            r["text"]
            if len(r["text"]) <= max_chars
            else r["text"][:max_chars].rstrip() + " …"
        )
        true, pred = (isolated(label_names[r[k]]) for k in ("label", "pred"))
        cells.append(
            f"<tr><td>{isolated(r['id'])}</td><td>{true}</td>"
            f"<td>{pred} ({r['confidence']:.2f})</td>"
            f"<td style='text-align:left'>{isolated(text)}</td></tr>"
        )
    head = "<tr><th>review</th><th>true</th><th>predicted (p)</th><th>text</th></tr>"
    return f"<table>{head}{''.join(cells)}</table>"
