"""The book's running example: three short reviews followed through every chapter.

Chapter 1 tokenizes them, chapter 2 predicts them, chapters 3–4 highlight them,
chapter 5 deletes their top words and chapter 6 explains them the transformer
way. One of them is a sentence of the IMDb test review chapter 2's model gets
wrong: a positive review of a film it calls "a very bad one". The appendix's
stand-in for *your* model (:func:`toy_roberta_classifier`) lives here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..align import word_map
from ..data import DataError, encode_texts, read_review, same_text
from ..escape import isolated
from ..explain import Explanation
from ..explorer import explain_pair
from ..inputs import label_names
from ..models import eval_mode, model_device
from ..stats import ranked
from ..tokens import encode
from ..train import predict_logits
from .report import listing


@dataclass(frozen=True)
class Example:
    """One running example: a short ``name``, its ``text``, gold ``label``
    (0 = negative, 1 = positive) and where the text comes from; ``review_id``:
    the IMDb review it was cut from (``"test/pos/12380_7"``), else empty."""

    name: str
    text: str
    label: int
    source: str
    review_id: str = ""


RUNNING: tuple[Example, ...] = (
    Example(
        name="hidden gem",
        text=(
            "It is, to put it simply, a very good movie cleverly hidden inside "
            "a very bad one."
        ),
        label=1,
        source=(
            "a sentence of IMDb test review pos/12380_7 (Jack Frost 2, rated 7/10), "
            "a positive review of a film it calls bad"
        ),
        review_id="test/pos/12380_7",
    ),
    Example(
        name="praise",
        text="A wonderful film with superb acting; I loved every minute of it.",
        label=1,
        source="written for this book",
    ),
    Example(
        name="pan",
        text="Dull, predictable and far too long: a waste of two hours.",
        label=0,
        source="written for this book",
    ),
)


def texts(examples: Sequence[Example] = RUNNING) -> list[str]:
    """The examples' texts, in order."""
    return [e.text for e in examples]


def labels(examples: Sequence[Example] = RUNNING) -> list[int]:
    """The examples' gold labels (0 = negative, 1 = positive), in order."""
    return [e.label for e in examples]


@torch.no_grad()
def predictions(
    model, tokenizer, examples: Sequence[Example] = RUNNING, max_length: int = 512
) -> list[dict]:
    """One row per example: name, text, gold and predicted label names, the
    probability of each label, and whether the prediction is right."""
    probs = torch.softmax(
        predict_logits(model, tokenizer, texts(examples), max_length=max_length), -1
    )
    names = list(label_names(model))
    rows = []
    for e, p in zip(examples, probs, strict=True):
        predicted = int(p.argmax())
        row = {"name": e.name, "text": e.text, "gold": names[e.label]}
        row.update({f"P({n})": float(p[i]) for i, n in enumerate(names)})
        row.update(predicted=names[predicted], correct=predicted == e.label)
        rows.append(row)
    return rows


def predictions_html(rows: list[dict]) -> str:
    """The rows of :func:`predictions` as an HTML table.

    Every cell and header (texts, label names) is escaped and direction-isolated
    (:func:`helpers.escape.isolated`).
    """
    prob_cols = [k for k in rows[0] if k.startswith("P(")] if rows else []
    head = ["example", "text", "gold", *prob_cols, "predicted", ""]
    out = ['<table style="border-collapse: collapse; font-size: 0.9em">', "<tr>"]
    # a label inside "P(...)" is isolated on its own, so that its direction
    # cannot reach the closing parenthesis
    names = [f"P({isolated(h[2:-1])})" if h in prob_cols else isolated(h) for h in head]
    out += [f'<th style="text-align: left; padding: 2px 6px">{n}</th>' for n in names]
    out.append("</tr>")
    for r in rows:
        cells = [r["name"], r["text"], r["gold"]]
        cells += [f"{r[c]:.3f}" for c in prob_cols]
        cells += [r["predicted"], "right" if r["correct"] else "wrong"]
        out.append("<tr>")
        out += [
            f'<td style="padding: 2px 6px; border-top: 1px solid #eee">'
            f"{isolated(c)}</td>"
            for c in cells
        ]
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def delete_top_words(
    words: Sequence[str], scores, k: int, mask: str = "[MASK]", seed: int = 1234
) -> tuple[list[str], list[int]]:
    """``words`` with the ``k`` highest-scored replaced by ``mask``.

    Returns the new word list and the deleted positions (highest score first).
    Equal scores are ordered at random with ``seed``, never by position.
    """
    scores = torch.as_tensor(scores, dtype=torch.float64).flatten()
    if len(scores) != len(words):
        raise ValueError(
            f"{len(words)} words but {len(scores)} scores: align them first"
        )
    if not 0 <= k <= len(words):
        raise ValueError(f"k must be between 0 and {len(words)}, got {k}")
    top = ranked(scores, seed)[:k].tolist()
    kept = [mask if i in set(top) else w for i, w in enumerate(words)]
    return kept, top


@torch.no_grad()
def deletion_test(
    model, tokenizer, explainer, text: str, k: int = 3, max_length: int = 512, seed=1234
) -> dict:
    """Delete the ``k`` words ``explainer`` scores highest for the predicted class.

    The words are those of :func:`helpers.align.word_map` (pieces merged by
    the sum); every token of a deleted word becomes the mask token, on the
    ids (``"[MASK]"`` typed into a text would be read as text). Ties are
    broken at random (``seed``, :func:`delete_top_words`). Returns ``words``
    (the deleted ones, highest first), ``target`` (the class predicted for
    the text, explained), ``before`` and ``after`` (its probability) and
    ``flipped`` (whether the prediction changed).
    """
    batch = encode_texts(tokenizer, [text], max_length=max_length, warn=False)
    found = explainer.attribute(batch)
    words = word_map(tokenizer, text, max_length=max_length)
    _, top = delete_top_words(words.words, words.merge(found.scores[0]), k, seed=seed)
    ids = batch["input_ids"].clone()
    hit = torch.tensor([w in top for w in words.index])
    ids[0, hit] = tokenizer.mask_token_id
    device = model_device(model)
    with eval_mode(model):
        probs = [
            model(
                input_ids=x.to(device),
                attention_mask=batch["attention_mask"].to(device),
            )
            .logits.float()
            .softmax(-1)[0]
            .cpu()
            for x in (batch["input_ids"], ids)
        ]
    target = int(found.target[0])
    return {
        "words": [words.words[i] for i in top],
        "target": target,
        "before": float(probs[0][target]),
        "after": float(probs[1][target]),
        "flipped": int(probs[1].argmax()) != target,
    }


def source_text(example: Example = RUNNING[0], root=None) -> str | None:
    """The whole IMDb review ``example`` was cut from, or ``None``.

    ``None`` when the example has no ``review_id`` or IMDb is not on disk
    (``$IMDB_DIR`` or the data folder; nothing is downloaded). ``root``: the
    extracted ``aclImdb`` folder, if you know it.
    """
    if not example.review_id:
        return None
    try:
        return read_review(example.review_id, root)
    except DataError:
        return None


def source_copies(rows: Sequence[dict], source: str | None) -> list[tuple[int, str]]:
    """Which of ``rows`` hold the text ``source``: ``(rank, id)``, rank from 1.

    ``rows``: dicts with ``"id"`` and ``"text"``, as
    :func:`helpers.train.misclassified` returns them; texts are compared by
    :func:`helpers.data.same_text` (whitespace normalised). ``source``: the
    text of :func:`source_text`; ``None`` (IMDb not on disk) finds nothing.
    """
    if source is None:
        return []
    return [
        (rank, row["id"])
        for rank, row in enumerate(rows, start=1)
        if same_text(row["text"], source)
    ]


def describe_source_copies(
    copies: Sequence[tuple[int, str]], n: int, example: Example = RUNNING[0]
) -> str:
    """A clause on where ``example``'s source review is among ``n`` wrong reviews.

    ``copies``: :func:`source_copies` of the ``n`` most confidently wrong
    reviews. A copy under another id is a duplicate IMDb holds, and the
    clause says so.
    """
    if not copies:
        return (
            f"its source review, {example.review_id}, is none of the {n} reviews "
            "the model gets most confidently wrong"
        )
    rank, review_id = copies[0]
    where = (
        "the review the model gets most confidently wrong"
        if rank == 1
        else f"number {rank} of the {n} reviews the model gets most confidently wrong"
    )
    if review_id == example.review_id:
        return f"its source review, {review_id}, is {where}"
    return (
        f"IMDb holds its source review twice ({example.review_id} and {review_id} "
        f"are the same text), and {review_id} is {where}"
    )


def explain_edit(
    model, tokenizer, before: str, after: str, method: str = "AttnLRP", **options
) -> Explanation:
    """``before`` and ``after`` explained by ``method`` for one class.

    The class is the one predicted for ``before``: the question is what the
    edit did to the evidence for it. ``options`` go to
    :func:`helpers.explain.explain` (``max_length=``...).
    """
    first, second = explain_pair(model, tokenizer, before, after, method, **options)
    return Explanation([first[0], second[0]], labels=first.labels)


def _edited_positions(before: Sequence[str], after: Sequence[str]) -> list[int]:
    """Positions of ``after``'s words that the edit changed or added."""
    if len(before) == len(after):
        return [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    left = 0
    while left < min(len(before), len(after)) and before[left] == after[left]:
        left += 1
    right = 0
    while (
        right < min(len(before), len(after)) - left
        and before[-1 - right] == after[-1 - right]
    ):
        right += 1
    return list(range(left, len(after) - right))


def describe_edit(pair: Explanation, method: str = "AttnLRP", k: int = 3) -> str:
    """Why an edit did or did not flip the prediction, from the top words.

    ``pair``: :func:`explain_edit`'s two texts, explained for one class ``c``.
    The sentences give P(c) before and after, the ``k`` words ``method`` puts
    on top for ``c`` in each, which of them survive the edit, and how the
    edited words (changed, or added, after the edit) count after it: for
    ``c`` (a positive score) or against it.
    """
    if len(pair.records) != 2 or pair.target[0] != pair.target[1]:
        raise ValueError("pair must hold two texts explained for the same class.")
    cls = pair.target[0]
    p = pair.probs[:, pair.labels.index(cls)].tolist()
    tops = [[w for w, _ in pair.top_words(i, method, k)] for i in (0, 1)]
    flipped = pair.predicted[1] != pair.predicted[0]
    text = [
        f"P({cls}) {p[0]:.3f} → {p[1]:.3f}: the prediction "
        + (f"flips to {pair.predicted[1]}." if flipped else "does not flip.")
        + f" {method}'s top {k} words for {cls}: {', '.join(tops[0])} before the "
        f"edit, {', '.join(tops[1])} after."
    ]
    kept = [w for w in tops[0] if w in tops[1]]
    if kept:
        text.append(
            f"{listing(kept)} stay{'s' if len(kept) == 1 else ''} on top, "
            + (
                f"so the evidence for {cls} survives the edit."
                if not flipped
                else f"but no longer enough for {cls}."
            )
        )
    else:
        text.append(
            "None of the top words before the edit stays on top"
            + ("." if flipped else f", and the new ones count for {cls} as well.")
        )
    words, scores = pair.words[1], pair.scores[method][1].tolist()
    edited = _edited_positions(pair.words[0], words)
    sides = {"for": [], "against": []}
    for i in edited:
        sides["for" if scores[i] > 0 else "against"].append(
            f"{words[i]} ({scores[i]:+.2f})"
        )
    parts = [
        f"{side} {cls}: {', '.join(found)}" for side, found in sides.items() if found
    ]
    if parts:
        text.append(f"After the edit, the edited words count {'; '.join(parts)}.")
    return " ".join(text)


def _shared_tops(words, scores: dict, tops: dict, top) -> list[str]:
    """For each word on top of several classes' maps, a sentence: it raises
    those logits together, and each class's top word once the mean of the
    other maps is taken away (``top``: the tie-breaking argmax)."""
    by_word: dict[str, list[str]] = {}
    for c, i in tops.items():
        by_word.setdefault(words[i], []).append(c)
    text = []
    for word, classes in by_word.items():
        if len(classes) < 2:
            continue
        contrast = {}
        for c in classes:
            others = torch.stack([m for o, m in scores.items() if o != c]).mean(0)
            contrast[c] = words[top(scores[c] - others)]
        text.append(
            f"{word} tops the maps of {listing(classes)}: it raises those "
            "logits together, and a rise they share moves no probability between "
            "them. A class's map minus the mean of the others' keeps what counts "
            "for it more than for the rest; its top word: "
            + ", ".join(f"{c} {w}" for c, w in contrast.items())
            + "."
        )
    return text


def describe_class_maps(
    words: Sequence[str],
    maps: Mapping[str, torch.Tensor],
    watch: Sequence[str] = (),
    weak: float = 0.1,
    seed: int = 1234,
) -> str:
    """One text explained for each class: what the maps' top words say.

    ``maps``: ``{class name: word scores}`` for the same ``words``. The
    sentences give each class's top word; for a word on top of several
    classes' maps, that it raises those logits together (a rise they share
    moves no probability between them) and the top word of each such class's
    map minus the mean of the others' maps, which is what counts for it more
    than for the rest; the classes whose top score is below ``weak`` times
    the largest score of all maps; and, for each ``watch`` word in the text,
    its largest absolute score in any map. Ties go to a random word
    (``seed``).
    """
    if len(maps) < 2:
        raise ValueError("maps needs two classes or more.")
    scores = {c: torch.as_tensor(m, dtype=torch.float64) for c, m in maps.items()}
    if any(len(m) != len(words) for m in scores.values()):
        raise ValueError("every map needs one score per word.")

    def top(m):
        return int(ranked(m, seed)[0])

    tops = {c: top(m) for c, m in scores.items()}
    text = [
        "Top word per class: "
        + ", ".join(f"{c} {words[i]} ({scores[c][i]:+.2f})" for c, i in tops.items())
        + "."
    ]
    text += _shared_tops(words, scores, tops, top)
    largest = max(float(m.abs().max()) for m in scores.values())
    for c, i in tops.items():
        share = float(scores[c][i]) / largest if largest > 0 else 0.0
        if share < weak:
            text.append(
                f"For {c}, even the top word scores {share:.0%} of the largest score "
                f"of the {len(scores)} maps: nothing in the text counts much for it."
            )
    seen = {w: words.index(w) for w in watch if w in words}
    if seen:
        peak = {
            w: max(float(m[i].abs()) for m in scores.values()) for w, i in seen.items()
        }
        text.append(
            "Largest |score| in any class's map: "
            + ", ".join(f"{w} {v:.2f}" for w, v in peak.items())
            + "."
        )
    return " ".join(text)


def on_top(words: Sequence[str], watch: Sequence[str] = ("good", "bad")) -> str:
    """Top words, and which ``watch`` words (the gem's good and bad) are there.

    >>> on_top(["bad", "cleverly", "movie"])
    'bad, cleverly and movie, with bad among them'
    """
    if not words:
        raise ValueError("words is empty: pass the top words.")
    among = [w for w in watch if w in words]
    if not among:
        shown = (
            f"neither {' nor '.join(watch)}" if len(watch) > 1 else "not " + watch[0]
        )
    else:
        shown = listing(among)
    return f"{listing(words)}, with {shown} among them"


def gem_note(fact: str) -> str:
    """The line that ends chapters 1–7: ``fact``, a sentence the chapter computed.

    >>> gem_note("the model calls it negative (p = 0.90).")
    'What we now know about the hidden gem: the model calls it negative (p = 0.90).'
    """
    fact = fact.strip().rstrip(".")
    if not fact:
        raise ValueError("fact is empty: compute a sentence from the chapter.")
    return f"What we now know about the hidden gem: {fact}."


# --------------------------------------------------------------------------- a stand-in

#: The stand-in model's three classes and the words that decide them.
TOY_WORDS = {
    "negative": ("awful", "dreadful", "boring", "terrible", "bland"),
    "neutral": ("okay", "average", "ordinary", "passable", "acceptable"),
    "positive": ("great", "lovely", "superb", "wonderful", "delightful"),
}
_TOY_THINGS = ("food", "service", "film", "view", "room", "staff", "music", "plot")
_TOY_TEMPLATES = (
    "The {thing} was {word}.",
    "Honestly, the {thing} is {word}.",
    "A {word} {thing}, all things considered.",
    "We found the {thing} {word} this time.",
)


def toy_sentences(n: int = 600, seed: int = 0) -> tuple[list[str], list[int]]:
    """``n`` seeded sentences of the stand-in's 3-class task and their labels.

    Each sentence names a thing and one word of :data:`TOY_WORDS`; the word's
    class is the label (0 negative, 1 neutral, 2 positive).
    """
    rng = torch.Generator().manual_seed(seed)
    classes = list(TOY_WORDS)
    texts, labels = [], []
    for _ in range(n):
        label = int(torch.randint(len(classes), (1,), generator=rng))
        pick = lambda seq: seq[int(torch.randint(len(seq), (1,), generator=rng))]  # noqa: E731
        template, thing = pick(_TOY_TEMPLATES), pick(_TOY_THINGS)
        texts.append(template.format(thing=thing, word=pick(TOY_WORDS[classes[label]])))
        labels.append(label)
    return texts, labels


def toy_roberta_classifier(seed: int = 0, epochs: int = 4):
    """``(tokenizer, model)``: a stand-in for *your* model, built in seconds.

    A RoBERTa-style classifier (2 layers, hidden 64, byte-level BPE tokenizer
    trained here, three named labels negative/neutral/positive) trained for
    ``epochs`` on :func:`toy_sentences`. It is not the book's model and knows
    nothing of IMDb: the appendix "Apply it to your model" explains it with
    :func:`helpers.explain`. Seeded; returned in eval mode with eager attention.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import (
        RobertaConfig,
        RobertaForSequenceClassification,
        RobertaTokenizerFast,
    )

    texts, labels = toy_sentences(seed=seed)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=400, special_tokens=specials, show_progress=False
    )
    tokenizer = RobertaTokenizerFast(
        tokenizer_object=bpe._tokenizer, model_max_length=64
    )
    id2label = dict(enumerate(TOY_WORDS))
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=66,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        attn_implementation="eager",
    )
    torch.manual_seed(seed)
    model = RobertaForSequenceClassification(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(texts), generator=order).split(32):
            inputs = encode(
                tokenizer, [texts[i] for i in batch], padding=True, return_tensors="pt"
            )
            loss = model(**inputs, labels=torch.tensor([labels[i] for i in batch])).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return tokenizer, model.eval()
