"""Fast tokenizer in batches vs transformers' slow BertTokenizer one review at a time.

The helpers' path (``helpers.data.tokenize_truncated``, what ``TokenizedReviews``
uses for training and evaluation) also skips the words beyond ``max_length``;
the plain fast-tokenizer call is timed too, so each part of the gain shows.

The fast tokenizer (Rust) encodes a batch on all cores (a Rayon thread pool);
the slow one is Python, one thread. So the fast side is timed twice: as it
runs by default, and in a child process limited to one thread
(``TOKENIZERS_PARALLELISM=false``, ``RAYON_NUM_THREADS=1``, set before the
tokenizer starts). The one-thread ratio is the tokenizer's own speed-up; the
rest is parallelism.

Same reviews (all of IMDb train when $IMDB_DIR is set or IMDb is in the data dir,
else the sample repeated to at least --min-reviews), same vocabulary; checks the
ids are identical and prints reviews per second of each and the ratios.

    OMP_NUM_THREADS=1 python bench/bench_tokenize.py [--limit N] [--max-length 256]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

from _common import child_json

from helpers import data
from helpers.config import get_profile
from helpers.models import load_tokenizer, packaged_model_path

ONE_THREAD = {
    "TOKENIZERS_PARALLELISM": "false",
    "RAYON_NUM_THREADS": "1",
    "RAYON_RS_NUM_CPUS": "1",
}


def reviews(limit: int | None, min_reviews: int) -> tuple[list[str], str]:
    try:
        rs = data.read_imdb_split(data.find_imdb(download_if_missing=False), "train")
    except data.DataError:
        rs = data.synthetic_reviews("train", per_label=60)
        rs.texts = (rs.texts * (min_reviews // len(rs.texts) + 1))[:min_reviews]
    texts = rs.texts[:limit] if limit else rs.texts
    return texts, rs.source


def time_fast(texts, max_length: int, batch_size: int) -> dict:
    """Seconds of the helpers' path and of the plain fast call, and their ids."""
    fast = load_tokenizer()

    def batched(encode):
        ids, t0 = [], time.perf_counter()
        for i in range(0, len(texts), batch_size):
            ids += encode(texts[i : i + batch_size])["input_ids"]
        return ids, time.perf_counter() - t0

    raw_ids, t_raw = batched(lambda b: fast(b, truncation=True, max_length=max_length))
    ids, t_helpers = batched(lambda b: data.tokenize_truncated(fast, b, max_length))
    return {"helpers": t_helpers, "raw": t_raw, "ids": ids, "raw_ids": raw_ids}


def digest(ids) -> str:
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()


def time_fast_one_thread(argv: list[str]) -> dict:
    """:func:`time_fast` in a child process whose tokenizer has one thread."""
    return child_json(__file__, [*argv, "--fast-only"], env=ONE_THREAD)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--limit", type=int, default=None, help="use only the first N reviews"
    )
    ap.add_argument("--min-reviews", type=int, default=5000)
    ap.add_argument("--max-length", type=int, default=get_profile().max_length)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--fast-only", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    texts, source = reviews(args.limit, args.min_reviews)
    if args.fast_only:  # the child: print the one-thread timings as JSON
        got = time_fast(texts, args.max_length, args.batch_size)
        print(
            json.dumps(
                {
                    "helpers": got["helpers"],
                    "raw": got["raw"],
                    "ids": digest(got["ids"]),
                }
            )
        )
        return
    from transformers import BertTokenizerLegacy

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    parallel = os.environ.get("TOKENIZERS_PARALLELISM", "").lower() not in (
        "false",
        "0",
    )
    shown = f"all {cores} cores" if parallel else "1 thread (TOKENIZERS_PARALLELISM)"
    print(f"{len(texts)} reviews from {source}; max_length={args.max_length}")
    many = time_fast(texts, args.max_length, args.batch_size)
    one = time_fast_one_thread(argv)
    slow = BertTokenizerLegacy.from_pretrained(packaged_model_path())
    t0 = time.perf_counter()
    slow_ids = [
        slow(t, truncation=True, max_length=args.max_length)["input_ids"] for t in texts
    ]
    t_slow = time.perf_counter() - t0

    triples = zip(many["ids"], many["raw_ids"], slow_ids, strict=True)
    same = sum(a == b == c for a, b, c in triples)
    same_child = one["ids"] == digest(many["ids"])
    print(f"identical ids (helpers = fast = slow): {same}/{len(texts)}")
    print(f"identical ids with one thread: {same_child}")
    rows = [
        (f"helpers, batched, {shown}", many["helpers"]),
        (f"fast call, batched, {shown}", many["raw"]),
        ("helpers, batched, 1 thread", one["helpers"]),
        ("fast call, batched, 1 thread", one["raw"]),
        ("slow BertTokenizer, 1 by 1, 1 thread", t_slow),
    ]
    for name, seconds in rows:
        print(
            f"{name:44s}: {len(texts) / seconds:10.1f} reviews/s ({seconds:.2f} s; "
            f"{t_slow / seconds:5.1f}x slow)"
        )
    threads = one["helpers"] / many["helpers"]
    print(
        f"ratio helpers/slow: {t_slow / many['helpers']:.1f}x as run (target >= 10x) "
        f"= {t_slow / one['helpers']:.1f}x with one thread each "
        f"x {threads:.1f}x from the fast tokenizer's threads"
    )
    if same != len(texts) or not same_child:
        raise SystemExit(
            "token ids differ between the helpers, the fast and the slow tokenizer"
        )


if __name__ == "__main__":
    main()
