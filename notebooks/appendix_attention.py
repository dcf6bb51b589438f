# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix: saving and exploring attention
#
# Chapter 3 draws the `[CLS]` attention of the fine-tuned classifier as
# highlights: one head, every head, one layer or all, rollout, pieces or
# words. This appendix keeps two tools around those views: a standalone HTML
# file of any highlight, and a widget that shows any of the views for any
# review of chapter 3's sample.
#
# It runs on its own: it loads chapter 2's model (training it first, as
# chapter 2 does, when no checkpoint matches the profile) and draws the same
# seeded sample as chapter 3.

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
from helpers import attention, config, data, explorer, highlight, train
from helpers.book import examples

profile = config.get_profile()
figures = config.figures_dir()
tokenizer, model = train.get_finetuned_model(profile, attn_implementation="eager")
test = data.load_reviews("test", profile)
sample = data.sample_reviews(test, profile.explain_reviews, seed=profile.seed)
print(f"profile {profile.name}: {profile.model_name}")
print(f"chapter 3's sample: {len(sample)} reviews of {test.source}")

# %% [markdown]
# ## Export a highlight
#
# `save_html` writes any highlight as a standalone HTML file that opens
# anywhere, offline, and shows a review's text without ever running markup
# from it (details: {ref}`appendix-html-safety`). Below, every head of the
# last layer for the hidden gem, the first of the book's running examples
# (chapter 3's heat map shows the same numbers):

# %%
gem = attention.explain_review(
    model, tokenizer, examples.RUNNING[0].text, max_length=profile.max_length
)
grid = attention.render_review(
    gem, head="grid", true_label=examples.RUNNING[0].label, name="the hidden gem"
)
page = highlight.save_html(
    grid,
    figures / "hidden_gem_heads.html",
    title="[CLS] attention per head, last layer",
)
print(f"written: {config.display_path(page)} ({page.stat().st_size / 1024:.0f} KiB)")

# %% [markdown]
# ## Explore interactively
#
# In JupyterLab with a running kernel the explorer below lets you pick a
# review of chapter 3's sample, a layer, one head, all heads or their mean,
# rollout, and pieces or words; a review's attention is computed when it is
# first shown. In the static book the widget is not live: chapter 3's figures
# are the same views.

# %%
widget = explorer.attention_explorer(
    model, tokenizer, sample, max_length=profile.max_length
)
widget

# %% [markdown]
# ## Exercises
#
# 1. Save the grid of a review of your own: `attention.explain_review` on your
#    text, then `attention.render_review(..., head="grid")` and
#    `highlight.save_html`. Open the file in a browser with the network off.
# 2. In the explorer, switch one review from the last layer to rollout. Which
#    words gain weight?
