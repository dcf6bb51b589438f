"""helpers.data.imdb: the IMDb reader, the synthetic sample, the splitter, TSV."""

import os
import warnings
from pathlib import Path

import pytest

from helpers import config, data
from helpers.config import get_profile


# ----------------------------------------------------------------- preprocessing
def test_seed_preprocessing():
    out = data.preprocess_text("Great!<br />It's (really) good, ok.")
    assert "<br" not in out and "!" not in out and "(" not in out and "'" not in out
    assert " , " in out and " . " in out


def test_strip_line_breaks_keeps_punctuation():
    assert data.strip_line_breaks("a<br />b<br/>c!") == "a b c!"


# ----------------------------------------------------------------- reading
def test_read_imdb_split_and_sampling(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path, per_label=6)
    full = data.read_imdb_split(root, "train")
    assert len(full) == 12 and sorted(set(full.labels)) == [0, 1]
    assert all("<br" not in t for t in full.texts)
    a = data.read_imdb_split(root, "train", per_label=3, seed=1)
    b = data.read_imdb_split(root, "train", per_label=3, seed=1)
    assert a.ids == b.ids and len(a) == 6 and sum(a.labels) == 3


def test_missing_split_folder_names_it(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path, splits=("train",))
    with pytest.raises(data.DataError, match=r"test.pos"):
        data.read_imdb_split(root, "test")


def test_non_utf8_file_is_named(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path)
    bad = root / "train" / "pos" / "99_9.txt"
    bad.write_bytes(b"caf\xe9 bad bytes")
    with pytest.raises(data.DataError, match=r"99_9\.txt.*UTF-8"):
        data.read_imdb_split(root, "train")


def test_empty_reviews_are_skipped_and_counted(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path)
    (root / "train" / "neg" / "50_1.txt").write_text("   \n")
    with pytest.warns(UserWarning, match="Skipped 1 empty"):
        rs = data.read_imdb_split(root, "train")
    assert rs.skipped == 1 and len(rs) == 12


def test_load_reviews_uses_imdb_dir(tmp_path, monkeypatch, make_imdb_folder):
    root = make_imdb_folder(tmp_path, per_label=4)
    monkeypatch.setenv("IMDB_DIR", str(root))
    rs = data.load_reviews("test", get_profile("quick"))
    assert rs.source.startswith("IMDb test") and len(rs) == 8


def test_load_reviews_falls_back_to_synthetic_when_offline(monkeypatch):
    monkeypatch.delenv("IMDB_DIR", raising=False)
    monkeypatch.setattr(data.imdb, "IMDB_URL", "http://127.0.0.1:9/unreachable.tar.gz")
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        rs = data.load_reviews("train", get_profile("quick"))
    assert "NOT IMDb" in rs.source and len(rs) == 120 and sum(rs.labels) == 60
    with pytest.raises(data.DataError):
        data.load_reviews("train", get_profile("quick"), allow_synthetic=False)


def test_synthetic_is_deterministic_and_splits_differ():
    a, b = data.synthetic_reviews("train", 5), data.synthetic_reviews("train", 5)
    assert a.texts == b.texts
    assert a.texts != data.synthetic_reviews("test", 5).texts


def test_train_val_split_is_seeded_and_stratified(tmp_path, make_imdb_folder):
    rs = data.read_imdb_split(make_imdb_folder(tmp_path, per_label=10), "train")
    tr, va = data.train_val_split(rs, 0.2, seed=3, split="review")
    tr2, va2 = data.train_val_split(rs, 0.2, seed=3, split="review")
    assert tr.ids == tr2.ids and va.ids == va2.ids and len(tr) == 16 and len(va) == 4
    assert sum(va.labels) == 2 and not set(tr.ids) & set(va.ids)
    with pytest.raises(ValueError):
        data.train_val_split(rs, 1.5)


def _add_urls(root: Path, per_label: int, reviews_per_movie: int = 3) -> Path:
    """Write train/urls_{pos,neg}.txt: review i of either label is of movie i // k.

    So every movie has ``k`` positive and ``k`` negative reviews (the official
    archive's layout: line i is the movie of review file ``<i>_<rating>.txt``).
    """
    for label in ("pos", "neg"):
        lines = [
            f"http://www.imdb.com/title/tt{1000000 + i // reviews_per_movie}/"
            "usercomments"
            for i in range(per_label)
        ]
        (root / "train" / f"urls_{label}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_movie_ids_come_from_the_urls_files(tmp_path, make_imdb_folder):
    root = _add_urls(make_imdb_folder(tmp_path, per_label=6, splits=("train",)), 6)
    rs = data.read_imdb_split(root, "train")
    by_id = dict(zip(rs.ids, rs.movies, strict=True))
    assert by_id["train/pos/4_8"] == "tt1000001"
    assert by_id["train/neg/0_2"] == "tt1000000" and rs.dataset == "IMDb"
    sample = data.read_imdb_split(root, "train", per_label=2, seed=3)
    assert [by_id[i] for i in sample.ids] == sample.movies


def test_bad_urls_files_are_named(tmp_path, make_imdb_folder):
    root = _add_urls(make_imdb_folder(tmp_path, per_label=6, splits=("train",)), 5)
    with pytest.raises(
        data.DataError, match=r"5_\d\.txt has no line in .*urls_(pos|neg)"
    ):
        data.read_imdb_split(root, "train")
    (root / "train" / "urls_pos.txt").write_text("http://x/title/tt1/\nnot a url\n")
    with pytest.raises(data.DataError, match=r"urls_pos\.txt, line 2: no IMDb movie"):
        data.read_imdb_split(root, "train")


def test_split_by_movie_keeps_each_movie_on_one_side(tmp_path, make_imdb_folder):
    root = _add_urls(make_imdb_folder(tmp_path, per_label=60, splits=("train",)), 60)
    rs = data.read_imdb_split(root, "train")
    tr, va = data.train_val_split(rs, 0.2, seed=5)
    assert tr.split_by == va.split_by == "movie" and "split by movie" in va.source
    assert not set(tr.movies) & set(va.movies)  # no movie on both sides
    assert sorted(tr.ids + va.ids) == sorted(rs.ids)
    for label in (0, 1):  # 60 reviews per label, 20 % = 12; movies hold 3 of each
        assert abs(va.labels.count(label) - 12) <= 3
    again = data.train_val_split(rs, 0.2, seed=5)
    assert again[0].ids == tr.ids and again[1].ids == va.ids
    assert data.train_val_split(rs, 0.2, seed=6)[1].ids != va.ids
    # the seed's review-level split, on request, puts movies on both sides
    tr_r, va_r = data.train_val_split(rs, 0.2, seed=5, split="review")
    assert va_r.split_by == "review" and set(tr_r.movies) & set(va_r.movies)
    assert va_r.labels.count(1) == va_r.labels.count(0) == 12


def test_split_by_movie_with_one_label_per_movie(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path, per_label=40, splits=("train",))
    for label, offset in (("pos", 0), ("neg", 500)):  # no movie has both labels
        lines = [f"http://www.imdb.com/title/tt{offset + i // 4}/" for i in range(40)]
        (root / "train" / f"urls_{label}.txt").write_text("\n".join(lines))
    tr, va = data.train_val_split(data.read_imdb_split(root, "train"), 0.25, seed=1)
    assert not set(tr.movies) & set(va.movies)
    assert va.labels.count(1) == va.labels.count(0) == 8  # 10 movies of 4: 2 each


def test_split_falls_back_to_reviews_without_urls_files(tmp_path, make_imdb_folder):
    rs = data.read_imdb_split(make_imdb_folder(tmp_path, per_label=10), "train")
    assert rs.movies == []
    with pytest.warns(data.GroupingWarning, match=r"urls_pos\.txt and urls_neg"):
        _, va = data.train_val_split(rs, 0.2, seed=3)
    assert va.split_by == "review" and "split by review" in va.source
    assert va.ids == data.train_val_split(rs, 0.2, seed=3, split="review")[1].ids
    with pytest.raises(data.DataError, match="split='review'"):
        data.train_val_split(rs, 0.2, seed=3, split="movie")
    with pytest.raises(ValueError, match="split must be one of"):
        data.train_val_split(rs, 0.2, split="film")
    with warnings.catch_warnings():  # not IMDb: no note, review-level split
        warnings.simplefilter("error")
        assert data.train_val_split(data.synthetic_reviews("train", 5))[1].split_by


def test_sample_reviews_is_seeded_without_repeats():
    reviews = data.synthetic_reviews("test", 20)
    first = data.sample_reviews(reviews, 7, seed=5)
    assert first.ids == data.sample_reviews(reviews, 7, seed=5).ids
    assert first.ids != data.sample_reviews(reviews, 7, seed=6).ids
    assert len(set(first.ids)) == 7 and set(first.ids) <= set(reviews.ids)
    index = {i: k for k, i in enumerate(reviews.ids)}
    assert first.texts == [reviews.texts[index[i]] for i in first.ids]
    assert first.labels == [reviews.labels[index[i]] for i in first.ids]
    every = data.sample_reviews(reviews, 100, seed=5)  # more than there are: all
    assert sorted(every.ids) == sorted(reviews.ids)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_sample_reviews_rejects_bad_sizes(n):
    with pytest.raises(ValueError, match="positive number"):
        data.sample_reviews(data.synthetic_reviews("test", 4), n, seed=0)


def test_book_warnings_print_the_message_without_the_source():
    text = warnings.formatwarning(
        "2 texts truncated", data.TruncationWarning, "/abs/helpers/data/encode.py", 60
    )
    assert text == "TruncationWarning: 2 texts truncated\n"
    other = warnings.formatwarning("plain", UserWarning, "/abs/x.py", 7)
    assert other.startswith("/abs/x.py:7: UserWarning: plain")
    assert issubclass(data.TruncationWarning, data.BookWarning)


def test_display_path_hides_the_machine_path(tmp_path, monkeypatch):
    monkeypatch.setenv("BERT_BOOK_DATA", str(tmp_path / "data"))
    inside = config.data_dir() / "checkpoints" / "model"
    assert config.display_path(inside) == "<data>/checkpoints/model"
    monkeypatch.chdir(tmp_path)
    assert config.display_path(tmp_path / "x" / "y.png") == "x/y.png"
    shown = config.display_path("/nowhere/deep/folder/file.txt")
    assert shown == ".../folder/file.txt"
    assert config.figures_dir() == config.data_dir() / "figures"
    assert config.figures_dir().is_dir()


def test_reviewset_rejects_label_count_mismatch():
    with pytest.raises(ValueError, match="one label per text"):
        data.ReviewSet(["a", "b"], [1], "x")


# ----------------------------------------------------------------- TSV
def test_tsv_round_trip_and_errors(tmp_path):
    rs = data.ReviewSet(["good\tfilm", "bad<br />film"], [1, 0], "t")
    path = data.export_tsv(rs, tmp_path / "IMDb_train.tsv")
    back = data.read_tsv(path)
    assert back.labels == [1, 0] and "\t" not in back.texts[0]
    (tmp_path / "bad.tsv").write_text("fine\t1\t\nno label here\n")
    with pytest.raises(data.DataError, match="line 2: no label"):
        data.read_tsv(tmp_path / "bad.tsv")
    (tmp_path / "bad2.tsv").write_text("fine\t1\t\nodd\t3\t\n")
    with pytest.raises(data.DataError, match="line 2: label '3'"):
        data.read_tsv(tmp_path / "bad2.tsv")
    (tmp_path / "bad3.tsv").write_text(" \t1\t\n")
    with pytest.raises(data.DataError, match="line 1: empty text"):
        data.read_tsv(tmp_path / "bad3.tsv")


# ------------------------------------------------- real IMDb, when CI provides it
@pytest.mark.skipif(
    not os.environ.get("IMDB_DIR"),
    reason="IMDB_DIR not set (CI extracts the real IMDb)",
)
def test_real_imdb_layout():
    root = data.find_imdb()
    test = data.read_imdb_split(root, "test", per_label=50)
    assert len(test) == 100 and sum(test.labels) == 50
    assert sum(1 for _ in (root / "train" / "pos").glob("*.txt")) == 12500


@pytest.mark.parametrize("per_label", [None, 2], ids=["all reviews", "a sample"])
@pytest.mark.parametrize("how", ["no files", "blank files"])
@pytest.mark.parametrize(
    "labels", [("pos",), ("neg",), ("pos", "neg")], ids=["pos", "neg", "both"]
)
def test_a_class_folder_without_reviews_is_named(
    tmp_path, make_imdb_folder, per_label, how, labels
):
    root = make_imdb_folder(tmp_path, per_label=3)
    for label in labels:
        for path in (root / "train" / label).iterdir():
            if how == "no files":
                path.unlink()
            else:
                path.write_text(" \n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the blank files are skipped with a warning
        with pytest.raises(data.DataError, match="no reviews") as err:
            data.read_imdb_split(root, "train", per_label=per_label)
    message = str(err.value)
    for label in ("pos", "neg"):
        assert (str(root / "train" / label) in message) == (label in labels)
    assert "<number>_<rating>.txt" in message and "$IMDB_DIR" in message


def test_load_reviews_refuses_a_split_without_positives(
    tmp_path, monkeypatch, make_imdb_folder
):
    root = make_imdb_folder(tmp_path)
    for path in (root / "test" / "pos").iterdir():
        path.unlink()
    monkeypatch.setenv("IMDB_DIR", str(root))
    # the quick profile's seeded sample per label, not the synthetic fallback
    with pytest.raises(data.DataError, match=r"test/pos holds no reviews"):
        data.load_reviews("test", get_profile("quick"))
    (root / "test" / "pos").rmdir()
    with pytest.raises(data.DataError, match=r"test/pos is missing"):
        data.load_reviews("test", get_profile("quick"))


def test_an_extracted_imdb_is_read_from_a_read_only_folder(
    monkeypatch, make_imdb_folder, read_only
):
    monkeypatch.delenv("IMDB_DIR", raising=False)
    folder = config.data_dir()
    make_imdb_folder(folder, per_label=3)
    before = sorted(folder.rglob("*"))
    read_only(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to the synthetic sample
        reviews = data.load_reviews("test", get_profile("quick"))
    assert reviews.dataset == "IMDb" and sorted(reviews.labels) == [0] * 3 + [1] * 3
    assert sorted(folder.rglob("*")) == before


# ----------------------------------------------------------------- duplicates
def test_count_duplicates_within_and_across_splits():
    train = data.ReviewSet(
        ["Good  film.", "Bad film.", "Good film.\n", "Dull.", "Dull."],
        [1, 0, 1, 0, 1],
        "hand-made train",
        ["tr0", "tr1", "tr2", "tr3", "tr4"],
    )
    test = data.ReviewSet(
        [" Good film.", "bad film.", "Bad film.", "New one.", "New  one."],
        [1, 0, 1, 1, 1],
        "hand-made test",
        ["te0", "te1", "te2", "te3", "te4"],
    )
    found = data.count_duplicates(train, test)
    # whitespace only is normalised: "bad film." (case) is another text
    assert found.extra == {"train": 2, "test": 1}
    assert found.conflicts == {"train": 1, "test": 0}
    assert found.shared == 2 and found.shared_agree == 1
    assert found.pairs == [("tr0", "te0"), ("tr1", "te2")]
    text = found.describe()
    assert text.startswith(
        "Train: 2 of its 5 reviews repeat an earlier one, and 1 repeated text "
        "carries two labels. Test: 1 of its 5 reviews repeats an earlier one, and "
        "no repeated text carries two labels."
    )
    assert "2 texts are in both train and test (1 of them with the same label" in text


def test_count_duplicates_without_any():
    a = data.ReviewSet(["one", "two"], [0, 1], "a")
    b = data.ReviewSet(["three"], [1], "b")
    found = data.count_duplicates(a, b, names=("A", "B"))
    assert found.extra == {"A": 0, "B": 0} and found.shared == 0 and not found.pairs
    assert "No text is in both A and B." in found.describe()
    with pytest.raises(ValueError, match="two different names"):
        data.count_duplicates(a, b, names=("A", "A"))


def test_read_review_by_id(tmp_path, make_imdb_folder):
    root = make_imdb_folder(tmp_path, per_label=2)
    reviews = data.read_imdb_split(root, "test")
    for review_id, text in zip(reviews.ids, reviews.texts, strict=True):
        assert data.read_review(review_id, root) == text
        assert data.same_text(data.read_review(review_id, root), " " + text)
    with pytest.raises(data.DataError, match="missing"):
        data.read_review("test/pos/99999_7", root)
    with pytest.raises(ValueError, match="review ids"):
        data.read_review("pos/1_7", root)
