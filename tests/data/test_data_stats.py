"""dataset_stats on a hand-built store: numbers counted by hand from data_hand_store.OUTCOMES."""

import pytest

from dso.data import dataset_stats, format_stats
from tests.data.data_hand_store import build


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    with build(tmp_path_factory.mktemp("hand") / "ds") as store:
        return dataset_stats(store)


def test_overall(stats):
    o = stats["overall"]
    assert (o["prompts"], o["samples"], o["ok"], o["empty"], o["failed"]) == (8, 32, 31, 1, 0)
    assert (o["labelled"], o["stable"], o["unstable"], o["label_errors"]) == (28, 16, 12, 2)
    assert o["stable_fraction"] == pytest.approx(16 / 28)
    assert o["mixed_prompts"] == 4
    assert stats["mixed_prompt_ids"] == ["o0/v0", "o1/v0", "o3/v0", "o3/v1"]
    assert o["multi_piece"] == 4 and o["multi_piece_fraction"] == pytest.approx(4 / 28)


def test_per_family(stats):
    lamp, chair = stats["families"]["lamp"], stats["families"]["chair"]
    assert (lamp["prompts"], lamp["samples"], lamp["stable"], lamp["unstable"]) == (5, 20, 8, 10)
    assert (lamp["empty"], lamp["label_errors"], lamp["mixed_prompts"]) == (1, 1, 2)
    assert lamp["stable_fraction"] == pytest.approx(8 / 18)
    assert lamp["multi_piece_fraction"] == pytest.approx(4 / 18)
    assert stats["families"]["chair"]["multi_piece_fraction"] == 0.0
    got = (chair["prompts"], chair["stable"], chair["unstable"], chair["labelled"])
    assert got == (3, 8, 2, 10)
    assert chair["stable_fraction"] == pytest.approx(0.8)


def test_per_prompt(stats):
    rows = {p["prompt_id"]: p for p in stats["prompts"]}
    assert (rows["o2/v0"]["stable"], rows["o2/v0"]["labelled"], rows["o2/v0"]["ok"]) == (2, 2, 4)
    assert rows["o1/v1"]["stable_fraction"] == 0.0 and not rows["o1/v1"]["mixed"]
    assert rows["o0/v0"]["mixed"]


def test_table(stats):
    text = format_stats(stats, max_prompts=3)
    lines = text.splitlines()
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[1:3] == ["8", "32"] and "57.1%" in total
    assert "multi-piece%" in lines[2] and total.split()[-2] == "14.3%"
    assert "... 5 more prompts" in text
