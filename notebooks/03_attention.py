# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. What does the classifier attend to?
#
# Every encoder layer of BERT mixes the tokens with **self-attention**. The
# model has $N$ layers, numbered $0 \dots N-1$ (0 is the one nearest the
# embeddings), and $H$ heads per layer. Head $h$ of layer $l$ computes, for
# each query token $i$ and key token $j$,
#
# $$a^{l,h}_{ij} =
#   \mathrm{softmax}_j\Big(\frac{q_i^{l,h}\cdot k_j^{l,h}}{\sqrt{d_h}}\Big),
#   \qquad \sum_j a^{l,h}_{ij} = 1,$$
#
# and the new vector of token $i$ is built from the values $v_j$ weighted by
# $a_{ij}$. Our classifier (chapter 2) reads only the vector of `[CLS]` after
# the last layer, so the **`[CLS]` row of the last layer**,
# $a^{N-1,h}_{\mathrm{[CLS]},j}$, says from which tokens `[CLS]` gathered
# information in that last step.
#
# Chapter 8 of Yutaro Ogawa's *pytorch_advanced*, the tutorial this book grew
# from, drew exactly that: for one review, every head of the last layer, each
# normalised by its maximum and shown as a red background (white = 0, red =
# the maximum), then their mean. This chapter rebuilds that view with
# `helpers.attention` and `helpers.highlight`, and adds: any layer,
# **{term}`attention rollout`** over all layers, whole words instead of WordPiece
# pieces, and a colour legend (an export to HTML and an interactive explorer
# are in an appendix). At the end we say why none of this is, by itself, an
# explanation.

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
import torch
from IPython.display import HTML, display

from helpers import attention, attr, config, data, highlight, tokens, train
from helpers.book import attention_figures, diagram, examples

profile = config.get_profile()
config.seed_everything(profile.seed)
figures = config.figures_dir()
tokenizer, model = train.get_finetuned_model(profile, attn_implementation="eager")
test = data.load_reviews("test", profile)
layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
print(f"profile {profile.name}: {profile.model_name}, {layers} layers x {heads} heads")
print(f"test data: {test.source}")

# %% [markdown]
# In the diagram of where each method reads its signal, the highlighted row is
# this chapter's first method: it reads one thing, the attention of the last
# layer $N-1$, and nothing comes back from the prediction.

# %%
diagram.show("[CLS] attention")

# %% [markdown]
# ## Attention probabilities of every layer and head
#
# In transformers 5 only the {term}`eager <eager attention>` attention kernel
# returns the probabilities (the faster {term}`SDPA` kernel never forms
# them), hence
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
# ## Words instead of WordPiece pieces
#
# The tokenizer splits rare words into pieces (`un`, `##watch`, `##able`).
# `tokens.merge_pieces` (used through `merge=`) joins them into the word a reader
# sees and combines their scores. This book uses **one rule for every kind of
# score: the sum** (`merge="sum"`). Attention probabilities add up: a word
# receives the attention of all its pieces, and the total over the review
# does not change. The attributions of chapters 5 and 6 add up in the same
# way: they share the prediction out among the tokens, so a word's part is
# the sum of its pieces' parts. Every later highlight in words follows this
# rule.
#
# Below, the first of the book's three running examples (`examples.RUNNING`,
# followed through every chapter): the `[CLS]` row of the last layer, mean
# over the heads, as pieces and as words, each row scaled to its own maximum.

# %%
gem = attention.explain_review(
    model, tokenizer, examples.RUNNING[0].text, max_length=profile.max_length
)
specials = tokens.special_tokens(tokenizer)
words, word_scores = tokens.merge_pieces(gem.tokens, gem.cls(), specials, merge="sum")
display(
    HTML(
        highlight.highlight_rows(
            [("pieces", gem.tokens, gem.cls()), ("words (sum)", words, word_scores)],
            title=f"{examples.RUNNING[0].name}: [CLS] attention, last layer",
            label="attention",
            special_tokens=specials,
        )
    )
)
on_pieces = [t not in specials for t in gem.tokens]
piece_total = float(gem.cls()[torch.tensor(on_pieces)].sum())
print(
    f"{sum(on_pieces)} pieces -> {len(words)} words; attention on them: "
    f"{piece_total:.4f} as pieces, {word_scores.sum():.4f} as words"
)

# %% [markdown]
# ## The running example
#
# The three running examples side by side: the `[CLS]` row of the last layer,
# mean over the heads, in words (the sum). The printout gives each review's
# prediction and its three words with the most attention.

# %%
running = [
    attention.explain_review(model, tokenizer, e.text, max_length=profile.max_length)
    for e in examples.RUNNING
]
pairs = list(zip(examples.RUNNING, running, strict=True))
rows = [(e.name, ra.tokens, ra.cls()) for e, ra in pairs]
title = "[CLS] attention, last layer, mean over heads, words (sum)"
display(
    HTML(
        highlight.highlight_rows(
            rows, merge="sum", title=title, label="attention", special_tokens=specials
        )
    )
)
running_top = {
    e.name: attention.top_words(ra.tokens, ra.cls(), 3, special_tokens=specials)
    for e, ra in pairs
}
for e, ra in pairs:
    top = ", ".join(f"{w} ({s:.2f})" for _, w, s in running_top[e.name])
    p = float(ra.probabilities[ra.prediction])
    print(
        f"{e.name}: gold {data.LABEL_NAMES[e.label]}, predicted "
        f"{data.LABEL_NAMES[ra.prediction]} (p={p:.2f}); top words: {top}"
    )

# %% [markdown]
# Compare the top words with the words a reader would underline. The hidden
# gem says both *good* and *bad*; the attention of one layer cannot say which
# of them the prediction followed: the section *Reading the highlights* below
# asks the model.
#
# ## Every head of the last layer
#
# *pytorch_advanced* showed a review as a stack of highlights, one per head of
# the last layer, then their mean. A heat map shows the same numbers at a
# glance: one row per head and a last row for their mean, one column per
# token of the hidden gem (`[CLS]` and `[SEP]` left out). As in
# *pytorch_advanced*, **each row is scaled to its own maximum**, so a weak
# head is as visible as a strong one: white is 0, dark red that row's largest
# attention.

# %%
fig = attention_figures.plot_heads_heatmap(
    gem,
    title=f"{examples.RUNNING[0].name}: [CLS] attention of each head, "
    f"layer {gem.n_layers - 1} (last)",
    path=figures / "heads_heatmap.png",
)
plt.show()
per_head = torch.stack([gem.cls(-1, h) for h in range(gem.n_heads)])
peaks = per_head.max(dim=1).values
print(f"largest share on one token, per head: {peaks.min():.2f} to {peaks.max():.2f}")

# %% [markdown]
# The last line gives, for each head, the largest share of its attention on a
# single token (`[CLS]` and `[SEP]` included): a small value is a head that
# spreads its attention over the review, a value near 1 one that picks out a
# single token. The mean over the heads is what most tutorials show, and it
# hides that variety.
#
# ## A correctly and a wrongly classified review
#
# We run the model over a seeded sample of `profile.explain_reviews` test
# reviews (at most `profile.max_length` tokens each, as in training: longer
# reviews are truncated, with a warning and a marker in the highlight) and
# keep, for each review, its prediction and where its `[CLS]` attention goes.
# `review_attentions` holds one batch of attention tensors at a time. The
# views below use the **shortest** correctly classified review of the sample;
# longer ones go into blocks that open on a click.

# %%
sample = data.sample_reviews(test, profile.explain_reviews, seed=profile.seed)
predictions, masses, n_tokens, confidence = {}, {}, {}, {}
for i, ra in attention.review_attentions(
    model, tokenizer, sample.texts, max_length=profile.max_length
):
    predictions[i], n_tokens[i] = ra.prediction, len(ra.tokens)
    confidence[i] = float(ra.probabilities[ra.prediction])  # P(predicted class)
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
# The share of correct reviews in so small a sample need not match chapter 2's
# accuracy ({ref}`appendix-training-sample` gives it with its interval).
#
# Before highlighting words, look at *where* the `[CLS]` attention goes on
# average over the sample. Clark et al. (*What Does BERT Look At?*, 2019)
# found that many heads of bert-base put most of their attention on `[SEP]`,
# `[CLS]` or punctuation, a "no-op" for a head with nothing to do. The
# highlights below hide `[CLS]` and `[SEP]` and scale each view to its largest
# *shown* value, so the bars say how much of the attention they leave out.

# %%
mean_mass = torch.stack(list(masses.values())).mean(dim=0)
attention_figures.plot_attention_mass(
    mean_mass,
    f"Where [CLS] attends (mean over heads and {len(masses)} reviews)",
    path=figures / "cls_attention_mass.png",
)
plt.show()
kinds = attention.TOKEN_KINDS
largest = [kinds[k] for k in mean_mass.argmax(dim=1).tolist()]
print("largest share:", ", ".join(f"layer {n}: {k}" for n, k in enumerate(largest)))

# %% [markdown]
# The line under the bars names, layer by layer, the kind of token that receives the
# largest share of `[CLS]`'s attention. Models differ here (the packaged MiniLM
# of the quick profile and bert-base in the full profile spread it
# differently), so read the bars of the model you run. A highlight of a layer
# whose attention mostly stays on `[CLS]` shows the *rest*, rescaled: bright
# colours there can stand for very little attention.
#
# The shortest correctly classified review of the sample: the `[CLS]` row of
# the last layer, mean over the heads, in words. The title gives the true
# label and the prediction; hover over a word to read its attention.

# %%
first_correct = attention.explain_review(
    model, tokenizer, sample.texts[shown], max_length=profile.max_length
)
display(HTML(view(first_correct, shown, merge="sum")))

# %% [markdown]
# ## Reading the highlights
#
# Which words light up, and does the prediction depend on them? The test
# masks words one at a time and watches the probability of the predicted
# class. It needs a review whose prediction can move: near p = 1 the softmax
# is saturated, no single word changes it, and the test would measure noise.
# So the rule is fixed before looking: **among the correctly classified
# reviews of the sample, the one whose predicted-class probability is nearest
# 0.75**, halfway between a coin flip and certainty
# (`attention.unsaturated_review`; ties are decided at random, seeded).
#
# The cell takes that review's `K` words with the most attention and asks the
# model about each: how far does the probability of its predicted class fall
# when that word alone is replaced by `[MASK]` (`attention.mask_each_word`
# puts the mask token's id in place of each of the word's pieces: `[MASK]`
# typed into a text is read as text)? It ranks every word of the review by
# that fall too, and counts how many words the two top-`K` lists share.

# %%
read = attention.unsaturated_review(
    confidence, correct or range(len(sample)), target=0.75, seed=profile.seed
)
print(
    f"review {sample.ids[read]}: P = {confidence[read]:.3f} (the review shown "
    f"above: {confidence[shown]:.3f}), {n_tokens[read]} tokens"
)
read_ra = attention.explain_review(
    model, tokenizer, sample.texts[read], max_length=profile.max_length
)
summary = f"Review {sample.ids[read]}, [CLS] attention of the last layer"
display(HTML(highlight.collapsible(view(read_ra, read, merge="sum"), summary)))

# %%
K = 5
read_words, probs = attention.mask_each_word(
    model, tokenizer, sample.texts[read], max_length=profile.max_length
)
review_words, word_attention = read_words.words, read_words.merge(read_ra.cls())
label = data.LABEL_NAMES[read_ra.prediction]
p_label = probs[:, read_ra.prediction]
drop = p_label[0] - p_label[1:]  # the fall when word i alone is masked
by_attention = attention.top_words(review_words, word_attention, K)
by_drop = attention.top_words(review_words, drop, len(review_words))
rank = {i: r for r, (i, _, _) in enumerate(by_drop, start=1)}
print(f"P = P({label}), the predicted class; of the whole review: {p_label[0]:.3f}")
print(f"{'word':>15}  attention  P change if masked  rank by fall")
for i, word, share in by_attention:
    print(
        f"{word:>15}  {share:9.3f}  {-drop[i]:+17.3f}  "
        f"{rank[i]:>5} of {len(review_words)}"
    )
shared = sum(rank[i] <= K for i, _, _ in by_attention)
print(
    f"{shared} of the {len(by_attention)} words with the most attention are "
    f"among the {K} whose masking lowers P({label}) most: "
    + ", ".join(f"{w} ({-drop[i]:+.3f})" for i, w, _ in by_drop[:K])
    + "."
)

# %% [markdown]
# Read the two lists against each other. Attention goes to where `[CLS]`
# finds information, which can be a name, a title or a function word; the
# fall in probability says which words the prediction needs. Where the lists
# differ, the highlight shows what was read, not what decided. Masking one
# word at a time also misses words that repeat what other words already say;
# chapter 5 masks several at once, on many reviews.
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
# Attention Flow in Transformers*, ACL 2020 {cite}`abnar2020rollout`) follows
# the mixing through all layers: average the heads, add the identity for the
# residual connection and renormalise each row (for rows that sum to 1 this is
# $0.5A + 0.5I$), then multiply the layers, from layer 0 up to layer $N-1$,
#
# $$\tilde A^{l} =
#   \mathrm{rownorm}\Big(\tfrac{1}{H}\textstyle\sum_h A^{l,h} + I\Big),
#   \qquad R = \tilde A^{N-1}\,\tilde A^{N-2}\cdots\tilde A^{0}.$$
#
# The `[CLS]` row of $R$ sums to 1 over the input tokens. Rollout assumes that
# attention and residual are all that mix tokens (the feed-forward layers act
# on each token separately) and that heads matter equally: it is a model of
# the information flow, not a measurement of it. In the diagram, rollout's row
# reads the attention of every layer, 0 to $N-1$; still nothing comes back
# from the prediction.

# %%
diagram.show("attention rollout")

# %% [markdown]
# The whole method fits in a loop. Here it is by hand on the hidden gem's
# attention tensor, then `attr.attention_rollout` on the same tensor;
# the `assert` checks that the two agree.

# %%
one = attention.attention_probabilities(
    model, data.encode_texts(tokenizer, [examples.RUNNING[0].text])
)[0]  # [layers, heads, seq, seq], layer 0 first
rollout = torch.eye(one.shape[-1])
for layer_attention in one:  # layers 0, 1, ..., N-1
    a = layer_attention.mean(dim=0)  # average the H heads
    a = a + torch.eye(a.shape[-1])  # the residual connection
    a = a / a.sum(dim=-1, keepdim=True)  # each row sums to 1 again
    rollout = a @ rollout  # Ã^l Ã^(l-1) ... Ã^0
rollout_by_hand = rollout[0]  # the [CLS] row

# %%
rollout_helper = attr.attention_rollout(one[None])[0, 0]
assert torch.allclose(rollout_by_hand, rollout_helper, atol=1e-6)
difference = float((rollout_by_hand - rollout_helper).abs().max())
print(
    f"largest difference: {difference:.1e}; "
    f"the [CLS] row sums to {float(rollout_by_hand.sum()):.4f}"
)

# %% [markdown]
# The shortest correctly classified review of the sample, and (click to open)
# the shortest misclassified one, by rollout:

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
on_words = torch.tensor([k in ("word", "punctuation") for k in token_kinds])
roll, last = first_correct.rollout() * on_words, first_correct.cls() * on_words
display(
    highlight.highlight(
        first_correct.tokens,
        roll / roll.sum() - last / last.sum(),
        title="rollout minus last-layer attention (each renormalised over the words)",
        label="difference",
        truncated=first_correct.truncated and len(first_correct.tokens),
        special_tokens=specials,
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
# Every view of this chapter can be saved as a standalone HTML file, and
# explored by review, layer and head in a widget: {doc}`appendix_attention`.

# %% [markdown]
# ## Attention is not explanation (yet)
#
# A red token says that `[CLS]` *mixed in* information from that position in
# that layer; it does not say that the prediction *depends on* that token.
# Jain & Wallace (*Attention is not Explanation*, NAACL 2019
# {cite}`jain2019attention`) found attention
# weights often uncorrelated with gradient-based importance, and found very
# different attention distributions giving the same predictions; Wiegreffe &
# Pinter (*Attention is not not Explanation*, EMNLP 2019) answered that this
# depends on the model and the test, and proposed tests of their own. Three
# reasons for caution are visible above: in some layers most of the attention
# goes to special tokens, which the highlights hide; by the last layer each
# position already mixes the whole review, so "attention to token $j$" is
# attention to a vector that is no longer just token $j$; and the words with
# the most attention need not be the ones whose masking moves the prediction.
#
# Chapter 4 looks at gradients (Grad-CAM on every layer). Chapter 5 then
# **measures** these highlights, `[CLS]` attention and rollout among them, on
# many reviews: {term}`comprehensiveness` (does the prediction fall when the most
# highlighted tokens are hidden, more than when random tokens are?),
# {term}`sufficiency` (does it stay when only those tokens are kept?), whether the
# methods point at the same tokens, and whether a highlight changes when the
# model's weights are randomised layer by layer (a sanity check that attention
# read from a destroyed model should fail).

# %% [markdown]
# ## Summary
#
# * `attention.attention_probabilities` returns every layer's and head's
#   attention, `[batch, layers, heads, query, key]`, with padding set to 0;
#   layers are numbered 0 … N−1 from the embeddings up.
# * The `[CLS]` row of the last layer says what the classifier's token read in
#   the last step; heads differ widely (the heat map), and their mean hides it.
# * Pieces are merged into words by the **sum**, for every kind of score in
#   this book: attention probabilities and attributions both add up.
# * Much of `[CLS]`'s attention can go to `[CLS]`, `[SEP]` and punctuation;
#   the highlights hide special tokens and rescale the rest, so check the
#   attention-mass bars before reading colours.
# * Attention rollout (a few lines of torch) follows the mixing through all
#   layers under the assumption that only attention and the residual mix
#   tokens.
# * Attention shows where information flowed, not what the prediction depends
#   on; masking the most attended words one at a time is a first check, and
#   chapter 5 measures it.
#
# ## Exercises
#
# 1. Draw the heat map of another layer: `attention_figures.plot_heads_heatmap(gem,
#    layer=0)`. Do the lower layers' heads look more alike than the last
#    layer's?
# 2. Show the grid of the *longest* correctly classified review
#    (`max(correct, key=n_tokens.get)`) inside `highlight.collapsible`. Do the
#    heads still pick out a few tokens when there are hundreds?
# 3. Merge pieces with `merge="max"` instead of `"sum"` for one review. Which
#    words change colour, and why does the sum favour words split into many
#    pieces?
# 4. Average the attention mass over the misclassified reviews only
#    (`masses[i] for i in wrong`) and compare the bars with the correct ones.
# 5. Repeat *Reading the highlights* with the rollout (`read_ra.rollout()`)
#    instead of the last layer's attention. Do more of its top words move the
#    prediction?
# 6. Put a review of your own through `attention.explain_review` and
#    `attention_figures.plot_heads_heatmap`: does a head follow negations such as
#    *not*?

# %%
gem_top = [word for _, word, _ in running_top[examples.RUNNING[0].name]]
print(
    examples.gem_note(
        "the last layer's [CLS] attention puts the most weight on "
        + examples.on_top(gem_top)
    )
)
