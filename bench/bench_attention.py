"""Benchmark: attention extraction + HTML rendering, review after review (chapter 3).

For ``--n`` reviews (IMDb test when ``$IMDB_DIR`` is set, a seeded sample;
else the book's synthetic sample repeated) this runs what chapter 3 does for
one review, on all of them:

1. :func:`helpers.attention.review_attentions`: every layer's and head's
   attention, ``--batch-size`` reviews of similar length per forward pass
   (eager attention), at most ``--max-length`` tokens;
2. :func:`helpers.attention.render_review`: the seed's per-head grid (12 heads
   and their mean, last layer) and the rollout view, as HTML.

Only one batch of attention tensors is alive at a time; the script reports
reviews per second (extraction, rendering, total), HTML bytes per review,
and peak resident memory (``ru_maxrss`` after loading the model and at the
end), next to what holding every review's attention at once would take.

    IMDB_DIR=/tmp/imdb/aclImdb .venv/bin/python bench/bench_attention.py --n 100
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings

import torch
from _common import peak_rss_mib

from helpers.attention import render_review, review_attentions
from helpers.config import PACKAGED_MODEL
from helpers.data import IMDB_ENV, TruncationWarning, read_imdb_split, synthetic_reviews
from helpers.models import load_model


def review_texts(n: int, seed: int = 1234) -> tuple[list[str], list[int], str]:
    """``n`` labelled reviews and their source.

    IMDb test, else the synthetic sample repeated.
    """
    root = os.environ.get(IMDB_ENV)
    if root:
        reviews = read_imdb_split(root, "test", per_label=math.ceil(n / 2), seed=seed)
        source = reviews.source
    else:
        reviews = synthetic_reviews("test", seed=seed)
        source = f"{reviews.source}, repeated"
    texts = [reviews.texts[i % len(reviews)] for i in range(n)]
    labels = [reviews.labels[i % len(reviews)] for i in range(n)]
    return texts, labels, source


def run(n: int, batch_size: int, max_length: int, model_name: str) -> dict:
    """Extract and render ``n`` reviews; return the figures."""
    tokenizer, model = load_model(model_name, attn_implementation="eager")
    texts, labels, source = review_texts(n)
    rss_model = peak_rss_mib()
    extract_s = render_s = 0.0
    html_bytes = tokens = n_truncated = 0
    biggest = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        start = time.perf_counter()
        stream = review_attentions(
            model, tokenizer, texts, max_length=max_length, batch_size=batch_size
        )
        while True:
            t0 = time.perf_counter()
            try:
                index, ra = next(stream)
            except StopIteration:
                break
            t1 = time.perf_counter()
            html = render_review(
                ra, head="grid", true_label=labels[index], name=f"review {index}"
            )
            html += render_review(
                ra, rollout=True, true_label=labels[index], name=f"review {index}"
            )
            t2 = time.perf_counter()
            extract_s += t1 - t0
            render_s += t2 - t1
            html_bytes += len(html.encode("utf-8"))
            tokens += len(ra.tokens)
            biggest = max(biggest, ra.attentions.numel() * 4)
            n_truncated += ra.truncated
        total_s = time.perf_counter() - start
    warned = any(issubclass(w.category, TruncationWarning) for w in caught)
    cfg = model.config
    all_at_once = (
        n * cfg.num_hidden_layers * cfg.num_attention_heads * max_length**2 * 4
    )
    return {
        "model": model_name,
        "layers": cfg.num_hidden_layers,
        "heads": cfg.num_attention_heads,
        "source": source,
        "reviews": n,
        "batch_size": batch_size,
        "max_length": max_length,
        "threads": torch.get_num_threads(),
        "mean_tokens": round(tokens / n, 1),
        "truncated_reviews": n_truncated,
        "truncation_warned": warned,
        "reviews_per_s": round(n / total_s, 2),
        "extract_reviews_per_s": round(n / extract_s, 2),
        "render_reviews_per_s": round(n / render_s, 2),
        "total_s": round(total_s, 1),
        "html_kib_per_review": round(html_bytes / n / 1024, 1),
        "peak_rss_after_model_mib": round(rss_model, 1),
        "peak_rss_end_mib": round(peak_rss_mib(), 1),
        "largest_review_attention_mib": round(biggest / 2**20, 1),
        "all_reviews_at_max_length_would_need_gib": round(all_at_once / 2**30, 1),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=1000, help="number of reviews (default 1000)"
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--max-length", type=int, default=512, help="tokens per review, at most 512"
    )
    parser.add_argument(
        "--model",
        default=PACKAGED_MODEL,
        help="model name or folder (default: packaged MiniLM)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: shared machine)",
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be >= 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = run(args.n, args.batch_size, args.max_length, args.model)
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
