# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Fine-tuning BERT for IMDb sentiment
#
# In this chapter we turn a pre-trained BERT encoder into a sentiment classifier:
# a linear layer reads the vector of the `[CLS]` token and says *negative* or
# *positive*. We fine-tune only the top of the network, as chapter 8 of Yutaro
# Ogawa's *pytorch_advanced* did, and we make that much cheaper with one
# observation: **layers that do not learn always compute the same thing**, so we
# compute them once.
#
# The model trained here is saved and reused by chapters 3–6 through
# `helpers.train.get_finetuned_model()`.
#
# Profiles: this book runs by default in the *quick* profile (the packaged
# MiniLM BERT, 6 layers, hidden size 384, a seeded sample of IMDb, a CPU, a few
# minutes). Set
# `BERT_BOOK_PROFILE=full` to train `bert-base-uncased` on all 25,000 IMDb
# training reviews; that wants a GPU (the helpers use it with mixed precision
# automatically).

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
import torch
from IPython.display import HTML, display

from helpers import config, data, models, train
from helpers.book import examples, train_plots

profile = config.get_profile()
profile

# %% [markdown]
# ## *pytorch_advanced*'s classifier and the Hugging Face one
#
# *pytorch_advanced* built its classifier by hand: the BERT encoder, then a
# linear layer (weights drawn from a normal distribution with standard
# deviation 0.02, bias 0) on the `[CLS]` vector of the **last encoder layer**.
#
# The helpers load `AutoModelForSequenceClassification` through
# `helpers.models.load_model`, which for BERT is `BertForSequenceClassification`.
# It differs in one place: between `[CLS]` and the linear layer sits BERT's
# **pooler**, a dense layer with `tanh`, and a dropout. With the pooler replaced
# by "take `[CLS]`" and the weights copied, the two models are the same function:

# %%
tokenizer, hf_model = models.load_model(profile.model_name)
torch.manual_seed(profile.seed)
handmade = models.SeedClassifier(hf_model.base_model, num_labels=2).eval()
_, bypassed = models.load_model(profile.model_name)
bypassed = models.seed_as_hf_classifier(handmade, bypassed).eval()

texts = ["A wonderful film.", "Two hours I will never get back."]
inputs = data.encode_texts(tokenizer, texts)
with torch.no_grad():
    print("pytorch_advanced    :", handmade(**inputs).numpy().round(5))
    print("HF, pooler bypassed :", bypassed(**inputs).logits.numpy().round(5))
    print("HF, with pooler     :", hf_model(**inputs).logits.numpy().round(5))

# %% [markdown]
# The first two rows agree to float precision; the third differs because the
# pooler transforms `[CLS]` (and its classifier has its own random
# initialisation). **The helpers keep the pooler** (the standard
# `BertForSequenceClassification`, so any checkpoint saved here loads with
# `from_pretrained` anywhere) and train it as part of the head.
#
# What is in that pooler? In the original BERT it was pre-trained for
# next-sentence prediction. The packaged MiniLM is a sentence-transformers
# model, trained through *mean pooling* over the tokens, which never reads the
# pooler. The line below looks into the model's weight file and at the layer:

# %%
stored = models.stored_weight_names(profile.model_name)
print(models.describe_pooler(hf_model, stored))

# %% [markdown]
# For the packaged MiniLM the pooler's weights are in the checkpoint (loaded,
# not initialised afresh), but its bias is exactly zero: that is how the layer
# is initialised, and no optimiser step leaves it so. The pooler was never
# trained; fine-tuning trains it here for the first time, with the head.
# (`bert-base-uncased`, the `full` profile's model, has a pre-trained one.)
#
# ## Which parameters learn
#
# *pytorch_advanced* fine-tuned the last encoder layer and the head, everything
# else frozen; the alternative is full fine-tuning. `freeze_encoder` sets
# `requires_grad` accordingly:

# %%
total = models.count_parameters(hf_model, trainable_only=False)
for policy in (1, None):
    n = models.count_parameters(models.freeze_encoder(hf_model, policy))
    label = "last layer + head" if policy == 1 else "full fine-tuning"
    print(f"{label:26s}: {n:>11,d} trainable of {total:,d} ({n / total:.1%})")

# %% [markdown]
# With all but the top layer frozen, the embeddings and every encoder layer
# below the top one compute the same output for a review in every epoch, so the
# helpers run them once per review, before epoch 1, and train only the top on
# that cached output ({ref}`appendix-training-cache` shows how, and checks that
# the result is the same function).
#
# ## Training
#
# `finetune_profile_model` loads the training reviews of the profile and splits
# off 20 % for validation (seeded, stratified by label). IMDb holds up to 30
# reviews of the same movie, so the split goes **by movie** when the official
# archive's `train/urls_pos.txt` and `urls_neg.txt` say which review is of
# which movie: no movie is then on both sides, and validation does not reward
# remembering a film. Without those files (a repack of the reviews alone) it
# splits review by review, as *pytorch_advanced* did, and a one-line note says
# so. It then trains, keeps the epoch with the best validation accuracy and
# saves it with a record of what it was trained on; later chapters reuse the
# checkpoint only while that record matches the profile, and retrain otherwise
# (details: {ref}`appendix-checkpoints`).
#
# The feature caching runs once, before epoch 1, and is timed on its own: the
# time on each epoch's line is training and validation only.

# %%
tokenizer, model, result = train.finetune_profile_model(profile)
epoch_times = ", ".join(f"{h['seconds']:.1f} s" for h in result.history)
print(f"trainable parameters: {result.trainable_parameters:,d}")
print(
    f"feature caching took {result.cache_seconds:.1f} s, once before epoch 1; "
    f"the epochs took {epoch_times} without it"
)
print(f"best epoch: {result.best_epoch}")
print(f"checkpoint: {config.display_path(result.checkpoint)}")
print(f"trained on: {result.trained_on['data']['source']}")

# %% [markdown]
# `train_classifier` printed the caching time and one line per epoch above;
# `result.history` holds the same numbers (a list of dicts), drawn here as
# learning curves. The dashed line marks the epoch whose weights were kept.

# %%
fig = train_plots.plot_learning_curves(result.history, best_epoch=result.best_epoch)

# %% [markdown]
# ## Test accuracy
#
# The test reviews were never seen in training or model selection.

# %%
test_set = data.load_reviews("test", profile)
scores = train.evaluate(model, tokenizer, test_set, max_length=profile.max_length)
print(test_set.source)
print(f"accuracy {scores['accuracy']:.1%}, loss {scores['loss']:.3f}")
fig = train_plots.plot_confusion(scores["confusion"])

# %% [markdown]
# The quick profile tests on 500 reviews, so this figure comes with a wide
# interval. Four levers that improve on *pytorch_advanced*'s recipe, measured on
# all of IMDb and tested once, are in {ref}`appendix-training-recipe`.
#
# ## Reviews the model gets wrong
#
# The most confidently misclassified test reviews (first 300 characters). We
# will come back to such reviews in the next chapters and ask *which words*
# made the model decide.

# %%
worst = train.misclassified(test_set, scores, n=5)
display(HTML(train_plots.misclassified_html(worst)))

# %% [markdown]
# ## The running example
#
# The three reviews of chapter 1 (`helpers.book.examples.RUNNING`), as the fine-tuned
# model sees them:

# %%
rows = examples.predictions(model, tokenizer)
display(HTML(examples.predictions_html(rows)))
right = [r["name"] for r in rows if r["correct"]]
wrong = [r["name"] for r in rows if not r["correct"]]
print(
    f"The model gets {len(right)} of {len(rows)} right "
    f"({', '.join(right) or 'none'}) and {len(wrong)} wrong "
    f"({', '.join(wrong) or 'none'})."
)

# %% [markdown]
# The "hidden gem" is a sentence of a review of the kind listed above: a
# positive IMDb test review (`pos/12380_7`) of a film it calls bad. Whatever
# the model predicts for it, the next chapters follow it, with the other two,
# and ask which of its words drove the prediction.

# %% [markdown]
# ## Using the model in the next chapters
#
# ```python
# from helpers import train
# tokenizer, model = train.get_finetuned_model(attn_implementation="eager")
# ```
#
# loads the checkpoint saved above (or trains it, identically, if it is missing or
# was trained on other data or settings than the profile asks for).

# %% [markdown]
# ## Summary
#
# * The classifier is `BertForSequenceClassification`: the encoder, BERT's
#   pooler and a linear layer on `[CLS]`. With the pooler bypassed it is
#   *pytorch_advanced*'s hand-built classifier, to float precision.
# * Fine-tuning only the top layer and the head lets the frozen bottom run once
#   per review, before the first epoch, and training touch only the top
#   ({ref}`appendix-training-cache`).
# * Validation is split by movie where IMDb says which review is of which
#   movie; every choice is made on validation, and the test set is used once.
# * The epoch with the best validation accuracy is kept, saved with a record
#   of its data and settings, and reused by chapters 3–6 through
#   `train.get_finetuned_model` for as long as that record matches the
#   profile.
# * Four levers improve on *pytorch_advanced*'s recipe; they are measured on
#   all of IMDb in {ref}`appendix-training-recipe`.
#
# ## Exercises
#
# 1. Fine-tune two layers instead of one: call
#    `train.finetune_profile_model(profile.with_(trainable_layers=2))` in the
#    training cell. How do the trainable parameters, the caching time and the
#    validation accuracy change?
# 2. Add `2` and `3` to the policies in the freezing cell. How fast does the
#    share of trainable parameters grow per layer?
# 3. Train with `profile.with_(epochs=5)` and read the learning curves. Which
#    epoch is kept, and does the validation loss agree with the accuracy?
# 4. Show the ten most confidently misclassified reviews (`n=10`). Which of
#    them would a human reader also get wrong?

# %%
gem = examples.predictions(model, tokenizer, examples.RUNNING[:1])[0]
source = examples.source_text()  # None where IMDb is not on disk
p_gold = gem[f"P({gem['gold']})"]
fact = f"the model calls it {gem['predicted']} (P({gem['gold']}) = {p_gold:.2f})"
if source is not None:
    copies = examples.source_copies(worst, source)
    fact += "; " + examples.describe_source_copies(copies, len(worst))
print(examples.gem_note(fact))
