"""One tiny world shared by the world tests (built once per session, in-process)."""

import pytest

from dso.world import build_world


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    return build_world(root, n_train=10, n_eval=3, n_synthetic=2, n_val=2, wild_per_family=2,
                       seed=7, workers=1, progress=False)
