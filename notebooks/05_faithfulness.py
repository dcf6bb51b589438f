# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     notebook_metadata_filter: kernelspec,jupytext,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
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
import functools

import torch
from IPython.display import HTML, Markdown, display

from helpers import faithfulness as F
from helpers.config import get_profile, seed_everything
from helpers.data import encode_texts, load_reviews
from helpers.highlight import highlight_html
from helpers.training import get_finetuned_model

profile = get_profile()
seed_everything(profile.seed)
tokenizer, model = get_finetuned_model(profile, attn_implementation="eager")

QUICK = profile.name == "quick"
N_REVIEWS = profile.explain_reviews  # 40 in quick, 500 in full
MAX_LENGTH = 128 if QUICK else profile.max_length
IG_STEPS = 20 if QUICK else 50
CASCADE_REVIEWS, CASCADE_IG_STEPS = (10, 10) if QUICK else (50, 50)

test = load_reviews("test", profile)
reviews = test.subset(
    torch.randperm(len(test), generator=torch.Generator().manual_seed(profile.seed))[
        :N_REVIEWS
    ].tolist()
)
print(reviews)
print(
    f"profile {profile.name}: {N_REVIEWS} reviews, first {MAX_LENGTH} tokens, IG {IG_STEPS} steps"
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
# All methods answer the same call, `attribute(inputs, target) -> [batch, seq]`:
# one score per token for the class the model predicts, higher = more evidence
# for that class, 0 at padding.
#
# | name | what it is |
# |---|---|
# | `[CLS] attention` | last layer's attention from [CLS] to each token, mean over heads (chapter 3) |
# | `rollout` | attention rollout (Abnar & Zuidema, 2020) over all layers (chapter 3) |
# | `Grad-CAM L0` … `L5` | Grad-CAM of one encoder layer, 0 = nearest the embeddings (chapter 4) |
# | `Grad-CAM mean` | Grad-CAM averaged over the layers (chapter 4) |
# | `grad x input` | gradient of the target logit w.r.t. the embeddings-layer output, times that output, summed over hidden units — **signed**, ranked by its signed value (not by abs) |
# | `IG` | integrated gradients (Captum's `LayerIntegratedGradients` on `model.base_model.embeddings`), baseline = every real token replaced by [PAD] ([CLS]/[SEP] kept), 20 steps in quick, 50 in full; signed |
# | `random` | seeded uniform random scores: the floor every method must beat |

# %%
methods = F.explainers(model, tokenizer, ig_steps=IG_STEPS, seed=profile.seed)
list(methods)

# %% [markdown]
# What they highlight on the shortest of our reviews (red = evidence for the
# predicted class; blue = against it, for the signed methods):

# %%
shortest = min(reviews.texts, key=len)
example = dict(encode_texts(tokenizer, [shortest], max_length=MAX_LENGTH, warn=False))
shown = ["[CLS] attention", "rollout", "Grad-CAM mean", "grad x input", "IG", "random"]
maps = F.compute_maps({name: methods[name] for name in shown}, example, None)
tokens = tokenizer.convert_ids_to_tokens(example["input_ids"][0].tolist())
display(
    HTML(
        "".join(
            highlight_html(tokens, maps[name][0], title=name, merge="sum")
            for name in shown
        )
    )
)

# %% [markdown]
# ## The metrics (ERASER, DeYoung et al. 2020)
#
# For a review $x$, the predicted class $c$ and the top $k\,\%$ tokens $r_k$ of an
# explanation (k % of the review's real tokens, at least one; [CLS], [SEP] and
# padding never count and are never touched):
#
# * **comprehensiveness** $= p(c \mid x) - p(c \mid x \setminus r_k)$: how much the
#   probability drops without the explanation's top tokens. Higher is better.
# * **sufficiency** $= p(c \mid x) - p(c \mid r_k)$: how much it drops when *only*
#   those tokens are left. Lower is better (it can be negative).
# * **AOPC**: the mean over $k \in \{1, 5, 10, 20, 50\}$.
#
# "Removing" a token here means **replacing it by [MASK]**: positions and
# lengths stay the same, so all masked copies of a batch go through the model
# together. The **deletion curve** plots $p(c)$ as more and more top tokens are
# masked (faithful = falls fast); the **insertion curve** starts from all
# [MASK] and reveals the top tokens first (faithful = rises fast).

# %%
results = F.evaluate_faithfulness(
    model, tokenizer, reviews.texts, methods, max_length=MAX_LENGTH
)

# %% [markdown]
# ## Results
#
# Means over reviews with [95 % bootstrap CI] (1000 resamples, seeded).
# `comp - random` is the paired per-review difference to the random baseline;
# `deletion AUC` (lower = better) and `insertion AUC` (higher = better) are the
# areas under the curves below; `cascade rho` is the sanity check's result,
# explained in the last section (computed here so that the table holds it).

# %%
cascade_texts = reviews.texts[:CASCADE_REVIEWS]
make_methods = functools.partial(
    F.explainers, tokenizer=tokenizer, ig_steps=CASCADE_IG_STEPS
)
cascade = F.sanity_check(
    model,
    tokenizer,
    cascade_texts,
    make_methods,
    seed=profile.seed,
    max_length=MAX_LENGTH,
)
rows = F.results_table(results, cascade, seed=profile.seed)
display(HTML(F.table_html(rows, caption=f"{results.n} reviews, {reviews.source}")))

# %%
F.plot_curves(results)
# %% [markdown]
# ## Do the methods agree?
#
# For each review, the Spearman rank correlation between two methods' scores
# over its real tokens, averaged over reviews. Abnar & Zuidema (2020, Table 3)
# found raw attention correlating only about 0.1 with gradient-based
# attributions on SST-2, and rollout more; here is our model on IMDb:

# %%
F.plot_agreement(results)
for a, b in [
    ("[CLS] attention", "grad x input"),
    ("rollout", "grad x input"),
    ("[CLS] attention", "IG"),
    ("grad x input", "IG"),
    ("Grad-CAM mean", "IG"),
]:
    print(
        f"{a:>16} vs {b:<12} rho = {F.mean_agreement(results, a, b, seed=profile.seed)}"
    )

# %% [markdown]
# ## Sanity check: cascading randomisation (Adebayo et al., 2018)
#
# An explanation that stays the same when the model is destroyed cannot be
# explaining the model. On a deep copy of the model we re-initialise, like
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
# The random baseline is re-seeded at each step: its line is the chance level.
# Quick profile: the cascade runs on fewer reviews and IG uses fewer steps
# (printed above).

# %%
F.plot_cascade(cascade, seed=profile.seed)
# %% [markdown]
# ## Conclusion
#
# Generated from the numbers above (a method *passes* the sanity check when its
# mean rank correlation with the original map is below 0.3 once the head and
# every layer are random; the threshold is fixed in advance):

# %%
display(Markdown(F.summarise(rows, cascade)))

# %% [markdown]
# How to read this: comprehensiveness and sufficiency measure whether the
# model *depends on* the highlighted tokens under one kind of perturbation
# ([MASK]); they reward methods that share the model's notion of removal (IG
# integrates along a path towards a [PAD] input, which is close). Masked
# inputs are also out of distribution for the model, so the absolute numbers
# mean less than the comparison with the random row. The sanity check asks a
# different question — whether the map depends on the learned weights at all
# — and a method has to pass both before its highlights are worth showing.
