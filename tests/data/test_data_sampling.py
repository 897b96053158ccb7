"""BatchSource: balance per objective, pairing, determinism, ranks, other views."""

import pytest
import torch

from dso.data import BatchSource
from dso.objectives import split_pairs
from tests.data.data_hand_store import OUTCOMES, build, prompt_of


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = build(tmp_path_factory.mktemp("hand") / "ds")
    yield s
    s.close()


def _is_stable(sid: int) -> bool:
    return OUTCOMES[prompt_of(sid)][sid % 4] is True


def test_dro_is_half_stable_half_unstable(store):
    src = BatchSource(store, "dro", batch_size=6, seed=0)
    for step in range(5):
        b = src.batch(step)
        assert b.x0.shape == (6, 2, 2, 2, 2) and b.cond.shape == (6, 3, 2)
        assert b.stable.tolist() == [True] * 3 + [False] * 3
        ids = b.x0[:, 0, 0, 0, 0].long().tolist()  # latent of sample s is filled with s
        assert [_is_stable(s) for s in ids] == b.stable.tolist()
        prompts = b.cond[:, 0, 0].long().tolist()  # condition of prompt k is filled with k
        assert [list(OUTCOMES)[k] for k in prompts] == [prompt_of(s) for s in ids]


def test_paired_dro_and_dpo_pair_within_a_prompt(store):
    paired = BatchSource(store, "dro", batch_size=4, seed=1, paired_dro=True)
    dpo = BatchSource(store, "dpo", batch_size=3, seed=1)
    for step in range(4):
        rows = paired.select(step).rows
        assert [r.stable for r in rows] == [True, True, False, False]
        assert [r.prompt_id for r in rows[:2]] == [r.prompt_id for r in rows[2:]]
        b = dpo.batch(step)  # 3 pairs: 6 rows, row i pairs with row i + 3
        assert b.paired and b.x0.shape[0] == 6 and b.stable.tolist() == [True] * 3 + [False] * 3
        w, lo = split_pairs(b.x0[:, 0, 0, 0, 0].long().tolist())
        assert all(_is_stable(s) for s in w) and not any(_is_stable(s) for s in lo)
        assert [prompt_of(s) for s in w] == [prompt_of(s) for s in lo]
        cond_w, cond_l = split_pairs(b.cond)
        assert cond_w.shape == (3, 3, 2) and torch.equal(cond_w, cond_l)
    mixed = {r.prompt_id for step in range(20) for r in split_pairs(dpo.select(step).rows)[0]}
    assert mixed == {"o0/v0", "o1/v0", "o3/v0", "o3/v1"}  # prompts with both outcomes


def test_sft_takes_stable_only_and_covers_them_each_epoch(store):
    src = BatchSource(store, "sft", batch_size=4, seed=3)
    stable_ids = {r.sample_id for r in store.labelled() if r.stable}
    assert len(stable_ids) == 16
    seen = [r.sample_id for step in range(4) for r in src.select(step).rows]
    assert sorted(seen) == sorted(stable_ids)  # one epoch = every stable row once
    assert src.batch(0).stable.all()


def test_determinism_and_ranks(store):
    a = BatchSource(store, "dro", batch_size=4, seed=7, rank=0, world_size=2)
    again = BatchSource(store, "dro", batch_size=4, seed=7, rank=0, world_size=2)
    other = BatchSource(store, "dro", batch_size=4, seed=7, rank=1, world_size=2)
    reseeded = BatchSource(store, "dro", batch_size=4, seed=8, rank=0, world_size=2)
    for step in (0, 3, 11):
        assert torch.equal(a.batch(step).x0, again.batch(step).x0)
        mine = {r.sample_id for r in a.select(step).rows}
        theirs = {r.sample_id for r in other.select(step).rows}
        assert not mine & theirs  # ranks draw different rows at the same step
    assert any(a.select(s).rows != reseeded.select(s).rows for s in range(3))
    assert a.select(0).rows != a.select(1).rows


def test_other_view_conditions_on_another_view_of_the_object(store):
    src = BatchSource(store, "dro", batch_size=6, seed=0, other_view=True)
    same = BatchSource(store, "dro", batch_size=6, seed=0)
    for step in range(10):
        sel = src.select(step)
        assert sel.rows == same.select(step).rows
        for row, cond in zip(sel.rows, sel.cond_prompts, strict=True):
            if row.object_id == "o2":  # one view only: keeps its own
                assert cond == row.prompt_id
            else:
                assert cond != row.prompt_id and cond.split("/")[0] == row.object_id
    dpo = BatchSource(store, "dpo", batch_size=2, seed=0, other_view=True)
    sel = dpo.select(0)
    assert sel.paired and len(sel.rows) == len(sel.cond_prompts) == 4
    assert all(c != r.prompt_id and c.startswith(r.object_id + "/")
               for r, c in zip(sel.rows, sel.cond_prompts, strict=True))


def test_clear_errors(store):
    with pytest.raises(ValueError, match="objective"):
        BatchSource(store, "ppo", batch_size=4, seed=0)
    with pytest.raises(ValueError, match="even"):
        BatchSource(store, "dro", batch_size=3, seed=0, paired_dro=True)
    with pytest.raises(ValueError, match="rank"):
        BatchSource(store, "sft", batch_size=3, seed=0, rank=2, world_size=2)
    with pytest.raises(ValueError, match=r"0 labelled rows.*is the dataset labelled .`dso label"):
        BatchSource(store, "dro", batch_size=4, seed=0, split="eval")


def test_max_prompts_keeps_the_first_prompts_only(tmp_path):
    with build(tmp_path / "ds") as store:
        first = [p["prompt_id"] for p in store.prompts()[:3]]
        src = BatchSource(store, "sft", 2, seed=0, max_prompts=3)
        assert {r.prompt_id for r in src.stable} <= set(first)
        assert len(src.stable) < len(BatchSource(store, "sft", 2, seed=0).stable)


def test_max_prompts_with_other_view_conditions_on_the_kept_prompts_only(tmp_path):
    # the dataset one would have generated with N prompts holds no later prompt's image
    with build(tmp_path / "ds") as store:
        first = {p["prompt_id"] for p in store.prompts()[:2]}  # o0/v0 and o0/v1
        src = BatchSource(store, "sft", 2, seed=0, max_prompts=2, other_view=True)
        used = {c for step in range(50) for c in src.select(step).cond_prompts}
        assert used <= first and len(used) == 2


def test_paired_layouts_say_how_much_of_the_data_they_can_draw(tmp_path):
    with build(tmp_path / "ds") as store:
        pairs = BatchSource(store, "dpo", 2, seed=0)
        mixed = len(pairs._pairs)
        assert f"dpo pairs draw from {mixed} of 8 prompts" in pairs.usage()
        assert mixed < 8  # o0/v1 is all stable, o1/v1 all unstable: they give no pair
        assert BatchSource(store, "dro", 4, seed=0).usage() is None  # halves use every row
