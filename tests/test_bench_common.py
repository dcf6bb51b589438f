"""bench/_common.py: the JSON hand-off between the two explanation benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_recommend import verdict_case

from helpers.book import recommend

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import _common


def test_the_verdict_read_back_from_json_is_the_verdict_measured(tmp_path):
    res, faith, plaus, costs = verdict_case()
    handoff = _common.faithfulness_handoff(res, faith, costs, seed=3)
    _common.write_json(tmp_path / _common.HANDOFF, handoff)
    aopc, faith_back, costs_back = _common.read_faithfulness_handoff(tmp_path)
    assert faith_back == faith and costs_back == costs and aopc.n == res.n
    want = recommend.verdict(res, faith, plaus, costs, seed=3)
    got = recommend.verdict(aopc, faith_back, plaus, costs_back, seed=3)
    assert got == want
    with pytest.raises(ValueError, match="no 'sufficiency' AOPC of 'X'"):
        aopc.aopc("sufficiency", "X")


def test_a_missing_handoff_names_the_command_that_writes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"bench_faithfulness\.py --out"):
        _common.read_faithfulness_handoff(tmp_path)


def test_write_json_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(TypeError, match="object cannot be written"):
        _common.write_json(tmp_path / "x.json", {"x": object()})
