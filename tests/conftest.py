"""Shared fixtures: tiny BERT models and tiny IMDb-layout folders built on the spot."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import torch

WORDS = ["good", "great", "fine", "bad", "awful", "boring", "movie", "film", "the", "a", "was", "is", "it", "and", "not", "very", "plot", "acting", "story", "!", ".", ",", "?", "love", "hate", "best", "worst", "really"]


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    """Every test writes downloads and checkpoints into its own temporary data dir."""
    monkeypatch.setenv("BERT_BOOK_DATA", str(tmp_path_factory.mktemp("data")))
    torch.manual_seed(0)


def write_vocab(folder: Path, words=WORDS) -> Path:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = ["##s", "##ing", "##ed", "##ly"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(specials + list(words) + pieces) + "\n")
    return folder / "vocab.txt"


@pytest.fixture
def tiny_model_dir(tmp_path) -> Path:
    """A saved 2-layer BERT classifier with a WordPiece tokenizer, loadable by load_model."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = tmp_path / "tiny-bert"
    vocab = write_vocab(folder)
    tokenizer = BertTokenizer(vocab=str(vocab), model_max_length=64)
    config = BertConfig(
        vocab_size=len(vocab.read_text().split()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_imdb_folder(root: Path, per_label: int = 6, splits=("train", "test")) -> Path:
    """An ``aclImdb`` layout with short reviews: pos reviews say 'great', neg say 'awful'."""
    for split in splits:
        for label, word in (("pos", "great"), ("neg", "awful")):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_label):
                (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(
                    f"Review {i}: the film was {word}.<br />Really {word}!",
                    encoding="utf-8",
                )
    return root / "aclImdb"


def make_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path
