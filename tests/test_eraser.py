"""ERASER Movies loader and the rationale-to-WordPiece mapping (helpers.data.eraser)."""

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import torch
from tiny import tiny_tokenizer

from helpers.data import DataError, encode_texts, eraser

DOCS = {
    "negR_000.txt": ["the movie was boring and bad .", "awful acting !"],
    "posR_000.txt": ["great movies , really good plot", "the acting was fine"],
}
ROWS = [
    {
        "annotation_id": "negR_000.txt",
        "classification": "NEG",
        "evidences": [
            [{"docid": "negR_000.txt", "start_token": 3, "end_token": 6,
              "text": "boring and bad"}],
            [{"docid": "negR_000.txt", "start_token": 7, "end_token": 9,
              "text": "awful acting"}],
        ],
    },
    {
        "annotation_id": "posR_000.txt",
        "classification": "POS",
        "evidences": [
            [{"docid": "posR_000.txt", "start_token": 0, "end_token": 2,
              "text": "great movies"}],
            [{"docid": "posR_000.txt", "start_token": 4, "end_token": 6,
              "text": "good plot"}],
        ],
    },
]  # fmt: skip


def make_eraser(root: Path, docs=DOCS, rows=ROWS, split="val") -> Path:
    """An ERASER-layout folder: ``docs/<docid>`` and ``<split>.jsonl``."""
    (root / "docs").mkdir(parents=True, exist_ok=True)
    for docid, lines in docs.items():
        (root / "docs" / docid).write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = "\n".join(json.dumps(r) for r in rows) + "\n"
    (root / f"{split}.jsonl").write_text(text, encoding="utf-8")
    return root


def review(text: str, spans, label=1, name="r") -> eraser.RationaleReview:
    """A review from a string, with spans given as (start, end) word offsets."""
    tokens = text.split(" ")
    return eraser.RationaleReview(
        name,
        name,
        label,
        tokens,
        [eraser.RationaleSpan(s, e, " ".join(tokens[s:e])) for s, e in spans],
    )


@pytest.fixture(scope="module")
def tokenizer():
    tok = tiny_tokenizer()
    assert tok.is_fast  # offsets need a fast tokenizer
    return tok


def marked_pieces(batch, tokenizer, row=0) -> list[str]:
    ids = batch.inputs["input_ids"][row][batch.rationale[row]]
    return tokenizer.convert_ids_to_tokens(ids.tolist())


# ----------------------------------------------------------------- loading
def test_load_reads_labels_words_and_spans(tmp_path):
    reviews = eraser.load_eraser("val", make_eraser(tmp_path))
    neg, pos = reviews
    assert (neg.label, pos.label) == (0, 1)
    assert neg.tokens[:3] == ["the", "movie", "was"] and len(neg.tokens) == 10
    assert neg.tokens[7:9] == ["awful", "acting"]  # offsets run over both lines
    assert [(s.start_token, s.end_token) for s in neg.spans] == [(3, 6), (7, 9)]
    assert neg.word_mask().tolist() == [0, 0, 0, 1, 1, 1, 0, 1, 1, 0]
    assert neg.rationale_words == 5 and neg.has_rationale
    assert pos.text == "great movies , really good plot the acting was fine"


def test_span_that_disagrees_with_the_doc_is_an_error(tmp_path):
    rows = json.loads(json.dumps(ROWS))
    rows[1]["evidences"][1][0]["text"] = "bad plot"
    with pytest.raises(DataError, match=r"line 2.*'good plot'.*'bad plot'"):
        eraser.load_eraser("val", make_eraser(tmp_path, rows=rows))


def test_span_outside_the_doc_is_an_error(tmp_path):
    rows = json.loads(json.dumps(ROWS))
    rows[0]["evidences"][0][0].update(start_token=8, end_token=12)
    with pytest.raises(DataError, match=r"line 1.*\[8, 12\).*10 tokens"):
        eraser.load_eraser("val", make_eraser(tmp_path, rows=rows))


def test_an_empty_span_marks_nothing(tmp_path):
    """The official Movies archive has evidences with start == end and text ''."""
    rows = json.loads(json.dumps(ROWS))
    rows[0]["evidences"].append(
        [{"docid": "negR_000.txt", "start_token": 4, "end_token": 4, "text": ""}]
    )
    neg, _ = eraser.load_eraser("val", make_eraser(tmp_path, rows=rows))
    assert [(s.start_token, s.end_token) for s in neg.spans] == [(3, 6), (7, 9)]
    assert neg.word_mask().tolist() == [0, 0, 0, 1, 1, 1, 0, 1, 1, 0]


@pytest.mark.parametrize("docid", ["../secret.txt", "/etc/passwd", "sub/doc.txt", ".."])
def test_a_docid_outside_docs_is_refused(tmp_path, docid):
    (tmp_path / "secret.txt").write_text("the movie was boring and bad .")
    rows = json.loads(json.dumps(ROWS[:1]))
    rows[0]["annotation_id"] = docid
    rows[0]["docids"] = [docid]
    for group in rows[0]["evidences"]:
        group[0]["docid"] = docid
    with pytest.raises(DataError, match="not a plain file name"):
        eraser.load_eraser("val", make_eraser(tmp_path / "eraser", rows=rows))


def test_corrupt_jsonl_line_is_named(tmp_path):
    folder = make_eraser(tmp_path)
    lines = (folder / "val.jsonl").read_text().splitlines()
    (folder / "val.jsonl").write_text(lines[0] + "\n" + lines[1][:40] + "\n")
    with pytest.raises(DataError, match=r"val.jsonl, line 2: not valid JSON"):
        eraser.load_eraser("val", folder)


def test_unknown_class_and_missing_doc_are_named(tmp_path):
    rows = json.loads(json.dumps(ROWS))
    rows[0]["classification"] = "MAYBE"
    with pytest.raises(DataError, match=r"line 1: classification 'MAYBE'"):
        eraser.load_eraser("val", make_eraser(tmp_path / "a", rows=rows))
    folder = make_eraser(tmp_path / "b")
    (folder / "docs" / "posR_000.txt").unlink()
    with pytest.raises(DataError, match=r"posR_000.txt is missing"):
        eraser.load_eraser("val", folder)


def test_missing_folder_layout_and_split_are_named(tmp_path):
    with pytest.raises(DataError, match=r"not a folder.*ERASER_DIR"):
        eraser.load_eraser("val", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"does not have the ERASER Movies layout"):
        eraser.load_eraser("val", tmp_path / "empty")
    folder = make_eraser(tmp_path / "c")
    with pytest.raises(DataError, match=r"test.jsonl is missing"):
        eraser.load_eraser("test", folder)
    with pytest.raises(ValueError, match="split must be one of"):
        eraser.load_eraser("dev", folder)


def test_review_without_rationale_is_flagged_and_duplicates_marked(tmp_path):
    docs = {**DOCS, "posR_161.txt": ["good film"], "negR_302.txt": DOCS["negR_000.txt"]}
    rows = [
        *ROWS,
        {"annotation_id": "posR_161.txt", "classification": "POS", "evidences": []},
        {**ROWS[0], "annotation_id": "negR_302.txt",
         "evidences": [[{**ROWS[0]["evidences"][0][0], "docid": "negR_302.txt"}]]},
    ]  # fmt: skip
    folder = make_eraser(tmp_path, docs=docs, rows=rows, split="train")
    reviews = eraser.load_eraser("train", folder)
    flags = {r.annotation_id: (r.has_rationale, r.duplicate_of) for r in reviews}
    assert flags["posR_161.txt"] == (False, None)
    assert flags["negR_302.txt"] == (True, "negR_000.txt")
    assert flags["negR_000.txt"] == (True, None)
    kept = eraser.load_eraser("train", folder, skip_without_rationale=True)
    assert [r.annotation_id for r in kept] == [
        "negR_000.txt",
        "posR_000.txt",
        "negR_302.txt",
    ]


def test_docs_jsonl_layout_is_read(tmp_path):
    (tmp_path / "docs.jsonl").write_text(
        "\n".join(
            json.dumps({"docid": d, "document": "\n".join(lines)})
            for d, lines in DOCS.items()
        )
    )
    (tmp_path / "val.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS))
    reviews = eraser.load_eraser("val", tmp_path)
    assert [r.rationale_words for r in reviews] == [5, 4]


# ----------------------------------------------------------------- finding
def test_env_var_accepts_the_folder_or_its_parent(tmp_path, monkeypatch):
    folder = make_eraser(tmp_path / "movies")
    monkeypatch.setenv("ERASER_DIR", str(tmp_path))
    assert eraser.find_eraser(download_if_missing=False) == folder
    monkeypatch.setenv("ERASER_DIR", str(folder))
    assert len(eraser.load_eraser("val")) == 2
    monkeypatch.setenv("ERASER_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="ERASER_DIR"):
        eraser.find_eraser()


def test_not_found_without_download_names_the_fix(monkeypatch):
    monkeypatch.delenv("ERASER_DIR", raising=False)
    with pytest.raises(DataError, match=r"set \$ERASER_DIR"):
        eraser.find_eraser(download_if_missing=False)


def make_archive(path: Path, folder: Path, arcname="movies") -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=arcname)
    path.write_bytes(buffer.getvalue())
    return path


def test_find_eraser_downloads_checks_and_caches(tmp_path, monkeypatch):
    archive = make_archive(tmp_path / "movies.tar.gz", make_eraser(tmp_path / "src"))
    monkeypatch.delenv("ERASER_DIR", raising=False)
    monkeypatch.setattr(eraser, "ERASER_URL", archive.as_uri())
    monkeypatch.setattr(eraser, "ERASER_SHA256", "0" * 64)
    with pytest.raises(DataError, match=r"Checksum mismatch.*ERASER_DIR"):
        eraser.find_eraser()
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(eraser, "ERASER_SHA256", sha)
    folder = eraser.find_eraser()
    assert folder.name == "movies" and (folder / "docs" / "negR_000.txt").exists()
    archive.unlink()  # a second call must use the cache, not download
    assert eraser.find_eraser() == folder
    assert [r.label for r in eraser.load_eraser("val")] == [0, 1]


def test_nested_docs_archive_is_extracted(tmp_path):
    make_eraser(tmp_path / "src")
    folder = tmp_path / "movies"
    folder.mkdir()
    (folder / "val.jsonl").write_bytes((tmp_path / "src" / "val.jsonl").read_bytes())
    make_archive(folder / "docs.tar.gz", tmp_path / "src" / "docs", arcname="docs")
    assert len(eraser.load_eraser("val", tmp_path)) == 2
    assert (folder / "docs" / "posR_000.txt").is_file()


# ----------------------------------------------------------------- word pieces
def test_rationale_lands_on_continuation_pieces(tmp_path, tokenizer):
    reviews = eraser.load_eraser("val", make_eraser(tmp_path))
    batch = eraser.encode_rationales([reviews[1]], tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(batch.inputs["input_ids"][0].tolist())
    assert pieces[:4] == ["[CLS]", "great", "movie", "##s"]
    assert marked_pieces(batch, tokenizer) == ["great", "movie", "##s", "good", "plot"]
    assert batch.rationale.shape == batch.inputs["input_ids"].shape == (1, 13)
    assert batch.word_index[0, :4].tolist() == [-1, 0, 1, 1]
    assert batch.coverage[0] == 1.0 and not batch.truncated[0]


def test_punctuation_accents_and_unknown_words(tokenizer):
    # "plot!" is one ERASER word but two pieces; "góod" loses its accent;
    # "zzz" is [UNK]; "badly" is bad + ##ly; "filmed" is film + ##ed.
    doc = review("the plot! was góod zzz , badly filmed it", [(1, 2), (3, 5), (6, 8)])
    batch = eraser.encode_rationales([doc], tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(batch.inputs["input_ids"][0].tolist())
    assert pieces[1:4] == ["the", "plot", "!"]
    assert marked_pieces(batch, tokenizer) == [
        "plot", "!", "good", "[UNK]", "bad", "##ly", "film", "##ed",
    ]  # fmt: skip
    assert batch.rationale_words[0] == 5 and batch.n_words[0] == 9


def test_special_tokens_and_padding_are_never_marked(tokenizer):
    short = review("great film", [(0, 2)])
    long = review("the story was good and the acting great", [(0, 8)])
    batch = eraser.encode_rationales([short, long], tokenizer)
    ids, mask = batch.inputs["input_ids"], batch.inputs["attention_mask"]
    special = torch.isin(ids, torch.tensor([0, 2, 3]))  # [PAD] [CLS] [SEP]
    assert not (batch.rationale & special).any()
    assert batch.rationale.sum(1).tolist() == [2, 8]
    assert (mask[0] == 0).sum() == 6 and (batch.word_index[0][mask[0] == 0] == -1).all()
    expected = encode_texts(tokenizer, batch.texts, max_length=512, warn=False)
    for key in ("input_ids", "attention_mask"):
        assert torch.equal(batch.inputs[key], expected[key])


def test_truncation_reports_rationale_coverage(tokenizer):
    # 12 words; with max_length 8 only the first 6 pieces are explained.
    doc = review(
        "great movies and the plot was fine but boring acting really bad",
        [(0, 2), (8, 12)],
    )
    batch = eraser.encode_rationales([doc], tokenizer, max_length=8)
    assert batch.inputs["input_ids"].shape == (1, 8)
    assert marked_pieces(batch, tokenizer) == ["great", "movie", "##s"]
    assert batch.rationale_words[0] == 6 and batch.rationale_words_kept[0] == 2
    assert batch.coverage[0] == pytest.approx(2 / 6)
    assert batch.n_pieces[0] == 13 and batch.truncated[0]
    cut_mid_word = eraser.encode_rationales([doc], tokenizer, max_length=4)
    # [CLS] great movie [SEP]: "movies" has a piece inside, so it counts as kept
    assert cut_mid_word.rationale_words_kept[0] == 2


def test_review_without_rationale_has_nan_coverage(tokenizer):
    batch = eraser.encode_rationales([review("good film", [])], tokenizer)
    assert not batch.rationale.any() and torch.isnan(torch.tensor(batch.coverage[0]))


def test_slow_tokenizer_and_bad_docs_are_refused(tokenizer):
    class Slow:
        is_fast = False

    with pytest.raises(TypeError, match="fast"):
        eraser.encode_rationales([review("good film", [(0, 1)])], Slow())
    with pytest.raises(TypeError, match="RationaleReview"):
        eraser.encode_rationales(["good film"], tokenizer)
    with pytest.raises(ValueError, match="No reviews"):
        eraser.encode_rationales([], tokenizer)


def test_citation_names_the_three_sources():
    for name in ("DeYoung", "Zaidan", "Pang", "2020", "2007", "2004"):
        assert name in eraser.CITATION


def test_sample_eraser_is_seeded_and_optional(tmp_path, monkeypatch):
    folder = make_eraser(tmp_path / "movies")
    monkeypatch.setenv("ERASER_DIR", str(folder))
    all_ids = {r.annotation_id for r in eraser.load_eraser("val")}
    a = eraser.sample_eraser("val", 1, seed=1)
    assert [r.annotation_id for r in a] == [
        r.annotation_id for r in eraser.sample_eraser("val", 1, seed=1)
    ]
    assert len(a) == 1 and {r.annotation_id for r in a} <= all_ids
    orders = {
        tuple(r.annotation_id for r in eraser.sample_eraser("val", None, seed=s))
        for s in range(8)
    }
    assert len(orders) > 1  # the seed matters: not always the file order
    monkeypatch.setenv("ERASER_DIR", str(tmp_path / "missing"))
    assert eraser.sample_eraser("val", 2, required=False) is None
    with pytest.raises(eraser.DataError):
        eraser.sample_eraser("val", 2)


def test_an_extracted_eraser_is_read_from_a_read_only_folder(monkeypatch, read_only):
    monkeypatch.delenv(eraser.ERASER_ENV, raising=False)
    folder = eraser.data_dir()
    make_eraser(folder / "movies")
    before = sorted(folder.rglob("*"))
    read_only(folder)
    reviews = eraser.load_eraser("val")
    assert [r.annotation_id for r in reviews] == ["negR_000.txt", "posR_000.txt"]
    assert sorted(folder.rglob("*")) == before
