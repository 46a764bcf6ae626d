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


def test_led_multiscale_forecast_parity():
    """Warm-up, latent propagation and alternation with lattice Boltzmann give the same numbers on both
    devices."""
    from hitslite.data import fhn_initial_conditions
    from hitslite.led import LED
    from hitslite.nets import LEDAutoencoder
    from hitslite.neural import RecurrentStepper

    fhn = h.get_system("fhn")
    micro = h.Repeated(h.LatticeBoltzmann(fhn, 0.005), 20)
    warm = h.rollout(micro, fhn_initial_conditions(fhn)[:3], 5).x
    torch.manual_seed(0)
    ae = LEDAutoencoder((2, 101), 4).double().fit_scaling(warm)
    for output in ("bounded", "residual"):
        rnn = RecurrentStepper(4, 16, cell="gru", dt=micro.dt, output=output).double()
        rnn.fit_scaling(ae.encode(warm))
        led = LED(ae, rnn, ae)
        with torch.no_grad():
            cpu = led.multiscale_forecast(warm, 12, micro, macro_steps=3, micro_steps=2).x
            led.cuda()
            micro.cuda()
            gpu = led.multiscale_forecast(warm.cuda(), 12, micro, macro_steps=3, micro_steps=2).x
            led.cpu()
            micro.cpu()
        assert gpu.device.type == "cuda"
        assert torch.allclose(cpu, gpu.cpu(), rtol=1e-8, atol=1e-10)
