"""Benchmark: Grad-CAM on all encoder layers in one pass vs Captum, one layer at a time.

For each model, the same reviews (IMDb test when ``$IMDB_DIR`` is set, else
the book's fallback sample) are explained twice, in the same batches:

* ``helpers.attr.GradCam``: one forward + one backward pass for all layers;
* ``helpers.attr.captum_layer_gradcam``: Captum's ``LayerGradCam`` called
  once per layer (one forward + one backward each).

Both run on each batch in turn, so a busy shared machine slows both alike.

The maps are checked equal (``torch.allclose``), and reviews per second and
the speed-up are printed. Models: ``packaged`` (the offline 6-layer MiniLM)
and ``bert-base-random`` (12 layers, bert-base size, random weights: speed
does not depend on the weights, and bert-base-uncased cannot be downloaded
here). A separate process per model then measures the peak resident memory
(``VmHWM``, with ``ru_maxrss`` beside it) of Grad-CAM on a batch of 16 reviews of
512 tokens.

    IMDB_DIR=/tmp/imdb/aclImdb .venv/bin/python bench/bench_gradcam.py --n 16
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from _common import child_json, peak_hwm_mib, peak_rss_mib

from helpers.attr import GradCam, captum_layer_gradcam
from helpers.config import seed_everything
from helpers.data import encode_texts, load_reviews
from helpers.models import get_encoder_layers, load_model

MODELS = ("packaged", "bert-base-random")


def build_model(name: str):
    """``(tokenizer, model)``: the packaged MiniLM, or a random bert-base-size BERT."""
    tokenizer, model = load_model()
    if name == "packaged":
        return tokenizer, model
    from transformers import BertConfig, BertForSequenceClassification

    seed_everything(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, num_labels=2
    )  # bert-base: 12 x 768
    return tokenizer, BertForSequenceClassification(config).eval()


def review_texts(n: int, seed: int = 1234) -> tuple[list[str], str]:
    """``n`` test reviews, a seeded sample, and where they come from."""
    reviews = load_reviews("test")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(reviews), generator=generator)[:n].tolist()
    return [reviews.texts[i] for i in order], reviews.source


def batches(tokenizer, texts, batch_size: int, max_length: int):
    """Encoded batches of similar length (sorted), the same for both methods."""
    texts = sorted(texts, key=len)
    return [
        encode_texts(
            tokenizer, texts[i : i + batch_size], max_length=max_length, warn=False
        )
        for i in range(0, len(texts), batch_size)
    ]


def interleaved(methods: dict, encoded) -> dict:
    """Run every method on each batch in turn (so load on a shared machine hits all
    alike); return ``{name: (maps, seconds)}``."""
    maps = {name: [] for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    from tqdm.auto import tqdm

    for batch in tqdm(encoded, desc="batches", leave=False):
        for name, function in methods.items():
            start = time.perf_counter()
            maps[name].append(function(batch))
            seconds[name] += time.perf_counter() - start
    return {name: (maps[name], seconds[name]) for name in methods}


def compare(name: str, texts, batch_size: int, max_length: int) -> dict:
    """Time both methods on one model and check that their maps agree."""
    tokenizer, model = build_model(name)
    encoded = batches(tokenizer, texts, batch_size, max_length)
    runs = interleaved(
        {
            "ours": lambda b: GradCam(model).attribute(b).scores,
            "captum": lambda b: captum_layer_gradcam(model, b),
        },
        encoded,
    )
    (ours, t_ours), (theirs, t_captum) = runs["ours"], runs["captum"]
    max_diff = max(
        float((a - b).abs().max()) for a, b in zip(ours, theirs, strict=True)
    )
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-5 * float(b.abs().max())), (
            f"{name}: maps differ (max abs difference {max_diff:.3g})"
        )
    n = len(texts)
    return {
        "model": name,
        "layers": len(get_encoder_layers(model)),
        "reviews": n,
        "tokens_per_review": round(
            sum(int(b["attention_mask"].sum()) for b in encoded) / n, 1
        ),
        "ours_reviews_per_s": n / t_ours,
        "captum_reviews_per_s": n / t_captum,
        "speedup": t_captum / t_ours,
        "max_abs_diff": max_diff,
    }


def measure_memory(name: str, batch: int = 16, length: int = 512) -> dict:
    """Peak RSS of Grad-CAM on ``batch`` reviews of ``length`` tokens (new process)."""
    tokenizer, model = build_model(name)
    texts, _ = review_texts(batch)
    long_texts = [(t + " ") * (1 + 4 * length // max(len(t.split()), 1)) for t in texts]
    encoded = encode_texts(tokenizer, long_texts, max_length=length, warn=False)
    assert tuple(encoded["input_ids"].shape) == (batch, length)
    before = peak_hwm_mib()
    start = time.perf_counter()
    cam = GradCam(model).attribute(encoded).scores
    seconds = time.perf_counter() - start
    peak, maxrss = peak_hwm_mib(), peak_rss_mib()
    return {
        "model": name,
        "shape": list(cam.shape),
        "seconds": round(seconds, 1),
        "before_mib": round(before),
        "peak_rss_mib": round(peak),
        "ru_maxrss_mib": round(maxrss),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, default=16, help="reviews to explain (default 16)"
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--max-length",
        type=int,
        default=128,
        help="tokens per review for the speed test",
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--skip-memory", action="store_true", help="skip the 16 x 512 memory test"
    )
    parser.add_argument("--memory-only", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_only:
        print(json.dumps(measure_memory(args.memory_only)))
        return

    texts, source = review_texts(args.n)
    print(
        f"{len(texts)} reviews from {source}; batch {args.batch_size}, "
        f"max {args.max_length} tokens, {args.threads} thread(s)"
    )
    print(
        f"{'model':18} {'layers':>6} {'tok/rev':>8} {'ours rev/s':>11} "
        f"{'Captum rev/s':>13} "
        f"{'speed-up':>9} {'max |diff|':>11}"
    )
    for name in args.models:
        r = compare(name, texts, args.batch_size, args.max_length)
        print(
            f"{r['model']:18} {r['layers']:>6} {r['tokens_per_review']:>8} "
            f"{r['ours_reviews_per_s']:>11.2f} {r['captum_reviews_per_s']:>13.2f} "
            f"{r['speedup']:>8.1f}x {r['max_abs_diff']:>11.2g}"
        )
    if args.skip_memory:
        return
    print("\nPeak memory, Grad-CAM on a batch of 16 x 512 tokens (fresh process each):")
    for name in args.models:
        r = child_json(
            __file__, ["--memory-only", name, "--threads", str(args.threads)]
        )
        verdict = "under" if r["peak_rss_mib"] < 4096 else "OVER"
        print(
            f"{r['model']:18} peak RSS {r['peak_rss_mib']} MiB (VmHWM; "
            f"{r['before_mib']} MiB "
            f"before the pass; ru_maxrss {r['ru_maxrss_mib']} MiB), {r['seconds']} s: "
            f"{verdict} 4 GB"
        )


if __name__ == "__main__":
    main()
