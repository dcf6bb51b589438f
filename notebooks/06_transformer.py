# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. Explaining a transformer the transformer way
#
# Chapter 4 ended with a doubt: Grad-CAM was built for convolutions, whose
# channels are local detectors, while in a transformer the tokens exchange
# information through **attention**. Chapter 5 measured how far each method
# can be trusted. This chapter adds three methods designed *for* attention,
# measures them with chapter 5's tools, and asks a second question that
# faithfulness cannot answer: are the highlighted words the ones **people**
# would mark?
#
# * `grad-weighted rollout`: Grad-CAM's gradient weighting applied to the
#   attention maps, rolled out over the layers (Chefer, Gur & Wolf, ICCV 2021
#   {cite}`chefer2021generic`).
# * `CP-LRP` ({term}`LRP`): gradient × input once attention and LayerNorm
#   pass {term}`relevance` on
#   *conservatively* (Ali et al., ICML 2022 {cite}`ali2022xai`).
# * `AttnLRP`: CP-LRP plus relevance through the softmax and the attention
#   products (Achtibat et al., ICML 2024 {cite}`achtibat2024attnlrp`).
#
# They are compared with chapter 5's strongest methods on the same reviews:
# `Grad-CAM mean (normalised)`, gradient × input and integrated gradients
# (IG), with [CLS] attention and random scores as floors.

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
import numpy as np
import torch
from IPython.display import HTML, Markdown, display

from helpers import attr, config, data, highlight, metrics, tokens, train
from helpers.attr import lrp
from helpers.book import answers, diagram, examples, plots, recommend, report
from helpers.data import eraser
from helpers.metrics import cost, plausibility

profile = config.get_profile()
config.seed_everything(profile.seed)
tokenizer, model = train.get_finetuned_model(profile, attn_implementation="eager")
test = data.load_reviews("test", profile)
reviews = data.sample_reviews(test, profile.explain_reviews, seed=profile.seed)
MAX_LENGTH = profile.explain_max_length
print(reviews)
print(f"{len(reviews)} reviews, first {MAX_LENGTH} tokens, IG {profile.ig_steps} steps")

# %% [markdown]
# ## Gradient-weighted attention rollout
#
# Attention rollout (chapter 3) multiplies the layers' attention maps to
# follow information from the input to [CLS], but it ignores the class:
# chapter 5's sanity check showed it does not change when the classifier head
# is randomised. Chefer et al. weight each attention probability by its
# gradient, as Grad-CAM weights a channel, and keep only the positive part.
# Starting from $R = I$, for the layers $l = 0, 1, \dots, N-1$ in turn:
#
# $$\bar A_l = \mathbb{E}_h\big[(\nabla A_{l,h} \odot A_{l,h})^+\big], \qquad
#   R \leftarrow R + \bar A_l R .$$
#
# The explanation is the [CLS] row of $R$: how much each token reached the
# classification position, counting only attention that *raised* the target
# logit. One forward and one backward pass give every layer's $A$ and
# $\nabla A$. In the diagram it is the highlighted row: it reads every
# layer's attention and needs a gradient sent back from P(class).

# %%
diagram.show("grad-weighted rollout")

# %% [markdown]
# ### Gradient-weighted rollout in code
#
# On the first running example, "hidden gem": the word embeddings are fed as
# a leaf that requires a gradient, so that the gradient reaches every layer's
# attention probabilities whatever parameters are frozen. [CLS] starts with
# relevance 1 for itself (the identity); that 1 is not evidence, and the
# helper reports what reached [CLS] beyond it, so the code subtracts it too.

# %%
review = data.encode_texts(tokenizer, [examples.RUNNING[0].text])
words_in = model.get_input_embeddings()(review["input_ids"]).detach()
out = model(
    inputs_embeds=words_in.requires_grad_(True),
    attention_mask=review["attention_mask"],
    token_type_ids=review["token_type_ids"],
    output_attentions=True,  # A: one [1, heads, seq, seq] per layer
)
target = int(out.logits.argmax(-1))  # explain the predicted class
grads = torch.autograd.grad(out.logits[0, target], out.attentions)  # ∇A
R = torch.eye(review["input_ids"].shape[1])
for A, dA in zip(out.attentions, grads, strict=True):  # layer 0 first
    A_bar = (dA * A).clamp(min=0).mean(dim=1)[0]  # mean over heads of (∇A ⊙ A)+
    R = R + A_bar @ R
by_hand = R[0].detach().clone()  # the [CLS] row
by_hand[0] -= 1  # minus [CLS]'s starting 1
gem_tokens = tokenizer.convert_ids_to_tokens(review["input_ids"][0].tolist())
print([f"{t} {v:.3g}" for t, v in zip(gem_tokens, by_hand.tolist(), strict=True)])

# %% [markdown]
# The helper does the same for a batch (padding masked, only the [CLS] row
# propagated, so it is cheaper); on this review it must agree:

# %%
helper_map = (
    attr.GradientWeightedRollout(model)
    .attribute(review, target=torch.tensor([target]))
    .scores[0]
)
largest = float((helper_map - by_hand).abs().max())
print(f"largest difference {largest:.1e}")
assert torch.allclose(helper_map, by_hand, atol=1e-5)

# %% [markdown]
# ## Conservative propagation (CP-LRP)
#
# Gradient × input on a *linear* function is exactly conservative: the token
# relevances add up to the output. A transformer is not linear, and Ali et al.
# show where relevance leaks: through the attention probabilities (the
# softmax depends on the tokens) and through LayerNorm's division by the
# standard deviation. CP-LRP treats both as **constants in the backward
# pass** — the forward pass is unchanged — and then takes gradient × input at
# the embeddings. `helpers.attr.lrp` does this without copying transformers'
# BERT code: a detached-softmax attention function registered through
# transformers' attention interface, and a context manager that patches every
# LayerNorm and restores the model afterwards.
#
# The logit then splits exactly into the tokens' relevances and the share of
# the biases (Linear biases and LayerNorm shifts), which no token owns:

# %%
few = data.encode_texts(tokenizer, reviews.texts[:4], max_length=MAX_LENGTH)
split = lrp.conservation(model, few)
for i in range(4):
    print(
        f"review {i}: logit {split['logit'][i]:+.3f} = tokens "
        f"{split['tokens'][i]:+.3f} + biases {split['biases'][i]:+.3f} "
        f"(rest {split['rest'][i]:+.1e})"
    )

# %% [markdown]
# **AttnLRP** keeps CP-LRP's LayerNorm rule but lets relevance flow through
# the softmax as well, and splits each product ($QK^\top$, $PV$) evenly
# between its two factors. It is no longer exactly conservative. The
# maintained package for it (`lxt`) supports BERT only on transformers 4, by
# replacing transformers' BERT module, so the book writes AttnLRP's rules on
# the same machinery as CP-LRP. In the diagram, CP-LRP and AttnLRP are the row
# that reads every stage: relevance is passed back layer by layer from
# P(class) to the embeddings.

# %%
diagram.show("AttnLRP")

# %% [markdown]
#
# ## The same reviews, explained eight ways
#
# Every method answers chapter 5's call, `attribute(inputs, target)`, whose
# record holds the scores, so the registry serves them all: the chapter takes
# every method of `attr.explainers` but rollout and the per-layer Grad-CAM
# maps (measured at the end, in *What the book found*), so a method added to
# the registry joins every table below. Red = evidence for the predicted
# class; blue = against it, for the signed methods.

# %%
MEASURED_LATER = ("rollout",)


def chapter_methods(model, seed=profile.seed, ig_steps=profile.ig_steps):
    """Chapter 6's methods, in table order, for ``model``."""
    every = attr.explainers(
        model,
        tokenizer,
        ig_steps=ig_steps,
        seed=seed,
        random_draws=profile.random_draws,
        gradcam_layers=False,
    )
    return {n: m for n, m in every.items() if n not in MEASURED_LATER}


methods = chapter_methods(model)
NAMES = list(methods)  # random last, the floor
shortest = min(reviews.texts, key=len)
example = data.encode_texts(tokenizer, [shortest], max_length=MAX_LENGTH)
maps = attr.compute_maps(methods, example, None)
example_tokens = tokenizer.convert_ids_to_tokens(example["input_ids"][0].tolist())
specials = tokens.special_tokens(tokenizer)
shown = [
    highlight.highlight_html(
        example_tokens,
        maps[name][0],
        title=name,
        merge="sum",
        special_tokens=specials,
    )
    for name in NAMES[:-1]
]
display(HTML("".join(shown)))

# %% [markdown]
# ## The running example
#
# The three transformer methods on the book's three reviews, each explaining
# the class the model predicts for that review (pieces merged into words by
# their sum; each row scaled to its own maximum). Grad-weighted rollout is
# never negative (white → red); CP-LRP and AttnLRP are signed (blue = against
# the predicted class). The printout lists each method's three top words.

# %%
running = data.encode_texts(tokenizer, examples.texts(), max_length=MAX_LENGTH)
running_tokens = [
    tokenizer.convert_ids_to_tokens(ids.tolist()) for ids in running["input_ids"]
]
pages = []
for name in attr.TRANSFORMER_METHODS:
    scores = methods[name].attribute(running).scores
    triples = list(zip(examples.RUNNING, running_tokens, scores, strict=True))
    pages.append(
        highlight.highlight_rows(
            [(e.name, t, s) for e, t, s in triples],
            title=name,
            merge="sum",
            special_tokens=specials,
        )
    )
    for e, t, s in triples:
        words, word_scores = tokens.merge_pieces(t, s, specials, merge="sum")
        _, top = examples.delete_top_words(words, word_scores, 3, seed=profile.seed)
        print(f"{name:>21} | {e.name:<10} | top 3: {', '.join(words[i] for i in top)}")
display(HTML("".join(pages)))

# %% [markdown]
# ## Faithfulness, sanity and agreement (chapter 5's tools)
#
# Comprehensiveness and sufficiency are the AOPC over $k \in \{1, 5, 10, 20,
# 50\}\,\%$ of the tokens replaced by [MASK]; ties are broken in a seeded
# random order; `random` is the mean of several random maps per review. The
# sanity check randomises the classifier head, then the layers from the top.
# The methods chapter 5 scored on the same reviews are loaded from its cache
# (`cache=`), computed again only if what made them changed.

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
cascade = metrics.sanity_check(
    model,
    tokenizer,
    reviews.texts[: profile.cascade_reviews],
    functools.partial(chapter_methods, ig_steps=profile.cascade_ig_steps),
    seed=profile.seed,
    max_length=MAX_LENGTH,
    cache=cache,
)
rows = report.results_table(results, cascade, seed=profile.seed)
plots.plot_forest(rows)
plt.show()
table = report.table_html(rows, caption=f"{results.n} reviews, {reviews.source}")
display(HTML(highlight.collapsible(table, "the table: every number, its interval")))

# %%
plots.plot_cascade(cascade, seed=profile.seed)
plt.show()

# %%
plots.plot_agreement(results)
plt.show()

# %% [markdown]
# ## What each method costs
#
# Milliseconds per review on this machine, and the model passes behind them
# (counted with hooks, not declared): every method runs on the same batches,
# one after the other, in one process.

# %%
batches = data.text_batches(tokenizer, reviews.texts, max_length=MAX_LENGTH, warn=False)
costs = cost.measure_cost(model, methods, batches)
for name, c in costs.items():
    print(f"{name:>28}: {c}")
print(recommend.cost_spread(costs))

# %% [markdown]
# ## Plausibility: do the highlights agree with people?
#
# Faithfulness asks whether the *model* used the highlighted tokens;
# plausibility asks whether a *person* would have highlighted them. The ERASER
# benchmark's Movies task (DeYoung et al., ACL 2020) holds movie reviews
# (Pang & Lee, 2004) in which annotators marked the passages that justify the
# label (Zaidan, Eisner & Piatko, NAACL 2007). This is a **transfer test**:
# the model was fine-tuned on IMDb and never saw ERASER, and the reviews come
# from another site and another decade.
#
# `helpers.data.eraser` maps each marked passage onto WordPiece tokens through
# character offsets, so a word split into pieces (`##s`) or punctuation the
# tokenizer separates lands on the right pieces. The reviews are long (about
# 840 WordPieces on average), and the explanation covers the first
# `plausibility_max_length` tokens: the coverage below says how much of the
# human rationale falls inside.

# %%
docs = eraser.sample_eraser(
    "val", profile.plausibility_reviews, seed=profile.seed, required=False
)
if docs:
    print(eraser.CITATION)
    plaus = plausibility.evaluate_plausibility(
        model,
        tokenizer,
        docs,
        methods,
        max_length=profile.plausibility_max_length,
        seed=profile.seed,
    )
    print(
        f"{len(plaus)} ERASER validation reviews: accuracy {plaus.accuracy:.3f}; "
        f"rationale inside the first {plaus.max_length} tokens: "
        f"{float(plaus.coverage[plaus.scored].mean()):.0%} on average"
    )

# %% [markdown]
# For each review and method: **{term}`AUPRC`** ranks the tokens by score and
# measures how well that ranking finds the rationale tokens (the random
# baseline scores about the share of rationale tokens); **F1** takes as many
# top tokens as the rationale has and compares the two sets. The human
# rationale of one review, then its highlights:

# %%
if docs:
    one = plaus.encoding
    pieces = tokenizer.convert_ids_to_tokens(one.inputs["input_ids"][0].tolist())
    human = one.rationale[0].float()
    parts = [
        highlight.highlight_html(
            pieces, human, title="human rationale", special_tokens=specials
        )
    ]
    parts += [
        highlight.highlight_html(
            pieces, plaus.scores[m][0], title=m, merge="sum", special_tokens=specials
        )
        for m in ("IG", "CP-LRP", "grad-weighted rollout")
    ]
    display(HTML(highlight.collapsible("".join(parts), "one ERASER review")))

# %%
if docs:
    plaus_rows = recommend.plausibility_table(plaus, seed=profile.seed)
    caption = "plausibility, ERASER Movies validation"
    display(
        HTML(report.table_html(plaus_rows, caption, ["method", "AUPRC", "F1", "n"]))
    )

# %% [markdown]
# ERASER's own metrics, comprehensiveness and sufficiency, on the same
# reviews: the maps above are served again (`attr.StoredMaps`), with the
# model's logits of the plausibility run, not recomputed.

# %%
if docs:
    inputs, logits = plaus.encoding.inputs, plaus.logits
    stored = {
        name: attr.StoredMaps(model, name, inputs, plaus.scores[name], logits=logits)
        for name in NAMES
        if name != "random"
    }
    stored["random"] = methods["random"]
    eraser_results = metrics.evaluate_faithfulness(
        model,
        tokenizer,
        plaus.texts,
        stored,
        max_length=profile.plausibility_max_length,
        seed=profile.seed,
    )
    eraser_rows = report.results_table(eraser_results, seed=profile.seed)
    display(HTML(report.table_html(eraser_rows, caption="ERASER Movies val")))

# %% [markdown]
# ```{note}
# ERASER's paper reports these metrics for its own models (a BERT+LSTM and
# a GloVe+LSTM trained on Movies, reading the whole review in 512-token
# chunks, scored over whitespace tokens). Our model was trained on IMDb, reads
# only the first tokens and is scored over WordPieces, so the numbers are not
# on the same footing; compare methods within this table, not with theirs.
# ```
#
# ## Which method to use
#
# Both axes and the cost in one figure: up is more faithful
# (comprehensiveness, on the IMDb reviews above), right more plausible (AUPRC
# against ERASER's human rationales), and a larger marker costs more
# milliseconds per review. The whiskers are the 95 % intervals; the table
# folded under the figure holds every number, with sufficiency, F1, the
# sanity check and the model passes per review.

# %%
if docs:
    plots.plot_faithful_plausible(rows, plaus_rows, costs)
    plt.show()
    table = recommend.recommendation_table(rows, plaus_rows, costs)
    table = report.table_html(table, "faithful, plausible, affordable", list(table[0]))
    display(HTML(highlight.collapsible(table, "the table: every number")))
    display(Markdown(recommend.both_axes(rows, plaus_rows)))

# %% [markdown]
# The goal this chapter set itself: a method that beats integrated gradients
# on comprehensiveness (paired per-review difference, 95 % CI above 0), is
# not worse on sufficiency, passes the sanity check, is among the two most
# plausible methods and costs at most a twentieth of IG's time. Checked on
# the numbers of this run:

# %%
if docs:
    text, checks = recommend.verdict(results, rows, plaus_rows, costs)
    lines = [
        f"- {'met' if c.met else 'not met'}: {c.condition} — {c.measured}"
        for c in checks
    ]
    display(Markdown(text + "\n\n" + "\n".join(lines)))

# %% [markdown]
# ## What the book found
#
# Chapter 3 asked whether attention shows what the prediction depends on,
# chapter 4 which Grad-CAM layer to trust, and this chapter which method to
# use. The answers come from comprehensiveness on this chapter's reviews. The
# table above lacks rollout and the per-layer Grad-CAM maps, so they are
# measured here on the same reviews with the same random floor, and put through
# the same sanity check (the numbers of chapter 5's table, which explains the
# same reviews); a Grad-CAM layer is called faithful when it beats random and
# passes the sanity check. The recommended method is the most comprehensive of
# this chapter's methods that beats random and passes the sanity check, named
# with every such method whose interval overlaps its own (not separated).

# %%
earlier_all = attr.explainers(
    model,
    tokenizer,
    ig_steps=profile.ig_steps,
    seed=profile.seed,
    random_draws=profile.random_draws,
    transformer_methods=False,
)
earlier_names = ["rollout", *report.layer_methods(earlier_all), "random"]


def earlier_methods(model, seed=profile.seed):
    """Rollout, the per-layer Grad-CAM maps and random, for ``model``."""
    every = attr.explainers(
        model,
        tokenizer,
        seed=seed,
        random_draws=profile.random_draws,
        transformer_methods=False,
    )
    return {name: every[name] for name in earlier_names}


earlier_results = metrics.evaluate_faithfulness(
    model,
    tokenizer,
    reviews.texts,
    earlier_methods(model),
    max_length=MAX_LENGTH,
    seed=profile.seed,
    cache=cache,
)
floor = results.aopc("comprehensiveness", "random")
assert np.allclose(earlier_results.aopc("comprehensiveness", "random"), floor)
earlier_cascade = metrics.sanity_check(
    model,
    tokenizer,
    reviews.texts[: profile.cascade_reviews],
    earlier_methods,
    seed=profile.seed,
    max_length=MAX_LENGTH,
    cache=cache,
)
earlier_rows = report.results_table(earlier_results, earlier_cascade, seed=profile.seed)
book_rows = rows + [r for r in earlier_rows if r["method"] not in NAMES]
recommended = recommend.recommendations(rows)
book_conclusion = answers.conclusion(book_rows, recommended)  # ends with the finding
display(Markdown(book_conclusion))
book_finding = answers.finding(book_rows, recommended)

# %% [markdown]
# ## Summary
#
# * Gradient-weighted rollout brings Grad-CAM's idea — weight by the
#   gradient, keep the positive part — to the attention maps, where a
#   transformer moves information between tokens.
# * CP-LRP makes gradient × input conservative by treating attention and
#   LayerNorm scaling as constants in the backward pass; the logit then
#   splits exactly into token relevances and bias shares.
# * Faithfulness (does the model depend on the tokens?) and plausibility (would
#   a person mark them?) are different axes; a method can lead on one and not
#   the other, and the cost per review differs by the ratio measured above.
# * Before reading words off any highlight, go through the checklist
#   {doc}`../checklist`: saturated probabilities, `[MASK]` inputs, attention on
#   special tokens, per-row rescaling, checks that cannot fail, small samples.
#
# ## Exercises
#
# 1. Explain the *other* class: pass `target=1 - prediction` to
#    `methods["CP-LRP"].attribute` for one review. Which tokens change sign?
# 2. Build `attr.ConservativeLRP(model, identity_activations=False)` (Ali et
#    al.'s original gradient through GELU) and compare the sum of its
#    relevances with `split["tokens"]` above. How far from conservative is it?
# 3. Set `plausibility_max_length` to 256 with `profile.with_(...)`. How do
#    the rationale coverage and the AUPRC of each method move?
# 4. Replace `"grad x input"` by the last layer's Grad-CAM,
#    `f"Grad-CAM L{model.config.num_hidden_layers - 1}"`, in `chapter_methods`
#    (build the registry with `gradcam_layers=True`) and rerun
#    the sanity check. Which of chapter 5's observations about the last layer
#    carries over?

# %%
gem_method = next((m for m in recommended if m in methods), "AttnLRP")  # best first
gem_deleted = examples.deletion_test(
    model,
    tokenizer,
    methods[gem_method],
    examples.RUNNING[0].text,
    max_length=MAX_LENGTH,
    seed=profile.seed,
)
gem_class = data.LABEL_NAMES[gem_deleted["target"]]
print(
    examples.gem_note(
        f"{gem_method} puts on top {examples.on_top(gem_deleted['words'])}; masking "
        f"these words moves P({gem_class}) from {gem_deleted['before']:.3f} to "
        f"{gem_deleted['after']:.3f}, and the prediction "
        + ("flips" if gem_deleted["flipped"] else "does not flip")
    )
)
