import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minigrad as mg
from strict_backend import register


settings.register_profile(
    "default", max_examples=int(os.environ.get("MINIGRAD_HYPOTHESIS_EXAMPLES", "12")),
    deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture])
settings.load_profile("default")

DEVICES = ["cpu", "strict", pytest.param("cuda", marks=pytest.mark.gpu)]


def pytest_configure(config):
    # Registered here rather than at import, so that an error inside minigrad (a mutant,
    # in mutation testing) fails the tests instead of the loading of this file.
    try:
        register()
    except Exception as exc:                 # reported by the _strict_backend fixture
        config._strict_backend_error = exc


@pytest.fixture(autouse=True, scope="session")
def _strict_backend(pytestconfig):
    exc = getattr(pytestconfig, "_strict_backend_error", None)
    if exc is not None:
        raise exc


def pytest_collection_modifyitems(config, items):
    try:
        has_gpu = mg.cuda.is_available()
        reason = "" if has_gpu else mg.cuda.unavailable_reason()
    except Exception as exc:                 # see pytest_configure
        has_gpu, reason = False, repr(exc)
    skip_gpu = pytest.mark.skip(reason=f"no CUDA GPU: {reason}")
    if not has_gpu:
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


@pytest.fixture
def generic_cpu_kernels():
    """The CPU's hot paths in NumPy's generic versions for one test (the compiled kernels,
    when Numba is installed, are turned back on after it)."""
    from minigrad import kernels
    before = kernels.switches.compiled_kernels_wanted()
    kernels.set_compiled_kernels(False)
    yield
    kernels.set_compiled_kernels(before)
