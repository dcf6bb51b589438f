"""Japanese sentiment: baselines, a small BERT from scratch, and pretrained first.

Prints one table for the ETC test split (everyday dialogue, labels from the
annotators' emotions; see ``helpers.data.etc``) and the chABSA test split
(securities reports):

* the majority class of the training data;
* a bag-of-words logistic regression on MeCab words, trained on that data
  set's own train split, and on ETC + chABSA train (the models' data);
* the small Japanese BERT trained from scratch, and the same model pretrained
  with masked-language modelling on the train text first
  (``helpers.ja.pretrain``);

then each model's prediction for two example sentences and how the
tokenizers split them. Every choice (``C``, epochs) is made on validation; the
test splits are scored once. Models are cached under the data folder; the
first run trains them (a few minutes on 2 CPU cores).

    mkdir -p /tmp/etc && tar -xzf ../shared/data/etc_ja_dialogues.tar.gz -C /tmp/etc
    export ETC_DIR=/tmp/etc CHABSA_DIR=../shared/data/chabsa
    OMP_NUM_THREADS=2 python bench/bench_japanese.py
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import _common  # noqa: F401  (the checkout on sys.path)
import torch

from helpers import ja
from helpers.data import etc
from helpers.ja import pretrain as jp
from helpers.ja.corpus import CHABSA_SOURCE, mecab_words
from helpers.ja.model import positive_label_id
from helpers.models import eval_mode
from helpers.train import read_training_info

EXAMPLES = ("私は不運な人間です。", "今日は最高の一日で、とても幸せです。")
EXPECTED = ("negative", "positive")


def settings_from(args) -> ja.PretrainSettings:
    base = ja.PretrainSettings()
    model = base.model
    if args.epochs is not None:
        model = replace(model, epochs=args.epochs)
    if args.lr is not None:
        model = replace(model, lr=args.lr)
    mlm_epochs = base.mlm_epochs if args.mlm_epochs is None else args.mlm_epochs
    return replace(base, model=model, mlm_epochs=mlm_epochs)


def timed_load(settings, pretrained: bool):
    folder = jp.everyday_checkpoint_path(settings, pretrained)
    cached = (folder / "config.json").is_file()
    start = time.perf_counter()
    tokenizer, model, description = jp.load_everyday_model(settings, pretrained)
    seconds = time.perf_counter() - start
    print(description)
    return tokenizer, model, read_training_info(folder), seconds, cached


def bert_probabilities(tokenizer, model, texts) -> list[float]:
    """P(positive) of each text (eval mode, no gradient)."""
    with eval_mode(model), torch.no_grad():
        enc = tokenizer(list(texts), padding=True, return_tensors="pt")
        probs = model(**enc).logits.softmax(-1)
    return probs[:, positive_label_id(model)].tolist()


def chabsa_only_model(data):
    """``(tokenizer, model, etc_score, chabsa_score)`` of the current offline model."""
    from helpers.train import evaluate

    tokenizer, model, description = ja.load_offline_model()
    print(description)
    scores = [
        {
            "accuracy": evaluate(model, tokenizer, data[name])["accuracy"],
            "n": len(data[name]),
        }
        for name in ("etc_test", "chabsa_test")
    ]
    return tokenizer, model, *scores


def row(name, etc_score, chabsa_score) -> str:
    def cell(score):
        return f"{score['accuracy']:.3f} ({score['n']})" if score else "-"

    return f"| {name:<44} | {cell(etc_score):>13} | {cell(chabsa_score):>13} |"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mlm-epochs", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning")
    parser.add_argument("--lr", type=float, default=None, help="fine-tuning")
    parser.add_argument(
        "--skip-chabsa-only",
        action="store_true",
        help="leave out helpers.ja's chABSA-only model (trained if not cached)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = settings_from(args)
    data = ja.sentiment_data(settings=settings)

    print("ETC labels (positive / negative / dropped), per split and role:")
    for key, counts in etc.label_counts().items():
        print(
            f"  {key:<15} {counts['positive']:>5} {counts['negative']:>5} "
            f"{counts['dropped']:>5}"
        )
    print({k: len(v) for k, v in data.items()})

    results = {}
    for pretrained in (False, True):
        results[pretrained] = timed_load(settings, pretrained)
    info = results[True][2]
    print(
        f"MLM corpus: {info['mlm']['corpus_counts']} sentences "
        f"(train splits only); MLM history:"
    )
    for h in info["mlm"]["history"]:
        print(
            f"  epoch {h['epoch']}: loss {h['loss']:.3f}, masked-token accuracy "
            f"{h['accuracy']:.3f}, {h['masked']:.1%} masked, {h['seconds']} s"
        )

    bow_all = ja.bow_logistic_regression(data["train"], data["valid"], data["etc_test"])
    base = info["baselines"]
    print(f"\n| {'model':<44} | {'ETC test':>13} | {'chABSA test':>13} |")
    print(f"|{'-' * 46}|{'-' * 15}|{'-' * 15}|")
    print(
        row(
            "majority class (of its own train split)",
            base["etc"]["majority"],
            base["chabsa"]["majority"],
        )
    )
    print(
        row(
            "bag of words + LR (its own train split)",
            base["etc"]["bow"],
            base["chabsa"]["bow"],
        )
    )
    print(
        row(
            "bag of words + LR (ETC + chABSA train)",
            base["etc"]["bow_same_data"],
            base["chabsa"]["bow_same_data"],
        )
    )
    chabsa_only = None if args.skip_chabsa_only else chabsa_only_model(data)
    if chabsa_only:
        print(row("BERT chABSA only (helpers.ja now)", *chabsa_only[2:]))
    for pretrained, label in (
        (False, "BERT from scratch"),
        (True, "BERT MLM-pretrained + fine-tuned"),
    ):
        scores = results[pretrained][2]["scores"]
        print(row(label, scores["etc_test"], scores["chabsa_test"]))
    print(
        f"\nC chosen on validation: own {base['etc']['bow']['C']} (ETC), "
        f"{base['chabsa']['bow']['C']} (chABSA); combined {bow_all['C']}"
    )
    for pretrained in (False, True):
        _, model, minfo, seconds, cached = results[pretrained]
        val = minfo["scores"]
        print(
            f"{minfo['kind']:>10}: best epoch {minfo['best_epoch']}/"
            f"{len(minfo['history'])}, valid ETC {val['etc_valid']['accuracy']:.3f}, "
            f"chABSA {val['chabsa_valid']['accuracy']:.3f}; fine-tuning "
            f"{minfo['finetune_seconds']} s, MLM {minfo['mlm'].get('seconds')} s; "
            f"{'loaded from cache' if cached else f'trained in {seconds:.0f} s'}"
        )

    print("\nExamples: P(positive), predicted label; tokens separated by '/':")
    bow = bow_all["model"]
    for text, expected in zip(EXAMPLES, EXPECTED, strict=True):
        tokenizer = results[True][0]
        print(f"\n{text} (expected {expected})")
        print(f"  BERT tokens: {'/'.join(tokenizer.tokenize(text))}")
        print(f"  MeCab words: {'/'.join(mecab_words([text])[0])}")
        p_bow = float(bow.predict_proba([text])[0, 1])
        print(f"  bag of words (ETC + chABSA): p = {p_bow:.3f}")
        models = [
            (label, *results[k][:2])
            for k, label in ((False, "from scratch"), (True, "pretrained"))
        ]
        if chabsa_only:
            models.insert(0, ("chABSA only", *chabsa_only[:2]))
            print(f"  chABSA-only tokens: {'/'.join(chabsa_only[0].tokenize(text))}")
        for label, tok, model in models:
            p = bert_probabilities(tok, model, [text])[0]
            verdict = "positive" if p > 0.5 else "negative"
            print(f"  BERT {label:<12}: p = {p:.3f} -> {verdict}")
    print(f"\nData: {etc.CITATION} {etc.LICENCE}\n      {CHABSA_SOURCE}")


if __name__ == "__main__":
    main()
