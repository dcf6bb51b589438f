# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix: apply it to your model
#
# Everything the chapters did to the book's IMDb classifier works on any
# Hugging Face sequence classifier of the BERT family (BERT, RoBERTa,
# DistilBERT, ELECTRA…) with a fast tokenizer and any number of labels. This
# page uses no profile and no IMDb: only a model, its tokenizer, and
# `helpers.explain`.
#
# ## A model that is not the book's
#
# As a stand-in for yours we build, in seconds, a **RoBERTa-style** classifier
# with a byte-level BPE tokenizer (words start with `Ġ`, not `##`) and **three**
# named labels, trained on a toy task: each sentence names a thing and one
# word that decides its class ("The service was dreadful." is negative). With
# your own model, replace the cell by
#
# ```python
# from transformers import AutoModelForSequenceClassification, AutoTokenizer
# tokenizer = AutoTokenizer.from_pretrained("your-model")  # fast by default
# model = AutoModelForSequenceClassification.from_pretrained("your-model")
# ```

# %%
from helpers.book import examples

tokenizer, model = examples.toy_roberta_classifier(seed=0)
print(type(model).__name__, "with", type(tokenizer).__name__)
print("labels:", model.config.id2label)
print("pieces of a word it never saw:", tokenizer.tokenize("The sommelier"))

# %% [markdown]
# ## Explain it in ten lines

# %%
import helpers

texts = [
    "The staff was dreadful.",
    "Honestly, the music is ordinary.",
    "The sommelier was lovely.",
    "The food was lovely but the service was dreadful.",
]
result = helpers.explain(model, tokenizer, texts)  # predicted class, default methods
for i, text in enumerate(texts):
    top = [word for word, _ in result.top_words(i, "AttnLRP", k=2)]
    print(f"{text!r}: {result.predicted[i]}, AttnLRP's top words {top}")
result

# %% [markdown]
# The labels come from the model's config; special tokens (`<s>`, `</s>`) are
# hidden and BPE pieces are merged into the words as written. The classes and
# the target can be named: here the mixed last sentence, explained once for
# each class. The toy model never saw a sentence with two verdicts, so whether
# it weighs both words is exactly what these explanations can tell: read which
# word each class's explanation points at.

# %%
mixed = texts[-1]
for label in model.config.id2label.values():
    explained = helpers.explain(model, tokenizer, mixed, target=label, progress=False)
    top = explained.top_words(0, "AttnLRP", k=1)[0][0]
    p = float(explained.probs[0, list(model.config.id2label.values()).index(label)])
    print(f"target {label:>8} (p = {p:.2f}): top word {top!r}")

# %% [markdown]
# For a page you can share, `result.save_html("explained.html")` writes one
# standalone, escaped file. For a live look, `explorer.text_explorer(model,
# tokenizer, "The staff was dreadful.")` opens the chapter 7 explorer on this
# model. The methods are chapter 5's registry (`methods=[...]`; chapter 6
# recommends AttnLRP), and texts longer than the model reads are explained in
# windows.
