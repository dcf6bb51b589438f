# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Are the explanations faithful?
#
# Chapters 3 and 4 drew highlights: [CLS] attention, attention rollout and
# Grad-CAM on every encoder layer. A highlight is only useful if it shows what
# *the model* used. This chapter measures that, with three questions:
#
# 1. **Faithfulness** — if we hide the tokens an explanation ranks highest, does
#    the prediction fall (comprehensiveness)? If we keep only those tokens, does
#    it stay (sufficiency)?
# 2. **Agreement** — do the methods point at the same tokens?
# 3. **Sanity** — does the explanation change when we destroy the model?
#
# Every number comes with a 95 % bootstrap confidence interval over reviews,
# and the conclusion at the end is generated from the numbers, not written in
# advance.

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
import functools

import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, Markdown, display

from helpers import attr, config, data, highlight, metrics, tokens, train
from helpers.book import diagram, examples, layer_plots, plots, recommend, report

profile = config.get_profile()
config.seed_everything(profile.seed)
tokenizer, model = train.get_finetuned_model(profile, attn_implementation="eager")

N_REVIEWS = profile.explain_reviews  # 16 in quick, 500 in full
MAX_LENGTH = profile.explain_max_length  # 128 in quick
IG_STEPS = profile.ig_steps  # 20 in quick, 50 in full

test = data.load_reviews("test", profile)
reviews = data.sample_reviews(test, N_REVIEWS, seed=profile.seed)
print(reviews)
print(
    f"profile {profile.name}: {N_REVIEWS} reviews, first {MAX_LENGTH} tokens, "
    f"IG {IG_STEPS} steps"
)

# %% [markdown]
# ```{note}
# The quick profile explains only a few dozen reviews, truncated to 128
# tokens, so the confidence intervals below are wide and small differences
# mean nothing. The full numbers (500 IMDb test reviews) come from
# `python bench/bench_faithfulness.py --n 500`, which writes the same table as
# CSV and the figures as PNG.
# ```
#
# ## The methods
#
# All methods answer the same call, `attribute(inputs, target)`, and return
# one record: its `scores` `[batch, seq]` give one score per token for the
# class the model predicts (higher = more evidence for that class, 0 at
# padding), with the `target` explained and the model's `logits`.
#
# * `[CLS] attention`: the last layer's attention from [CLS] to each token,
#   mean over heads (chapter 3).
# * `rollout`: attention rollout (Abnar & Zuidema, 2020) over all layers
#   (chapter 3).
# * `Grad-CAM L0`, `Grad-CAM L1`, …: Grad-CAM of one encoder layer; the
#   layers are numbered 0 … N−1, 0 = nearest the embeddings, N = the model's
#   number of layers (chapter 4).
# * `Grad-CAM mean (normalised)`: the mean over layers of each layer's map,
#   first divided by its total over the review's tokens, so that no layer
#   dominates by its scale.
# * `grad x input`: the gradient of the target logit with respect to the
#   embeddings layer's output, times that output, summed over hidden units.
#   **Signed**, and ranked by its signed value (not by its absolute value).
# * `IG`: {term}`integrated gradients` {cite}`sundararajan2017ig` (Captum's
#   `LayerIntegratedGradients` on
#   `model.base_model.embeddings`); the baseline replaces every real token by
#   [PAD] ([CLS]/[SEP] kept); 20 steps in quick, 50 in full; signed.
# * `random`: seeded uniform random scores, the floor every method must beat;
#   its numbers are the mean over `profile.random_draws` random maps per
#   review (3 in quick, 10 in full).
#
# The methods built for transformers (gradient-weighted rollout, CP-LRP) are
# chapter 6's subject; they are left out here.
#
# The two new methods, gradient × input and IG, are the highlighted row of the
# book's diagram: they read the embeddings and need a gradient sent back from
# P(class) (the dashed arrow).

# %%
diagram.show("grad × input")

# %%
explain = functools.partial(
    attr.explainers,
    tokenizer=tokenizer,
    transformer_methods=False,
    random_draws=profile.random_draws,
)
methods = explain(model, ig_steps=IG_STEPS, seed=profile.seed)
list(methods)

# %% [markdown]
# What they highlight on the shortest of our reviews (red = evidence for the
# predicted class; blue = against it, for the signed methods):

# %%
shortest = min(reviews.texts, key=len)
example = data.encode_texts(tokenizer, [shortest], max_length=MAX_LENGTH, warn=False)
shown = [
    "[CLS] attention",
    "rollout",
    attr.GRADCAM_MEAN,
    "grad x input",
    "IG",
    "random",
]
maps = attr.compute_maps({name: methods[name] for name in shown}, example, None)
pieces = tokenizer.convert_ids_to_tokens(example["input_ids"][0].tolist())
specials = tokens.special_tokens(tokenizer)
pages = [
    highlight.highlight_html(
        pieces, maps[name][0], title=name, merge="sum", special_tokens=specials
    )
    for name in shown
]
display(HTML("".join(pages)))

# %% [markdown]
# ## The metrics (ERASER, DeYoung et al. 2020)
#
# ERASER {cite}`deyoung2020eraser` scores an explanation by deleting tokens.
# For a review $x$, the predicted class $c$ and the top $k\,\%$ tokens $r_k$ of an
# explanation (k % of the review's real tokens, at least one; [CLS], [SEP] and
# padding never count and are never touched):
#
# * **comprehensiveness** $= p(c \mid x) - p(c \mid x \setminus r_k)$: how much the
#   probability drops without the explanation's top tokens. Higher is better.
# * **sufficiency** $= p(c \mid x) - p(c \mid r_k)$: how much it drops when *only*
#   those tokens are left. Lower is better (it can be negative).
# * **{term}`AOPC`**: the mean over $k \in \{1, 5, 10, 20, 50\}$.
#
# "Removing" a token here means **replacing it by [MASK]**: positions and
# lengths stay the same, so all masked copies of a batch go through the model
# together. The **deletion curve** plots $p(c)$ as more and more top tokens are
# masked (faithful = falls fast); the **insertion curve** starts from all
# [MASK] and reveals the top tokens first (faithful = rises fast).
#
# **Ties.** Grad-CAM's ReLU leaves many tokens at exactly 0, and some maps
# are 0 everywhere. Which of two equal scores counts as "higher" is then
# decided by a random order, seeded and fixed per review, never by position
# (a position rule would turn part of the metric into "delete the first
# tokens"). The table reports, per method, the share of the selected tokens
# that were such ties.
#
# In the diagram, comprehensiveness and sufficiency are the highlighted row:
# they read nothing inside the model, only the review text going in and
# P(class) coming out.

# %%
diagram.show("comprehensiveness")

# %% [markdown]
# ## Comprehensiveness in code
#
# Here is the metric on the shortest review, in plain PyTorch, for the
# grad × input map drawn above: rank the real tokens by their score, replace
# the top k % by [MASK], run the model again and see how much p(predicted
# class) fell; AOPC is the mean over the five k. Grad × input gives every
# token a different score, so there are no ties to break (the cell checks it).

# %%
gxi = methods["grad x input"].attribute(example).scores[0]  # one score per token
ids = example["input_ids"]
special = [tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id]
real = ~torch.isin(ids[0], torch.tensor(special))  # never touched: [CLS], [SEP]
assert len(set(gxi[real].tolist())) == int(real.sum()), "ties: use the helper"
order = torch.where(real)[0][gxi[real].argsort(descending=True)]  # best first
with torch.no_grad():
    p = model(**example).logits.softmax(-1)[0]
    c = int(p.argmax())  # the predicted class
    comp_by_hand = []
    for k in metrics.AOPC_FRACTIONS:  # 1, 5, 10, 20, 50 %
        n = max(1, int(k * int(real.sum()) + 0.5))  # k % of the tokens, >= 1
        masked = ids.clone()
        masked[0, order[:n]] = tokenizer.mask_token_id
        p_masked = model(**{**example, "input_ids": masked}).logits.softmax(-1)
        comp_by_hand.append(float(p[c] - p_masked[0, c]))
comp_by_hand = torch.tensor(comp_by_hand)
print("comprehensiveness per k:", [f"{x:+.4f}" for x in comp_by_hand.tolist()])
print(f"AOPC (mean over k): {comp_by_hand.mean():+.4f}")

# %% [markdown]
# The helper `metrics.comprehensiveness` does the same for a whole batch (and
# breaks ties in a seeded random order); on this review it must agree:

# %%
roles = tokens.TokenRoles.from_tokenizer(tokenizer)
comp_helper = metrics.comprehensiveness(
    model, example, gxi[None], roles, seed=profile.seed
)[0]
largest = float((comp_helper - comp_by_hand).abs().max())
print(f"helper AOPC {metrics.aopc(comp_helper):+.4f}; largest difference {largest:.1e}")
assert torch.allclose(comp_helper, comp_by_hand, atol=1e-5)

# %% [markdown]
# `metrics.evaluate_faithfulness` runs this, and sufficiency, for every method
# on every review. With `cache=` it keeps each method's numbers on disk with
# what made them (the model's weights, the method's settings, the reviews, the
# code of `helpers`): chapter 6, which scores some of the same methods on the
# same reviews, loads them instead of computing them again, and a change to
# any of those computes them afresh.

# %%
cache = metrics.ResultsCache(config.data_dir() / "metric-results")
results = metrics.evaluate_faithfulness(
    model,
    tokenizer,
    reviews.texts,
    methods,
    max_length=MAX_LENGTH,
    seed=profile.seed,
    cache=cache,
)
results.settings

# %% [markdown]
# ## Results
#
# One row per method: how much more deleting its top tokens lowers the
# prediction than deleting random ones (`comp. − random`, the paired
# per-review difference, with its 95 % bootstrap interval: 1000 resamples,
# seeded). A whisker that stays right of the dashed line beats random. A
# hollow dot fails the sanity check, explained in the last section (computed
# here so that the figure and the table hold it). Every number, with its
# interval, is in the table folded under the figure: comprehensiveness and
# sufficiency, `ties` (the share of selected tokens that were ties) and the
# two `cascade ρ` columns. The CSV written by the benchmark also has the areas
# under the curves below.

# %%
cascade = metrics.sanity_check(
    model,
    tokenizer,
    reviews.texts[: profile.cascade_reviews],
    functools.partial(explain, ig_steps=profile.cascade_ig_steps),
    seed=profile.seed,
    max_length=MAX_LENGTH,
    cache=cache,
)
rows = report.results_table(results, cascade, seed=profile.seed)
caption = f"{results.n} reviews ({reviews.source}); sanity check on {cascade.n} of them"
plots.plot_forest(rows)
plt.show()
table = report.table_html(rows, caption=caption)
display(HTML(highlight.collapsible(table, "the table: every number, its interval")))

# %% [markdown]
# The curves of the main methods (the random floor dashed); the per-layer
# Grad-CAM maps follow in a panel each:

# %%
plots.plot_curves(results)
plt.show()

# %%
layer_plots.plot_layer_curves(results)
plt.show()

# %% [markdown]
# ## Do the methods agree?
#
# For each review, the Spearman rank correlation between two methods' scores
# over its real tokens, averaged over reviews. Abnar & Zuidema (2020, Table 3)
# found raw attention correlating only about 0.1 with gradient-based
# attributions on SST-2, and rollout more; here is our model on IMDb:

# %%
plots.plot_agreement(results, methods=report.main_methods(results.methods))
plt.show()
for a, b in [
    ("[CLS] attention", "grad x input"),
    ("rollout", "grad x input"),
    ("[CLS] attention", "IG"),
    ("grad x input", "IG"),
    (attr.GRADCAM_MEAN, "IG"),
]:
    rho = report.mean_agreement(results, a, b, seed=profile.seed)
    print(f"{a:>26} vs {b:<12} rho = {rho.with_n()}")

# %% [markdown]
# ## Sanity check: cascading randomisation (Adebayo et al., 2018)
#
# An explanation that stays the same when the model is destroyed cannot be
# explaining the model (*Sanity Checks for Saliency Maps*,
# {cite}`adebayo2018sanity`). On a deep copy of the model we re-initialise, like
# BERT's `_init_weights` but seeded (Normal(0, `initializer_range`) weights,
# zero biases, LayerNorm 1/0):
#
# 1. first the **classifier head** (classifier and pooler — Adebayo et al. start
#    from the logits),
# 2. then the last encoder layer, then the one below, ..., cumulatively, until
#    every encoder layer is random (the embeddings stay).
#
# After each step every method recomputes its map for the class the *original*
# model predicted, and we plot the Spearman correlation with the original map.
# As Adebayo et al. do, the table gives it twice: for the signed maps and for
# their absolute values (a signed method could flip its signs and keep its
# magnitudes). A map that turns constant — Grad-CAM's ReLU can zero a whole
# review — has changed and counts as ρ = 0; such reviews are counted in the
# conclusion, not dropped. The random baseline is re-seeded at each step: its
# line is the chance level, and its `sanity` column says `baseline`. Quick
# profile: the cascade runs on fewer reviews and IG uses fewer steps
# (`profile.cascade_reviews`, `profile.cascade_ig_steps`).
#
# The first step is a test of its own. A map that does not read the classifier
# head (attention, rollout) is *exactly* the same after it, and it may drift
# away from the original later, as the layers it reads are randomised, without
# ever having depended on the class. So the verdict has two parts: the map must
# change once the head alone is random (`fail: ignores the classifier`
# otherwise), and it must no longer resemble the original at the end
# (`fail: survives the cascade` otherwise).

# %%
plots.plot_cascade(cascade, seed=profile.seed)
plt.show()

# %%
layer_plots.plot_cascade_layers(cascade, seed=profile.seed)
plt.show()

# %% [markdown]
# ## Conclusion
#
# Generated from the numbers above. A method *passes* the sanity check on two
# criteria fixed in advance: its map changes when the classifier head alone is
# randomised (mean ρ below 0.9), and its mean rank correlation with the
# original map, signed and of absolute values, is below 0.3 once the head and
# every layer are random. A method left out of the check fails; `random` is
# the chance level, a baseline that gets no verdict.

# %%
display(Markdown(report.summarise(rows, cascade)))

# %% [markdown]
# How to read this: comprehensiveness and sufficiency measure whether the
# model *depends on* the highlighted tokens under one kind of perturbation
# ([MASK]); they reward methods that share the model's notion of removal (IG
# integrates along a path towards a [PAD] input, which is close). Masked
# inputs are also out of distribution for the model, so the absolute numbers
# mean less than the comparison with the random row. The sanity check asks a
# different question — whether the map depends on the learned weights at all
# — and a method has to pass both before its highlights are worth showing.
#
# ## The running example: deleting the top words
#
# What does removing the three words a method ranks highest do to the book's
# three reviews? The method is the one the conclusion recommends
# (grad × input when none qualifies); pieces are merged into words by their
# sum, as in chapter 3, and every piece of a deleted word becomes the mask
# token.

# %%
chosen = recommend.recommend(rows) or "grad x input"
deletions = [  # the mask token on the ids: "[MASK]" typed into a text is text
    examples.deletion_test(
        model,
        tokenizer,
        methods[chosen],
        e.text,
        max_length=MAX_LENGTH,
        seed=profile.seed,
    )
    for e in examples.RUNNING
]
deleted = [d["words"] for d in deletions]
deleted_column = f"{chosen}: top 3 words deleted"
table = [
    {
        "review": e.name,
        deleted_column: ", ".join(d["words"]),
        "P(predicted) before → after": f"{data.LABEL_NAMES[d['target']]} "
        f"{d['before']:.3f} → {d['after']:.3f}",
    }
    for e, d in zip(examples.RUNNING, deletions, strict=True)
]
display(HTML(report.table_html(table, columns=list(table[0]))))
drops = torch.tensor([d["before"] - d["after"] for d in deletions])
print(
    f"Deleting three words lowered P(predicted) for {int((drops > 0).sum())} of "
    f"{len(drops)} reviews; the largest drop was {float(drops.max()):+.3f} "
    f"({examples.RUNNING[int(drops.argmax())].name})."
)

# %% [markdown]
# ## Summary
#
# * Comprehensiveness and sufficiency ask whether the model *depends on* an
#   explanation's top tokens: mask them, or keep only them, and watch the
#   probability of the predicted class.
# * Every number is a mean over reviews with a bootstrap interval, and every
#   method is compared with a random floor on the same reviews; ties in a map
#   are broken by a seeded random order, never by position.
# * The cascading randomisation separates maps that depend on the learned
#   weights from maps that would look the same for any model.
#
# ## Exercises
#
# 1. Explain the class the model did *not* predict: for the shortest review,
#    pass `target=1 - model(**example).logits.argmax(-1)` instead of `None`
#    to `attr.compute_maps`. Which methods' highlights flip, and which stay
#    the same?
# 2. Replace [MASK] by [PAD] as the removal token: build
#    `tokens.TokenRoles(mask_id=tokenizer.pad_token_id, special_ids=...)` and
#    pass it to `metrics.comprehensiveness`. Does the ranking of the methods
#    change?
# 3. Set `IG_STEPS = 5` and rerun the table. How much comprehensiveness does
#    integrated gradients lose, and how much time does it save?
# 4. Compare `"Grad-CAM mean (raw)"` (`attr.GradCamLayers(model).mean(
#    normalise=False)`) with the normalised mean. Which layer dominates the raw
#    mean on the shortest review?

# %%
gem_deleted = deletions[0]  # the hidden gem is the first running example
gem_class = data.LABEL_NAMES[gem_deleted["target"]]
print(
    examples.gem_note(
        f"masking {chosen}'s top 3 words ({', '.join(gem_deleted['words'])}) moves "
        f"P({gem_class}) from {gem_deleted['before']:.3f} to "
        f"{gem_deleted['after']:.3f}, and the prediction "
        + ("flips" if gem_deleted["flipped"] else "does not flip")
    )
)
