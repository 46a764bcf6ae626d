import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch, request):
    """Tests write generated data to a temporary cache unless they ask for the real one."""
    if "real_cache" not in request.keywords:
        monkeypatch.setenv("HITSLITE_CACHE_DIR", str(tmp_path / "cache"))
    yield


def pytest_configure(config):
    config.addinivalue_line("markers", "real_cache: use the repository's data/cache")


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def one_thread():
    """One torch thread for the test (small tensors; several threads spin on a shared CPU)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
