# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix: long reviews, past the 512-token limit
#
# Chapter 4 explains the first tokens of each review only. This appendix
# explains one whole review, however long, with the same Grad-CAM mean, and
# reads from the full-data benchmark whether windows also *classify* long
# reviews better than the cut.
#
# It runs on its own: it loads chapter 2's model (training it first, as
# chapter 2 does, when no checkpoint matches the profile) and the profile's
# test reviews.

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
import os
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import HTML, Markdown, display

from helpers import attr, config, data, highlight, train, windows
from helpers.book import long_reviews, recipes

profile = config.get_profile()
config.seed_everything(profile.seed)
tokenizer, model = train.get_finetuned_model(profile)
test = data.load_reviews("test", profile)
print(test.source)

# %% [markdown]
# ## Windows
#
# The chapters read the first tokens of each review only. BERT has 512
# positions, and some IMDb reviews are longer (the cell below counts them in
# the test sample): cutting such a review loses the ending, which is often
# the verdict, and a highlight of the cut review cannot show evidence that
# sits after the cut. `helpers.windows`
# reads a review of any length in overlapping windows instead (each at most
# 510 tokens plus [CLS] and [SEP]; consecutive windows share 128 tokens),
# averages the windows' logits into one prediction, explains every window for
# that same class, and stitches the windows' maps into one score per token of
# the whole review. Where windows overlap, the `"taper"` rule weights each
# window's score by the token's distance to that window's edge, since a token
# near an edge saw little context on that side. The explainer here is the
# `Grad-CAM mean (normalised)` of chapters 4 and 5; any method of `helpers.attr`
# with one score per token fits.
#
# One test review longer than 512 tokens, drawn at random (seeded):

# %%
test_lengths = data.token_lengths(tokenizer, test.texts)
n_over = sum(n > 512 for n in test_lengths)
print(f"{n_over} of {len(test)} test reviews are longer than 512 tokens")
long_i, long_n = windows.pick_long_text(tokenizer, test.texts, 512, profile.seed)
long_text = test.texts[long_i]
cut_logits = train.predict_logits(model, tokenizer, [long_text], max_length=512)
cam_mean = attr.explainers(
    model, tokenizer, gradcam_layers=False, transformer_methods=False
)[attr.GRADCAM_MEAN]
whole = windows.explain_long(
    cam_mean, model, tokenizer, long_text, overlap=128, stitch="taper", progress=False
)
display(
    Markdown(long_reviews.describe_long(whole, cut_logits, label=test.labels[long_i]))
)
title = f"test review {long_i}, all {len(whole.tokens)} tokens ({cam_mean.name})"
long_reviews.plot_positions(whole, title=title)
plt.show()
in_words = whole.html(merge="sum", title=title)
display(HTML(highlight.collapsible(in_words, "the whole review, in words")))

# %% [markdown]
# The figure draws every token's score at its position in the review (the dark
# line is the mean over 25 neighbouring tokens): right of the dashed line is
# what the cut drops, and the bars under it are the windows that read the
# review. The share of the scores that lies past the cut
# (the sentence above) is evidence that a truncated explanation, like every
# one in chapters 3 to 6, could not show. The highlight folded under the
# figure has every token, in words, with no truncation marker. Whether
# windows also classify long reviews *better* than the cut is a question for
# many reviews, not one: `bench/bench_accuracy.py` measures it on every long
# test review, with chapter 2's full-data recipe (its report is kept in
# `bench/results/`):

# %%
bench_results = Path(os.environ.get("BENCH_RESULTS", "../bench/results"))
print(
    recipes.describe_long_reviews(
        recipes.benchmark_report(bench_results / "accuracy.json")
    )
)

# %% [markdown]
# ## Exercises
#
# 1. Stitch with `stitch="mean"` instead of `"taper"` in the windows cell. Where
#    in the review do the scores change, and why there?
# 2. Read the review with less overlap (`overlap=32`). How many windows does it
#    take, and does the prediction of the whole review change?
