"""Chapters 5–6 at scale: faithfulness, sanity and cost of every explanation method.

Writes, under ``--out`` (default ``<data_dir>/bench/faithfulness``):

* ``table.csv`` / ``table.md`` — AOPC comprehensiveness and sufficiency with
  95 % bootstrap CIs (1000 resamples over reviews, seeded), the paired
  difference to the random baseline, the share of selected tokens that were
  ties, the deletion/insertion AUCs and the sanity check (signed and
  absolute ρ after full randomisation, pass/fail);
* ``sanity.md`` — the sanity check per method: signed ρ and ρ of absolute
  values with CIs, n, and the reviews whose map became constant or NaN;
* ``timing.csv`` / ``timing.md`` — ms per review of each method's
  ``attribute`` calls, measured side by side on the same batches (each method
  alone, interleaved batch by batch), and the forward passes per review;
* ``summary.md`` — the generated conclusion (:func:`helpers.book.report.summarise`);
* ``curves.png``, ``agreement.png``, ``cascade.png`` — the chapter's figures;
* ``raw.npz`` — the per-review numbers, and ``settings.json``;
* ``faithfulness.json`` — the table rows, the costs and each method's
  per-review AOPC, which ``bench/bench_plausibility.py`` reads for chapter
  6's verdict.

Examples::

    python bench/bench_faithfulness.py --n 500                 # the chapter-2 model
    python bench/bench_faithfulness.py --n 500 --model path/to/checkpoint --ig-steps 50
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time

import numpy as np
import torch
from _common import (
    HANDOFF,
    add_explain_arguments,
    faithfulness_handoff,
    load_classifier,
    machine,
    output_folder,
    write_json,
)

from helpers import attr, config, metrics
from helpers.book import layer_plots, plots, report
from helpers.data import text_batches


def parse_args(argv=None):
    """The command line (defaults from the profile where it has one)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_explain_arguments(parser, 500, "IMDb test reviews")
    add = parser.add_argument
    add("--max-length", type=int, default=None, help="tokens per review (profile)")
    add("--ig-baseline", choices=("pad", "mask"), default="pad")
    add("--internal-batch-size", type=int, default=32, help="IG copies per pass")
    add("--batch-size", type=int, default=8, help="reviews explained together")
    add("--forward-batch-size", type=int, default=64, help="masked copies per pass")
    add(
        "--no-layer-rows",
        action="store_true",
        help="leave out the per-layer Grad-CAM rows (keep the normalised mean)",
    )
    add("--cascade-n", type=int, default=50, help="sanity-check reviews (0 = skip)")
    add("--cascade-ig-steps", type=int, default=None, help="IG steps in the cascade")
    add("--timing-n", type=int, default=64, help="reviews timed per method (0 = skip)")
    add(
        "--curve-fractions",
        default=None,
        help="deletion/insertion grid, e.g. 0,0.1,0.2,...,1 (default: the AOPC k's)",
    )
    add("--threads", type=int, default=None, help="torch CPU threads")
    return parser.parse_args(argv)


def pick_reviews(profile, n: int, seed: int):
    """A seeded sample of ``n`` test reviews (the profile's, or all of IMDb test)."""
    from helpers.data import load_reviews

    available = 25_000 if profile.test_per_label is None else 2 * profile.test_per_label
    source_profile = profile if n <= available else profile.with_(test_per_label=None)
    reviews = load_reviews("test", source_profile)
    if not reviews.source.startswith("IMDb"):  # e.g. "synthetic sample (NOT IMDb...)"
        print(
            f"WARNING: {reviews.source}: the numbers are not IMDb numbers.",
            file=sys.stderr,
        )
    order = np.random.default_rng(seed).permutation(len(reviews))[:n]
    return reviews.subset(order.tolist())


def time_methods(model, make, texts, tokenizer, max_length, batch_size, seed):
    """ms and model passes per review of each method, measured side by side.

    Each method gets its own registry, so no Grad-CAM pass is shared with
    another entry; :func:`helpers.metrics.cost.measure_cost` runs them on the
    same batches, one after the other, in this process.
    """
    batches = text_batches(
        tokenizer, texts, max_length=max_length, batch_size=batch_size, warn=False
    )
    names = list(make(model, seed=seed))
    own = {name: make(model, seed=seed)[name] for name in names}
    costs = metrics.cost.measure_cost(model, own, batches)
    return costs, [
        {
            "method": m,
            "ms/review": c.ms,
            "forward passes/review": c.forwards,
            "backward passes/review": c.backwards,
            "n": c.n,
        }
        for m, c in costs.items()
    ]


def sanity_rows(cascade) -> list[dict]:
    """One row per method: signed and absolute ρ with CIs, n, constant maps, verdict."""
    return [
        {
            "method": m,
            "cascade rho": cascade.final(m, "signed"),
            "cascade rho abs": cascade.final(m, "abs"),
            "n": cascade.n,
            "constant maps": cascade.n_degenerate(m),
            "sanity": cascade.verdict(m),
        }
        for m in cascade.methods
    ]


def write_outputs(out, results, cascade, rows, timing, seed):
    """Tables, summary, figures and per-review arrays under ``out``
    (the per-layer figures when the per-layer Grad-CAM rows were measured)."""
    layers = bool(report.layer_methods(results.methods))
    report.write_csv(rows, out / "table.csv")
    (out / "table.md").write_text(report.table_markdown(rows) + "\n")
    if cascade is not None:
        sanity = sanity_rows(cascade)
        (out / "sanity.md").write_text(report.table_markdown(sanity, list(sanity[0])))
        plots.plot_cascade(cascade, out / "cascade.png", seed=seed)
        if layers:
            layer_plots.plot_cascade_layers(
                cascade, out / "cascade_layers.png", seed=seed
            )
    if timing:
        report.write_csv(timing, out / "timing.csv")
        (out / "timing.md").write_text(report.table_markdown(timing, list(timing[0])))
    plots.plot_curves(results, out / "curves.png")
    if layers:
        layer_plots.plot_layer_curves(results, out / "curves_layers.png")
    plots.plot_agreement(results, out / "agreement.png")
    raw = {
        f"{metric}/{m}": getattr(results, metric)[m]
        for metric in ("comprehensiveness", "sufficiency", "deletion", "insertion")
        for m in results.methods
    }
    raw.update({f"tied/{m}": results.tied[m] for m in results.methods})
    raw.update(
        selected=results.selected,
        agreement=results.agreement,
        p_full=results.p_full,
        n_tokens=results.n_tokens,
    )
    if cascade is not None:
        for m in cascade.methods:
            raw[f"cascade/{m}"] = cascade.rho[m]
            raw[f"cascade_abs/{m}"] = cascade.rho_abs[m]
            raw[f"cascade_constant/{m}"] = cascade.degenerate[m]
    np.savez_compressed(out / "raw.npz", **raw)


def measure(args, profile, model, tokenizer, reviews, seed: int):
    """Faithfulness, the sanity check and the cost: ``(results, cascade,
    timing rows, costs, seconds per part)``."""
    ig_steps = args.ig_steps or profile.ig_steps
    max_length = args.max_length or profile.explain_max_length
    make = functools.partial(
        attr.explainers,
        tokenizer=tokenizer,
        ig_steps=ig_steps,
        ig_baseline=args.ig_baseline,
        internal_batch_size=args.internal_batch_size,
        random_draws=args.random_draws,
        gradcam_layers=not args.no_layer_rows,
    )
    curve = (
        tuple(float(x) for x in args.curve_fractions.split(","))
        if args.curve_fractions
        else metrics.CURVE_FRACTIONS
    )
    batches = {"max_length": max_length, "batch_size": args.batch_size}
    seconds, start = {}, time.time()
    results = metrics.evaluate_faithfulness(
        model,
        tokenizer,
        reviews.texts,
        make(model, seed=seed),
        curve_fractions=curve,
        forward_batch_size=args.forward_batch_size,
        seed=seed,
        **batches,
    )
    seconds["faithfulness"] = time.time() - start
    cascade = None
    if args.cascade_n > 0:
        start = time.time()
        cascade = metrics.sanity_check(
            model,
            tokenizer,
            reviews.texts[: args.cascade_n],
            functools.partial(make, ig_steps=args.cascade_ig_steps or ig_steps),
            seed=seed,
            **batches,
        )
        seconds["cascade"] = time.time() - start
    timing, costs = [], {}
    if args.timing_n > 0:
        start = time.time()
        costs, timing = time_methods(
            model,
            make,
            reviews.texts[: args.timing_n],
            tokenizer,
            max_length,
            args.batch_size,
            seed,
        )
        seconds["timing"] = time.time() - start
    return results, cascade, timing, costs, seconds


def run_settings(args, profile, reviews, results, cascade, timing, extra) -> dict:
    """What ``settings.json`` records of the run."""
    ig_steps = args.ig_steps or profile.ig_steps
    return {
        **results.settings,
        "source": reviews.source,
        "model": args.model or profile.model_name,
        "profile": profile.name,
        "ig_steps": ig_steps,
        "ig_baseline": args.ig_baseline,
        "random_draws": args.random_draws,
        "cascade_reviews": min(args.cascade_n, len(reviews)),
        "cascade_ig_steps": args.cascade_ig_steps or ig_steps,
        "cascade_steps": cascade.steps if cascade else [],
        "timing_reviews": timing[0]["n"] if timing else 0,
        "threads": torch.get_num_threads(),
        "machine": machine("cpu"),
        **extra,
        "methods": results.methods,
        "aopc_fractions": list(results.fractions),
        "curve_fractions": list(results.curve_fractions),
    }


def print_tables(rows, cascade, timing, summary: str) -> None:
    """The faithfulness table, the sanity check, the cost and the summary."""
    print(report.table_markdown(rows))
    if cascade is not None:
        print("\nSanity check (last step):")
        sanity = sanity_rows(cascade)
        print(report.table_markdown(sanity, list(sanity[0])))
    if timing:
        print(f"\nCost ({timing[0]['n']} reviews, each method alone, side by side):")
        print(report.table_markdown(timing, list(timing[0])))
    print()
    print(summary)


def main(argv=None) -> int:
    """Run the benchmark; print the tables and the summary."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    profile = config.get_profile(args.profile)
    seed = profile.seed if args.seed is None else args.seed
    config.seed_everything(seed)
    out = output_folder(args)
    tokenizer, model = load_classifier(args, profile)
    model.eval()  # CPU: the timings below are this machine's CPU
    reviews = pick_reviews(profile, args.n, seed)
    print(
        f"{reviews}; model {args.model or profile.model_name}; max_length "
        f"{args.max_length or profile.explain_max_length}; IG "
        f"{args.ig_steps or profile.ig_steps} steps ({args.ig_baseline} baseline); "
        f"{torch.get_num_threads()} threads"
    )
    results, cascade, timing, costs, seconds = measure(
        args, profile, model, tokenizer, reviews, seed
    )
    rows = report.results_table(results, cascade, seed=seed)
    write_outputs(out, results, cascade, rows, timing, seed)
    # for bench_plausibility's verdict
    write_json(out / HANDOFF, faithfulness_handoff(results, rows, costs, seed))
    summary = report.summarise(rows, cascade)
    (out / "summary.md").write_text(summary + "\n")
    extra = {"seed": seed, "seconds": seconds}
    settings = run_settings(args, profile, reviews, results, cascade, timing, extra)
    (out / "settings.json").write_text(json.dumps(settings, indent=2))
    print_tables(rows, cascade, timing, summary)
    print(f"\nseconds: {json.dumps({k: round(v) for k, v in seconds.items()})}")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
