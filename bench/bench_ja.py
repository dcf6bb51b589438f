"""Chapter 4's Japanese model (multilingual-e5-small): training settings on validation.

For each number of trainable layers the frozen bottom runs once (the feature
cache ``train_classifier`` makes), then every ``--lr`` x ``--epochs`` setting
trains the top layers and the head from the same fresh start (seeded), as
:func:`helpers.ja.model.train_e5_sentiment` does. Prints one row per setting:
accuracy on the validation sentences of the best epoch (all, ETC valid, the
held-out part of chABSA train), per-epoch validation accuracy, seconds of the
epochs (process CPU time, less sensitive to a busy machine than wall time) and
peak memory. ``--prefix`` sets e5's prefix (:func:`helpers.ja.e5.with_prefix`;
by default the book's, :class:`helpers.ja.SentimentSettings`), ``--bf16-cache``
or ``--no-bf16-cache`` runs the caching pass under bf16 autocast or in float32
(``TrainSettings.bf16_cache``; by default as the book does), ``--bf16-train``
or ``--no-bf16-train`` trains the top layers under bf16 autocast or in
float32 (``TrainSettings.bf16_train``; by default as the book does).
No test sentence is read: score the chosen setting once with
``python -m helpers.book.prepare``.

    source .ci/data_env.sh   # CHABSA_DIR, ETC_DIR
    python bench/bench_ja.py --layers 2 --lr 2e-4 1e-4 --epochs 4 2
    python bench/bench_ja.py --layers 4 --lr 1e-4 --epochs 3
    python bench/bench_ja.py --layers 4 --lr 1e-4 --epochs 3 --prefix "query: "
    python bench/bench_ja.py --layers 4 --lr 1e-4 --epochs 3 --no-bf16-cache
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import _common
import numpy as np
import torch

from helpers import ja
from helpers.config import seed_everything
from helpers.ja.e5 import with_prefix
from helpers.ja.model import LABELS, data_max_length
from helpers.models import freeze_encoder
from helpers.train import loop

CPU = torch.device("cpu")


def validation_rows(args, layers: int, data: dict) -> list[dict]:
    """Every ``--lr`` x ``--epochs`` setting with ``layers`` trainable layers."""
    defaults = ja.SentimentSettings().training
    tokenizer, model = ja.load_e5_small(id2label=LABELS, seed=args.seed)
    if args.prefix:
        with_prefix(tokenizer, args.prefix)
    length = data_max_length(tokenizer, data["train"].texts, args.max_length)
    base = defaults.with_(
        trainable_layers=layers,
        max_length=length,
        seed=args.seed,
        bf16_cache=args.bf16_cache,
        bf16_train=args.bf16_train,
    )
    freeze_encoder(model, layers)
    start = time.process_time()
    train, val, _ = loop._pipelines(
        model, tokenizer, (data["train"], data["valid"]), base, None, CPU
    )
    cache_s = time.process_time() - start
    learns = model.named_parameters()
    fresh = {k: v.detach().clone() for k, v in learns if v.requires_grad}
    n_etc, labels = len(data["etc_valid"]), np.array(data["valid"].labels)
    rows = []
    for lr, epochs in itertools.product(args.lr, args.epochs):
        settings = base.with_(lr=lr, epochs=epochs)
        train.settings = val.settings = settings
        model.load_state_dict(fresh, strict=False)
        seed_everything(settings.seed)
        start = time.process_time()
        history, best = loop._fit(model, tokenizer, train, val, settings, CPU, None)
        fit_s = time.process_time() - start
        model.eval()
        preds = np.zeros(len(labels), dtype=int)
        with torch.no_grad():
            for batch in val.batches(None):
                preds[batch["index"]] = val.forward(batch).argmax(-1).numpy()
        right = preds == labels
        rows.append(
            {
                "layers": layers,
                "prefix": args.prefix,
                "bf16_cache": args.bf16_cache,
                "bf16_train": args.bf16_train,
                "max_length": length,
                "lr": lr,
                "epochs": epochs,
                "best_epoch": best,
                "valid": float(right.mean()),
                "etc_valid": float(right[:n_etc].mean()),
                "chabsa_valid": float(right[n_etc:].mean()),
                "by_epoch": [round(h["val_acc"], 3) for h in history],
                "cache_cpu_s": round(cache_s),
                "fit_cpu_s": round(fit_s),
                "peak_rss_mib": round(_common.peak_rss_mib()),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    train.close()
    val.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[2])
    parser.add_argument("--lr", type=float, nargs="+", default=[2e-4])
    parser.add_argument("--epochs", type=int, nargs="+", default=[2])
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--prefix",
        default=ja.SentimentSettings().prefix,
        help="e5's prefix before every text ('' for none)",
    )
    parser.add_argument(
        "--bf16-cache",
        action=argparse.BooleanOptionalAction,
        default=ja.SentimentSettings().training.bf16_cache,
        help="run the frozen bottom's caching pass under bf16 autocast "
        "(default: the book's, SentimentSettings)",
    )
    parser.add_argument(
        "--bf16-train",
        action=argparse.BooleanOptionalAction,
        default=ja.SentimentSettings().training.bf16_train,
        help="train the top layers and the head under bf16 autocast, the "
        "optimizer in float32 (default: the book's, SentimentSettings)",
    )
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    data = ja.sentiment_data()
    print(f"{_common.machine()}; {len(data['train'])} training sentences")
    rows = [r for k in args.layers for r in validation_rows(args, k, data)]
    print("layers  lr      epochs  best  valid  ETC    chABSA  cache_s  fit_s")
    for r in rows:
        print(
            f"{r['layers']:<7} {r['lr']:<7.0e} {r['epochs']:<7} {r['best_epoch']:<5} "
            f"{r['valid']:.3f}  {r['etc_valid']:.3f}  {r['chabsa_valid']:.3f}   "
            f"{r['cache_cpu_s']:<8} {r['fit_cpu_s']}"
        )
    if args.json:
        _common.write_json(args.json, rows)


if __name__ == "__main__":
    main()
