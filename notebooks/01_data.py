# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Loading IMDb for BERT
#
# This chapter builds the data pipeline every later chapter uses: IMDb reviews,
# WordPiece tokens, and batches with as little padding as possible. It follows
# the data preparation of chapter 8 of Yutaro Ogawa's *pytorch_advanced*
# {cite}`ogawa2019pytorch_advanced`, moved
# from the retired `torchtext` to a Hugging Face tokenizer and a PyTorch
# `DataLoader`. All the code lives in `helpers.data` and `helpers.models`; the
# chapter calls it and looks at what comes out.
#
# The IMDb Large Movie Review Dataset (Maas et al., ACL 2011
# {cite}`maas2011imdb`) has 25,000 training and 25,000 test reviews, half
# positive (rating ≥ 7) and half negative
# (rating ≤ 4), in the folder layout `aclImdb/{train,test}/{pos,neg}/ID_RATING.txt`.

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
from collections import Counter

import matplotlib.pyplot as plt

from helpers import config, data, models
from helpers.book import examples

profile = config.get_profile()
config.seed_everything(profile.seed)
profile

# %% [markdown]
# ## Getting the data
#
# `data.find_imdb()` looks, in order, for an extracted `aclImdb` folder named by
# the environment variable `IMDB_DIR`, for one under the data directory
# (`BERT_BOOK_DATA`, default `data/`), and otherwise downloads the official
# archive from Stanford. It extracts only the complete official archive (an
# interrupted download resumes, and a corrupt one is deleted, never used) and
# writes nothing outside the data folder (details: {ref}`appendix-downloads`).
#
# `data.load_reviews(split, profile)` is the one loader the book uses. The quick
# profile takes a seeded sample of reviews of each label; the full profile takes
# all of them. Where IMDb can neither be found nor downloaded, it falls back to a
# small *synthetic* sample and says so loudly: check `source` before you trust
# a number.

# %%
train_all = data.load_reviews("train", profile)
test = data.load_reviews("test", profile)
print(train_all)
print(test)

# %%
text, label = train_all[0]
print(data.LABEL_NAMES[label], "|", text[:600])

# %% [markdown]
# ### Reviews held twice
#
# IMDb holds some reviews more than once, in one split or in both.
# `data.count_duplicates(train_all, test)` counts them in the reviews loaded
# above (the quick profile's seeded sample, or all 50,000 in the full profile):
# two reviews are the same when their texts are equal once every run of
# whitespace is made one space (case, punctuation and words all count, so a
# review with one word changed is another review). A review in both splits is
# a leak: the model is tested on a text it was trained on, and its test
# accuracy flatters it by that much.

# %%
duplicates = data.count_duplicates(train_all, test)
print(duplicates.describe())
for train_id, test_id in duplicates.pairs[:3]:
    print(f"  {train_id} = {test_id}")

# %% [markdown]
# ## *pytorch_advanced*'s preprocessing
#
# *pytorch_advanced* (written for `torchtext`) cleaned every review
# before tokenizing: remove `<br />`, replace punctuation other than `.` and `,`
# by spaces, and put spaces around `.` and `,`. BERT's tokenizer splits
# punctuation itself and was pretrained on text *with* punctuation, so the
# helpers only replace `<br />` by a space (`data.strip_line_breaks`).
# *pytorch_advanced*'s function is kept as `data.preprocess_text` for comparison
# and for the TSV export.

# %%
raw = "I loved it!<br /><br />The acting (mostly) was great, wasn't it? 10/10."
print(data.strip_line_breaks(raw))
print(data.preprocess_text(raw))

# %% [markdown]
# *pytorch_advanced* read its data from two TSV files, `text<TAB>label<TAB>` per
# line. `data.export_tsv` writes the same format (with its preprocessing) if you
# want to feed those scripts; `data.read_tsv` reads it back and names the line of
# any malformed row.

# %%
tsv = data.export_tsv(test.subset(range(5)), config.data_dir() / "IMDb_sample.tsv")
print(config.display_path(tsv))
print(tsv.read_text()[:300])
print(data.read_tsv(tsv))

# %% [markdown]
# ## WordPiece tokens
#
# BERT reads WordPiece tokens: frequent words are one token, rarer words are
# split into pieces, and every piece after the first starts with `##`. A fast
# (Rust) tokenizer from `transformers` does this for a whole batch at once. The
# tokenizer comes from the same loader as the model (`helpers.models`), so it
# always matches the model's vocabulary.

# %%
tokenizer = models.load_tokenizer(profile.model_name)
enc = tokenizer("The cinematography was unforgettable, the screenplay dragged.")
print(tokenizer.convert_ids_to_tokens(enc["input_ids"]))

# %% [markdown]
# ## The running example
#
# Three short reviews come back in every chapter (`helpers.book.examples.RUNNING`):
# the "hidden gem", a sentence of a positive IMDb test review that calls its
# film bad, a plain "praise" and a plain "pan". Here are the pieces BERT reads
# for each, and the words the tokenizer cut into more than one piece.

# %%
for ex in examples.RUNNING:
    pieces = tokenizer.tokenize(ex.text)
    words = []  # a piece starting with ## continues the word before it
    for piece in pieces:
        if piece.startswith("##") and words:
            words[-1].append(piece)
        else:
            words.append([piece])
    split = [" ".join(w) for w in words if len(w) > 1]
    print(f"{ex.name} ({data.LABEL_NAMES[ex.label]}), {len(pieces)} pieces:")
    print("   ", " | ".join(pieces))
    print("    words split into pieces:", ", ".join(split) or "none")

# %% [markdown]
# Every later chapter scores these pieces; chapter 3 shows how the scores of a
# word's pieces are merged back into one score per word.
#
# ## Review lengths and truncation
#
# How long are reviews in tokens? *pytorch_advanced* truncated to 256 tokens;
# BERT itself has 512 positions. The histogram shows how many reviews lose
# their end at each limit.

# %%
lengths = data.token_lengths(tokenizer, train_all.texts)
over256 = sum(n > 256 for n in lengths) / len(lengths)
over512 = sum(n > 512 for n in lengths) / len(lengths)
fig, ax = plt.subplots(figsize=(7, 3))
ax.hist(lengths, bins=50, color="tab:blue")
for limit in (256, 512):
    ax.axvline(limit, color="tab:red", linestyle="--")
ax.set(
    xlabel="tokens per review (with [CLS] and [SEP])",
    ylabel="reviews",
    title=f"{over256:.0%} of reviews exceed 256 tokens, {over512:.0%} exceed 512",
)
plt.show()

# %% [markdown]
# Texts longer than the limit are truncated, and the helpers say so:
# `encode_texts` warns with the index and length of every truncated text (a
# `data.TruncationWarning`, printed as its message only). Empty texts are an
# error, not a silent row of padding.

# %%
batch = data.encode_texts(tokenizer, ["short review", "long " * 700], max_length=512)
print(batch["input_ids"].shape)
try:
    data.encode_texts(tokenizer, ["fine", "   "])
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## Train / validation split and batches
#
# 80 % of the training reviews train the model and 20 % validate it, split with a
# fixed seed and stratified by label. `make_loader` tokenizes once and pads each
# batch only to its longest review (*dynamic padding*); `pad_to_max=True` pads
# to 256 like *pytorch_advanced* did. With batches drawn at random, almost every
# batch holds one review at the 256-token cap, so dynamic padding alone saves
# little on IMDb; grouping reviews of similar length (chapter 2 does this,
# shuffling the groups) is what removes the padding.

# %%
train, val = data.train_val_split(train_all, profile.val_fraction, seed=profile.seed)
print(train, val, sep="\n")
print("labels in train:", Counter(train.labels), "validation:", Counter(val.labels))

# %%
lengths_train = data.token_lengths(tokenizer, train.texts)
dynamic = data.make_loader(
    tokenizer,
    train,
    batch_size=profile.batch_size,
    max_length=profile.max_length,
    shuffle=True,
    seed=profile.seed,
)
fixed = data.make_loader(
    tokenizer,
    train,
    batch_size=profile.batch_size,
    max_length=profile.max_length,
    pad_to_max=True,
)
by_length = sorted(range(len(train)), key=lambda i: lengths_train[i])
bucketed = data.make_loader(
    tokenizer,
    train.subset(by_length),
    batch_size=profile.batch_size,
    max_length=profile.max_length,
)
for name, loader in [
    (f"padded to {profile.max_length}", fixed),
    ("dynamic", dynamic),
    ("dynamic, length-sorted", bucketed),
]:
    print(f"{name:>24}: {data.padding_fraction(loader):.1%} of positions are padding")

# %%
batch = next(iter(dynamic))
print({k: tuple(v.shape) for k, v in batch.items()})
for row in data.decode_batch(tokenizer, batch, n=2):
    print(row, "\n")

# %% [markdown]
# *pytorch_advanced* built this pipeline with `torchtext.data`, which was
# retired; every step of it has a direct replacement in the tokenizer and the
# `DataLoader` used here (the step-by-step mapping: {ref}`appendix-torchtext`).

# %% [markdown]
# ## Summary
#
# * `data.load_reviews(split, profile)` is the book's one loader: a seeded
#   sample of IMDb in the quick profile, all of it in the full one, and a
#   synthetic sample (named in `source`) when IMDb is out of reach.
# * BERT reads WordPiece tokens; the tokenizer comes with the model
#   (`models.load_tokenizer`) and adds `[CLS]` and `[SEP]` itself. Rarer words
#   are cut into pieces (`##` marks a continuation), as the running example
#   shows.
# * Reviews longer than `max_length` are truncated with a warning; an empty
#   review is an error.
# * The validation split is seeded and stratified. Dynamic padding pads each
#   batch to its longest review; grouping reviews of similar length is what
#   removes most of the padding.
#
# ## Exercises
#
# 1. Tokenize a sentence of your own with names and rare words in the WordPiece
#    cell. Which words are split into `##` pieces, and why are frequent words
#    not?
# 2. Add a line at 128 tokens to the histogram and compute the share of reviews
#    longer than that. What would chapter 2 lose by training on 128 tokens?
# 3. Split with `val_fraction=0.1` and another seed in the split cell. Are the
#    labels still balanced in both parts? Are the same reviews in validation?
# 4. Build the three loaders with `batch_size=8` instead of the profile's.
#    How do the padding shares change, and why does random batching gain
#    most from smaller batches?
# 5. Count the tokens of one review after `data.strip_line_breaks` and after
#    *pytorch_advanced*'s `data.preprocess_text`. Which tokens does its
#    cleaning remove?
# 6. Count the duplicates of all of IMDb, not the profile's sample:
#    `root = data.find_imdb()`, then `data.count_duplicates` of
#    `data.read_imdb_split(root, "train")` and of the same for `"test"`. How
#    many test reviews did the training set already hold, and with which labels?

# %%
gem_pieces = tokenizer.tokenize(examples.RUNNING[0].text)
continued = sum(piece.startswith("##") for piece in gem_pieces)
print(
    examples.gem_note(
        f"BERT reads it as {len(gem_pieces)} WordPiece pieces, {continued} of "
        "them continuing a word cut into pieces"
    )
)
