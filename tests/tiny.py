"""The tests' one builder of tiny BERT classifiers and WordPiece tokenizers.

Every test module that needs a model imports from here (never from
``conftest``). Nothing here touches the disk except :func:`save_tiny`, which
writes where it is told; the tokenizer's vocabulary file lives in a temporary
folder that is removed once the tokenizer has read it.
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


def tiny_bert(
    *,
    layers: int = 2,
    heads: int = 4,
    hidden: int = 32,
    labels: int = 2,
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
    default).
    """
    from transformers import BertConfig, BertForSequenceClassification

    extra = {} if attn is None else {"attn_implementation": attn}
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
    if perturb:
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(perturb * torch.randn(p.shape, generator=generator))
    return model.eval()


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
