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
# DistilBERT, ELECTRA…) with a fast tokenizer (or a slow one that cuts words
# first, as Japanese BERTs do: last section) and any number of labels. This
# page uses no profile and no IMDb: only a model, its tokenizer, and
# `helpers.explain`.
#
# ## A model that is not the book's
#
# As a stand-in for yours we build, in seconds, a **RoBERTa-style** classifier
# with a byte-level BPE tokenizer (words start with `Ġ`, not `##`) and **three**
# named labels, trained on a toy task: each sentence names a thing and one
# word that decides its class ("The service was dreadful." is negative). With
# your own model, replace the cell that builds it (after the set-up cell) by
#
# ```python
# from transformers import AutoModelForSequenceClassification, AutoTokenizer
# tokenizer = AutoTokenizer.from_pretrained("your-model")  # fast by default
# model = AutoModelForSequenceClassification.from_pretrained("your-model")
# ```

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
class_maps = {}
for label in model.config.id2label.values():
    explained = helpers.explain(model, tokenizer, mixed, target=label, progress=False)
    top = explained.top_words(0, "AttnLRP", k=1)[0][0]
    p = float(explained.probs[0, list(model.config.id2label.values()).index(label)])
    print(f"target {label:>8} (p = {p:.2f}): top word {top!r}")
    class_maps[label] = explained.scores["AttnLRP"][0]
verdicts = [w for words in examples.TOY_WORDS.values() for w in words]
print(examples.describe_class_maps(explained.words[0], class_maps, watch=verdicts))

# %% [markdown]
# Each class's map explains that class's logit on its own. A word on top of
# several classes' maps raises their logits together, and a rise the classes
# share moves no probability between them: the softmax subtracts it. Such a
# word says the model reacts to it, not which side it puts it on. To see the
# side, read a class's map *against* the others' (its map minus theirs, as
# the printout does when a word tops several maps), or explain the
# difference of two logits. Where a verdict word scores near zero in every
# map, the model has not used it at all, whatever a reader sees in it.

# %% [markdown]
# For a page you can share, `result.save_html("explained.html")` writes one
# standalone, escaped file. For a live look, `explorer.text_explorer(model,
# tokenizer, "The staff was dreadful.")` opens the chapter 7 explorer on this
# model. The methods are chapter 5's registry (`methods=[...]`; chapter 6
# recommends AttnLRP), and texts longer than the model reads are explained in
# windows.

# %% [markdown]
# ## The book's faithfulness check, on your model
#
# Chapter 5 asked of every method whether deleting the words it puts on top
# lowers the probability more than deleting random words
# (comprehensiveness against the random baseline). The same call runs on any
# model; here on 60 sentences of the stand-in's task, with AttnLRP and the
# random floor (averaged over several seeded random maps per sentence):

# %%
from helpers import metrics
from helpers.explain import resolve_methods

check_texts, _ = examples.toy_sentences(n=60, seed=1)
check_methods = resolve_methods(model, tokenizer, ["AttnLRP", "random"], seed=0)
faithful = metrics.evaluate_faithfulness(
    model, tokenizer, check_texts, check_methods, max_length=64, progress=False
)
difference = faithful.versus_baseline("AttnLRP")
side = (
    "above"
    if difference.low > 0
    else "below"
    if difference.high < 0
    else "not distinguishable from"
)
print(
    "AOPC comprehensiveness: AttnLRP "
    f"{faithful.aopc('comprehensiveness', 'AttnLRP').mean():.3f}, random "
    f"{faithful.aopc('comprehensiveness', 'random').mean():.3f}; paired "
    f"difference {difference.with_n()} sentences: AttnLRP is {side} the random "
    "floor on this model."
)

# %% [markdown]
# With your model, pass your own texts (a few hundred for intervals that
# separate methods) and any names of `attr.explainers` beside `"random"`;
# `faithful.versus_baseline(name)` gives the paired difference for each. A
# method whose interval holds 0 does no better than random on your model,
# however plausible its highlights look.

# %% [markdown]
# ## Japanese, with a slow MeCab tokenizer
#
# Chapter 4's Japanese article explained `daigo/bert-base-japanese-sentiment`.
# Its tokenizer, `BertJapaneseTokenizer`, cuts a sentence into MeCab words
# (`fugashi` with the `ipadic` dictionary) and each word into WordPiece
# pieces, and no fast version of it exists. `explain()` takes it all the same:
# `helpers.align.align` finds MeCab's words and their pieces back in the sentence as
# typed (the tokenizer reads it NFKC-normalised), so the words are shown as
# written, half-width `ｶﾀｶﾅ` or full-width `ＡＢＣ` included, and `[CLS]`/`[SEP]`
# never appear. The cell builds a small such tokenizer and an **untrained**
# 2-layer BERT offline with transformers (vocabulary: BERT's special tokens
# and the sentence's MeCab words, from `ja.mecab_words`). Its prediction and
# scores mean nothing; the words are the point. When the Hugging Face hub is
# reachable, the article's model goes through the same call:
#
# ```python
# from helpers import models
# tokenizer, model = models.load_model(ja.HUB_MODEL, num_labels=2)
# helpers.explain(model, ja.use_ipadic(tokenizer), "私は不運な人間です。")
# ```

# %%
import tempfile
from pathlib import Path

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertJapaneseTokenizer,
)

from helpers import ja

sentence = ja.EXAMPLES[0][0]  # 私は不運な人間です。, the article's sentence
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *ja.mecab_words([sentence])[0]]
with tempfile.TemporaryDirectory() as folder:  # the vocabulary file, read at once
    vocab_file = Path(folder) / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    ja_tokenizer = BertJapaneseTokenizer(
        str(vocab_file), word_tokenizer_type="mecab", mecab_kwargs=ja.MECAB_KWARGS
    )
torch.manual_seed(0)  # the untrained weights
ja_config = BertConfig(
    vocab_size=len(vocab),
    hidden_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=256,
    id2label={0: "negative", 1: "positive"},
)
ja_model = BertForSequenceClassification(ja_config)
print(type(ja_tokenizer).__name__, "is fast:", ja_tokenizer.is_fast)
ja_result = helpers.explain(ja_model, ja_tokenizer, sentence, progress=False)
print("words:", ja_result.words[0])
ja_result
