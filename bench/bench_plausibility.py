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
* when ``bench_faithfulness.py`` has written ``results.pkl`` to the same
  folder (``--wait`` waits for it): the recommendation table (faithfulness
  and sanity from IMDb, plausibility from ERASER, cost per review) and the
  chapter's verdict against integrated gradients.

Example (the two benchmarks side by side, one thread each)::

    OMP_NUM_THREADS=1 python bench/bench_faithfulness.py --n 500 &
    OMP_NUM_THREADS=1 python bench/bench_plausibility.py --n 200 --wait 7200
"""

from __future__ import annotations

import argparse
import functools
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_faithfulness import load  # the one way the benchmarks load the model

from helpers import attr, config, eraser, metrics, recommend, report


def parse_args(argv=None):
    """The command line (defaults from the profile where it has one)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--n", type=int, default=200, help="ERASER validation reviews (default 200)")
    add("--max-length", type=int, default=512, help="tokens explained per review")
    add("--model", default=None, help="checkpoint folder; default: chapter-2 model")
    add("--profile", default=None, help="quick or full (default: $BERT_BOOK_PROFILE)")
    add("--out", default=None, help="output folder (<data_dir>/bench/faithfulness)")
    add("--ig-steps", type=int, default=None, help="IG steps (profile)")
    add("--random-draws", type=int, default=10, help="random maps per review")
    add("--wait", type=float, default=0, help="seconds to wait for results.pkl")
    add("--seed", type=int, default=None, help="seed (default: profile seed)")
    return parser.parse_args(argv)


def wait_for(path: Path, seconds: float):
    """The pickled faithfulness results at ``path``, waiting up to ``seconds``."""
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline:
        time.sleep(30)
    if not path.exists():
        return None
    with open(path, "rb") as f:
        return pickle.load(f)


def main(argv=None) -> int:
    """Run the benchmark; print the tables and the verdict."""
    args = parse_args(argv)
    profile = config.get_profile(args.profile)
    seed = profile.seed if args.seed is None else args.seed
    config.seed_everything(seed)
    out = Path(args.out) if args.out else config.data_dir() / "bench" / "faithfulness"
    out.mkdir(parents=True, exist_ok=True)
    tokenizer, model = load(args, profile)
    model.eval()
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
    seconds = time.time() - start
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
    saved.update(plausibility=plaus, faithfulness=faithful)
    try:  # the tables can be redone from it
        with open(out / "plausibility.pkl", "wb") as f:
            pickle.dump(saved, f)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        print(f"plausibility.pkl not written: {err}")
    imdb = wait_for(out / "results.pkl", args.wait)
    if imdb is not None and imdb["costs"]:
        rows, costs = imdb["rows"], imdb["costs"]
        table = recommend.recommendation_table(rows, plaus_rows, costs)
        text, checks = recommend.verdict(
            imdb["results"], rows, plaus_rows, costs, seed=seed
        )
        lines += [
            "",
            f"Recommendation (faithfulness, sanity and cost: {imdb['results'].n} IMDb "
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
    else:
        lines += ["", "(no results.pkl from bench_faithfulness.py: no verdict)"]
    text = "\n".join(lines)
    (out / "plausibility.md").write_text(text + "\n")
    report.write_csv(merged, out / "plausibility.csv")
    print(eraser.CITATION)
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
