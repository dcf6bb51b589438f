"""Chapter 5 at scale: faithfulness of every explanation method on IMDb test reviews.

Writes, under ``--out`` (default ``<data_dir>/bench/faithfulness``):

* ``table.csv`` / ``table.md`` — AOPC comprehensiveness and sufficiency with
  95 % bootstrap CIs (1000 resamples over reviews, seeded), the paired
  difference to the random baseline, deletion/insertion AUCs and the
  sanity-check correlation after full randomisation;
* ``summary.md`` — the generated conclusion (:func:`helpers.faithfulness.summarise`);
* ``curves.png``, ``agreement.png``, ``cascade.png`` — the chapter's figures;
* ``raw.npz`` — the per-review numbers, and ``settings.json``.

Examples::

    python bench/bench_faithfulness.py --n 500                       # the chapter-2 model
    python bench/bench_faithfulness.py --n 500 --model path/to/checkpoint --ig-steps 50
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import faithfulness as F
from helpers.config import data_dir, device, get_profile, seed_everything


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--n", type=int, default=500, help="IMDb test reviews to evaluate (default 500)"
    )
    parser.add_argument(
        "--model",
        default=None,
        help="checkpoint folder (save_pretrained); default: get_finetuned_model(profile)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="quick or full (default: $BERT_BOOK_PROFILE or quick)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default <data_dir>/bench/faithfulness)",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="tokens per review (default: profile)",
    )
    parser.add_argument(
        "--ig-steps",
        type=int,
        default=50,
        help="integrated-gradients steps (default 50)",
    )
    parser.add_argument("--ig-baseline", choices=("pad", "mask"), default="pad")
    parser.add_argument(
        "--internal-batch-size", type=int, default=32, help="IG copies per forward pass"
    )
    parser.add_argument(
        "--batch-size", type=int, default=8, help="reviews explained together"
    )
    parser.add_argument(
        "--forward-batch-size",
        type=int,
        default=64,
        help="masked copies per forward pass",
    )
    parser.add_argument(
        "--cascade-n",
        type=int,
        default=50,
        help="reviews for the sanity check (0 = skip)",
    )
    parser.add_argument(
        "--cascade-ig-steps",
        type=int,
        default=None,
        help="IG steps in the cascade (default --ig-steps)",
    )
    parser.add_argument(
        "--curve-fractions",
        default=None,
        help="comma-separated deletion/insertion grid, e.g. 0,0.1,0.2,...,1 (default: the AOPC k's)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed (default: profile seed)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser.parse_args(argv)


def load(args, profile):
    """(tokenizer, model) from --model, else the chapter-2 model of the profile."""
    if args.model:
        from helpers.models import load_model

        return load_model(args.model, attn_implementation="eager")
    from helpers.training import get_finetuned_model

    return get_finetuned_model(profile, attn_implementation="eager")


def pick_reviews(profile, n: int, seed: int):
    """A seeded sample of ``n`` test reviews (as loaded for the profile, or all of IMDb test)."""
    from helpers.data import load_reviews

    reviews = load_reviews(
        "test",
        profile if n <= _available(profile) else profile.with_(test_per_label=None),
    )
    if "not IMDb" in reviews.source:
        print(
            f"WARNING: {reviews.source}: the numbers are not IMDb numbers.",
            file=sys.stderr,
        )
    order = np.random.default_rng(seed).permutation(len(reviews))[:n]
    return reviews.subset(order.tolist())


def _available(profile) -> int:
    return 25_000 if profile.test_per_label is None else 2 * profile.test_per_label


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    profile = get_profile(args.profile)
    seed = profile.seed if args.seed is None else args.seed
    max_length = args.max_length or profile.max_length
    seed_everything(seed)
    out = Path(args.out) if args.out else data_dir() / "bench" / "faithfulness"
    out.mkdir(parents=True, exist_ok=True)

    tokenizer, model = load(args, profile)
    model.to(device()).eval()
    reviews = pick_reviews(profile, args.n, seed)
    print(
        f"{reviews}; model {args.model or profile.model_name}; device {device()}; "
        f"max_length {max_length}; IG {args.ig_steps} steps ({args.ig_baseline} baseline)"
    )

    make = functools.partial(
        F.explainers,
        tokenizer=tokenizer,
        ig_steps=args.ig_steps,
        ig_baseline=args.ig_baseline,
        internal_batch_size=args.internal_batch_size,
    )
    curve = (
        tuple(float(x) for x in args.curve_fractions.split(","))
        if args.curve_fractions
        else F.CURVE_FRACTIONS
    )
    start = time.time()
    results = F.evaluate_faithfulness(
        model,
        tokenizer,
        reviews.texts,
        make(model, seed=seed),
        curve_fractions=curve,
        max_length=max_length,
        batch_size=args.batch_size,
        forward_batch_size=args.forward_batch_size,
    )
    seconds = {"faithfulness": time.time() - start}

    cascade = None
    if args.cascade_n > 0:
        start = time.time()
        steps = args.cascade_ig_steps or args.ig_steps
        make_cascade = functools.partial(make, ig_steps=steps)
        cascade = F.sanity_check(
            model,
            tokenizer,
            reviews.texts[: args.cascade_n],
            make_cascade,
            seed=seed,
            max_length=max_length,
            batch_size=args.batch_size,
        )
        seconds["cascade"] = time.time() - start

    rows = F.results_table(results, cascade, seed=seed)
    F.write_csv(rows, out / "table.csv")
    (out / "table.md").write_text(F.table_markdown(rows) + "\n")
    summary = F.summarise(rows, cascade)
    (out / "summary.md").write_text(summary + "\n")
    F.plot_curves(results, out / "curves.png")
    F.plot_agreement(results, out / "agreement.png")
    if cascade is not None:
        F.plot_cascade(cascade, out / "cascade.png", seed=seed)
    raw = {
        f"{metric}/{m}": getattr(results, metric)[m]
        for metric in ("comprehensiveness", "sufficiency", "deletion", "insertion")
        for m in results.methods
    }
    raw.update(
        agreement=results.agreement, p_full=results.p_full, n_tokens=results.n_tokens
    )
    if cascade is not None:
        raw.update({f"cascade/{m}": cascade.rho[m] for m in cascade.methods})
    np.savez_compressed(out / "raw.npz", **raw)
    settings = {
        **results.settings,
        "source": reviews.source,
        "model": args.model or profile.model_name,
        "profile": profile.name,
        "ig_steps": args.ig_steps,
        "ig_baseline": args.ig_baseline,
        "cascade_reviews": min(args.cascade_n, len(reviews)),
        "cascade_ig_steps": args.cascade_ig_steps or args.ig_steps,
        "cascade_steps": cascade.steps if cascade else [],
        "seed": seed,
        "device": str(device()),
        "seconds": seconds,
        "methods": results.methods,
        "aopc_fractions": list(results.fractions),
        "curve_fractions": list(results.curve_fractions),
    }
    (out / "settings.json").write_text(json.dumps(settings, indent=2))
    print(F.table_markdown(rows))
    print()
    print(summary)
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
