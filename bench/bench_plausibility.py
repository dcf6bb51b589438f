"""Chapter 6 at scale: do the highlights agree with people? (ERASER Movies)

Explains ERASER Movies validation reviews (human rationales; DeYoung et al.
2020, Zaidan et al. 2007, Pang & Lee 2004) with every method of the registry
but the per-layer Grad-CAM rows, using the chapter-2 IMDb model (a transfer
test: no training on ERASER), and writes under ``--out`` (default
``<data_dir>/bench/faithfulness``, beside ``bench_faithfulness.py``'s files):

* ``plausibility.md`` / ``plausibility.csv`` — per method: token AUPRC and
  F1 at the rationale's length with 95 % bootstrap CIs and n, and ERASER's
  comprehensiveness / sufficiency on the same reviews (the same maps, served
  again by :class:`helpers.attr.StoredMaps`, not recomputed);
* ``plausibility.json`` — the same tables and the per-review AUPRC and F1;
* the recommendation table (faithfulness and sanity from IMDb, plausibility
  from ERASER, cost per review) and the chapter's verdict against integrated
  gradients, from the ``faithfulness.json`` that ``bench_faithfulness.py``
  wrote to the same folder: run it first. Without that file the script stops
  before explaining anything and names the command; ``--no-verdict`` leaves
  the verdict out instead.

Example::

    python bench/bench_faithfulness.py --n 500
    python bench/bench_plausibility.py --n 200
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np
from _common import (
    HANDOFF,
    add_explain_arguments,
    load_classifier,
    output_folder,
    read_faithfulness_handoff,
    write_json,
)

from helpers import attr, config, metrics
from helpers.book import recommend, report
from helpers.data import eraser


def parse_args(argv=None):
    """The command line (defaults from the profile where it has one)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_explain_arguments(parser, 200, "ERASER validation reviews")
    add = parser.add_argument
    add("--max-length", type=int, default=512, help="tokens explained per review")
    add(
        "--no-verdict",
        action="store_true",
        help=f"leave out the verdict (no {HANDOFF} from bench_faithfulness.py)",
    )
    return parser.parse_args(argv)


def measure(args, profile, model, tokenizer, seed: int):
    """Plausibility on ERASER, and faithfulness of the same maps on the same
    reviews: ``(plausibility result, faithfulness results, seconds)``."""
    docs = eraser.sample_eraser("val", args.n, seed=seed)
    make = functools.partial(
        attr.explainers,
        tokenizer=tokenizer,
        ig_steps=args.ig_steps or profile.ig_steps,
        random_draws=args.random_draws,
        gradcam_layers=False,
    )
    methods = make(model, seed=seed)
    start = time.time()
    plaus = metrics.plausibility.evaluate_plausibility(
        model,
        tokenizer,
        docs,
        methods,
        max_length=args.max_length,
        batch_size=4,
        seed=seed,
    )
    stored = {
        m: attr.StoredMaps(model, m, plaus.encoding.inputs, plaus.scores[m])
        for m in methods
        if m != attr.RANDOM
    }
    stored[attr.RANDOM] = methods[attr.RANDOM]
    faithful = metrics.evaluate_faithfulness(
        model,
        tokenizer,
        plaus.texts,
        stored,
        max_length=args.max_length,
        batch_size=4,
        forward_batch_size=32,
        seed=seed,
    )
    return plaus, faithful, time.time() - start


def verdict_lines(handoff, plaus_rows: list[dict], seed: int) -> list[str]:
    """The recommendation table, both axes and the verdict against IG."""
    aopc, rows, costs = handoff
    if not costs:
        return ["", f"({HANDOFF} holds no costs: run it with --timing-n > 0)"]
    table = recommend.recommendation_table(rows, plaus_rows, costs)
    text, checks = recommend.verdict(aopc, rows, plaus_rows, costs, seed=seed)
    return [
        "",
        f"Recommendation (faithfulness, sanity and cost: {aopc.n} IMDb "
        f"test reviews; plausibility: ERASER):",
        "",
        report.table_markdown(table, list(table[0])),
        "",
        recommend.both_axes(rows, plaus_rows),
        "",
        text,
        *[
            f"- {'met' if c.met else 'NOT met'}: {c.condition}: {c.measured}"
            for c in checks
        ],
    ]


def main(argv=None) -> int:
    """Run the benchmark; print the tables and the verdict."""
    args = parse_args(argv)
    profile = config.get_profile(args.profile)
    seed = profile.seed if args.seed is None else args.seed
    config.seed_everything(seed)
    out = output_folder(args)
    # read first: a missing hand-off stops the run before the long part
    handoff = None if args.no_verdict else read_faithfulness_handoff(out)
    tokenizer, model = load_classifier(args, profile)
    model.eval()
    plaus, faithful, seconds = measure(args, profile, model, tokenizer, seed)
    plaus_rows = recommend.plausibility_table(plaus, seed=seed)
    eraser_rows = report.results_table(faithful, seed=seed)
    merged = [
        {**p, **{k: e[k] for k in ("comprehensiveness", "sufficiency", "ties")}}
        for p, e in zip(plaus_rows, eraser_rows, strict=True)
    ]
    lines = [
        f"ERASER Movies validation: {len(plaus)} reviews, first {args.max_length} "
        f"tokens, chapter-2 IMDb model (no training on ERASER); accuracy "
        f"{plaus.accuracy:.3f}; share of the human rationale inside the explained "
        f"part {float(np.nanmean(plaus.coverage)):.3f} (mean over reviews); "
        f"reviews with a rationale token in view: {int(plaus.scored.sum())}; "
        f"{seconds:.0f} s",
        "",
        report.table_markdown(merged, list(merged[0])),
    ]
    saved = {"rows": plaus_rows, "eraser_rows": eraser_rows, "merged": merged}
    saved.update(auprc=plaus.auprc, f1=plaus.f1, ids=plaus.ids)
    write_json(out / "plausibility.json", saved)  # the tables can be redone from it
    if handoff is None:
        lines += ["", "(--no-verdict: no recommendation table, no verdict)"]
    else:
        lines += verdict_lines(handoff, plaus_rows, seed)
    text = "\n".join(lines)
    (out / "plausibility.md").write_text(text + "\n")
    report.write_csv(merged, out / "plausibility.csv")
    print(eraser.CITATION)
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
