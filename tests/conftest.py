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
