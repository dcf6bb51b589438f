"""Masked-LM pretraining of the small Japanese BERT: masking, loss, corpus, caching.

Everything runs on tiny hand-made data (no ETC, no chABSA, no hub).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from test_etc import write_etc
from transformers import BertForMaskedLM, get_linear_schedule_with_warmup

from helpers import ja
from helpers.config import get_profile
from helpers.data import etc
from helpers.ja import corpus as ja_corpus
from helpers.ja import pretrain as jp
from helpers.train import read_training_info

pytestmark = pytest.mark.filterwarnings("ignore:.*differs from ETC commit")

SENTENCE = "私は不運な人間です。"
CHABSA_POS = [
    "売上高は増加しました。",
    "利益は好調に推移しました。",
    "受注が増加しました。",
]
CHABSA_NEG = [
    "売上高は減少しました。",
    "市場は厳しい状況でした。",
    "受注が減少しました。",
]
CHABSA_TEST = ["営業利益は大幅に減少しました。", "海外の売上が好調でした。"]
TINY = ja.PretrainSettings(
    model=ja.JapaneseSettings(
        layers=1,
        hidden=32,
        heads=2,
        intermediate=64,
        max_length=32,
        min_freq=1,
        base_chars=False,
        epochs=2,
        lr=3e-3,
        batch_size=8,
        val_fraction=0.25,
        seed=0,
    ),
    mlm_epochs=2,
    mlm_lr=3e-3,
    mlm_batch_size=8,
    mlm_max_length=32,
)


@pytest.fixture
def data(tmp_path):
    """``(etc_root, chabsa_folder)``: the hand-made ETC dialogues and a tiny chABSA."""
    chabsa = tmp_path / "chabsa"
    chabsa.mkdir()
    rows = [(t, 1) for t in CHABSA_POS] + [(t, 0) for t in CHABSA_NEG]
    train = "".join(f"{t}\t{y}\t\n" for t, y in rows * 2)
    (chabsa / "train.tsv").write_text(train, encoding="utf-8")
    test = f"{CHABSA_TEST[0]}\t0\t\n{CHABSA_TEST[1]}\t1\t\n"
    (chabsa / "test.tsv").write_text(test, encoding="utf-8")
    return write_etc(tmp_path / "etc"), chabsa


def tiny_tokenizer(texts, folder):
    return ja.make_japanese_tokenizer(ja.build_vocab(texts, 1, False), folder)


def tiny_mlm(vocab_size: int, seed: int = 0):
    torch.manual_seed(seed)
    config = ja.build_japanese_model(vocab_size, TINY.model).config
    return BertForMaskedLM(config)


# --------------------------------------------------------------------------- #
# Masking
# --------------------------------------------------------------------------- #
def _batch(n=200, seq=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, 60, (n, seq), generator=g)
    maskable = torch.ones(n, seq, dtype=torch.bool)
    maskable[:, 0] = maskable[:, -1] = False  # [CLS], [SEP]
    maskable[:, -10:] = False  # padding
    return ids, maskable


def _mask(ids, maskable, seed):
    return jp.mask_tokens(
        ids,
        maskable,
        mask_id=4,
        replacement_ids=torch.arange(60, 70),
        prob=0.15,
        generator=torch.Generator().manual_seed(seed),
    )


def test_masking_rate_and_80_10_10_split():
    ids, maskable = _batch()
    inputs, labels = _mask(ids, maskable, seed=1)
    chosen = labels != jp.IGNORE
    assert 0.14 < chosen.sum() / maskable.sum() < 0.16
    assert torch.equal(labels[chosen], ids[chosen])
    n = chosen.sum().item()
    as_mask = (inputs[chosen] == 4).sum().item() / n
    as_random = (inputs[chosen] >= 60).sum().item() / n
    kept = (inputs[chosen] == ids[chosen]).sum().item() / n
    assert 0.77 < as_mask < 0.83 and 0.08 < as_random < 0.12 and 0.08 < kept < 0.12
    assert torch.equal(inputs[~chosen], ids[~chosen])  # nothing else changes


def test_special_tokens_and_padding_are_never_masked():
    ids, maskable = _batch()
    for seed in range(5):
        inputs, labels = _mask(ids, maskable, seed)
        assert (labels[~maskable] == jp.IGNORE).all()
        assert torch.equal(inputs[~maskable], ids[~maskable])


def test_masking_is_seeded():
    ids, maskable = _batch(n=20)
    a, b, c = (_mask(ids, maskable, s) for s in (7, 7, 8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    with pytest.raises(ValueError, match="prob"):
        jp.mask_tokens(ids, maskable, mask_id=4, replacement_ids=ids[0], prob=1.5)


# --------------------------------------------------------------------------- #
# The loss and the pretraining loop
# --------------------------------------------------------------------------- #
def test_restricted_loss_equals_the_full_loss_when_all_tokens_are_candidates(
    tmp_path,
):
    tok = tiny_tokenizer([SENTENCE], tmp_path)
    model = tiny_mlm(len(tok.vocab)).eval()
    ids = tok([SENTENCE, SENTENCE], return_tensors="pt")
    labels = torch.full_like(ids["input_ids"], jp.IGNORE)
    labels[0, 2], labels[1, 3] = ids["input_ids"][0, 2], ids["input_ids"][1, 3]
    inputs = {"input_ids": ids["input_ids"], "attention_mask": ids["attention_mask"]}
    with torch.no_grad():
        full = model(**inputs, labels=labels).loss
        everything = torch.arange(len(tok.vocab))
        ours, hits = jp.mlm_loss(model, inputs, labels, everything)
        fewer, _ = jp.mlm_loss(model, inputs, labels, labels[labels >= 0].sort()[0])
    torch.testing.assert_close(ours, full)
    assert hits.shape == (2,) and fewer < ours  # fewer rivals, lower loss


def mlm_settings(epochs: int, lr: float, **changes) -> ja.PretrainSettings:
    """Masked-LM settings for the tiny tests: batches of 16, 32 tokens, seed 0."""
    return ja.PretrainSettings(
        model=ja.JapaneseSettings(seed=0),
        mlm_epochs=epochs,
        mlm_lr=lr,
        mlm_batch_size=16,
        mlm_max_length=32,
        **changes,
    )


def test_pretraining_lowers_the_loss_on_a_repeated_sentence(tmp_path):
    torch.set_num_threads(1)
    tok = tiny_tokenizer([SENTENCE], tmp_path)
    model = tiny_mlm(len(tok.vocab))
    history = jp.pretrain_mlm(
        model, tok, [SENTENCE] * 64, mlm_settings(epochs=4, lr=1e-2), progress=False
    )
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert history[-1]["accuracy"] > history[0]["accuracy"]
    assert all(0.08 < h["masked"] < 0.25 for h in history)  # ~15 % of 7 words
    assert not model.training
    again = tiny_mlm(len(tok.vocab))
    one = mlm_settings(epochs=1, lr=1e-3)
    first = jp.pretrain_mlm(again, tok, [SENTENCE] * 16, one, progress=False)
    second = jp.pretrain_mlm(
        tiny_mlm(len(tok.vocab)), tok, [SENTENCE] * 16, one, progress=False
    )
    assert first[0]["loss"] == second[0]["loss"]  # seeded


def test_mlm_warm_up_is_the_librarys_linear_schedule(tmp_path, monkeypatch):
    """The rates pretraining uses are transformers' warm-up then linear decay."""
    tok = tiny_tokenizer([SENTENCE], tmp_path)
    used = []
    make = jp._adamw

    def recording(params, lr, weight_decay):
        optimizer = make(params, lr, weight_decay)
        optimizer.register_step_pre_hook(
            lambda opt, args, kwargs: used.append(opt.param_groups[0]["lr"])
        )
        return optimizer

    monkeypatch.setattr(jp, "_adamw", recording)
    settings = mlm_settings(epochs=2, lr=1e-2, mask_prob=0.5, warmup_fraction=0.3)
    jp.pretrain_mlm(
        tiny_mlm(len(tok.vocab)), tok, [SENTENCE] * 80, settings, progress=False
    )
    total = 2 * 5  # 80 texts in batches of 16, two epochs
    reference = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-2)
    library = get_linear_schedule_with_warmup(reference, int(0.3 * total), total)
    expected = []
    for _ in range(total):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        library.step()
    assert len(used) == total and used == pytest.approx(expected)
    assert used[0] == 0.0 and used[3] == pytest.approx(1e-2)  # 3 warm-up steps


def test_interrupted_pretraining_resumes_and_ends_as_if_uninterrupted(
    tmp_path, monkeypatch, capsys
):
    torch.set_num_threads(1)
    texts = (CHABSA_POS + CHABSA_NEG) * 6
    tok = tiny_tokenizer(texts, tmp_path)
    settings = mlm_settings(epochs=3, lr=1e-2)
    whole = tiny_mlm(len(tok.vocab))
    expected = jp.pretrain_mlm(whole, tok, texts, settings, progress=False)

    state = tmp_path / "mlm.resume.pt"
    real, epochs = jp._mlm_epoch, []

    def epoch(*args):
        epochs.append(len(epochs) + 1)
        if len(epochs) == 2 and stop:
            raise KeyboardInterrupt  # Ctrl-C, or a build stopped, in epoch 2
        return real(*args)

    monkeypatch.setattr(jp, "_mlm_epoch", epoch)
    stop = True
    with pytest.raises(KeyboardInterrupt):
        jp.pretrain_mlm(
            tiny_mlm(len(tok.vocab)), tok, texts, settings, progress=False, resume=state
        )
    stop, epochs[:] = False, []
    resumed = tiny_mlm(len(tok.vocab))
    history = jp.pretrain_mlm(
        resumed, tok, texts, settings, progress=False, resume=state
    )
    assert "Resuming pretraining after epoch 1" in capsys.readouterr().out
    assert len(epochs) == 2  # epochs 2 and 3 only

    def without_time(rows):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert without_time(history) == without_time(expected)
    for name, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name
    # a state of other settings, or an unreadable file, is not used
    epochs[:] = []
    other = mlm_settings(epochs=3, lr=5e-3)
    jp.pretrain_mlm(
        tiny_mlm(len(tok.vocab)), tok, texts, other, progress=False, resume=state
    )
    assert "has other settings" in capsys.readouterr().out and len(epochs) == 3
    state.write_bytes(b"not a saved state")
    jp.pretrain_mlm(
        tiny_mlm(len(tok.vocab)), tok, texts, settings, progress=False, resume=state
    )
    assert "is unreadable" in capsys.readouterr().out and len(epochs) == 6


def test_classifier_starts_from_the_pretrained_encoder(tmp_path):
    tok = tiny_tokenizer([SENTENCE], tmp_path)
    mlm = tiny_mlm(len(tok.vocab), seed=5)
    model = jp.classifier_from_mlm(mlm, TINY.model)
    for name, value in mlm.bert.state_dict().items():
        assert torch.equal(model.bert.state_dict()[name], value), name
    assert model.config.num_labels == 2
    wider = ja.JapaneseSettings(hidden=64, heads=2, intermediate=64, layers=1)
    with pytest.raises(ValueError, match="does not fit"):
        jp.classifier_from_mlm(mlm, wider)


# --------------------------------------------------------------------------- #
# The corpus: train splits only
# --------------------------------------------------------------------------- #
def test_corpus_has_no_validation_or_test_text(data):
    etc_root, chabsa = data
    corpus = ja.train_only_corpus(etc_root, chabsa, TINY)
    held_out = etc.all_text("valid", etc_root) + etc.all_text("test", etc_root)
    held_out += CHABSA_TEST
    chabsa_valid = ja.sentiment_data(etc_root, chabsa, TINY)["chabsa_valid"]
    assert not set(corpus.texts) & set(held_out + chabsa_valid.texts)
    # ETC train text is in, except こんにちは / 挨拶した, which valid holds too
    assert "試験に合格して嬉しいです。" in corpus.texts and "嬉しかった" in corpus.texts
    assert "こんにちは" not in corpus.texts and "挨拶した" not in corpus.texts
    assert corpus.removed_held_out >= 2
    assert corpus.counts["ETC train"] == 14 - 2
    ja_corpus.check_no_held_out(corpus.texts, held_out)
    with pytest.raises(ja.HeldOutTextError, match="1 held-out sentence"):
        ja_corpus.check_no_held_out([*corpus.texts, "ｺﾝﾆﾁﾊ"], ["コンニチハ"])  # NFKC


def test_sentiment_data_trains_on_train_text_and_selects_on_valid(data):
    etc_root, chabsa = data
    sets = ja.sentiment_data(etc_root, chabsa, TINY)
    assert sets["train"].texts[:4] == sets["etc_train"].texts
    assert sets["train"].texts[4:8] == [
        "嬉しかった",
        "一緒に喜んだ",
        "悲しかった",
        "怒った",
    ]
    assert len(sets["train"]) == 4 + 4 + len(sets["chabsa_train"])
    assert len(sets["valid"]) == len(sets["etc_valid"]) + len(sets["chabsa_valid"])
    assert len(sets["chabsa_train"]) == 8 and len(sets["chabsa_valid"]) == 4
    without = ja.PretrainSettings(model=TINY.model, train_transcriptions=False)
    plain = ja.sentiment_data(etc_root, chabsa, without)["train"]
    assert len(plain) == 4 + len(sets["chabsa_train"])
    assert "嬉しかった" not in plain.texts


# --------------------------------------------------------------------------- #
# Fine-tuning and caching
# --------------------------------------------------------------------------- #
def test_everyday_model_trains_once_then_loads(data, monkeypatch):
    torch.set_num_threads(1)
    etc_root, chabsa = data
    kw = dict(settings=TINY, etc_path=etc_root, chabsa_path=chabsa)
    tok, model, description = jp.load_everyday_model(**kw)
    assert description.startswith("offline: 1-layer BERT (hidden 32")
    assert "masked-LM pretrained" in description and "CC BY-NC 4.0" in description
    assert "ETC" in description and "bag of words" in description
    folder = jp.everyday_checkpoint_path(TINY, True, etc_root, chabsa)
    info = read_training_info(folder)
    assert info["kind"] == "pretrained" and info["sizes"]["etc_test"] == 1
    assert info["scores"]["chabsa_test"]["n"] == 2
    assert info["mlm"]["corpus_counts"]["ETC train"] == 12
    assert len(info["history"]) == TINY.model.epochs
    # the vocabulary comes from train text only: a test-only word is unknown here
    assert "試験" in tok.tokenize("試験に合格して嬉しいです。")
    assert "[UNK]" in tok.tokenize("旅行がとても楽しかったです。")

    # the same model without pretraining: same vocabulary, other weights
    tok_s, model_s, description_s = jp.load_everyday_model(pretrained=False, **kw)
    assert "trained from scratch" in description_s and tok_s.vocab == tok.vocab
    scratch_info = read_training_info(jp.everyday_checkpoint_path(TINY, False, *data))
    assert scratch_info["kind"] == "scratch" and scratch_info["mlm"]["history"] is None
    assert not torch.equal(
        model_s.bert.embeddings.word_embeddings.weight,
        model.bert.embeddings.word_embeddings.weight,
    )

    def no_training(*args, **kwargs):
        raise AssertionError("the cached model should be loaded, not trained")

    monkeypatch.setattr(jp, "train_everyday_model", no_training)
    tok2, model2, description2 = jp.load_everyday_model(**kw)
    assert description2 == description
    enc = tok2([SENTENCE], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model2(**enc).logits, model(**enc).logits)
    # other settings, other data or no pretraining: another folder
    other = ja.PretrainSettings(model=TINY.model, mlm_epochs=3)
    assert jp.everyday_checkpoint_path(other, True, etc_root, chabsa) != folder
    assert jp.everyday_checkpoint_path(TINY, False, etc_root, chabsa) != folder
    (chabsa / "test.tsv").write_text(f"{CHABSA_TEST[0]}\t0\t\n", encoding="utf-8")
    assert jp.everyday_checkpoint_path(TINY, True, etc_root, chabsa) != folder


def test_chapter_4_uses_the_everyday_model_and_says_so_when_it_cannot(data):
    torch.set_num_threads(1)
    etc_root, chabsa = data
    quick = get_profile("quick")
    kw = dict(chabsa_path=chabsa, settings=TINY.model, pretrain_settings=TINY)
    _, model, description = ja.get_japanese_model(
        quick, etc_path=etc_root, attn_implementation="eager", **kw
    )
    assert description.startswith("offline: 1-layer") and "masked-LM" in description
    assert model.config._attn_implementation == "eager"
    sources = ja.data_sources(model)
    assert etc.CITATION in sources and etc.LICENCE in sources
    # no ETC anywhere: the chABSA-only model, with a warning naming the fix
    with pytest.warns(ja.EverydayFallbackWarning, match=r"ETC_DIR"):
        _, chabsa_model, other = ja.get_japanese_model(quick, **kw)
    assert "trained from scratch on chABSA" in other
    assert ja.data_sources(chabsa_model) == [ja.CHABSA_SOURCE]
    # everyday=False asks for the chABSA model without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ja.EverydayFallbackWarning)
        assert ja.get_japanese_model(quick, everyday=False, **kw)[2] == other
