"""A Japanese sentiment classifier for the Grad-CAM chapter, with or without the hub.

The Japanese Grad-CAM article explains ``daigo/bert-base-japanese-sentiment``
(a 12-layer Japanese BERT from the Hugging Face hub; MeCab + ipadic words, then
WordPiece). When the
hub cannot be reached, :func:`get_japanese_model` falls back to a *small BERT*:
pretrained on everyday Japanese first when the ETC dialogues are at hand
(:mod:`helpers.japanese_pretrain`), trained from scratch on chABSA otherwise.
Both are built to look exactly like the hub model from the outside:

* the same tokenizer class, ``BertJapaneseTokenizer`` with
  ``word_tokenizer_type="mecab"``, ``mecab_kwargs={"mecab_dic": "ipadic"}`` and a
  WordPiece vocabulary (:func:`build_vocab`: MeCab words of the training
  sentences, plus every single character and its ``##`` continuation so unseen
  words split into characters rather than ``[UNK]``);
* the same model class, ``BertForSequenceClassification`` (a few layers);
* saved with ``save_pretrained`` and loaded back with
  :func:`helpers.models.load_model`, like every model of the book;
* trained with :func:`helpers.train.train_classifier` (full fine-tuning).

Data: **chABSA** (TIS Inc. / chakki-works, CC BY 4.0): sentences from Japanese
securities reports, labelled here at sentence level (1 = positive, 0 =
negative) as ``text<TAB>label<TAB>`` files ``train.tsv`` and ``test.tsv``. Get
it from https://github.com/chakki-works/chABSA-dataset (sentence labels are
derived from its JSON opinion annotations), then point ``$CHABSA_DIR`` at the
folder holding the two TSVs, or put them in ``<data_dir>/chabsa/``.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import Profile, data_dir, get_profile
from .data import BookWarning, DataError, ReviewSet, read_tsv, train_val_split
from .models import ModelLoadError, load_model

HUB_MODEL = "daigo/bert-base-japanese-sentiment"
CHABSA_ENV = "CHABSA_DIR"
CHABSA_URL = "https://github.com/chakki-works/chABSA-dataset"
CHABSA_SOURCE = "chABSA (chakki-works, CC BY 4.0)"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MECAB_KWARGS = {"mecab_dic": "ipadic"}
POSITIVE_NAMES = {"positive", "pos", "ポジティブ", "肯定", "肯定的", "label_pos"}
NEGATIVE_NAMES = {"negative", "neg", "ネガティブ", "否定", "否定的", "label_neg"}


class HubFallbackWarning(BookWarning):
    """The hub model could not be loaded; the offline chABSA model is used."""


class EverydayFallbackWarning(BookWarning):
    """The everyday (ETC) model could not be built; the chABSA-only model is used."""


class ChabsaFormatError(DataError, ValueError):
    """A chABSA TSV row is malformed; the message names the file and line."""


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #
def find_chabsa(path: str | os.PathLike | None = None) -> Path:
    """The folder holding chABSA's ``train.tsv``/``test.tsv``.

    ``path`` when given, else ``$CHABSA_DIR`` when set, else ``<data_dir>/chabsa``;
    raises :class:`helpers.data.DataError` saying how to get the data when the
    files are not there.
    """
    if path is not None:
        what, folder = "the path given", Path(path).expanduser()
    elif os.environ.get(CHABSA_ENV):
        what, folder = f"${CHABSA_ENV}", Path(os.environ[CHABSA_ENV]).expanduser()
    else:
        what, folder = "the data folder", data_dir() / "chabsa"
    if (folder / "train.tsv").is_file() and (folder / "test.tsv").is_file():
        return folder
    raise DataError(
        f"chABSA not found: no train.tsv and test.tsv in {folder} ({what}). "
        f"Get chABSA (CC BY 4.0) from {CHABSA_URL}, write sentence-level "
        "'text<TAB>label<TAB>' files train.tsv/test.tsv (1 = positive, 0 = negative) "
        f"and set ${CHABSA_ENV} to their folder, or put them in "
        f"{data_dir() / 'chabsa'}."
    )


def read_chabsa_tsv(path: str | os.PathLike, source: str | None = None) -> ReviewSet:
    """Read one chABSA TSV; a malformed row raises :class:`ChabsaFormatError`.

    Rows are ``text<TAB>label<TAB>`` with label 0 or 1; the error for a row
    without a label, with another label or with an empty sentence names the file
    and the line number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: see {CHABSA_URL} to get chABSA.")
    try:
        return read_tsv(path, num_labels=2, source=source)
    except DataError as err:
        raise ChabsaFormatError(
            f"{err} Fix or remove that row of the chABSA file."
        ) from err


def load_chabsa(split: str, path: str | os.PathLike | None = None) -> ReviewSet:
    """chABSA sentences of ``split`` (``"train"``/``"test"``) as a :class:`ReviewSet`.

    ``path`` is the folder with the TSVs (default: ``$CHABSA_DIR``, then
    ``<data_dir>/chabsa``). Labels: 1 = positive, 0 = negative.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = find_chabsa(path)
    reviews = read_chabsa_tsv(folder / f"{split}.tsv")
    reviews.source = f"{CHABSA_SOURCE} {split} ({len(reviews)} sentences)"
    reviews.ids = [f"chabsa-{split}-{i}" for i in range(len(reviews))]
    return reviews


# --------------------------------------------------------------------------- #
# Tokenizer: MeCab (ipadic) words + WordPiece, exactly the hub model's type
# --------------------------------------------------------------------------- #
def mecab_words(texts) -> list[list[str]]:
    """MeCab (ipadic) words of each text, split as ``BertJapaneseTokenizer`` does.

    The text is NFKC-normalised first.
    """
    from transformers.models.bert_japanese.tokenization_bert_japanese import (
        MecabTokenizer,
    )

    tagger = MecabTokenizer(**MECAB_KWARGS)
    return [tagger.tokenize(text) for text in texts]


def base_characters() -> list[str]:
    """Characters every vocabulary gets: ASCII, Japanese punctuation, kana, CJK.

    chABSA (securities reports) never uses, e.g., ``私`` or ``。``; without
    these a sentence such as ``私は不運な人間です。`` would show ``[UNK]`` where
    those characters are. Their embeddings stay untrained (random) unless the
    training data uses them, but every token keeps its text for display.
    """
    ranges = [
        (0x21, 0x7E),
        (0x3001, 0x303F),
        (0x3041, 0x3096),
        (0x309D, 0x309F),
        (0x30A1, 0x30FF),
        (0x4E00, 0x9FFF),
    ]
    return [chr(c) for lo, hi in ranges for c in range(lo, hi + 1)]


def build_vocab(texts, min_freq: int = 2, base_chars: bool = True) -> list[str]:
    """WordPiece vocabulary for ``texts``: specials, characters, ``##``-pieces, words.

    Order: the five special tokens (``[PAD]`` = 0), every character (those seen
    in ``texts`` plus, with ``base_chars``, :func:`base_characters`) and its
    ``##`` continuation (so any word made of known characters splits into pieces
    instead of ``[UNK]``), then MeCab words seen at least ``min_freq`` times, most
    frequent first (ties alphabetical), so the result is deterministic.
    """
    if not isinstance(min_freq, int) or min_freq < 1:
        raise ValueError(f"min_freq must be a positive integer, got {min_freq!r}")
    counts = collections.Counter(w for words in mecab_words(texts) for w in words)
    if not counts:
        raise ValueError(
            "No words found: pass at least one non-empty sentence to build a "
            "vocabulary."
        )
    chars = {c for word in counts for c in word if not c.isspace()}
    chars = sorted(chars | set(base_characters()) if base_chars else chars)
    vocab = list(SPECIAL_TOKENS) + chars + ["##" + c for c in chars]
    seen = set(vocab)
    for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= min_freq and word not in seen:
            vocab.append(word)
            seen.add(word)
    return vocab


def make_japanese_tokenizer(
    vocab: list[str], folder: str | os.PathLike, model_max_length: int = 512
):
    """A ``BertJapaneseTokenizer`` (MeCab + WordPiece) over ``vocab``, in ``folder``.

    ``model_max_length``: the model's number of positions, so that truncation
    (e.g. :func:`helpers.data.encode_texts`) never exceeds it.
    """
    from transformers import BertJapaneseTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertJapaneseTokenizer(
        str(vocab_file),
        do_lower_case=False,
        word_tokenizer_type="mecab",
        subword_tokenizer_type="wordpiece",
        mecab_kwargs=dict(MECAB_KWARGS),
        model_max_length=model_max_length,
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


def join_tokens_for_display(tokens) -> str:
    """Join (sub)word tokens as Japanese is written: no spaces, ``##`` removed.

    ``tokenizer.convert_tokens_to_string`` puts spaces between MeCab words
    (``"私 は 不運 な"``); this gives ``"私は不運な"``.
    """
    return "".join(t[2:] if t.startswith("##") else t for t in tokens)


# --------------------------------------------------------------------------- #
# Model
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class JapaneseSettings:
    """Size and training settings of the offline Japanese BERT (trained from scratch).

    The defaults were tuned on chABSA (validation part of train): 2 layers,
    hidden 128, Adam at a constant 1e-3 (high, as the model starts from
    random weights), 4 epochs (validation accuracy peaked at epoch 2 to 4 in
    our runs and fell after; the best epoch is kept), 128 tokens (about 1.5 %
    of the sentences are longer). Test accuracy on chABSA's 843 test sentences:
    about 0.81, beside two baselines measured on the same sentences (majority
    class of the training labels about 0.59, bag-of-words logistic regression
    on the same MeCab words about 0.82; ``bench/bench_japanese.py``).
    A 4-layer variant takes about twice as long per epoch, too slow for the
    quick profile on a shared 2-core machine; pass ``JapaneseSettings(layers=4)``
    to try it.
    """

    layers: int = 2
    hidden: int = 128
    heads: int = 4
    intermediate: int = 256
    max_length: int = 128
    min_freq: int = 2
    base_chars: bool = True
    epochs: int = 4
    lr: float = 1e-3
    batch_size: int = 32
    val_fraction: float = 0.2
    seed: int = 1234


def model_positions(settings: JapaneseSettings) -> int:
    """Position embeddings of the offline model: ``max_length`` (at least 64)."""
    return max(settings.max_length, 64)


def build_japanese_model(
    vocab_size: int, settings: JapaneseSettings = JapaneseSettings()
):
    """A freshly initialised (seeded) ``BertForSequenceClassification`` of that size.

    Labels: 0 = negative, 1 = positive (``config.id2label``).
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    if settings.hidden % settings.heads:
        raise ValueError(
            f"hidden ({settings.hidden}) must be a multiple of heads "
            f"({settings.heads})."
        )
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=settings.hidden,
        num_hidden_layers=settings.layers,
        num_attention_heads=settings.heads,
        intermediate_size=settings.intermediate,
        max_position_embeddings=model_positions(settings),
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
        pad_token_id=0,
        tokenizer_class="BertJapaneseTokenizer",
    )
    torch.manual_seed(settings.seed)
    return BertForSequenceClassification(config)


def positive_label_id(model) -> int:
    """Index of the *positive* class in ``model``'s output.

    Read from ``config.id2label`` (``"positive"``, ``"ポジティブ"``...; when only
    the negative class is named, the other one). Models with generic names
    (``LABEL_0``/``LABEL_1``) follow the book's convention: 1 = positive. Use
    it to name the predicted class correctly for both the hub model and ours.
    """
    id2label = {
        int(k): str(v).strip().lower() for k, v in (model.config.id2label or {}).items()
    }
    for idx, name in id2label.items():
        if name in POSITIVE_NAMES:
            return idx
    if len(id2label) == 2:
        for idx, name in id2label.items():
            if name in NEGATIVE_NAMES:
                return 1 - idx
    return 1


def label_name(model, label_id: int) -> str:
    """``"positive"`` or ``"negative"`` for an output index of ``model``."""
    return "positive" if int(label_id) == positive_label_id(model) else "negative"


# --------------------------------------------------------------------------- #
# Training and caching
# --------------------------------------------------------------------------- #
#: Bumped when what a cached model records changes (2: measured baselines).
_RECORD_VERSION = 2


def _fingerprint(settings: JapaneseSettings, folder: Path) -> str:
    record = {"settings": asdict(settings), "record": _RECORD_VERSION}
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode())
    for split in ("train", "test"):
        digest.update((folder / f"{split}.tsv").read_bytes())
    return digest.hexdigest()[:10]


def japanese_checkpoint_path(
    settings: JapaneseSettings = JapaneseSettings(), chabsa_path=None
) -> Path:
    """Cache folder of the offline model.

    ``<data_dir>/checkpoints/japanese-chabsa-L<l>-H<h>-<hash>``.

    The hash covers the settings and the chABSA files, so other data or
    settings train a new model instead of reusing a stale one.
    """
    folder = find_chabsa(chabsa_path)
    size = f"L{settings.layers}-H{settings.hidden}"
    name = f"japanese-chabsa-{size}-{_fingerprint(settings, folder)}"
    return data_dir() / "checkpoints" / name


def fine_tune(model, tokenizer, train_set, val_set, settings: JapaneseSettings):
    """Full fine-tuning of a small Japanese BERT on the CPU, best epoch on ``val_set``.

    :func:`helpers.train.train_classifier` with ``settings``' epochs, rate,
    batch size, length and seed (no feature cache: every layer learns).
    """
    import torch

    from .train import TrainSettings, train_classifier

    how = TrainSettings(
        epochs=settings.epochs,
        lr=settings.lr,
        batch_size=settings.batch_size,
        max_length=settings.max_length,
        trainable_layers=None,
        cache_features=False,
        seed=settings.seed,
    )
    return train_classifier(
        model, tokenizer, train_set, val_set, how, device=torch.device("cpu")
    )


def train_japanese_model(
    out_dir: str | os.PathLike,
    train_set: ReviewSet,
    test_set: ReviewSet,
    settings: JapaneseSettings = JapaneseSettings(),
) -> dict:
    """Build a vocabulary, train a small BERT from scratch, test it, save it.

    A seeded, stratified validation part of ``train_set`` picks the best epoch
    (:func:`helpers.train.train_classifier`, full fine-tuning). The tokenizer
    and model are saved with :func:`helpers.train.save_checkpoint` (atomic),
    with the metrics (test accuracy, majority baseline, history, sizes, training
    seconds) in its ``training_info.json``; returns the metrics.
    """
    import tempfile

    import torch

    from .train import evaluate, save_checkpoint

    train_part, val_part = train_val_split(
        train_set, settings.val_fraction, settings.seed
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        vocab = build_vocab(train_part.texts, settings.min_freq, settings.base_chars)
        tokenizer = make_japanese_tokenizer(
            vocab, tmp, model_max_length=model_positions(settings)
        )
    model = build_japanese_model(len(tokenizer.vocab), settings)
    result = fine_tune(model, tokenizer, train_part, val_part, settings)
    seconds = time.perf_counter() - start
    test = evaluate(model, tokenizer, test_set, max_length=settings.max_length)
    from .japanese_baselines import bow_logistic_regression, majority_baseline

    bow = bow_logistic_regression(train_part, val_part, test_set)
    metrics = {
        "test_accuracy": float(test["accuracy"]),
        "test_sentences": len(test_set),
        # baselines measured on the same test sentences, chosen without them
        "majority_accuracy": majority_baseline(train_part, test_set)["accuracy"],
        "bow_accuracy": float(bow["accuracy"]),
        "bow_C": float(bow["C"]),
        "confusion": test["confusion"].tolist(),
        "best_epoch": result.best_epoch,
        "history": result.history,
        "train_sentences": len(train_part),
        "val_sentences": len(val_part),
        "vocab_size": len(tokenizer.vocab),
        "train_seconds": round(seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "settings": asdict(settings),
        "train_source": train_set.source,
        "test_source": test_set.source,
        "sources": [CHABSA_SOURCE],
    }
    save_checkpoint(model, tokenizer, out_dir, info=metrics)
    return metrics


def read_metrics(folder: str | os.PathLike) -> dict:
    """The metrics saved beside an offline model (empty dict when there are none)."""
    from .train import read_training_info

    return read_training_info(folder)


def describe_offline_model(model, metrics: dict) -> str:
    """One line saying which offline model this is and how well it does."""
    cfg = model.config
    text = (
        f"offline: {cfg.num_hidden_layers}-layer BERT (hidden {cfg.hidden_size}, "
        f"{cfg.num_attention_heads} heads) trained from scratch on {CHABSA_SOURCE}"
    )
    if "test_accuracy" in metrics:
        bow = metrics.get("bow_accuracy", float("nan"))
        text += (
            f", test accuracy {metrics['test_accuracy']:.3f} on "
            f"{metrics['test_sentences']} sentences"
            f" (measured on the same sentences: majority class of the training "
            f"labels {metrics['majority_accuracy']:.3f}, bag-of-words logistic "
            f"regression on the same MeCab words {bow:.3f})"
        )
    return text


def hub_model_cached(name: str = HUB_MODEL) -> bool:
    """True when the hub model's config is already in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - installed with transformers
        return False
    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def load_offline_model(
    chabsa_path=None,
    settings: JapaneseSettings = JapaneseSettings(),
    attn_implementation: str | None = None,
):
    """``(tokenizer, model, description)`` of the offline chABSA model.

    Trains and caches it when needed.

    The first call trains (a few minutes on 2 CPU cores) and saves under
    :func:`japanese_checkpoint_path`; later calls only load it through
    :func:`helpers.models.load_model`.
    """
    folder = japanese_checkpoint_path(settings, chabsa_path)
    if not (folder / "config.json").is_file():
        train_japanese_model(
            folder,
            load_chabsa("train", chabsa_path),
            load_chabsa("test", chabsa_path),
            settings,
        )
    tokenizer, model = load_model(
        folder, num_labels=2, attn_implementation=attn_implementation
    )
    return tokenizer, model, describe_offline_model(model, read_metrics(folder))


def get_japanese_model(
    profile: Profile | None = None,
    *,
    attn_implementation: str | None = None,
    chabsa_path: str | os.PathLike | None = None,
    settings: JapaneseSettings = JapaneseSettings(),
    etc_path: str | os.PathLike | None = None,
    everyday: bool = True,
    pretrain_settings=None,
):
    """``(tokenizer, model, description)`` of a Japanese sentiment BERT for chapter 4.

    1. The hub model ``daigo/bert-base-japanese-sentiment`` through
       :func:`helpers.models.load_model` — tried in the full profile, and in any
       profile when it is already in the local Hugging Face cache (the quick
       profile does not wait for network retries).
    2. Otherwise (``everyday=True``) the offline *everyday* model: a small BERT
       pretrained with masked-language modelling on the train text of the ETC
       dialogues and chABSA, then fine-tuned for sentiment on both
       (:func:`helpers.japanese_pretrain.load_everyday_model`, settings
       ``pretrain_settings``). It needs ETC (``etc_path``, ``$ETC_DIR``, the data
       folder, or a download in the full profile) and chABSA.
    3. Otherwise the small BERT trained from scratch on chABSA alone
       (:func:`load_offline_model`), with an :class:`EverydayFallbackWarning`
       saying why: it reads financial reports, not everyday sentences.

    Trained models are cached, so a rebuild does not retrain. ``description``
    names the model (``"hub: ..."`` or ``"offline: ..."``); :func:`data_sources`
    gives the citations and licences of its training data. The models may
    order their labels differently: use :func:`positive_label_id`. Raises
    :class:`helpers.models.ModelLoadError` saying how to get one when neither
    the hub model nor chABSA is available.
    """
    profile = profile or get_profile()
    hub_error = None
    if profile.name == "full" or hub_model_cached():
        try:
            tokenizer, model = load_model(
                HUB_MODEL, num_labels=2, attn_implementation=attn_implementation
            )
            return (
                use_ipadic(tokenizer),
                model,
                f"hub: {HUB_MODEL} (12-layer pretrained Japanese BERT)",
            )
        except (
            ModelLoadError,
            ImportError,
        ) as err:  # ImportError: a MeCab dictionary is missing
            hub_error = err
            warnings.warn(
                f"{HUB_MODEL} could not be loaded ({str(err).splitlines()[0]}); "
                "using an offline model instead.",
                HubFallbackWarning,
                stacklevel=2,
            )
    try:
        find_chabsa(chabsa_path)  # every offline model needs it
        if everyday:
            try:
                return _everyday_model(
                    profile,
                    etc_path,
                    chabsa_path,
                    pretrain_settings,
                    attn_implementation,
                )
            except DataError as err:
                warnings.warn(
                    "The everyday Japanese model needs the ETC dialogues "
                    f"({str(err).splitlines()[0]}); using the model trained on "
                    "chABSA alone, which knows financial reports rather than "
                    "everyday sentences. Set $ETC_DIR to an extracted ETC Dataset "
                    "to get it.",
                    EverydayFallbackWarning,
                    stacklevel=2,
                )
        return load_offline_model(chabsa_path, settings, attn_implementation)
    except DataError as err:
        tried = (
            f"the hub model failed ({str(hub_error).splitlines()[0]}); "
            if hub_error
            else ""
        )
        raise ModelLoadError(
            f"No Japanese sentiment model available: {tried}{err}\n"
            f"Either download {HUB_MODEL} with internet access "
            f"(`huggingface-cli download {HUB_MODEL}`; it is then found in the local "
            "cache), "
            f"or get chABSA from {CHABSA_URL} and set ${CHABSA_ENV} so a small model "
            "is trained offline (with the ETC Dataset in $ETC_DIR as well, it "
            "reads everyday Japanese)."
        ) from err


def _everyday_model(profile, etc_path, chabsa_path, settings, attn_implementation):
    """The everyday model when ETC and chABSA are at hand (DataError otherwise)."""
    from . import etc
    from .japanese_pretrain import load_everyday_model

    root = etc.find_etc(etc_path, download_if_missing=profile.name == "full")
    return load_everyday_model(
        settings,
        etc_path=root,
        chabsa_path=chabsa_path,
        attn_implementation=attn_implementation,
    )


def data_sources(model) -> list[str]:
    """Citations and licences of the data ``model`` was trained on.

    Read from the ``training_info.json`` saved beside an offline model; for a
    hub model (or a model without that file), its name.
    """
    from .train import read_training_info

    folder = Path(str(getattr(model, "name_or_path", "") or ""))
    sources = read_training_info(folder).get("sources") if folder.is_dir() else None
    return list(sources) if sources else [str(folder) or "unknown"]


#: The two example sentences of chapter 4 and the class a reader expects.
EXAMPLES = (
    ("私は不運な人間です。", "negative"),
    ("今日は最高の一日で、とても幸せです。", "positive"),
)


def judge_predictions(
    model, texts, probabilities, expected, confident: float = 0.8
) -> list[str]:
    """One markdown line per sentence: predicted class, p, and whether it is right.

    ``probabilities``: ``[n, 2]`` (or one row per text); ``expected``:
    ``"positive"``/``"negative"`` per text. A prediction is *confident* when
    its probability is at least ``confident``. The last line says whether the
    explanations shown explain confident, correct predictions.
    """
    if len(texts) != len(probabilities) or len(texts) != len(expected):
        raise ValueError("Pass one probability row and one expected label per text.")
    lines, all_good = [], True
    for text, probs, want in zip(texts, probabilities, expected, strict=True):
        if want not in ("positive", "negative"):
            raise ValueError(
                f"expected labels are 'positive' or 'negative', not {want!r}"
            )
        probs = [float(p) for p in probs]
        pred = max(range(len(probs)), key=probs.__getitem__)
        name, p = label_name(model, pred), probs[pred]
        right = name == want
        sure = p >= confident
        all_good &= right and sure
        verdict = ("correct" if right else "wrong") + (
            ", confident" if sure else f", unsure (p < {confident:g})"
        )
        lines.append(
            f"- {text}: {name}, p = {p:.2f} (a reader says {want}): {verdict}."
        )
    if all_good:
        lines.append(
            "Every map above explains a confident, correct prediction: the colours "
            "show which tokens the model used to reach a verdict a reader shares."
        )
    else:
        lines.append(
            "Not every map above explains a confident, correct prediction: where "
            "the verdict is wrong or unsure, the colours show how the model went "
            "wrong or why it hesitated, not why the sentence is positive or negative."
        )
    return lines


def use_ipadic(tokenizer):
    """Make a MeCab ``BertJapaneseTokenizer`` that names no dictionary use ipadic.

    Old Japanese BERT configs (cl-tohoku v1 and models fine-tuned from them)
    say only ``word_tokenizer_type="mecab"``: they were trained on ipadic words,
    but transformers 5 defaults to unidic-lite. Other tokenizers pass unchanged.
    """
    from transformers import BertJapaneseTokenizer
    from transformers.models.bert_japanese.tokenization_bert_japanese import (
        MecabTokenizer,
    )

    if (
        isinstance(tokenizer, BertJapaneseTokenizer)
        and tokenizer.word_tokenizer_type == "mecab"
        and not (tokenizer.mecab_kwargs or {}).get("mecab_dic")
    ):
        tokenizer.mecab_kwargs = dict(MECAB_KWARGS)
        tokenizer.word_tokenizer = MecabTokenizer(
            do_lower_case=tokenizer.do_lower_case,
            never_split=tokenizer.never_split,
            **MECAB_KWARGS,
        )
    return tokenizer
