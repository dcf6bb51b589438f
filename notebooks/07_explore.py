# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. Your text: type, edit, and step back to the whole sample
#
# Chapters 3–6 explained reviews one at a time and measured which explanation
# to trust. This chapter puts that in your hands: **one call** explains any
# text, an **explorer** lets you type a review and see what an edit changes,
# and an **aggregate view** steps back from single reviews to the whole test
# sample. It ends where chapter 2 promised: the reviews the model got most
# confidently wrong, explained.
#
# The one call is `helpers.explain(model, tokenizer, text_or_texts)`. Its
# default methods are chapter 6's recommendation (AttnLRP, with the last
# layer's `[CLS]` attention beside it); `methods=` takes any name of chapter 5's
# registry, `target=` a class index or a label name, and texts of any length
# are read in windows. It works on any Hugging Face sequence classifier of
# the BERT family with a fast tokenizer, or a slow one that cuts words first
# (Japanese BERTs' MeCab): the appendix {doc}`08_your_model` applies it to a
# model that is not the book's and to a Japanese one.

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
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, display

import helpers
from helpers import config, data, explorer, train
from helpers.book import examples, overview

profile = config.get_profile()
config.seed_everything(profile.seed)
tokenizer, model = train.get_finetuned_model(profile, attn_implementation="eager")
test = data.load_reviews("test", profile)
print(f"profile {profile.name}: {profile.model_name}; {test.source}")

# %% [markdown]
# ## One call
#
# The running example, explained with the defaults: the prediction with the
# model's own label names, then one highlight per method (red = evidence for
# the explained class, blue = against it).

# %%
result = helpers.explain(model, tokenizer, examples.texts())
result

# %% [markdown]
# The same numbers are there for code: `result.probs` (one row per text),
# `result.words[i]` and `result.scores[method][i]` (one score per word), and
# `result.save_html(path)` writes a standalone page.

# %%
for i, example in enumerate(examples.RUNNING):
    top = [word for word, _ in result.top_words(i, "AttnLRP", k=3)]
    print(f"{example.name:>10}: predicted {result.predicted[i]:>8}, top words {top}")
page = result.save_html(config.figures_dir() / "running_example_explained.html")
print(f"written: {config.display_path(page)}")

# %% [markdown]
# ## Type a review
#
# In JupyterLab with a running kernel, the explorer below takes any text:
# type or edit it and press **Explain**. Pick the method (chapter 6's are
# there) and the class to explain. After an edit it shows the text before and
# after side by side, the change in probability, and which words' scores moved.
# In the static book the widget is not live; the gallery after it shows
# pre-computed edits instead.

# %%
widget = explorer.text_explorer(model, tokenizer, text=examples.RUNNING[0].text)
widget

# %% [markdown]
# ## What one edit changes
#
# Each pair below changes a word or two of a running example: swap "good" and
# "bad" in the hidden gem, turn love into hate, negate a verdict. A faithful
# explanation should move with the prediction: the words that were edited
# should carry the change.

# %%
gem, praise, pan = examples.texts()
swapped = gem.replace("good", "GOOD").replace("bad", "good").replace("GOOD", "bad")
edits = [
    (gem, swapped),
    (praise, praise.replace("loved", "hated")),
    (pan, pan.replace("a waste", "not a waste")),
]
display(HTML(explorer.edit_gallery(model, tokenizer, edits, method="AttnLRP")))

# %% [markdown]
# Does an edit flip the prediction, and if not, why not? The explanations
# answer it: for each pair, the probability of the class predicted before the
# edit, the three words AttnLRP puts on top for that class before and after
# the edit (`examples.explain_edit`, `examples.describe_edit`), and how the
# edited words count after it (for the class: positive score; against it:
# negative).

# %%
names = ["hidden gem, good and bad swapped", "praise, loved to hated", "pan, negated"]
edit_pairs = {
    name: examples.explain_edit(model, tokenizer, before, after)
    for name, (before, after) in zip(names, edits, strict=True)
}
for name, pair in edit_pairs.items():
    print(f"{name}: {examples.describe_edit(pair)}\n")

# %% [markdown]
# Where the words on top before an edit stay on top after it, the edit did
# not touch what the prediction rests on. Swapping two words moves them but
# keeps both in the text, and a model that weighs words more than their order
# keeps the evidence of each; where an added "not" counts *for* the class it
# should argue against, the model has not read it as a negation. An edit flips a
# prediction when it removes the words on top, or outweighs them.

# %% [markdown]
# ## The whole test sample at a glance
#
# One review at a time hides the big picture. The classifier's head reads one
# vector per review, the last layer's `[CLS]` vector; projecting those of every
# test review onto their first two principal components shows how the model
# arranges the reviews. Left: coloured by the gold label; right: the reviews it
# gets wrong. One pass gives both the vectors and the logits
# (`return_logits=True`); `train.scores_from_logits` turns the logits into
# chapter 2's evaluation (`train.evaluate`) of the same reviews, read to the
# same length, so the predictions here are chapter 2's.

# %%
vectors, logits = overview.cls_vectors(
    model, tokenizer, test.texts, max_length=profile.max_length, return_logits=True
)
scores = train.scores_from_logits(logits, test)
right = scores["preds"] == scores["labels"]
points, explained = overview.pca_2d(vectors)
fig = overview.plot_cls_projection(
    points,
    test.labels,
    right,
    label_names=data.LABEL_NAMES,
    explained=explained,
    title=f"[CLS] vectors of {len(test)} test reviews",
)
plt.show()

# %%
labels = np.asarray(test.labels)
centroids = np.stack([points[labels == k].mean(0).numpy() for k in (0, 1)])
distance = np.linalg.norm(points.numpy()[:, None] - centroids[None], axis=-1)
nearer_other = (
    distance[np.arange(len(labels)), 1 - labels]
    < distance[np.arange(len(labels)), labels]
)
wrong = ~right
print(
    f"accuracy {right.mean():.1%}; PC 1 and 2 explain {float(explained.sum()):.0%} "
    "of the variance of the [CLS] vectors."
)
print(
    f"Of the {int(wrong.sum())} misclassified reviews, "
    f"{int((nearer_other & wrong).sum())} lie nearer the other class's centre in "
    f"this projection; of the {int(right.sum())} right ones, "
    f"{int((nearer_other & right).sum())} do."
)

# %% [markdown]
# The last two lines say whether the mistakes are reviews the model *placed*
# among the other class (nearer its centre) or reviews at the boundary; a
# projection to two dimensions loses most of the 384 or 768, so read it as a
# sketch, not a measurement.
#
# ## Accuracy by review length
#
# The model reads the first `profile.max_length` tokens of a review
# (chapter 2). Longer reviews lose their ending, often the verdict; chapter 4
# explained one whole review in windows. Here is what the cut costs in
# accuracy, per length bin, with 95 % intervals (Wilson) and the number of
# reviews in each bin:

# %%
lengths = data.token_lengths(tokenizer, test.texts)
edges = sorted({128, profile.max_length, 512})
rows = overview.accuracy_by_length(lengths, right, edges=edges)
fig = overview.plot_accuracy_by_length(rows, cut=profile.max_length)
plt.show()
for r in rows:
    print(
        f"{r['bin']:>9} tokens: n = {r['n']:>3}, accuracy {r['accuracy']:.1%} "
        f"[{r['low']:.1%}, {r['high']:.1%}]"
    )
cut = np.asarray(lengths) > profile.max_length
if cut.any() and (~cut).any():
    print(
        f"Reviews cut at {profile.max_length} tokens: {right[cut].mean():.1%} right "
        f"(n = {int(cut.sum())}); reviews read whole: {right[~cut].mean():.1%} "
        f"(n = {int((~cut).sum())})."
    )

# %% [markdown]
# Overlapping intervals mean the sample cannot tell the bins apart; the book's
# benchmark (`bench/bench_accuracy.py`) compares cut and windowed prediction on
# every test review longer than 512 tokens, with the full-data model (chapters
# 2 and 4 quote it).
#
# ## Chapter 2's misclassified reviews, explained
#
# Chapter 2 listed the test reviews the model got most confidently wrong and
# promised to come back to them. `train.misclassified` with the same
# evaluation returns the same reviews; here they are, whole, with chapter 6's
# recommended method (windows for reviews longer than the model reads). Each
# highlight explains the class the model **predicted**: red words pushed it
# towards its wrong answer.

# %%
worst = train.misclassified(test, scores, n=3)
wrong_result = None
if worst:
    wrong_result = helpers.explain(
        model, tokenizer, [r["text"] for r in worst], methods=("AttnLRP",)
    )
    for i, r in enumerate(worst):
        top = [word for word, _ in wrong_result.top_words(i, "AttnLRP", k=5)]
        gold, pred = data.LABEL_NAMES[r["label"]], data.LABEL_NAMES[r["pred"]]
        print(f"review {r['id']} ({gold}, predicted {pred}): top words {top}")
    display(wrong_result)
else:
    print("No misclassified review in this test sample.")
source = examples.source_text()  # None where IMDb is not on disk
if source is not None:
    copies = examples.source_copies(worst, source)
    print(f"Hidden gem: {examples.describe_source_copies(copies, len(worst))}.")

# %% [markdown]
# Read the top words against the reviews' texts: where the words the model
# leaned on are the review's *descriptions* of a bad film in a positive review
# (or the reverse), the model read the words and missed the irony. The last
# line says whether one of these reviews is the hidden gem's source review, or
# a copy of it: IMDb holds some reviews twice (chapter 1 counts them). Chapter 5's
# deletion test can check any such reading: delete those words and see whether
# the prediction flips.
#
# ## Summary
#
# * `helpers.explain(model, tokenizer, texts)` is the one call: prediction with
#   the model's label names, each method's highlight, the scores as tensors,
#   `save_html`.
# * `explorer.text_explorer` re-explains a text you type and shows what an edit
#   changed; `explorer.edit_gallery` shows pre-computed edits.
# * `overview` steps back to the whole sample: the `[CLS]` space and accuracy by
#   length.
#
# ## Exercises
#
# 1. Explain the hidden gem for the class it was *not* predicted as:
#    `helpers.explain(model, tokenizer, examples.RUNNING[0].text, target=...)`
#    with the other label's name.
# 2. Add an edit of your own to `edits`: which single word flips the
#    prediction of the praise review?
# 3. Colour the projection by review length instead of label: do long reviews
#    sit somewhere else?

# %%
gem_pair = edit_pairs[names[0]]
gem_class = gem_pair.target[0]
gem_p = gem_pair.probs[:, gem_pair.labels.index(gem_class)].tolist()
gem_top = [word for word, _ in gem_pair.top_words(1, "AttnLRP", k=1)]
print(
    examples.gem_note(
        f"swapping good and bad moves P({gem_class}) from {gem_p[0]:.3f} to "
        f"{gem_p[1]:.3f}, and AttnLRP's top word for {gem_class} after the swap "
        f"is {gem_top[0]!r}"
    )
)
