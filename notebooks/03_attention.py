# ---
# jupyter:
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
# $$a^{l,h}_{ij} =
#   \mathrm{softmax}_j\Big(\frac{q_i^{l,h}\cdot k_j^{l,h}}{\sqrt{d_h}}\Big),
#   \qquad \sum_j a^{l,h}_{ij} = 1,$$
#
# and the new vector of token $i$ is built from the values $v_j$ weighted by
# $a_{ij}$. Our classifier (chapter 2) reads only the vector of `[CLS]` after
# the last layer, so the **`[CLS]` row of the last layer**,
# $a^{L,h}_{\mathrm{[CLS]},j}$, says from which tokens `[CLS]` gathered
# information in that last step.
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
import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, display

from helpers import attention, config, data, explorer, highlight, training

profile = config.get_profile()
config.seed_everything(profile.seed)
figures = config.figures_dir()
tokenizer, model = training.get_finetuned_model(profile, attn_implementation="eager")
test = data.load_reviews("test", profile)
layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
print(f"profile {profile.name}: {profile.model_name}, {layers} layers x {heads} heads")
print(f"test data: {test.source}")

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
texts = ["A gem of a film.", "Two hours I will never get back, sadly."]
inputs = data.encode_texts(tokenizer, texts)
attn = attention.attention_probabilities(model, inputs)
print("shape [batch, layers, heads, query, key]:", tuple(attn.shape))
row_sums = attn[0, -1, 0].sum(-1).round(decimals=3).tolist()
print("row sums of the first review, last layer, head 0:", row_sums)
padding = inputs["attention_mask"][0] == 0
on_padding = float(attn[0, :, :, :, padding].abs().sum())
print(f"first review: {int(padding.sum())} padding positions, attention {on_padding}")

# %% [markdown]
# ## A correctly and a wrongly classified review
#
# We run the model over a seeded sample of `profile.explain_reviews` test
# reviews (at most `profile.max_length` tokens each, as in training: longer
# reviews are truncated, with a warning and a marker in the highlight) and
# keep, for each review, its prediction and where its `[CLS]` attention goes.
# `review_attentions` holds one batch of attention tensors at a time. A grid
# of every head is only readable for a short review, so the views below use
# the **shortest** correctly classified review of the sample; longer ones go
# into blocks that open on a click.

# %%
sample = data.sample_reviews(test, profile.explain_reviews, seed=profile.seed)
predictions, masses, n_tokens = {}, {}, {}
for i, ra in attention.review_attentions(
    model, tokenizer, sample.texts, max_length=profile.max_length
):
    predictions[i], n_tokens[i] = ra.prediction, len(ra.tokens)
    masses[i] = attention.attention_mass(ra)
correct = [i for i in range(len(sample)) if predictions[i] == sample.labels[i]]
wrong = [i for i in range(len(sample)) if predictions[i] != sample.labels[i]]
print(f"{len(correct)} correct, {len(wrong)} misclassified of {len(sample)} reviews")


def shortest(indices):
    """The review among ``indices`` with the fewest tokens.

    Ties go to the one drawn first, and the draw is random (seeded).
    """
    return min(indices, key=lambda i: n_tokens[i])


shown = shortest(correct or range(len(sample)))
if not correct:
    print("No correctly classified review in this sample: showing the shortest.")
print(f"shown below: review {sample.ids[shown]}, {n_tokens[shown]} tokens")


def view(ra, i, **options) -> str:
    """HTML of one view of review ``i`` of the sample (its id and true label)."""
    name = f"review {sample.ids[i]}"
    return attention.render_review(
        ra, true_label=sample.labels[i], name=name, **options
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
attention.plot_attention_mass(
    mean_mass,
    f"Where [CLS] attends (mean over heads and {len(masses)} reviews)",
    path=figures / "cls_attention_mass.png",
)
plt.show()
kinds = attention.TOKEN_KINDS
for layer, shares in enumerate(mean_mass.tolist()):
    parts = "  ".join(f"{k} {s:.2f}" for k, s in zip(kinds, shares, strict=True))
    print(f"layer {layer}: {parts}")
largest = [kinds[k] for k in mean_mass.argmax(dim=1).tolist()]
print("largest share:", ", ".join(f"layer {n}: {k}" for n, k in enumerate(largest)))

# %% [markdown]
# The last line names, layer by layer, the kind of token that receives the
# largest share of `[CLS]`'s attention. Models differ here (the packaged MiniLM
# of the quick profile and bert-base in the full profile spread it
# differently), so read the bars of the model you run. A highlight of a layer
# whose attention mostly stays on `[CLS]` shows the *rest*, rescaled: bright
# colours there can stand for very little attention.
#
# ## The tutorial's view: every head of the last layer
#
# Each row is one head of the last layer: the `[CLS]` row, **each scaled to
# its own maximum** (the seed's normalisation, so weak heads are as visible as
# strong ones); the last row is the mean over the heads. Hover over a token to
# read its attention probability. The title gives the true label and the
# prediction.

# %%
first_correct = attention.explain_review(
    model, tokenizer, sample.texts[shown], max_length=profile.max_length
)
display(HTML(view(first_correct, shown, head="grid")))
rows = torch.stack([first_correct.cls(-1, h) for h in range(first_correct.n_heads)])
peaks = rows.max(dim=1).values
print(f"largest share on one token, per head: {peaks.min():.2f} to {peaks.max():.2f}")

# %% [markdown]
# The last line gives, for each head, the largest share of its attention on a
# single token: a small value is a head that spreads its attention over the
# review, a value near 1 one that picks out a single token. The mean over the
# heads is what most tutorials show, and it hides that variety.
#
# The shortest misclassified review of the sample, every head of the last
# layer (click to open):

# %%
if wrong:
    w = shortest(wrong)
    first_wrong = attention.explain_review(
        model, tokenizer, sample.texts[w], max_length=profile.max_length
    )
    summary = f"Misclassified review {sample.ids[w]}: every head ({n_tokens[w]} tokens)"
    display(HTML(highlight.collapsible(view(first_wrong, w, head="grid"), summary)))
else:
    first_wrong = None
    print("No misclassified review in this sample: raise profile.explain_reviews.")

# %% [markdown]
# ## Choosing a layer
#
# The last layer is the one the classifier reads, but every layer has a
# `[CLS]` row. Below, one row per layer (mean over heads, each row scaled to
# its own maximum); layer 0 is the one nearest the embeddings.

# %%
display(HTML(view(first_correct, shown, layer="all")))

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
# $$\tilde A^{l} =
#   \mathrm{rownorm}\Big(\tfrac{1}{H}\textstyle\sum_h A^{l,h} + I\Big),
#   \qquad R = \tilde A^{L}\,\tilde A^{L-1}\cdots\tilde A^{1}.$$
#
# The `[CLS]` row of $R$ sums to 1 over the input tokens. Rollout assumes that
# attention and residual are all that mix tokens (the feed-forward layers act
# on each token separately) and that heads matter equally: it is a model of
# the information flow, not a measurement of it.

# %%
display(HTML(view(first_correct, shown, rollout=True)))
if first_wrong is not None:
    summary = f"Misclassified review {sample.ids[w]}: attention rollout"
    display(HTML(highlight.collapsible(view(first_wrong, w, rollout=True), summary)))

# %% [markdown]
# The same highlighter shows signed scores on a diverging scale
# (blue < 0 < red), which chapters 4 and 5 use for gradients. Here it shows
# where rollout puts **more** (red) or **less** (blue) weight than the last
# layer's mean attention, both renormalised over the words shown, and the
# printout compares how much of each goes to `[CLS]`, `[SEP]`, punctuation and
# words:

# %%
token_kinds = [attention.token_kind(t) for t in first_correct.tokens]
words = torch.tensor([k in ("word", "punctuation") for k in token_kinds])
roll, last = first_correct.rollout() * words, first_correct.cls() * words
display(
    highlight.highlight(
        first_correct.tokens,
        roll / roll.sum() - last / last.sum(),
        title="rollout minus last-layer attention (each renormalised over the words)",
        label="difference",
        truncated=first_correct.truncated and len(first_correct.tokens),
    )
)


# %%
def kind_shares(scores) -> dict[str, float]:
    """Share of ``scores`` on each token kind ([CLS], [SEP], punctuation, word)."""
    pairs = list(zip(scores.tolist(), token_kinds, strict=True))
    return {k: sum(s for s, kind in pairs if kind == k) for k in attention.TOKEN_KINDS}


def punctuation_share(shares: dict[str, float]) -> float:
    """Punctuation's part of what the highlights show (punctuation and words)."""
    return shares["punctuation"] / (shares["punctuation"] + shares["word"])


def compare(a: float, b: float) -> str:
    return f"{'more' if a > b else 'less'} ({a:.2f} vs {b:.2f})"


last_shares = kind_shares(first_correct.cls())
roll_shares = kind_shares(first_correct.rollout())
for name, shares in (("last layer", last_shares), ("rollout", roll_shares)):
    print(f"{name:>10}: " + "  ".join(f"{k} {v:.2f}" for k, v in shares.items()))
print(
    "On this review, rollout puts "
    f"{compare(roll_shares['[CLS]'], last_shares['[CLS]'])} weight on [CLS] than "
    "the last layer, and "
    f"{compare(punctuation_share(roll_shares), punctuation_share(last_shares))} "
    "of the shown weight on punctuation."
)

# %% [markdown]
# The two views answer different questions: "what did `[CLS]` read in the
# last step" and "what did everything `[CLS]` read come from, if only
# attention mixed tokens". The sentence above compares them on this review;
# rollout keeps some weight on `[CLS]` at every layer (the identity term),
# which is why its share there tends to be the larger.
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
display(HTML(view(first_correct, shown, merge="sum")))

# %% [markdown]
# ## Export a highlight as a standalone HTML file
#
# `save_html` wraps a highlight in a complete page with inline styles only and
# a Content-Security-Policy that forbids scripts and remote loads: the file
# opens anywhere, offline, and a review containing `<script>` shows it as text.

# %%
page = highlight.save_html(
    view(first_correct, shown, head="grid"),
    figures / "review_correct_heads.html",
    title="[CLS] attention per head, last layer",
)
print(f"written: {config.display_path(page)} ({page.stat().st_size / 1024:.0f} KiB)")
display(
    highlight.highlight(
        ["[CLS]", "a", "<script>alert(1)</script>", "review", "[SEP]"],
        [0, 0.2, 1.0, 0.5, 0],
        title="escaping: markup in a review is shown, never run",
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
widget = explorer.attention_explorer(
    model, tokenizer, sample, max_length=profile.max_length
)
widget

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

# %% [markdown]
# ## Summary
#
# * `attention.attention_probabilities` returns every layer's and head's
#   attention, `[batch, layers, heads, query, key]`, with padding set to 0.
# * The `[CLS]` row of the last layer says what the classifier's token read in
#   the last step; heads differ widely, and their mean hides it.
# * Much of `[CLS]`'s attention can go to `[CLS]`, `[SEP]` and punctuation;
#   the highlights hide special tokens and rescale the rest, so check the
#   attention-mass bars before reading colours.
# * Attention rollout follows the mixing through all layers under the
#   assumption that only attention and the residual mix tokens.
# * Attention shows where information flowed, not what the prediction depends
#   on; chapters 4 and 5 test that.
#
# ## Exercises
#
# 1. Show every head of another layer: `view(first_correct, shown, layer=2,
#    head="grid")`. Do the lower layers' heads look more alike than the last
#    layer's?
# 2. Show the grid of the *longest* correctly classified review
#    (`max(correct, key=n_tokens.get)`) inside `highlight.collapsible`. Do the
#    heads still pick out a few tokens when there are hundreds?
# 3. Merge pieces with `merge="max"` instead of `"sum"`. Which words change
#    colour, and why does the sum favour words split into many pieces?
# 4. Average the attention mass over the misclassified reviews only
#    (`masses[i] for i in wrong`) and compare the bars with the correct ones.
# 5. Put a review of your own through `attention.explain_review` and
#    `attention.render_review(..., head="grid")`: does a head follow negations
#    such as *not*?
