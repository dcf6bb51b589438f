import pytest
import torch
from torch import nn

from helpers.config import PACKAGED_MODEL, get_profile
from helpers.models import (
    ModelLoadError,
    count_parameters,
    get_encoder_layers,
    load_model,
    load_tokenizer,
    set_eager_attention,
)


def test_packaged_model_loads_as_bert_classifier():
    tok, model = load_model(PACKAGED_MODEL, num_labels=2)
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    assert (
        model.config.num_attention_heads == 12 and len(get_encoder_layers(model)) == 6
    )
    assert tok.is_fast and tok.tokenize("Unforgettable")[0] == "un"
    out = model(**tok(["a fine film"], return_tensors="pt"))
    assert out.logits.shape == (1, 2) and not model.training


def test_local_folder_round_trip(tiny_model_dir):
    tok, model = load_model(tiny_model_dir)
    assert len(get_encoder_layers(model)) == 2
    assert load_tokenizer(tiny_model_dir).convert_tokens_to_ids(
        "good"
    ) == tok.convert_tokens_to_ids("good")


def test_eager_attention_returns_weights(tiny_model_dir):
    tok, model = load_model(tiny_model_dir)
    set_eager_attention(model)
    out = model(**tok(["good film"], return_tensors="pt"), output_attentions=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape[1] == 4
    torch.testing.assert_close(
        out.attentions[0].sum(-1), torch.ones_like(out.attentions[0].sum(-1))
    )


def test_unknown_model_says_what_was_tried(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the suite never reaches the hub
    with pytest.raises(
        ModelLoadError,
        match=r"(?s)Tried:.*local Hugging Face cache.*HF_HUB_OFFLINE.*How to get it",
    ):
        load_model("no-such-org/no-such-bert-model")


def test_an_unreachable_hub_is_named_in_the_error(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(ModelLoadError, match=r"127\.0\.0\.1 is unreachable"):
        load_model("no-such-org/no-such-bert-model")


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load_model(tmp_path)


def test_wrong_label_count_is_a_clear_error(tiny_model_dir):
    with pytest.raises(ModelLoadError, match="2 labels but num_labels=3"):
        load_model(tiny_model_dir, num_labels=3)
    with pytest.raises(ValueError, match="num_labels"):
        load_model(tiny_model_dir, num_labels=1)


def test_model_without_encoder_layers():
    with pytest.raises(
        ValueError,
        match=r"no encoder layer list: looked for base_model\.encoder\.layer",
    ):
        get_encoder_layers(nn.Linear(2, 2))


def test_model_with_empty_encoder(tiny_model_dir):
    _, model = load_model(tiny_model_dir)
    model.bert.encoder.layer = nn.ModuleList()
    with pytest.raises(ValueError, match="empty encoder layer list"):
        get_encoder_layers(model)


def test_count_parameters(tiny_model_dir):
    _, model = load_model(tiny_model_dir)
    total = count_parameters(model)
    for p in model.bert.parameters():
        p.requires_grad_(False)
    head = sum(p.numel() for p in model.classifier.parameters())
    assert (
        count_parameters(model) == head
        and count_parameters(model, trainable_only=False) == total
    )


def test_profiles():
    assert (
        get_profile().name == "quick"
        and get_profile("full").model_name == "bert-base-uncased"
    )
    with pytest.raises(ValueError, match="BERT_BOOK_PROFILE"):
        get_profile("huge")


def test_eval_mode_restores_training_mode_even_after_an_error():
    from torch import nn

    from helpers.models import eval_mode

    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train()
    with eval_mode(model):
        assert not model.training and not model[1].training
    assert model.training and model[1].training
    try:
        with eval_mode(model):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert model.training
    with eval_mode(model.eval()):
        pass
    assert not model.training


def test_describe_pooler_of_the_packaged_model():
    """What chapter 2 says: the pooler is in the checkpoint but never trained."""
    from helpers.models import describe_pooler, stored_weight_names

    stored = stored_weight_names(PACKAGED_MODEL)
    assert {"pooler.dense.weight", "pooler.dense.bias"} <= stored
    _, model = load_model(PACKAGED_MODEL)
    assert not model.bert.pooler.dense.bias.any()
    line = describe_pooler(model, stored)
    assert "dense 384x384" in line and "loaded from the checkpoint" in line
    assert line.endswith("never trained (bias exactly zero, as initialised)")


def test_describe_pooler_tells_loaded_fresh_and_trained(tmp_path, tiny_model_dir):
    from transformers import BertModel

    from helpers.models import describe_pooler, stored_weight_names

    _, model = load_model(tiny_model_dir)
    stored = stored_weight_names(tiny_model_dir)
    assert "loaded from the checkpoint" in describe_pooler(model, stored)
    with torch.no_grad():
        model.bert.pooler.dense.bias[3] = -0.25
    assert describe_pooler(model, stored).endswith("trained (bias up to 0.25)")
    encoder = tmp_path / "no-pooler"
    BertModel(model.config, add_pooling_layer=False).save_pretrained(encoder)
    load_tokenizer(tiny_model_dir).save_pretrained(encoder)
    _, fresh = load_model(encoder)
    line = describe_pooler(fresh, stored_weight_names(encoder))
    assert "initialised at random on load" in line and "never trained" in line
    assert describe_pooler(fresh).count("origin unknown") == 1
    assert stored_weight_names("no-such-org/no-such-model") is None
    assert describe_pooler(nn.Linear(2, 2)).startswith("no pooler dense layer")
