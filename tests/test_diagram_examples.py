"""The diagram of where each method reads, and the running example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tiny import tiny_bert, tiny_tokenizer

from helpers.book import diagram, examples
from helpers.highlight import isolated

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
    assert "<th" in table and "P(&lt;script&gt;alert(1)&lt;/script&gt;)" in table
    # an unclosed right-to-left override stays inside its own <bdi> cell
    assert "<bdi>P(pos\u202e)</bdi>" in table
    assert table.count("<bdi>") == table.count("</bdi>")


def test_isolated_escapes_and_isolates():
    assert isolated('<img src=x onerror="1">') == (
        "<bdi>&lt;img src=x onerror=&quot;1&quot;&gt;</bdi>"
    )
    assert isolated(3) == "<bdi>3</bdi>"


def test_diagram_text_is_readable_in_the_book_column():
    """At the column's width every label is drawn at 12 px or more."""
    svg = diagram.svg()
    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    assert sizes and min(sizes) * min(1.0, diagram.COLUMN_PX / width) >= 12
