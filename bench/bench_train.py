"""Seed-style fine-tuning loop vs the helpers' pipeline: speed and validation accuracy.

Seed style: every batch padded to ``--max-length`` tokens, the full model run on
every step, the last encoder layer + head trainable (frozen layers kept in eval
mode so both pipelines train the same function, see chapter 2).
Helpers: ``helpers.train.train_classifier`` (frozen bottom cached once per
review, [CLS]-only last layer, length-bucketed dynamic padding).

Same reviews, same seed, same epochs, same optimizer. Prints samples per second
(training samples x epochs / total wall time, feature caching and validation
included) and the validation accuracy of each. Figures are printed, not asserted.

    export IMDB_DIR=/tmp/imdb/aclImdb   # else a synthetic sample is used
    python bench/bench_train.py --train-size 400 --val-size 200 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import time

import _common  # noqa: F401  (the checkout on sys.path)
import torch

from helpers import inputs, train
from helpers.config import PACKAGED_MODEL, seed_everything
from helpers.data import (
    TokenizedReviews,
    load_reviews,
    make_collate,
    make_loader,
    read_imdb_split,
    train_val_split,
)
from helpers.models import freeze_encoder, load_model


def bench_reviews(train_size: int, val_size: int, seed: int):
    """``train_size`` + ``val_size`` IMDb train reviews (half per label), split."""
    total = train_size + val_size
    if os.environ.get("IMDB_DIR"):
        reviews = read_imdb_split(
            os.environ["IMDB_DIR"], "train", per_label=total // 2, seed=seed
        )
    else:
        print("IMDB_DIR not set: using the synthetic sample (NOT IMDb).")
        reviews = load_reviews("train")
    return train_val_split(reviews, val_fraction=val_size / total, seed=seed)


def seed_style(args, train_set, val_set) -> dict:
    """The seed's loop: pad to max_length, full forward, last layer + head trainable.

    ``--order same`` (default) feeds the same index batches, epoch by epoch, as
    the helpers' sampler, so that the two runs differ only in the pipeline
    (padding, full forward, float32 activations) and not in which reviews
    share a batch; ``--order random`` shuffles like the seed's DataLoader.
    """
    seed_everything(args.seed)
    tokenizer, model = load_model(args.model)
    freeze_encoder(model, 1)
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad],
        lr=args.lr,
        betas=(0.9, 0.999),
    )
    scaler, device = train.make_scaler(torch.device("cpu")), torch.device("cpu")
    tokenized = TokenizedReviews(tokenizer, train_set, args.max_length)
    lengths = [len(f["input_ids"]) for f in tokenized.features]
    collate = make_collate(tokenizer, pad_to_max=True, max_length=args.max_length)
    val_loader = make_loader(
        tokenizer, val_set, args.batch_size, args.max_length, pad_to_max=True
    )

    def train_batches(epoch):
        if args.order == "random":
            return make_loader(
                tokenizer,
                train_set,
                args.batch_size,
                args.max_length,
                shuffle=True,
                pad_to_max=True,
                seed=args.seed + epoch,
            )
        order = inputs.batches_by_length(
            lengths, args.batch_size, shuffle=True, seed=args.seed, epoch=epoch
        )
        return train.token_batches(tokenized, collate, order)

    def forward(batch):
        return model(**{k: v for k, v in batch.items() if k != "labels"}).logits

    start, val = time.perf_counter(), None
    for epoch in range(1, args.epochs + 1):
        train.set_train_mode(model, 1)
        train.run_epoch(
            model,
            train_batches(epoch),
            forward,
            optimizer=optimizer,
            scaler=scaler,
            device=device,
            desc=f"seed-style epoch {epoch}",
        )
        model.eval()
        val = train.run_epoch(
            model, val_loader, forward, device=device, desc="seed-style val"
        )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "samples_per_s": args.epochs * len(train_set) / seconds,
        "val_acc": val["acc"],
    }


def helpers_style(args, train_set, val_set) -> dict:
    """``train_classifier`` with the same settings (its default fast path)."""
    # seeded: the same initial head as the seed-style run
    settings = train.TrainSettings(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        trainable_layers=1,
        seed=args.seed,
    )
    *_, result, seconds = train.train_fresh(
        args.model, train_set, val_set, settings, device="cpu"
    )
    return {
        "seconds": seconds,
        "samples_per_s": args.epochs * len(train_set) / seconds,
        "val_acc": result.history[-1]["val_acc"],
        "cache_seconds": result.cache_seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--val-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--model", default=PACKAGED_MODEL)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's choice)",
    )
    parser.add_argument(
        "--order",
        choices=("same", "random"),
        default="same",
        help="seed-style batches: the helpers' (same) or a shuffled DataLoader's",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    train_set, val_set = bench_reviews(args.train_size, args.val_size, args.seed)
    print(
        f"{len(train_set)} train / {len(val_set)} validation reviews "
        f"({train_set.source}); "
        f"{args.epochs} epochs, batch {args.batch_size}, max_length {args.max_length}, "
        f"{torch.get_num_threads()} threads, model {args.model}, seed-style batch "
        f"order: {args.order}"
    )
    seed = seed_style(args, train_set, val_set)
    fast = helpers_style(args, train_set, val_set)
    print(f"\n{'pipeline':12s} {'seconds':>8s} {'samples/s':>10s} {'val acc':>8s}")
    for name, r in (("seed-style", seed), ("helpers", fast)):
        print(
            f"{name:12s} {r['seconds']:8.1f} {r['samples_per_s']:10.2f} "
            f"{r['val_acc']:8.2%}"
        )
    print(
        f"speed-up: {fast['samples_per_s'] / seed['samples_per_s']:.2f}x "
        f"(helpers' feature caching: {fast['cache_seconds']:.1f} s of "
        f"{fast['seconds']:.1f} s); "
        f"val accuracy difference: {100 * (fast['val_acc'] - seed['val_acc']):+.2f} "
        "points"
    )


if __name__ == "__main__":
    main()
