"""The token highlighter: colours, escaping, word merging, Japanese, errors, export."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from tiny import tiny_mecab_tokenizer, tiny_tokenizer

from helpers.escape import isolated, isolated_attribute
from helpers.highlight import (
    collapsible,
    highlight,
    highlight_html,
    highlight_rows,
    save_html,
    score_to_color,
)
from helpers.tokens import merge_pieces, special_tokens

ALLOWED_TAGS = {"div", "span", "table", "tr", "th", "td", "bdi"}


class Spans(HTMLParser):
    """Collects every tag and attribute, the text, and each span's text and colour."""

    def __init__(self, fragment: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.tokens, self.text = [], [], [], []
        self._open: list[str | None] = []
        self.feed(fragment)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]
        attrs = dict(attrs)
        style = attrs.get("style", "")
        is_token = tag == "span" and "title" in attrs and "background-color" in style
        bg = (
            style.split("background-color:")[1].split(";")[0].strip()
            if is_token
            else None
        )
        self._open.append(bg)
        if is_token:
            self.tokens.append(["", bg, attrs["title"]])

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self._open and self._open[-1] is not None:
            self.tokens[-1][0] += data

    def colours(self) -> dict[str, str]:
        return {text: bg for text, bg, _ in self.tokens}


# --------------------------------------------------------------------------- colours


def test_score_to_color_sequential_and_diverging():
    assert score_to_color(2.0, 2.0) == "rgb(255, 0, 0)"
    assert score_to_color(0.0, 2.0) == "rgb(255, 255, 255)"
    assert score_to_color(1.0, 2.0) == "rgb(255, 128, 128)"
    assert score_to_color(5.0, 2.0) == "rgb(255, 0, 0)"  # clipped at vmax
    assert score_to_color(-2.0, 2.0, diverging=True) == "rgb(0, 0, 255)"
    assert score_to_color(-1.0, 2.0, diverging=True) == "rgb(128, 128, 255)"
    assert score_to_color(2.0, 2.0, diverging=True) == "rgb(255, 0, 0)"
    assert score_to_color(0.0, 0.0) == "rgb(255, 255, 255)"


def test_score_to_color_rejects_bad_values():
    with pytest.raises(ValueError, match="diverging=True"):
        score_to_color(-1.0, 2.0)
    with pytest.raises(ValueError, match="nan_to_num"):
        score_to_color(float("nan"), 1.0)
    with pytest.raises(ValueError, match="vmax"):
        score_to_color(1.0, -1.0)


def test_highlight_colours_follow_scores_and_hide_special_tokens():
    tokens = ["[CLS]", "good", "movie", "[SEP]", "[PAD]"]
    hidden = special_tokens(tiny_tokenizer())  # the tokenizer's own
    out = Spans(
        highlight_html(tokens, [5.0, 2.0, 1.0, 9.0, 0.0], special_tokens=hidden)
    )
    # [CLS]/[SEP]/[PAD] are hidden and do not set the scale: vmax is the largest
    # shown score
    assert out.colours() == {"good": "rgb(255, 0, 0)", "movie": "rgb(255, 128, 128)"}
    assert "[CLS]" not in "".join(out.text) and "[SEP]" not in "".join(out.text)
    assert out.tokens[0][2] == "\u2068score\u2069: 2"  # tooltip with the score


def test_only_the_special_tokens_given_are_hidden():
    tokens = ["[CLS]", "good", "[SEP]", "[PAD]"]
    out = Spans(highlight_html(tokens, [1.0, 0.5, 0.0, 0.0], special_tokens={"[PAD]"}))
    assert [t for t, _, _ in out.tokens] == ["[CLS]", "good", "[SEP]"]
    assert out.colours()["[CLS]"] == "rgb(255, 0, 0)"


def test_negative_scores_use_the_diverging_scale():
    fragment = highlight_html(["bad", "film", "great"], torch.tensor([-2.0, 0.0, 1.0]))
    colours = Spans(fragment).colours()
    assert colours == {
        "bad": "rgb(0, 0, 255)",
        "film": "rgb(255, 255, 255)",
        "great": "rgb(255, 128, 128)",
    }
    assert "-2" in fragment  # the legend runs from -vmax
    with pytest.raises(ValueError, match="diverging=True"):
        highlight_html(["bad"], [-1.0], diverging=False)


def test_explicit_vmax_sets_the_scale():
    colours = Spans(highlight_html(["a", "b"], [1.0, 2.0], vmax=4.0)).colours()
    assert colours == {"a": "rgb(255, 191, 191)", "b": "rgb(255, 128, 128)"}


def test_all_zero_scores_render_white_with_a_note():
    fragment = highlight_html(["a", "film"], [0.0, 0.0])
    assert set(Spans(fragment).colours().values()) == {"rgb(255, 255, 255)"}
    assert "all scores are 0" in fragment


# --------------------------------------------------------------------------- bad input


def test_nan_scores_raise_naming_the_fix():
    with pytest.raises(
        ValueError, match=r"NaN or inf at position\(s\) \[1\].*nan_to_num"
    ):
        highlight_html(["a", "b"], [0.1, float("nan")])


def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="3 tokens but 2 scores"):
        highlight_html(["a", "b", "c"], [0.1, 0.2])


def test_two_dimensional_scores_raise():
    with pytest.raises(ValueError, match="1-D"):
        highlight_html(["a", "b"], np.ones((2, 2)))


def test_a_string_instead_of_tokens_raises():
    with pytest.raises(TypeError, match="convert_ids_to_tokens"):
        highlight_html("a b", [1.0, 2.0])


# --------------------------------------------------------------------------- security


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '" onmouseover="alert(2)',
    "&amp;",
]


@pytest.mark.parametrize(
    "render",
    [
        lambda: highlight_html(
            HOSTILE,
            [1.0, 2.0, 3.0, 4.0],
            title="<b onclick=alert(3)>t</b>",
            label='" onfocus="alert(4)',
        ),
        lambda: highlight_rows(
            [("<i>head</i>", HOSTILE, [1.0, 2.0, 3.0, 4.0])], title="<script>x</script>"
        ),
    ],
)
def test_text_is_escaped_and_no_markup_is_live(render):
    fragment = render()
    parsed = Spans(fragment)
    assert set(parsed.tags) <= ALLOWED_TAGS  # no script, img, b or i element
    assert set(parsed.attrs) <= {
        "style",
        "title",
        "class",
    }  # no onerror / onmouseover / onclick attribute
    assert "<script" not in fragment and "<img" not in fragment
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment
    visible = "".join(parsed.text)
    for token in HOSTILE:  # shown to the reader as typed
        assert token in visible


def test_no_remote_resources_in_fragment_or_file(tmp_path):
    fragment = highlight_html(["good", "film"], [1.0, 0.5], title="t")
    page = save_html(
        fragment, tmp_path / "out" / "review.html", title="<script>"
    ).read_text()
    for text in (fragment, page):
        lowered = text.lower()
        for needle in (
            "http://",
            "https://",
            "src=",
            "<link",
            "@import",
            "url(",
            "<script",
        ):
            assert needle not in lowered


def test_save_html_writes_a_standalone_page(tmp_path):
    fragment = highlight_html(["good", "film"], [1.0, 0.5])
    path = save_html(fragment, tmp_path / "sub" / "review.html", title="A <review>")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "<title>\u2068A &lt;review&gt;\u2069</title>" in page
    assert fragment in page
    with pytest.raises(ValueError, match=r"\.html"):
        save_html(fragment, tmp_path / "review.txt")


# -------------------------------------------------------------- tokens and words


def test_merge_pieces_max_sum_and_mean():
    tokens = ["[CLS]", "play", "##ing", "is", "fun", "##n", "##y", "[SEP]", "[PAD]"]
    scores = [9.0, 0.25, 0.5, 0.1, 0.2, 0.3, 0.1, 9.0, 0.0]
    special = {"[CLS]", "[SEP]", "[PAD]"}
    words, merged = merge_pieces(tokens, scores, special, merge="max")
    assert words == ["playing", "is", "funny"]
    np.testing.assert_allclose(merged, [0.5, 0.1, 0.3], rtol=1e-6)
    _, summed = merge_pieces(tokens, scores, special, merge="sum")
    np.testing.assert_allclose(summed, [0.75, 0.1, 0.6], rtol=1e-6)
    _, mean = merge_pieces(tokens, scores, special, merge="mean")
    np.testing.assert_allclose(mean, [0.375, 0.1, 0.2], rtol=1e-6)
    with pytest.raises(ValueError, match="merge must be one of"):
        merge_pieces(tokens, scores, special, merge="median")


def test_merged_words_are_highlighted_as_one_span():
    fragment = highlight_html(
        ["[CLS]", "play", "##ing", "well", "[SEP]"],
        [0.0, 0.2, 0.4, 0.6, 0.0],
        merge="sum",
        special_tokens=special_tokens(tiny_tokenizer()),
    )
    colours = Spans(fragment).colours()
    assert colours == {"playing": "rgb(255, 0, 0)", "well": "rgb(255, 0, 0)"}
    assert "merged into words (sum)" in fragment


def test_subword_pieces_are_glued_and_punctuation_attached():
    fragment = highlight_html(
        ["[CLS]", "the", "act", "##ing", "was", "great", ".", "[SEP]"],
        [0.0] + [1.0] * 6 + [0.0],
        special_tokens=special_tokens(tiny_tokenizer()),
    )
    parsed = Spans(fragment)
    assert [text for text, _, _ in parsed.tokens] == [
        "the",
        "act",
        "ing",
        "was",
        "great",
        ".",
    ]
    assert "the acting was great." in "".join(parsed.text)


def test_japanese_tokens_are_joined_without_spaces():
    tokens = ["[CLS]", "私", "は", "不", "##運", "な", "人間", "です", "。", "[SEP]"]
    fragment = highlight_html(tokens, np.linspace(0, 1, len(tokens)))
    assert "私は不運な人間です。" in "".join(Spans(fragment).text)
    assert "私 は" not in fragment


def test_explicit_join_overrides_the_detection():
    fragment = highlight_html(["a", "b"], [1.0, 1.0], join="")
    assert "ab" in "".join(Spans(fragment).text)


def test_truncation_marker():
    tokens = ["[CLS]", "good", "film", "[SEP]"]
    assert "[truncated at 4 tokens]" in highlight_html(
        tokens, [0, 1, 1, 0], truncated=True
    )
    assert "[truncated at 512 tokens]" in highlight_html(
        tokens, [0, 1, 1, 0], truncated=512
    )
    assert "truncated" not in highlight_html(tokens, [0, 1, 1, 0])


# -------------------------------------------------------------- rows and display


def test_rows_are_scaled_to_their_own_max_unless_shared():
    rows = [("head 0", ["a", "b"], [1.0, 2.0]), ("head 1", ["a", "b"], [10.0, 20.0])]
    own = [bg for _, bg, _ in Spans(highlight_rows(rows)).tokens]
    assert own == ["rgb(255, 128, 128)", "rgb(255, 0, 0)"] * 2
    shared = [bg for _, bg, _ in Spans(highlight_rows(rows, shared_scale=True)).tokens]
    assert shared[:2] == ["rgb(255, 242, 242)", "rgb(255, 230, 230)"]
    assert shared[3] == "rgb(255, 0, 0)"
    with pytest.raises(ValueError, match="rows is empty"):
        highlight_rows([])


def test_highlight_returns_ipython_html():
    shown = highlight(["good"], [1.0], title="x")
    assert shown.data == highlight_html(["good"], [1.0], title="x")


def test_collapsible_wraps_a_fragment_in_details():
    fragment = highlight_html(["good", "film"], [1.0, 0.5])
    closed = collapsible(fragment, "Review <3>: every head")
    assert closed.startswith('<details class="token-highlight-details">')
    assert closed.endswith("</details>") and fragment in closed
    assert "<bdi>Review &lt;3&gt;: every head</bdi></summary>" in closed
    assert '<details class="token-highlight-details" open>' in collapsible(
        fragment, "s", expanded=True
    )
    with pytest.raises(TypeError, match="HTML string"):
        collapsible(highlight(["good"], [1.0]), "an IPython object, not a string")


def test_japanese_mecab_wordpiece_tokens_render_as_written():
    pytest.importorskip("fugashi")
    sentence = "私は不運な人間です。"
    # no word 不運: MeCab's word goes to WordPiece as 不 ##運
    words = ["私", "は", "不", "な", "人間", "です", "。"]
    tokenizer = tiny_mecab_tokenizer(words, pieces=["##運"])
    ids = tokenizer(sentence)["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert (
        "##運" in tokens and "[UNK]" not in tokens
    )  # a MeCab word split into WordPiece pieces
    scores = torch.linspace(-1, 1, len(tokens))
    for merge in (None, "max"):
        parsed = Spans(highlight_html(tokens, scores, merge=merge))
        assert sentence in "".join(parsed.text)
    assert "不運" in Spans(highlight_html(tokens, scores, merge="max")).colours()


def test_bidi_controls_in_user_text_stay_inside_their_isolate():
    """A stray U+2069 cannot end the isolate early; a user's own pairs are kept."""
    hostile = "abc\u2069\u202edef"  # closes the isolate, then opens an override
    assert isolated_attribute(hostile) == "\u2068abc\u202edef\u202c\u2069"
    assert isolated(hostile) == "<bdi>abc\u202edef\u202c</bdi>"
    kept = "x\u2067a\u202eb\u2069c"  # balanced: shown as the user wrote it
    assert isolated_attribute(kept) == f"\u2068{kept}\u2069"
    # each line of a tooltip is isolated on its own (a line break ends them all)
    two_lines = isolated_attribute("a\u2067b\nc")
    assert two_lines == "\u2068a\u2067b\u2069\u2069\n\u2068c\u2069"
