"""Which Japanese sentiment model chapter 4 explains: the hub model or an offline one.

The Japanese Grad-CAM article explains ``daigo/bert-base-japanese-sentiment``
(a 12-layer Japanese BERT from the Hugging Face hub; MeCab + ipadic words, then
WordPiece). When the hub cannot be reached, :func:`get_japanese_model` falls
back to a *small BERT*: pretrained on everyday Japanese first when the ETC
dialogues are at hand (:mod:`helpers.ja.pretrain`), trained from scratch on
chABSA otherwise (:mod:`helpers.ja.model`).
"""

from __future__ import annotations

import os
import warnings

from ..config import Profile, get_profile
from ..data import BookWarning, DataError, etc
from ..models import ModelLoadError, load_model
from .corpus import CHABSA_ENV, CHABSA_URL, find_chabsa, use_ipadic
from .model import load_offline_model
from .pretrain import load_everyday_model
from .settings import DEFAULTS, JapaneseSettings

HUB_MODEL = "daigo/bert-base-japanese-sentiment"


class HubFallbackWarning(BookWarning):
    """The hub model could not be loaded; the offline chABSA model is used."""


class EverydayFallbackWarning(BookWarning):
    """The everyday (ETC) model could not be built; the chABSA-only model is used."""


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
    settings: JapaneseSettings = DEFAULTS,
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
       (:func:`helpers.ja.pretrain.load_everyday_model`, settings
       ``pretrain_settings``). It needs ETC (``etc_path``, ``$ETC_DIR``, the data
       folder, or a download in the full profile) and chABSA.
    3. Otherwise the small BERT trained from scratch on chABSA alone
       (:func:`helpers.ja.model.load_offline_model`), with an
       :class:`EverydayFallbackWarning` saying why: it reads financial
       reports, not everyday sentences.

    Trained models are cached, so a rebuild does not retrain. ``description``
    names the model (``"hub: ..."`` or ``"offline: ..."``);
    :func:`helpers.ja.model.data_sources` gives the citations and licences
    of its training data. The models may order their labels differently:
    use :func:`helpers.ja.model.positive_label_id`. Raises
    :class:`helpers.models.ModelLoadError` saying how to get one when neither
    the hub model nor chABSA is available.
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
        find_chabsa(chabsa_path)  # every offline model needs it
        if everyday:
            found = _everyday_or_warn(
                profile, etc_path, chabsa_path, pretrain_settings, attn_implementation
            )
            if found is not None:
                return found
        return load_offline_model(chabsa_path, settings, attn_implementation)
    except DataError as err:
        raise _no_model_error(err, hub_error) from err


def _hub_model(attn_implementation):
    """The hub model, its tokenizer set to ipadic words, and its description."""
    tokenizer, model = load_model(
        HUB_MODEL, num_labels=2, attn_implementation=attn_implementation
    )
    description = f"hub: {HUB_MODEL} (12-layer pretrained Japanese BERT)"
    return use_ipadic(tokenizer), model, description


def _everyday_or_warn(profile, etc_path, chabsa_path, settings, attn_implementation):
    """The everyday model, or ``None`` with an :class:`EverydayFallbackWarning`."""
    try:
        root = etc.find_etc(etc_path, download_if_missing=profile.name == "full")
        return load_everyday_model(
            settings,
            etc_path=root,
            chabsa_path=chabsa_path,
            attn_implementation=attn_implementation,
        )
    except DataError as err:
        warnings.warn(
            "The everyday Japanese model needs the ETC dialogues "
            f"({str(err).splitlines()[0]}); using the model trained on "
            "chABSA alone, which knows financial reports rather than "
            "everyday sentences. Set $ETC_DIR to an extracted ETC Dataset "
            "to get it.",
            EverydayFallbackWarning,
            stacklevel=3,
        )
        return None


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
        f"or get chABSA from {CHABSA_URL} and set ${CHABSA_ENV} so a small model "
        "is trained offline (with the ETC Dataset in $ETC_DIR as well, it "
        "reads everyday Japanese)."
    )
