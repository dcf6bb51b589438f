# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9. What the model learned: every review of a test set
#
# Chapters 3–7 explained reviews one at a time. The next question is global:
# *which words does the model lean on for each class, across the whole test
# set, and which of them are shortcuts* — ratings such as "7/10", names,
# punctuation — rather than sentiment? Answering it means explaining every
# review, so this chapter uses the corpus runner, `helpers.corpus`: it
# explains a corpus in batches sorted by length, reads long reviews whole in
# windows, and streams one row per review (prediction, words, word scores) to
# Parquet shards on disk. A finished shard is never computed again, so an
# interrupted run resumes, and under `torchrun` or `accelerate launch` several
# processes share the shards.
#
# The method is chapter 6's recommendation, AttnLRP, with the last layer's
# `[CLS]` attention run beside it to show what an attention-based summary would
# have concluded. The book's build explains the test sample in its prepare
# step (`python -m helpers.book.prepare`); the cell below makes the same call,
# which loads the finished shards (opened without the prepare step, it
# computes them, under a minute on 2 CPU cores in the quick profile). The
# quick profile explains a seeded sample of 64 test reviews, as many as keep
# this chapter's share of the quick build near a minute and a half on 2 CPU
# cores (the counterfactual tests below classify again every review holding
# each word tested); the last section says what a sample this small can and
# cannot show.

# %%
# Outside the book's own set-up (Binder, Colab, a fresh Jupyter) this installs
# the book's package, `helpers`, from the checkout this notebook sits in; where
# it is installed (the book's build, `make lab`) it does nothing.
import importlib.util

if importlib.util.find_spec("helpers") is None:
    import subprocess
    import sys
    from pathlib import Path

    checkout = Path.cwd().parent
    if not (checkout / "pyproject.toml").is_file():
        raise ModuleNotFoundError(
            "helpers is not installed: clone the book's repository and open this "
            "chapter from its notebooks/ folder, or pip install the repository"
        )
    pip = [sys.executable, "-m", "pip", "install", "-q", f"{checkout}[chapters]"]
    subprocess.check_call(pip)
    importlib.invalidate_caches()

# %%
import itertools

import matplotlib.pyplot as plt
from IPython.display import HTML, display

from helpers import config, corpus, corpus_views, stats, train
from helpers.book import corpus_sample, plots, report

profile = config.get_profile()
config.seed_everything(profile.seed)
runs = corpus_sample.explain_test_sample(profile)
tokenizer, model = train.get_finetuned_model(profile, attn_implementation="eager")
reviews = corpus_sample.sample_reviews(profile)
for method, folder in runs.items():
    print(f"{method}: {config.display_path(folder)}")
print(reviews.source)

# %% [markdown]
# ## The run on disk
#
# `corpus.read_corpus` reads the shards back as one table in corpus order,
# one row per review; the class explained is the one the model predicted.

# %%
table = corpus.read_corpus(runs["AttnLRP"])
rows = table.select(["predicted", "n_tokens", "windows"]).to_pylist()
right = sum(r["predicted"] == y for r, y in zip(rows, reviews.labels, strict=True))
long = sum(r["windows"] > 1 for r in rows)
print(
    f"{len(rows)} reviews explained; the model predicted {right} of them "
    f"correctly; {long} were longer than one window of "
    f"{profile.corpus_max_length} tokens and were read whole in windows."
)
first = table.slice(0, 1).to_pylist()[0]
top = sorted(zip(first["scores"], first["words"], strict=True), reverse=True)[:5]
print(f"review {first['id']}: probs {first['probs']}, top words {[w for _, w in top]}")

# %% [markdown]
# ## The words each class leans on
#
# For each class and word, `corpus_views.top_words` sums the word's relevance
# over the reviews that hold it (**total**), and divides by their number
# (**mean**), with bootstrap intervals over reviews. Words held by fewer than
# `min_texts` reviews are left out, so one odd review cannot top the list.
# The total favours frequent words, the mean words that weigh much wherever
# they appear.

# %%
MIN_TEXTS = 5
by_total = corpus_views.top_words(
    runs["AttnLRP"], by="total", k=12, min_texts=MIN_TEXTS
)
by_mean = corpus_views.top_words(runs["AttnLRP"], by="mean", k=12, min_texts=MIN_TEXTS)
plots.plot_top_words(by_total, "total", "AttnLRP: largest total relevance")
plots.plot_top_words(by_mean, "mean", "AttnLRP: largest mean relevance")
plt.show()
for label, words in by_total.items():
    print(f"explaining {label}, top by total: {[w.word for w in words[:6]]}")

# %% [markdown]
# ## Relevance against frequency
#
# One point per class and word: how many reviews hold it (log scale) against
# its mean relevance there. Rare words scatter widely (a mean over few reviews
# is noisy); a frequent word near zero is one the model reads but does not
# lean on. Crosses are the words of a shortcut kind: numbers, punctuation and
# names.

# %%
points = corpus_views.relevance_frequency(runs["AttnLRP"], min_texts=2)
plots.plot_relevance_frequency(points, "AttnLRP: mean relevance per word")
plt.show()

# %% [markdown]
# ## Shortcut candidates
#
# A candidate is a word that carries relevance while being a number, a piece
# of punctuation or a name (capitalised in at least 90 % of its occurrences).
# Nothing here knows what a sentiment word is, and a high rank says only that
# the explanation highlights the word, not that the model needs it.

# %%
candidates = corpus_views.shortcut_candidates(
    runs["AttnLRP"], k=10, min_texts=MIN_TEXTS
)


def candidate_rows(found):
    """The candidates as table rows (words are escaped by ``table_html``)."""
    return [
        {
            "word": w.word,
            "kind": w.kind,
            "explaining": w.label,
            "reviews": w.n_texts,
            "total": round(w.total, 3),
            "mean relevance": w.mean,
        }
        for w in found
    ]


display(HTML(report.table_html(candidate_rows(candidates), "AttnLRP candidates")))
print(f"{len(candidates)} candidates held by at least {MIN_TEXTS} reviews.")

# %% [markdown]
# ## The counterfactual test
#
# A highlight is not a use. For each top candidate, `corpus_views.counterfactual`
# removes the word from every review that holds it and classifies the edited
# reviews, whole; the probabilities of the originals are the run's own
# (`run=`), so they are not computed twice. If the probability of the
# predicted class drops (its interval below zero) or predictions flip, the
# model *uses* the word; if nothing moves, the word was only a highlight.


# %%
def verdict(result):
    """One sentence built from a counterfactual's numbers."""
    change = result.probability_change
    moved = change.high < 0 or change.low > 0
    accuracy = ""
    if result.accuracy_change is not None:
        accuracy = f", accuracy change {result.accuracy_change}"
    kind = "moves predictions (used)" if moved else "only a highlight"
    return (
        f"{result.word!r} in {result.n_texts} reviews: p(predicted) change "
        f"{change}, {result.flipped:.0%} flipped{accuracy}: {kind}."
    )


done = {}  # word -> its counterfactual, each word tested once


def counterfactuals(found, n=3):
    """The counterfactual for the ``n`` first distinct words of ``found``."""
    words = list(dict.fromkeys(w.word for w in found))[:n]
    for word in words:
        if word not in done:
            done[word] = corpus_views.counterfactual(
                model,
                tokenizer,
                reviews.texts,
                word,
                labels=reviews.labels,
                max_length=profile.corpus_max_length,
                run=runs["AttnLRP"],  # the probabilities before the edit
            )
    return [done[w] for w in words]


tests = counterfactuals(candidates)
for result in tests:
    print(verdict(result))
used = [t.word for t in tests if t.probability_change.high < 0]
print(
    f"Of the {len(tests)} candidates tested, {len(used)} lowered the probability "
    f"of the predicted class when removed: {used}."
)

# %% [markdown]
# ## The same view from `[CLS]` attention
#
# The same global summary, from the last layer's `[CLS]` attention run on the
# same reviews. Attention is positive by construction, so it cannot say a word
# argues *against* a class, and chapter 6 measured how faithful it is. Side by
# side, the lists show what an attention-based global summary would have
# concluded.

# %%
attention = corpus_views.top_words(
    runs["[CLS] attention"], by="total", k=12, min_texts=MIN_TEXTS
)
plots.plot_top_words(attention, "total", "[CLS] attention: largest total weight")
plt.show()
for label in by_total:
    lrp = {w.word for w in by_total[label]}
    att = {w.word for w in attention[label]}
    print(
        f"explaining {label}: {len(lrp & att)} of the top {len(lrp)} AttnLRP "
        f"words are among attention's top {len(att)}; attention alone: "
        f"{sorted(att - lrp)}"
    )
attention_candidates = corpus_views.shortcut_candidates(
    runs["[CLS] attention"], k=10, min_texts=MIN_TEXTS
)
attention_tests = counterfactuals(attention_candidates)
for result in attention_tests:
    print("[CLS] attention candidate", verdict(result))

# %% [markdown]
# ## What this sample can and cannot show
#
# Every number above comes from the sample, and the cell below measures how far
# it reaches: how many words clear the frequency floor, how wide a top word's
# interval is, whether neighbouring ranks can be told apart, and the smallest
# effect a counterfactual on these reviews could detect.


# %%
def overlapping_neighbours(words):
    """Adjacent pairs of a ranked list whose mean-relevance intervals overlap."""
    return sum(
        a.mean.low <= b.mean.high and b.mean.low <= a.mean.high
        for a, b in itertools.pairwise(words)
    )


n_reviews = len(rows)
every = corpus_views.relevance_frequency(runs["AttnLRP"], min_texts=1)
floor = [p for p in every if p["n_texts"] >= MIN_TEXTS]
names = [p for p in floor if p["kind"] == "name"]
numbers = [p for p in floor if p["kind"] == "number"]
print(
    f"The sample holds {n_reviews} of the 25,000 test reviews "
    f"({n_reviews / 25_000:.1%}). Of the {len(every)} (class, word) pairs it "
    f"holds, {len(floor)} are in at least {MIN_TEXTS} reviews and enter the "
    f"views, names {len(names)} and numbers {len(numbers)} of them."
)
for label, words in by_total.items():
    spans = sorted(
        (w.mean.high - w.mean.low) / abs(w.mean.mean) for w in words if w.mean.mean
    )
    middle = spans[len(spans) // 2] if spans else float("nan")
    print(
        f"explaining {label}: the top {len(words)} words by total are each held by "
        f"{min(w.n_texts for w in words)} to {max(w.n_texts for w in words)} "
        f"reviews; the median width of their mean-relevance intervals is "
        f"{middle:.1f} times the mean, and {overlapping_neighbours(words)} of "
        f"{max(len(words) - 1, 0)} neighbouring ranks overlap."
    )
held = [t.n_texts for t in done.values()]
low, high = stats.wilson_interval(0, min(held)) if held else (float("nan"),) * 2
print(
    f"The counterfactuals edited {min(held, default=0)} to {max(held, default=0)} "
    f"reviews each: with no prediction flipped among {min(held, default=0)}, the "
    f"flip rate's interval still reaches {high:.0%}."
)

# %% [markdown]
# So the sample can show the direction and rough size of relevance for the
# words most reviews hold (punctuation, frequent sentiment words) and whether
# removing one of them moves predictions strongly. It cannot rank words whose
# intervals overlap, say anything about words in fewer than `MIN_TEXTS`
# reviews (the counts above say how many names and numbers, ratings such as
# "7/10" among them, clear that floor), or detect a shortcut that flips fewer
# predictions than the interval above allows. The full profile's 25,000
# reviews are what those questions need.

# %% [markdown]
# ## The whole test set
#
# The quick profile explains a seeded sample of the test set, each review read
# in windows of 256 tokens; the full profile
# (`BERT_BOOK_PROFILE=full`) explains all 25,000 test reviews with
# `bert-base-uncased` at 512 tokens. The same run as a command, after saving
# the model (`model.save_pretrained(folder)`, `tokenizer.save_pretrained(folder)`)
# and the reviews as `TEXTS` (one per line, or `.jsonl` / `.parquet` with a
# `text` column):
#
# ```bash
# python -m helpers.corpus MODEL TEXTS runs/lrp --method AttnLRP --max-length 512
# # the same on 2 CPU processes of one machine (gloo); on N GPUs, N processes
# OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 -m helpers.corpus MODEL TEXTS runs/lrp
# accelerate launch --num_processes 4 -m helpers.corpus MODEL TEXTS runs/lrp
# ```
#
# Interrupted, the same command resumes from the finished shards, on any
# number of processes. How long it takes is an estimate, computed below
# from the seconds this chapter's own AttnLRP run took per shard (recorded in
# its `index.json`, on the machine that built this page, in its profile);
# no GPU timing was at hand when this was written, so for a GPU run
# `python bench/bench_corpus.py --gpu-full` times the whole 25,000 at 512
# tokens on yours, and without `--gpu-full` it prints reviews per second for
# your CPU.

# %%
shards = corpus.index_of(runs["AttnLRP"])["shards"]
timed = [s for s in shards if s["seconds"] is not None]
# bert-base has twice the layers and twice the width of the 6-layer MiniLM:
# about 8 times the work per token, and 512-token windows hold longer reviews.
BERT_BASE_FACTOR = 8
if timed and profile.model_name == config.PACKAGED_MODEL:
    rate = sum(s["rows"] for s in timed) / sum(s["seconds"] for s in timed)
    hours = 25_000 / (rate / BERT_BASE_FACTOR) / 3600
    print(
        f"This run explained {rate:.2f} reviews per second ({profile.model_name}, "
        f"AttnLRP, {profile.corpus_max_length}-token windows). Estimate for the "
        f"full 25,000 with bert-base on the same machine: about {hours:.0f} hours; "
        "torchrun with N processes on N times the cores divides it by about N "
        "(bench_corpus measures the scaling)."
    )
elif timed:
    rate = sum(s["rows"] for s in timed) / sum(s["seconds"] for s in timed)
    print(
        f"This run explained {rate:.2f} reviews per second ({profile.model_name}): "
        f"the 25,000 take about {25_000 / rate / 3600:.1f} hours here."
    )
else:
    print("This run's shards predate the recorded timings: rerun it for them.")
