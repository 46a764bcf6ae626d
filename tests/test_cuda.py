"""CPU/CUDA parity: the same computation on both devices agrees to float tolerance (skipped without a GPU)."""

import pytest
import torch

import hitslite as h

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def test_rk4_rollout_parity():
    system = h.get_system("lorenz")
    x0 = system.sample_initial(32, torch.Generator().manual_seed(0)) * 100
    cpu = h.rollout(h.RK4(system, 1e-3), x0, 200).x
    gpu = h.rollout(h.RK4(system, 1e-3), x0.cuda(), 200).x
    assert gpu.device.type == "cuda"
    assert torch.allclose(cpu, gpu.cpu(), rtol=1e-10, atol=1e-10)


def test_hierarchy_and_training_parity():
    torch.manual_seed(0)
    levels = [h.ResNetStepper(2, 0.01 * 2**k, hidden=[32, 32]).double() for k in range(4)]
    x0 = torch.randn(16, 2, dtype=torch.float64)
    with torch.no_grad():
        cpu = h.Hierarchy(levels).forecast(x0, 100).x
        gpu = h.Hierarchy(levels).cuda().forecast(x0.cuda(), 100).x
    assert torch.allclose(cpu, gpu.cpu(), rtol=1e-9, atol=1e-12)
    windows = torch.randn(64, 3, 2)
    net = h.ResNetStepper(2, 0.01, hidden=[16])
    result = h.fit(net, windows, max_epochs=2, device="cuda", progress=False)
    assert next(net.parameters()).device.type == "cuda" and result.epochs == 2


def test_default_device_is_cuda():
    assert h.default_device().type == "cuda"
