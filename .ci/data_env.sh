# Sourced by .ci/run and .ci/busy_build.sh (from the repository root): export the
# real IMDb, chABSA, ERASER Movies and ETC when they lie beside the checkout
# (../shared/data), extracting the archives into /tmp once, and the quick profile.
archive=../shared/data/aclImdb_labeled.tar.gz
if [ -f "$archive" ]; then
  mkdir -p /tmp/ci-imdb
  [ -d /tmp/ci-imdb/aclImdb/test/pos ] || tar -xzf "$archive" -C /tmp/ci-imdb
  export IMDB_DIR=/tmp/ci-imdb/aclImdb
fi
if [ -d ../shared/data/chabsa ]; then
  CHABSA_DIR="$(cd ../shared/data/chabsa && pwd)"
  export CHABSA_DIR
fi
eraser=../shared/data/eraser_movies_trainval.tar.gz
if [ -f "$eraser" ]; then
  mkdir -p /tmp/ci-eraser
  [ -f /tmp/ci-eraser/eraser_movies/val.jsonl ] || tar -xzf "$eraser" -C /tmp/ci-eraser
  export ERASER_DIR=/tmp/ci-eraser/eraser_movies
fi
etc=../shared/data/etc_ja_dialogues.tar.gz
if [ -f "$etc" ]; then  # chapter 4's everyday Japanese model (CC BY-NC 4.0 dialogues)
  mkdir -p /tmp/ci-etc
  [ -f /tmp/ci-etc/ETCDataset/etc/split.json ] || tar -xzf "$etc" -C /tmp/ci-etc
  export ETC_DIR=/tmp/ci-etc/ETCDataset
fi
export BERT_BOOK_PROFILE=quick
