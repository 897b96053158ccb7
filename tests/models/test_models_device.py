"""`--device` names: a device this machine cannot use is a ValueError that says why."""

import pytest
import torch

from dso.models import get_generator
from dso.models.device import resolve_device


def test_cpu_resolves():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")).type == "cpu"


@pytest.mark.parametrize("name", ["bogus", "cuda:x", ""])
def test_a_name_that_is_no_device_is_refused(name):
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(ValueError, match="CPU-only build|no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="cuda"):
        get_generator("dso-tiny", device="cuda:1")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_an_index_past_the_gpus_is_refused():
    with pytest.raises(ValueError, match="visible"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
