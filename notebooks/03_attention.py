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
# # 3. What does the classifier attend to?
#
# Every encoder layer of BERT mixes the tokens with **self-attention**. Head
# $h$ of layer $l$ computes, for each query token $i$ and key token $j$,
#
# $$a^{l,h}_{ij} = \mathrm{softmax}_j\Big(\frac{q_i^{l,h}\cdot k_j^{l,h}}{\sqrt{d_h}}\Big),
#   \qquad \sum_j a^{l,h}_{ij} = 1,$$
#
# and the new vector of token $i$ is built from the values $v_j$ weighted by
# $a_{ij}$. Our classifier (chapter 2) reads only the vector of `[CLS]` after
# the last layer, so the **`[CLS]` row of the last layer**, $a^{L,h}_{\mathrm{[CLS]},j}$,
# says from which tokens `[CLS]` gathered information in that last step.
#
# The tutorial this book grew from drew exactly that: for one review, the 12
# heads of the last layer, each normalised by its maximum and shown as a red
# background (white = 0, red = the maximum), then their mean. This chapter
# rebuilds that view with `helpers.attention` and `helpers.highlight`, and
# adds: any layer, **attention rollout** over all layers, whole words instead
# of WordPiece pieces, a colour legend, export to a standalone HTML file, and
# an interactive explorer. At the end we say why none of this is, by itself,
# an explanation.

# %%
import random

import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, display

from helpers.attention import (
    TOKEN_KINDS,
    attention_explorer,
    attention_mass,
    attention_probabilities,
    explain_review,
    plot_attention_mass,
    render_review,
    review_attentions,
    token_kind,
)
from helpers.config import data_dir, get_profile, seed_everything
from helpers.data import encode_texts, load_reviews
from helpers.highlight import highlight_html, save_html
from helpers.training import get_finetuned_model

profile = get_profile()
seed_everything(profile.seed)
out_dir = data_dir() / "attention"
out_dir.mkdir(parents=True, exist_ok=True)
tokenizer, model = get_finetuned_model(profile, attn_implementation="eager")
test = load_reviews("test", profile)
print(
    f"profile {profile.name}: {profile.model_name}, {model.config.num_hidden_layers} layers x "
    f"{model.config.num_attention_heads} heads; test data: {test.source}"
)

# %% [markdown]
# ## Attention probabilities of every layer and head
#
# In transformers 5 only the *eager* attention kernel returns the
# probabilities (the faster SDPA kernel never forms them), hence
# `attn_implementation="eager"` above; the helpers also switch a model to it
# themselves. `attention_probabilities` returns one tensor
# `[batch, layers, heads, query, key]`, computed batch by batch in eval mode
# (no dropout). Rows and columns of padding are set to 0, so a padded review
# gets the same attention as alone (up to float rounding).

# %%
inputs = encode_texts(
    tokenizer, ["A gem of a film.", "Two hours I will never get back, sadly."]
)
attn = attention_probabilities(model, inputs)
print("shape [batch, layers, heads, query, key]:", tuple(attn.shape))
print(
    "row sums of the first review, last layer, head 0:",
    attn[0, -1, 0].sum(-1).round(decimals=3).tolist(),
)
print(
    "padding of the first review:",
    int((inputs["attention_mask"][0] == 0).sum()),
    "positions, attention there:",
    float(attn[0, :, :, :, inputs["attention_mask"][0] == 0].abs().sum()),
)

# %% [markdown]
# ## A correctly and a wrongly classified review
#
# We run the model over a seeded sample of `profile.explain_reviews` test
# reviews (at most `profile.max_length` tokens each, as in training: longer
# reviews are truncated, with a warning and a marker in the highlight) and
# keep, for each review, its prediction and where its `[CLS]` attention goes.
# `review_attentions` holds one batch of attention tensors at a time.

# %%
order = random.Random(profile.seed).sample(
    range(len(test)), min(profile.explain_reviews, len(test))
)
sample = test.subset(order)
predictions, masses = {}, {}
for index, ra in review_attentions(
    model, tokenizer, sample.texts, max_length=profile.max_length
):
    predictions[index], masses[index] = ra.prediction, attention_mass(ra)
correct = [i for i in range(len(sample)) if predictions[i] == sample.labels[i]]
wrong = [i for i in range(len(sample)) if predictions[i] != sample.labels[i]]
print(
    f"{len(correct)} correct and {len(wrong)} misclassified out of {len(sample)} sampled test reviews"
)
shown = (
    correct[0] if correct else 0
)  # the first correctly classified review (else the first review)
if not correct:
    print(
        "No correctly classified review in this sample: showing the first review instead."
    )


def view(ra, i, **options):
    """The highlight of review ``i`` of the sample, with its id and true label in the title."""
    return HTML(
        render_review(
            ra, true_label=sample.labels[i], name=f"review {sample.ids[i]}", **options
        )
    )


# %% [markdown]
# Before highlighting words, look at *where* the `[CLS]` attention goes on
# average over the sample. Clark et al. (*What Does BERT Look At?*, 2019)
# found that many heads of bert-base put most of their attention on `[SEP]`,
# `[CLS]` or punctuation, a "no-op" for a head with nothing to do. The
# highlights below hide `[CLS]` and `[SEP]` and scale each view to its largest
# *shown* value, so the bars say how much of the attention they leave out.

# %%
mean_mass = torch.stack(list(masses.values())).mean(dim=0)
plot_attention_mass(
    mean_mass,
    f"Where [CLS] attends (mean over heads and {len(masses)} reviews)",
    path=out_dir / "cls_attention_mass.png",
)
plt.show()
for layer, (on_cls, on_sep, on_punct, on_words) in enumerate(mean_mass.tolist()):
    print(
        f"layer {layer}: [CLS] {on_cls:.2f}  [SEP] {on_sep:.2f}  punctuation {on_punct:.2f}  words {on_words:.2f}"
    )

# %% [markdown]
# With the quick profile's MiniLM, the middle layers send most of `[CLS]`'s
# attention back to `[CLS]` itself and the last layer mostly to words; other
# models (bert-base in the full profile) spread it differently, so read the
# bars of the model you run. A highlight of a layer whose attention mostly
# stays on `[CLS]` shows the *rest*, rescaled: bright colours there can stand
# for very little attention.
#
# ## The tutorial's view: every head of the last layer
#
# Each row is one head of the last layer: the `[CLS]` row, **each scaled to
# its own maximum** (the seed's normalisation, so weak heads are as visible as
# strong ones); the last row is the mean over the heads. Hover over a token to
# read its attention probability. The title gives the true label and the
# prediction.

# %%
first_correct = explain_review(
    model, tokenizer, sample.texts[shown], max_length=profile.max_length
)
display(view(first_correct, shown, head="grid"))

# %%
if wrong:
    first_wrong = explain_review(
        model, tokenizer, sample.texts[wrong[0]], max_length=profile.max_length
    )
    display(view(first_wrong, wrong[0], head="grid"))
else:
    first_wrong = None
    print("No misclassified review in this sample: raise profile.explain_reviews.")

# %% [markdown]
# Heads differ a lot: some spread their attention over the whole review,
# others pick out a few tokens. The mean is what most tutorials show, and it
# hides that variety.
#
# ## Choosing a layer
#
# The last layer is the one the classifier reads, but every layer has a
# `[CLS]` row. Below, one row per layer (mean over heads, each row scaled to
# its own maximum); layer 0 is the one nearest the embeddings.

# %%
display(view(first_correct, shown, layer="all"))

# %% [markdown]
# ## Attention rollout
#
# One layer's attention ignores that its input tokens are already mixtures of
# the layer below. **Attention rollout** (Abnar & Zuidema, *Quantifying
# Attention Flow in Transformers*, ACL 2020) follows the mixing through all
# layers: average the heads, add the identity for the residual connection and
# renormalise each row (for rows that sum to 1 this is $0.5A + 0.5I$), then
# multiply the layers,
#
# $$\tilde A^{l} = \mathrm{rownorm}\Big(\tfrac{1}{H}\textstyle\sum_h A^{l,h} + I\Big), \qquad
#   R = \tilde A^{L}\,\tilde A^{L-1}\cdots\tilde A^{1}.$$
#
# The `[CLS]` row of $R$ sums to 1 over the input tokens. Rollout assumes that
# attention and residual are all that mix tokens (the feed-forward layers act
# on each token separately) and that heads matter equally: it is a model of
# the information flow, not a measurement of it.

# %%
display(view(first_correct, shown, rollout=True))
if first_wrong is not None:
    display(view(first_wrong, wrong[0], rollout=True))

# %% [markdown]
# The same highlighter shows signed scores on a diverging scale
# (blue < 0 < red), which chapters 4 and 5 use for gradients. Here it shows
# where rollout puts **more** (red) or **less** (blue) weight than the last
# layer's mean attention, both renormalised over the words shown, and the
# printout compares how much of each goes to `[CLS]`, `[SEP]`, punctuation and
# words:

# %%
words = torch.tensor(
    [token_kind(t) in ("word", "punctuation") for t in first_correct.tokens]
)
roll, last = first_correct.rollout() * words, first_correct.cls() * words
display(
    HTML(
        highlight_html(
            first_correct.tokens,
            roll / roll.sum() - last / last.sum(),
            title="rollout minus last-layer attention (each renormalised over the words)",
            label="difference",
            truncated=first_correct.truncated and len(first_correct.tokens),
        )
    )
)
kinds = [token_kind(t) for t in first_correct.tokens]
for name, scores in (
    ("last layer", first_correct.cls()),
    ("rollout", first_correct.rollout()),
):
    shares = {
        k: float(sum(s for s, kind in zip(scores, kinds) if kind == k))
        for k in TOKEN_KINDS
    }
    shown_share = shares["punctuation"] / (shares["punctuation"] + shares["word"])
    print(
        f"{name:>10}: "
        + "  ".join(f"{k} {v:.2f}" for k, v in shares.items())
        + f"  | punctuation among the shown tokens {shown_share:.2f}"
    )

# %% [markdown]
# In our runs with the quick profile, rollout kept a large share on `[CLS]`
# itself (the identity term at every layer) and, among the words, favoured
# tokens that many positions attend to, such as full stops, over the content
# words the last layer picks; check the printout for the model you run. The
# two views answer different questions: "what did `[CLS]` read in the last
# step" and "what did everything `[CLS]` read come from, if only attention
# mixed tokens".
#
# ## Words instead of WordPiece pieces
#
# The tokenizer splits rare words into pieces (`un`, `##watch`, `##able`).
# `merge_subwords` (used through `merge=`) joins them into the word a reader
# sees and combines their scores: here with the **sum**, since attention
# probabilities add up (the word receives the attention of all its pieces);
# `merge="max"` keeps the strongest piece instead, the better choice for
# scores that do not add up.

# %%
display(view(first_correct, shown, merge="sum"))

# %% [markdown]
# ## Export a highlight as a standalone HTML file
#
# `save_html` wraps a highlight in a complete page with inline styles only and
# a Content-Security-Policy that forbids scripts and remote loads: the file
# opens anywhere, offline, and a review containing `<script>` shows it as text.

# %%
page = save_html(
    view(first_correct, shown, head="grid").data,
    out_dir / "review_correct_heads.html",
    title="[CLS] attention per head, last layer",
)
print("written:", page, f"({page.stat().st_size / 1024:.0f} KiB)")
display(
    HTML(
        highlight_html(
            ["[CLS]", "a", "<script>alert(1)</script>", "review", "[SEP]"],
            [0, 0.2, 1.0, 0.5, 0],
            title="escaping: markup in a review is shown, never run",
        )
    )
)

# %% [markdown]
# ## Explore interactively
#
# In JupyterLab with a running kernel the explorer below lets you pick a
# review, a layer, one head, all heads or their mean, rollout, and pieces or
# words; a review's attention is computed when it is first shown. In the
# static book the widget is not live: the figures above are the same views.

# %%
explorer = attention_explorer(model, tokenizer, sample, max_length=profile.max_length)
explorer

# %% [markdown]
# ## Attention is not explanation (yet)
#
# A red token says that `[CLS]` *mixed in* information from that position in
# that layer; it does not say that the prediction *depends on* that token.
# Jain & Wallace (*Attention is not Explanation*, NAACL 2019) found attention
# weights often uncorrelated with gradient-based importance, and found very
# different attention distributions giving the same predictions; Wiegreffe &
# Pinter (*Attention is not not Explanation*, EMNLP 2019) answered that this
# depends on the model and the test, and proposed tests of their own. Two
# more reasons for caution are visible above: in some layers most of the
# attention goes to special tokens, which the highlights hide, and by the last
# layer each position already mixes the whole review, so "attention to token
# $j$" is attention to a vector that is no longer just token $j$. Chapter 4
# looks at gradients
# (Grad-CAM on every layer), and chapter 5 **measures** how faithful these
# highlights are: does removing the most highlighted tokens change the
# prediction more than removing random ones?
