"""Fast tokenizer in batches vs transformers' slow BertTokenizer one review at a time.

The helpers' path (``helpers.data.tokenize_truncated``, what ``TokenizedReviews``
uses for training and evaluation) also skips the words beyond ``max_length``;
the plain fast-tokenizer call is timed too, so each part of the gain shows.

Same reviews (all of IMDb train when $IMDB_DIR is set or IMDb is in the data dir,
else the sample repeated to at least --min-reviews), same vocabulary; checks the
ids are identical and prints reviews per second of each and the ratio.

    python bench/bench_tokenize.py [--limit N] [--max-length 256]
"""

from __future__ import annotations

import argparse
import time

from transformers import BertTokenizerLegacy

from helpers import data
from helpers.config import get_profile
from helpers.models import load_tokenizer, packaged_model_path


def reviews(limit: int | None, min_reviews: int) -> tuple[list[str], str]:
    try:
        rs = data.read_imdb_split(data.find_imdb(download_if_missing=False), "train")
    except data.DataError:
        rs = data.synthetic_reviews("train", per_label=60)
        rs.texts = (rs.texts * (min_reviews // len(rs.texts) + 1))[:min_reviews]
    texts = rs.texts[:limit] if limit else rs.texts
    return texts, rs.source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--limit", type=int, default=None, help="use only the first N reviews"
    )
    ap.add_argument("--min-reviews", type=int, default=5000)
    ap.add_argument("--max-length", type=int, default=get_profile().max_length)
    ap.add_argument("--batch-size", type=int, default=1000)
    args = ap.parse_args()

    texts, source = reviews(args.limit, args.min_reviews)
    fast = load_tokenizer()
    slow = BertTokenizerLegacy.from_pretrained(packaged_model_path())
    print(f"{len(texts)} reviews from {source}; max_length={args.max_length}")

    def batched(encode):
        ids, t0 = [], time.perf_counter()
        for i in range(0, len(texts), args.batch_size):
            ids += encode(texts[i : i + args.batch_size])["input_ids"]
        return ids, time.perf_counter() - t0

    raw_ids, t_raw = batched(
        lambda b: fast(b, truncation=True, max_length=args.max_length)
    )
    fast_ids, t_fast = batched(
        lambda b: data.tokenize_truncated(fast, b, args.max_length)
    )

    t0 = time.perf_counter()
    slow_ids = [
        slow(t, truncation=True, max_length=args.max_length)["input_ids"] for t in texts
    ]
    t_slow = time.perf_counter() - t0

    same = sum(a == b == c for a, b, c in zip(fast_ids, raw_ids, slow_ids, strict=True))
    print(f"identical ids (helpers = fast = slow): {same}/{len(texts)}")
    print(
        f"helpers, batched (tokenize_truncated): {len(texts) / t_fast:10.1f} "
        f"reviews/s ({t_fast:.2f} s)"
    )
    print(
        f"fast tokenizer call, batched         : {len(texts) / t_raw:10.1f} reviews/s "
        f"({t_raw:.2f} s)"
    )
    print(
        f"slow BertTokenizer, 1 by 1           : {len(texts) / t_slow:10.1f} "
        f"reviews/s ({t_slow:.2f} s)"
    )
    print(
        f"ratio helpers/slow: {t_slow / t_fast:.1f}x (target >= 10x); fast call/slow: "
        f"{t_slow / t_raw:.1f}x"
    )
    if same != len(texts):
        raise SystemExit(
            "token ids differ between the helpers, the fast and the slow tokenizer"
        )


if __name__ == "__main__":
    main()
