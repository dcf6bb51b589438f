"""Benchmark: the corpus runner (``helpers.corpus``), side by side in one run.

1. **Batched vs per review**: the same reviews at ``--max-length`` tokens
   (256), the same method, explained by ``explain_corpus`` (batched by
   length, shards on disk) and by a loop of ``helpers.explain`` calls, one
   review each; the ratio of their times and the largest score difference.
2. **Scaling**: ``torchrun --nproc_per_node 2`` x 1 thread against one
   process x 1 thread, the same command (``python -m helpers.corpus``) and
   reviews; efficiency = t(1) / (2 t(2)), wall-clock times of the whole
   command (start-up included), results compared row by row. The same
   command run again on each finished folder computes nothing (every shard
   is done): its time is the fixed cost of a run (start-up, model load,
   fingerprints, barriers, index), and the efficiency without it,
   (t(1) - f(1)) / (2 (t(2) - f(2))), is printed beside, with each
   process's shard work (the seconds in ``index.json``: their imbalance).
3. **Memory**: peak RSS (``VmHWM``) of a fresh process explaining
   ``--rss-sizes`` reviews (default 1,000 and 4,000; the sample is repeated
   when it is smaller) with ``--rss-method`` ([CLS] attention) at 128
   tokens, and their ratio. Each review is cut to its first ``--rss-words``
   words (80: most fit one 128-token window), which keeps the 4,000-review
   run to minutes on 2 cores; flatness is the runner's streaming, one shard
   in memory at a time, whatever the method or length.
4. **Throughput**: reviews per second at ``--lengths`` tokens for AttnLRP,
   Grad-CAM (all layers, mean normalised) and [CLS] attention.
5. With a GPU, ``--gpu-full`` times the whole 25,000-review test set at 512
   tokens with AttnLRP; otherwise the command is printed.

The model is the packaged MiniLM (``--model``: a ``save_pretrained`` folder),
saved with its seeded head to a temporary folder so every process loads the
same weights; reviews are IMDb test when ``$IMDB_DIR`` is set, else the
book's fallback sample. Tests never assert timings.

    .venv/bin/python bench/bench_corpus.py                # the full run
    .venv/bin/python bench/bench_corpus.py --n 8 --rss-sizes 20 40 --lengths 64
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import ROOT, child_json, machine, peak_hwm_mib

from helpers import corpus, explain
from helpers.config import seed_everything
from helpers.data import load_reviews
from helpers.models import load_model

METHODS = ("AttnLRP", "Grad-CAM mean (normalised)", "[CLS] attention")


def reviews(n: int, seed: int = 1234) -> tuple[list[str], str]:
    """``n`` test reviews, a seeded sample (the sample repeated when smaller)."""
    found = load_reviews("test")
    order = torch.randperm(len(found), generator=torch.Generator().manual_seed(seed))
    texts = [found.texts[i] for i in order.tolist()]
    return [texts[i % len(texts)] for i in range(n)], found.source


def saved_model(folder: Path, source: str | None) -> Path:
    """The model saved to ``folder`` (its classifier head seeded), for every process."""
    seed_everything(0)
    tokenizer, model = load_model(source) if source else load_model()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def timed_run(model_dir, texts, method, max_length, batch_size, rows=False):
    """``(seconds, CPU seconds, rows or None)`` of one ``explain_corpus`` run in a
    scratch folder."""
    tokenizer, model = load_model(model_dir, attn_implementation="eager")
    with tempfile.TemporaryDirectory() as folder:
        start, cpu = time.perf_counter(), time.process_time()
        corpus.explain_corpus(
            model,
            tokenizer,
            texts,
            method,
            Path(folder) / "run",
            max_length=max_length,
            batch_size=batch_size,
            progress=False,
        )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        found = corpus.read_corpus(Path(folder) / "run", rows=True) if rows else None
        return seconds, cpu, found


def batched_vs_loop(model_dir, texts, method, max_length, batch_size) -> dict:
    """Part 1: ``explain_corpus`` against one ``explain`` call per review.

    Each runs once untimed on one review first, so neither timing holds the
    imports and set-up of a process's first call (Captum, Accelerate...).
    Beside the wall-clock times, the process's CPU times: on a busy machine
    they show the work done, whatever share of the cores the process got.
    """
    timed_run(model_dir, texts[:1], method, max_length, batch_size)
    batched, cpu_batched, rows = timed_run(
        model_dir, texts, method, max_length, batch_size, True
    )
    tokenizer, model = load_model(model_dir, attn_implementation="eager")
    explain(model, tokenizer, texts[0], [method], max_length=max_length, progress=False)
    start, cpu = time.perf_counter(), time.process_time()
    loop = [
        explain(model, tokenizer, t, [method], max_length=max_length, progress=False)
        for t in texts
    ]
    looped, cpu_looped = time.perf_counter() - start, time.process_time() - cpu
    diff = max(
        float((torch.tensor(r["scores"]) - e.scores[method][0]).abs().max())
        for r, e in zip(rows, loop, strict=True)
    )
    return {
        "batched_s": batched,
        "loop_s": looped,
        "speedup": looped / batched,
        "cpu_batched_s": cpu_batched,
        "cpu_loop_s": cpu_looped,
        "max_abs_diff": diff,
    }


def command(model_dir, texts_file, out, processes: int, args) -> float:
    """Wall-clock seconds of the command on ``processes`` processes x 1 thread."""
    launcher = [sys.executable]
    if processes > 1:
        launcher += [
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(processes),
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            "29561",
        ]
    run = [
        *launcher,
        "-m",
        "helpers.corpus",
        str(model_dir),
        str(texts_file),
        str(out),
        "--method",
        args.method,
        "--max-length",
        str(args.max_length),
        "--batch-size",
        str(args.batch_size),
        "--shard-size",
        str(args.shard_size),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(run, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def scaling(model_dir, texts, args) -> dict:
    """Part 2: 2 processes x 1 thread against 1 x 1, and their results compared."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        texts_file = folder / "texts.jsonl"
        texts_file.write_text("\n".join(json.dumps({"text": t}) for t in texts))
        one, two = (
            command(model_dir, texts_file, folder / n, p, args)
            for n, p in (("one", 1), ("two", 2))
        )
        fixed_one, fixed_two = (  # again, on the finished folders: nothing to do
            command(model_dir, texts_file, folder / n, p, args)
            for n, p in (("one", 1), ("two", 2))
        )
        a, b = (corpus.read_corpus(folder / n, rows=True) for n in ("one", "two"))
        busy: dict[str, float] = {}  # seconds of shard work per process
        for shard in corpus.index_of(folder / "two")["shards"]:
            busy[shard["process"]] = busy.get(shard["process"], 0.0) + shard["seconds"]
    diff = max(
        max(
            (abs(x - y) for x, y in zip(r["scores"], s["scores"], strict=True)),
            default=0.0,
        )
        for r, s in zip(a, b, strict=True)
    )
    return {
        "one_s": one,
        "two_s": two,
        "efficiency": one / (2 * two),
        "fixed_one_s": fixed_one,
        "fixed_two_s": fixed_two,
        "efficiency_without_fixed": (one - fixed_one) / (2 * (two - fixed_two)),
        "busy_s": dict(sorted(busy.items())),
        "max_abs_diff": diff,
    }


def memory(model_dir, n: int, args) -> dict:
    """Part 3 (in a fresh process): peak RSS of explaining ``n`` reviews."""
    torch.set_num_threads(1)
    texts, _ = reviews(n)
    if args.rss_words:
        texts = [" ".join(t.split()[: args.rss_words]) for t in texts]
    seconds, _, _ = timed_run(model_dir, texts, args.rss_method, 128, args.batch_size)
    return {"n": n, "peak_rss_mib": round(peak_hwm_mib()), "seconds": seconds}


def throughput(model_dir, texts, length: int, method: str, batch_size: int) -> float:
    """Part 4: reviews per second of ``explain_corpus`` at ``length`` tokens."""
    seconds, _, _ = timed_run(model_dir, texts, method, length, batch_size)
    return len(texts) / seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--n", type=int, default=64, help="reviews for parts 1, 2 and 4")
    add("--model", default=None, help="save_pretrained folder (default: packaged)")
    add("--method", default="AttnLRP", help="method of parts 1 and 2")
    add("--rss-method", default="[CLS] attention", help="method of part 3")
    add("--max-length", type=int, default=256)
    add("--batch-size", type=int, default=16)
    add("--shard-size", type=int, default=16)
    add("--rss-sizes", type=int, nargs=2, default=[1000, 4000])
    add("--rss-words", type=int, default=80, help="part 3: words kept (0: all)")
    add("--lengths", type=int, nargs="+", default=[128, 256, 512])
    add("--skip", nargs="*", default=[], choices=["loop", "scaling", "memory", "rate"])
    add("--gpu-full", action="store_true", help="part 5 on a GPU")
    add("--memory-only", type=int, help=argparse.SUPPRESS)
    add("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_only:
        print(json.dumps(memory(args.model_dir, args.memory_only, args)))
        return
    torch.set_num_threads(1)
    texts, source = reviews(args.n)
    print(f"{len(texts)} reviews from {source}; {machine()}; 1 thread per process")
    with tempfile.TemporaryDirectory() as folder:
        model_dir = saved_model(Path(folder) / "model", args.model)
        report(model_dir, texts, args)


def print_loop(model_dir, texts, args) -> None:
    r = batched_vs_loop(model_dir, texts, args.method, args.max_length, args.batch_size)
    print(
        f"1. {args.method}, {args.max_length} tokens: batched {r['batched_s']:.1f}"
        f" s, per review {r['loop_s']:.1f} s: {r['speedup']:.2f}x (CPU time "
        f"{r['cpu_batched_s']:.1f} s and {r['cpu_loop_s']:.1f} s: "
        f"{r['cpu_loop_s'] / r['cpu_batched_s']:.2f}x); max |score difference| "
        f"{r['max_abs_diff']:.2g}"
    )


def print_scaling(model_dir, texts, args) -> None:
    r = scaling(model_dir, texts, args)
    print(
        f"2. {len(texts)} reviews: 1 process {r['one_s']:.1f} s, 2 processes "
        f"{r['two_s']:.1f} s: efficiency {r['efficiency']:.2f}; fixed cost (the "
        f"same command on the finished folder) {r['fixed_one_s']:.1f} s and "
        f"{r['fixed_two_s']:.1f} s: efficiency without it "
        f"{r['efficiency_without_fixed']:.2f}; shard work per process "
        f"{ {k: round(v, 1) for k, v in r['busy_s'].items()} } s; max |score "
        f"difference| {r['max_abs_diff']:.2g}"
    )


def print_memory(model_dir, args) -> None:
    options = ["--model-dir", str(model_dir), "--rss-method", args.rss_method]
    options += ["--rss-words", str(args.rss_words)]
    small, large = (
        child_json(__file__, ["--memory-only", str(n), *options])
        for n in args.rss_sizes
    )
    print(
        f"3. peak RSS ({args.rss_method}, 128 tokens, reviews cut to "
        f"{args.rss_words or 'all their'} words): {small['n']} reviews "
        f"{small['peak_rss_mib']} MiB, {large['n']} reviews "
        f"{large['peak_rss_mib']} MiB: "
        f"{large['peak_rss_mib'] / small['peak_rss_mib']:.2f}x"
    )


def print_rates(model_dir, texts, args) -> None:
    for length in args.lengths:
        rates = [
            throughput(model_dir, texts, length, m, args.batch_size) for m in METHODS
        ]
        cells = ", ".join(f"{m} {r:.1f}" for m, r in zip(METHODS, rates, strict=True))
        print(f"4. reviews/s at {length} tokens: {cells}")


def print_gpu_full(model_dir, args) -> None:
    full = (
        "python -m helpers.corpus MODEL imdb-test.jsonl runs/attnlrp "
        "--method AttnLRP --max-length 512 --batch-size 32"
    )
    if not (args.gpu_full and torch.cuda.is_available()):
        print(f"5. no GPU run; on a GPU: {full} (or --gpu-full here)")
        return
    everything, _ = reviews(25_000)
    tokenizer, model = load_model(model_dir, attn_implementation="eager")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        corpus.explain_corpus(
            model.cuda(),
            tokenizer,
            everything,
            "AttnLRP",
            Path(folder) / "run",
            batch_size=32,
        )
    print(
        f"5. 25,000 reviews, 512 tokens, AttnLRP on {machine('cuda')}: "
        f"{time.perf_counter() - start:.0f} s"
    )


def report(model_dir: Path, texts: list[str], args) -> None:
    """Run and print the parts not skipped."""
    if "loop" not in args.skip:
        print_loop(model_dir, texts, args)
    if "scaling" not in args.skip:
        print_scaling(model_dir, texts, args)
    if "memory" not in args.skip:
        print_memory(model_dir, args)
    if "rate" not in args.skip:
        print_rates(model_dir, texts, args)
    print_gpu_full(model_dir, args)


if __name__ == "__main__":
    main()
