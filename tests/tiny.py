"""The tests' one builder of tiny classifiers and tokenizers.

BERT with a WordPiece tokenizer (:func:`tiny_bert`, :func:`tiny_tokenizer`),
RoBERTa with a byte-level BPE tokenizer trained on a few sentences
(:func:`tiny_roberta`, :func:`tiny_bpe_tokenizer`), a SentencePiece-style
Unigram tokenizer (:func:`tiny_unigram_tokenizer`) and slow (pure Python)
tokenizers (:func:`tiny_slow_tokenizer`, :func:`tiny_mecab_tokenizer`). Every
test module that needs a model imports from here (never from ``conftest``).
Nothing here touches the disk except :func:`save_tiny`, which writes where it
is told; vocabulary files live in temporary folders removed once the
tokenizer has read them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "good",
    "great",
    "fine",
    "bad",
    "awful",
    "boring",
    "movie",
    "film",
    "the",
    "a",
    "was",
    "is",
    "it",
    "and",
    "not",
    "very",
    "plot",
    "acting",
    "story",
    "!",
    ".",
    ",",
    "?",
    "love",
    "hate",
    "best",
    "worst",
    "really",
]
PIECES = ["##s", "##ing", "##ed", "##ly"]
#: Sentences made of WORDS (so no [UNK]), of different lengths.
TEXTS = [
    "the movie was great",
    "awful boring plot and very bad acting",
    "good film",
    "it was not the best story but i really love the acting",
]


def vocabulary(words=WORDS, pieces=PIECES) -> list[str]:
    """[PAD] [UNK] [CLS] [SEP] [MASK], then ``words``, then ``pieces``."""
    return [*SPECIALS, *words, *pieces]


def write_vocab(folder: Path, words=WORDS, pieces=PIECES) -> Path:
    """Write ``vocab.txt`` into ``folder`` (created) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.txt"
    path.write_text("\n".join(vocabulary(words, pieces)) + "\n", encoding="utf-8")
    return path


def tiny_tokenizer(words=WORDS, pieces=PIECES, model_max_length: int = 64):
    """A BERT WordPiece tokenizer over ``words`` + ``pieces`` (lower-casing)."""
    from transformers import BertTokenizer

    with tempfile.TemporaryDirectory() as folder:
        vocab = write_vocab(Path(folder), words, pieces)
        return BertTokenizer(vocab=str(vocab), model_max_length=model_max_length)


def _perturbed(model, perturb: float, seed: int):
    """``model`` in eval mode, every weight plus seeded noise of size ``perturb``."""
    if perturb:
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(perturb * torch.randn(p.shape, generator=generator))
    return model.eval()


def tiny_bert(
    *,
    layers: int = 2,
    heads: int = 4,
    hidden: int = 32,
    labels: int = 2,
    id2label: dict[int, str] | None = None,
    vocab_size: int | None = None,
    max_positions: int = 64,
    dropout: float = 0.1,
    attn: str | None = "eager",
    seed: int = 0,
    perturb: float = 0.0,
):
    """A randomly initialised ``BertForSequenceClassification`` in eval mode.

    ``perturb`` > 0 adds seeded Gaussian noise of that size to every weight,
    so LayerNorms are no longer exactly 1/0 (tests of methods that would be
    trivially right at initialisation use it). ``attn``: the attention kernel
    (``"eager"`` returns attention probabilities; ``None`` = transformers'
    default). ``id2label`` names the labels (and sets their number).
    """
    from transformers import BertConfig, BertForSequenceClassification

    extra = {} if attn is None else {"attn_implementation": attn}
    if id2label is not None:
        labels = len(id2label)
        extra["id2label"] = dict(id2label)
        extra["label2id"] = {name: i for i, name in id2label.items()}
    config = BertConfig(
        vocab_size=vocab_size or len(vocabulary()),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_positions,
        num_labels=labels,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        **extra,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    return _perturbed(model, perturb, seed)


def save_tiny(folder: Path, model=None, tokenizer=None) -> Path:
    """Save a tiny model and tokenizer with ``save_pretrained`` (for load_model)."""
    model = tiny_bert(attn=None) if model is None else model
    tokenizer = tiny_tokenizer() if tokenizer is None else tokenizer
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def encode(tokenizer, texts=TEXTS, max_length: int = 64) -> dict[str, torch.Tensor]:
    """``texts`` tokenized and padded as a dict of LongTensors."""
    batch = tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    return dict(batch)


#: Sentences the byte-level BPE and Unigram tokenizers are trained on.
CORPUS = [
    "the movie was great and the acting was wonderful",
    "an awful boring plot and very bad acting",
    "a good film with a wonderful story",
    "it was not the best story but i really love the acting",
    "the worst film i have seen",
]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def tiny_bpe_tokenizer(corpus=CORPUS, vocab_size: int = 400, model_max_length=64):
    """A RoBERTa byte-level BPE fast tokenizer trained on ``corpus`` (seconds).

    ``<s>`` = 0, ``<pad>`` = 1, ``</s>`` = 2, ``<unk>`` = 3, ``<mask>`` = 4;
    words start with ``Ġ``; a small ``vocab_size`` leaves rare words in pieces.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(corpus),
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=ROBERTA_SPECIALS,
        show_progress=False,
    )
    return RobertaTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=model_max_length,
    )


def tiny_roberta(
    tokenizer,
    *,
    layers: int = 2,
    heads: int = 4,
    hidden: int = 32,
    id2label: dict[int, str] | None = None,
    seed: int = 0,
    perturb: float = 0.0,
):
    """A randomly initialised ``RobertaForSequenceClassification`` in eval mode.

    Sized for ``tokenizer`` (:func:`tiny_bpe_tokenizer`), eager attention,
    labels from ``id2label`` (default 2, unnamed); ``perturb`` as
    :func:`tiny_bert`.
    """
    from transformers import RobertaConfig, RobertaForSequenceClassification

    id2label = id2label or {0: "LABEL_0", 1: "LABEL_1"}
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=tokenizer.model_max_length + 2,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        id2label=dict(id2label),
        label2id={name: i for i, name in id2label.items()},
        attn_implementation="eager",
    )
    torch.manual_seed(seed)
    model = RobertaForSequenceClassification(config)
    return _perturbed(model, perturb, seed)


def tiny_unigram_tokenizer(corpus=CORPUS, vocab_size: int = 60):
    """A SentencePiece-style fast tokenizer: Unigram model, ``▁`` word starts.

    Framed as ``<cls> text <sep>``; trained on ``corpus``, so rare words
    come out in pieces.
    """
    from tokenizers import SentencePieceUnigramTokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator(
        list(corpus),
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<unk>", "<cls>", "<sep>"],
        unk_token="<unk>",
        show_progress=False,
    )
    backend = unigram._tokenizer
    backend.post_processor = TemplateProcessing(
        single="<cls> $A <sep>",
        special_tokens=[(t, backend.token_to_id(t)) for t in ("<cls>", "<sep>")],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<cls>",
        sep_token="<sep>",
    )


def tiny_slow_tokenizer(words=WORDS, pieces=PIECES, word_tokenize: bool = True):
    """A slow (pure Python) WordPiece tokenizer over the same vocabulary.

    Its words come from BERT's basic word tokenizer; ``word_tokenize=False``
    gives one without words (WordPiece on the whole text).
    """
    from transformers import BertJapaneseTokenizer

    with tempfile.TemporaryDirectory() as folder:
        vocab = write_vocab(Path(folder), words, pieces)
        return BertJapaneseTokenizer(
            str(vocab),
            do_word_tokenize=word_tokenize,
            word_tokenizer_type="basic",
            subword_tokenizer_type="wordpiece",
        )


def tiny_mecab_tokenizer(words, pieces=()):
    """The Japanese hub model's tokenizer type over ``words`` + ``pieces``.

    A slow ``BertJapaneseTokenizer``: MeCab words (ipadic, as
    :mod:`helpers.ja`), then WordPiece pieces; no lower case.
    """
    from transformers import BertJapaneseTokenizer

    from helpers.ja import MECAB_KWARGS

    with tempfile.TemporaryDirectory() as folder:
        vocab = write_vocab(Path(folder), words, pieces)
        return BertJapaneseTokenizer(
            str(vocab),
            word_tokenizer_type="mecab",
            subword_tokenizer_type="wordpiece",
            mecab_kwargs=dict(MECAB_KWARGS),
        )


#: The architectures every attribution method is checked on (tests and the
#: architecture × method table of the API reference).
ARCHITECTURES = (
    "bert",
    "roberta",
    "xlm-roberta",
    "distilbert",
    "electra",
    "deberta-v2",
    "modernbert",
)


def _sized(tokenizer) -> dict:
    """Config fields every tiny model takes from its tokenizer."""
    return {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "num_labels": 2,
        "attn_implementation": "eager",
    }


def _architecture_config(name: str, tokenizer, hidden: int, layers: int, heads: int):
    """A transformers config of architecture ``name``, sized for ``tokenizer``."""
    import transformers as tf

    size = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": 2 * hidden,
    }
    positions = {"max_position_embeddings": 128}
    if name == "distilbert":
        return tf.DistilBertConfig(
            dim=hidden,
            n_layers=layers,
            n_heads=heads,
            hidden_dim=2 * hidden,
            **positions,
            **_sized(tokenizer),
        )
    if name == "modernbert":
        return tf.ModernBertConfig(
            **size,
            **positions,
            global_attn_every_n_layers=2,
            local_attention=16,
            cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id,
            bos_token_id=None,
            eos_token_id=None,
            **_sized(tokenizer),
        )
    classes = {
        "bert": tf.BertConfig,
        "roberta": tf.RobertaConfig,
        "xlm-roberta": tf.XLMRobertaConfig,
        "electra": tf.ElectraConfig,
        "deberta-v2": tf.DebertaV2Config,
    }
    if name not in classes:
        raise ValueError(f"unknown architecture {name!r}; one of {ARCHITECTURES}")
    if name in ("roberta", "xlm-roberta"):
        positions = {"max_position_embeddings": 130, "type_vocab_size": 1}
    extra = {"embedding_size": hidden} if name == "electra" else {}
    return classes[name](**size, **positions, **extra, **_sized(tokenizer))


def tiny_architecture(
    name: str,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
    perturb: float = 0.5,
):
    """``(model, tokenizer)``: a random tiny sequence classifier of ``name``.

    ``name`` is one of :data:`ARCHITECTURES`. Each family gets its own kind of
    tokenizer: WordPiece (BERT, DistilBERT, ELECTRA), byte-level BPE (RoBERTa,
    ModernBERT) or SentencePiece Unigram (XLM-R, DeBERTa-v2). Eager attention,
    eval mode, ``perturb`` as :func:`tiny_bert` (default 0.5, so that logits
    are far from 0 and LayerNorms are not the identity).
    """
    from transformers import AutoModelForSequenceClassification

    if name in ("roberta", "modernbert"):
        tokenizer = tiny_bpe_tokenizer()
    elif name in ("xlm-roberta", "deberta-v2"):
        tokenizer = tiny_unigram_tokenizer()
        tokenizer.add_special_tokens({"mask_token": "<mask>"})
    else:
        tokenizer = tiny_tokenizer()
    if name not in ("bert", "electra"):  # no token types, as their tokenizers
        tokenizer.model_input_names = ["input_ids", "attention_mask"]
    config = _architecture_config(name, tokenizer, hidden, layers, heads)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    return _perturbed(model, perturb, seed), tokenizer
