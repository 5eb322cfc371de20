import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minigrad as mg
from strict_backend import register

register()

settings.register_profile(
    "default", max_examples=int(os.environ.get("MINIGRAD_HYPOTHESIS_EXAMPLES", "12")),
    deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture])
settings.load_profile("default")

DEVICES = ["cpu", "strict", pytest.param("cuda", marks=pytest.mark.gpu)]


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason=f"no CUDA GPU: {mg.cuda.unavailable_reason()}")
    if not mg.cuda.is_available():
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)


@pytest.fixture(params=DEVICES)
def device(request):
    """Every test taking ``device`` runs on NumPy, the strict backend, and CUDA."""
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    mg.manual_seed(0)
    yield
    mg.set_default_dtype(np.float32)
