"""The diagram of where each method reads, and the running example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from tiny import tiny_bert, tiny_tokenizer

from helpers.book import diagram, examples
from helpers.escape import isolated

ROOT = Path(__file__).resolve().parent.parent


def test_committed_diagram_is_the_one_the_helper_draws():
    committed = (ROOT / "_static" / "where_methods_read.svg").read_text()
    assert committed == diagram.svg() + "\n", "run diagram.save(...) again"


def test_diagram_has_every_method_and_loads_nothing():
    svg = diagram.svg()
    for method in diagram.METHODS:
        assert method.name in svg
    assert "<script" not in svg
    assert not re.search(r'(?:href|src)\s*=\s*"(?:https?:)?//', svg)


def test_highlight_colours_one_row_and_greys_the_others():
    accent = "#c0392b"
    everything = diagram.svg()
    one = diagram.svg("Grad-CAM")
    assert one.count(accent) < everything.count(accent)
    # the Grad-CAM row reads 3 hidden-state columns: 3 accent dots plus P(class)
    assert one.count(f'fill="{accent}"/>') == 3 + 1  # + the highlighted arrow head
    assert diagram.svg("attnlrp") == diagram.svg("CP-LRP")  # one row, two names


def test_unknown_method_names_the_choices():
    with pytest.raises(ValueError, match="pick one of: \\[CLS\\] attention"):
        diagram.svg("SHAP")


def test_running_examples_are_short_labelled_and_include_the_hidden_gem():
    assert len(examples.RUNNING) == 3
    assert set(examples.labels()) == {0, 1}
    gem = examples.RUNNING[0]
    assert "cleverly hidden inside a very bad one" in gem.text
    assert gem.label == 1 and "12380_7" in gem.source
    assert all(len(t.split()) < 25 for t in examples.texts())


def test_delete_top_words_masks_the_highest_and_breaks_ties_at_random():
    words = ["a", "good", "bad", "film"]
    kept, top = examples.delete_top_words(words, [0.1, 0.9, 0.5, 0.1], k=2)
    assert kept == ["a", "[MASK]", "[MASK]", "film"] and top == [1, 2]
    firsts = {
        examples.delete_top_words(words, [1.0, 1.0, 1.0, 1.0], k=1, seed=s)[1][0]
        for s in range(20)
    }
    assert len(firsts) > 1  # not always the first position
    with pytest.raises(ValueError, match="align them"):
        examples.delete_top_words(words, [1.0], k=1)


def test_predictions_rows_and_escaped_table():
    predicted = examples.predictions(tiny_bert(attn=None), tiny_tokenizer())
    assert [r["name"] for r in predicted] == [e.name for e in examples.RUNNING]
    for row in predicted:
        probs = [v for k, v in row.items() if k.startswith("P(")]
        assert len(probs) == 2 and sum(probs) == pytest.approx(1.0, abs=1e-5)
        assert row["correct"] == (row["predicted"] == row["gold"])
    rows = [
        {
            "name": "x",
            "text": "<b>hi</b>",
            "gold": "positive",
            "P(negative)": 0.2,
            "P(positive)": 0.8,
            "predicted": "positive",
            "correct": True,
        }
    ]
    table = examples.predictions_html(rows)
    assert "&lt;b&gt;hi&lt;/b&gt;" in table and "<b>hi" not in table
    assert "0.800" in table and "right" in table


def test_label_names_from_the_model_are_escaped_and_isolated():
    hostile = {0: "<script>alert(1)</script>", 1: "pos\u202e"}
    model = tiny_bert(attn=None, id2label=hostile)
    rows = examples.predictions(model, tiny_tokenizer())
    table = examples.predictions_html(rows)
    assert "<script>" not in table and "&lt;script&gt;" in table
    assert "<th" in table
    assert "P(<bdi>&lt;script&gt;alert(1)&lt;/script&gt;</bdi>)" in table
    # an unclosed right-to-left override is closed (U+202C) inside the label's
    # own <bdi>, so it cannot reverse the ")" after it
    assert "P(<bdi>pos\u202e\u202c</bdi>)" in table
    assert table.count("<bdi>") == table.count("</bdi>")


def test_isolated_escapes_and_isolates():
    assert isolated('<img src=x onerror="1">') == (
        "<bdi>&lt;img src=x onerror=&quot;1&quot;&gt;</bdi>"
    )
    assert isolated(3) == "<bdi>3</bdi>"


def test_source_text_reads_the_gem_s_review_and_finds_its_copies(
    tmp_path, make_imdb_folder
):
    root = make_imdb_folder(tmp_path, per_label=2)
    stem = sorted((root / "test" / "pos").glob("*.txt"))[0].stem
    gem = examples.Example("gem", "short", 1, "hand-made", f"test/pos/{stem}")
    source = examples.source_text(gem, root)
    raw = (root / "test" / "pos" / f"{stem}.txt").read_text()
    assert source == raw.replace("<br />", " ")
    assert examples.source_text(gem, tmp_path / "nowhere") is None
    assert examples.source_text(examples.Example("x", "t", 0, "s")) is None
    rows = [
        {"id": "test/neg/1_1", "text": "other"},
        {"id": "test/pos/2_8", "text": f"  {source}\n"},
    ]
    assert examples.source_copies(rows, source) == [(2, "test/pos/2_8")]
    assert examples.source_copies(rows, None) == []
    assert examples.RUNNING[0].review_id == "test/pos/12380_7"
    copy = examples.describe_source_copies([(1, "test/pos/2_8")], 3, gem)
    assert copy == (
        f"IMDb holds its source review twice (test/pos/{stem} and test/pos/2_8 are "
        "the same text), and test/pos/2_8 is the review the model gets most "
        "confidently wrong"
    )
    itself = examples.describe_source_copies([(2, f"test/pos/{stem}")], 3, gem)
    assert itself.endswith(
        "is number 2 of the 3 reviews the model gets most confidently wrong"
    )
    assert "is none of the 3 reviews" in examples.describe_source_copies([], 3, gem)


def test_gem_note_is_one_sentence():
    note = examples.gem_note("  the model calls it negative (p = 0.90).")
    assert note == (
        "What we now know about the hidden gem: the model calls it negative (p = 0.90)."
    )
    with pytest.raises(ValueError, match="empty"):
        examples.gem_note(" . ")


def _pair(words_before, words_after, scores_after, logits_before, logits_after):
    from helpers.attr.explanation import TextExplanation
    from helpers.explain import Explanation

    records = [
        TextExplanation(
            " ".join(words),
            list(words),
            {"AttnLRP": torch.tensor(scores, dtype=torch.float32)},
            target=0,
            logits=torch.tensor(logits),
        )
        for words, scores, logits in (
            (words_before, [3.0, 0.1, 2.0, 1.0][: len(words_before)], logits_before),
            (words_after, scores_after, logits_after),
        )
    ]
    return Explanation(records, labels=["negative", "positive"])


def test_describe_edit_says_why_the_prediction_does_not_flip():
    import math

    # "bad" keeps the top after good and bad swap places: no flip
    logit = math.log(0.9 / 0.1)
    pair = _pair(
        ["bad", "a", "good", "film"],
        ["good", "a", "bad", "film"],
        [-0.5, 0.1, 3.0, 1.0],
        [logit, 0.0],
        [logit + 1, 0.0],
    )
    text = examples.describe_edit(pair, k=2)
    assert text.startswith("P(negative) 0.900 → 0.961: the prediction does not flip.")
    assert "top 2 words for negative: bad, good before the edit, bad, film after." in (
        text
    )
    assert "bad stays on top, so the evidence for negative survives the edit." in text
    assert text.endswith(
        "After the edit, the edited words count for negative: bad (+3.00); "
        "against negative: good (-0.50)."
    )


def test_describe_edit_on_an_added_word_and_a_flip():
    pair = _pair(
        ["a", "waste"],
        ["not", "a", "waste"],
        [-2.0, 0.1, 0.5],
        [2.0, 0.0],
        [0.0, 1.0],
    )
    text = examples.describe_edit(pair, k=1)
    assert "the prediction flips to positive." in text
    assert "None of the top words before the edit stays on top." in text
    assert text.endswith("the edited words count against negative: not (-2.00).")
    with pytest.raises(ValueError, match="same class"):
        examples.describe_edit(pair.__class__(pair.records[:1], pair.labels))


def test_explain_edit_explains_both_texts_for_the_class_predicted_before():
    # this seeded tiny model predicts the two texts differently
    model = tiny_bert(dropout=0.0, perturb=0.5, seed=3)
    pair = examples.explain_edit(
        model, tiny_tokenizer(), "a great film", "the movie was good"
    )
    assert pair.predicted == ["positive", "negative"]
    assert pair.target == ["positive", "positive"]
    assert "the prediction flips to negative." in examples.describe_edit(pair)
    assert examples._edited_positions(["a", "b"], ["a", "not", "b"]) == [1]
    assert examples._edited_positions(["a", "b"], ["b", "a"]) == [0, 1]


def test_describe_class_maps_on_a_word_that_tops_two_classes():
    words = ["lovely", "but", "dreadful"]
    maps = {
        "negative": [-0.5, 2.0, 0.9],
        "neutral": [0.0, 0.05, 0.01],
        "positive": [1.9, 2.1, -0.4],
    }
    text = examples.describe_class_maps(words, maps, watch=["dreadful", "absent"])
    assert text.startswith(
        "Top word per class: negative but (+2.00), neutral but (+0.05), "
        "positive but (+2.10)."
    )
    assert "but tops the maps of negative, neutral and positive: it raises" in text
    # minus the others' mean: negative and neutral keep dreadful, positive lovely
    assert "its top word: negative dreadful, neutral dreadful, positive lovely." in (
        text
    )
    assert "For neutral, even the top word scores 2% of the largest" in text
    assert text.endswith("Largest |score| in any class's map: dreadful 0.90.")
    alone = examples.describe_class_maps(["a", "b"], {"x": [1, 0], "y": [0, 1]})
    assert alone == "Top word per class: x a (+1.00), y b (+1.00)."
    with pytest.raises(ValueError, match="two classes"):
        examples.describe_class_maps(words, {"x": [1, 2, 3]})


def test_on_top_names_the_gem_s_verdict_words_among_the_top_ones():
    assert examples.on_top(["bad", "cleverly", "movie"]) == (
        "bad, cleverly and movie, with bad among them"
    )
    assert (
        examples.on_top(["good", "bad"]) == "good and bad, with good and bad among them"
    )
    assert examples.on_top(["it"]) == "it, with neither good nor bad among them"
    with pytest.raises(ValueError, match="empty"):
        examples.on_top([])


def test_deletion_test_masks_the_top_words_on_the_ids():
    from helpers import attr
    from helpers.align import word_map
    from helpers.tokens import encode

    tokenizer = tiny_tokenizer()
    model = tiny_bert(dropout=0.0, perturb=0.5, seed=3)
    explainer = attr.explainers(model, tokenizer)["grad x input"]
    text = "the acting was boringly bad"
    out = examples.deletion_test(model, tokenizer, explainer, text, k=2)
    batch = encode(tokenizer, [text], return_tensors="pt")
    scores = explainer.attribute(batch).scores[0]
    words = word_map(tokenizer, text)
    _, top = examples.delete_top_words(words.words, words.merge(scores), 2)
    assert out["words"] == [words.words[i] for i in top]
    ids = batch["input_ids"].clone()
    ids[0, [i for i, w in enumerate(words.index) if w in top]] = tokenizer.mask_token_id
    with torch.no_grad():
        p = model(**batch).logits.softmax(-1)[0]
        q = model(input_ids=ids).logits.softmax(-1)[0]
    c = out["target"]
    assert c == int(p.argmax())
    assert out["before"] == pytest.approx(float(p[c]), abs=1e-6)
    assert out["after"] == pytest.approx(float(q[c]), abs=1e-6)
    assert out["flipped"] == (int(q.argmax()) != c)


def test_diagram_text_is_readable_in_the_book_column():
    """At the column's width every label is drawn at 12 px or more."""
    svg = diagram.svg()
    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    assert sizes and min(sizes) * min(1.0, diagram.COLUMN_PX / width) >= 12
