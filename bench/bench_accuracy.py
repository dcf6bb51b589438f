"""Test accuracy of the fine-tuned classifier on IMDb (target: >= 88 %, 25k test).

Trains with ``helpers.training.train_classifier`` on IMDb train (all of it by
default; 20 % held out for choosing the best epoch) and evaluates on the test
split (all 25,000 reviews by default). Needs ``IMDB_DIR`` (or IMDb under the
data dir). Long on a CPU at full size: use a GPU, or ``--train-size`` /
``--test-size`` for a smaller run. Measured on a 2-core CPU (2026-11-27):
89.28 % test accuracy with the defaults (70 min training incl. feature caching,
25 min test prediction); 87.90 % with ``--trainable-layers 1``.

    export IMDB_DIR=/tmp/imdb/aclImdb
    python bench/bench_accuracy.py                       # full run (2 trainable layers)
    python bench/bench_accuracy.py --trainable-layers 1  # the quick profile's setting
    python bench/bench_accuracy.py --train-size 2000 --test-size 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from helpers import training
from helpers.config import PACKAGED_MODEL, get_profile, seed_everything
from helpers.data import find_imdb, read_imdb_split, train_val_split
from helpers.models import load_model


def main(argv=None):
    quick = get_profile("quick")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="train reviews (half per label); default all 25k",
    )
    parser.add_argument(
        "--test-size",
        type=int,
        default=None,
        help="test reviews (half per label); default all 25k",
    )
    parser.add_argument("--model", default=PACKAGED_MODEL)
    parser.add_argument("--epochs", type=int, default=quick.epochs)
    parser.add_argument("--lr", type=float, default=quick.lr)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument(
        "--trainable-layers",
        type=int,
        default=2,
        help="top encoder layers trained on cached features (-1 = full fine-tuning); "
        "the quick profile trains 1 (faster, less accurate: figures above)",
    )
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--save", default=None, help="folder to save the best checkpoint to"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    root = find_imdb(download_if_missing=True)
    half = lambda n: None if n is None else n // 2  # noqa: E731
    train_set, val_set = train_val_split(
        read_imdb_split(root, "train", half(args.train_size), args.seed), 0.2, args.seed
    )
    test_set = read_imdb_split(root, "test", half(args.test_size), args.seed)
    layers = None if args.trainable_layers < 0 else args.trainable_layers
    print(
        f"train {len(train_set)} / val {len(val_set)} / test {len(test_set)}; model "
        f"{args.model}; "
        f"trainable_layers={layers}, epochs={args.epochs}, lr={args.lr}"
    )
    seed_everything(args.seed)  # the classifier head's initialisation
    tokenizer, model = load_model(args.model)
    start = time.perf_counter()
    result = training.train_classifier(
        model,
        tokenizer,
        train_set,
        val_set,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        trainable_layers=layers,
        seed=args.seed,
        device=args.device,
        checkpoint_dir=args.save,
    )
    train_seconds = time.perf_counter() - start
    scores = training.evaluate(model, tokenizer, test_set, max_length=args.max_length)
    print(
        f"best epoch {result.best_epoch}: val acc {result.best['val_acc']:.2%}; "
        f"training {train_seconds:.0f} s"
    )
    print(
        f"TEST ACCURACY on {test_set.source}: {scores['accuracy']:.2%} (loss "
        f"{scores['loss']:.4f})"
    )
    print(f"confusion (rows true neg/pos, cols predicted):\n{scores['confusion']}")


if __name__ == "__main__":
    main()
