import numpy as np
import torch

from hitslite import checks


def rotation(x, dt):
    c, s = np.cos(dt), np.sin(dt)
    return torch.stack([c * x[:, 0] + s * x[:, 1], -s * x[:, 0] + c * x[:, 1]], dim=-1)


def test_flow_map_check(capsys):
    assert checks.check_flow_map(rotation)
    assert not checks.check_flow_map(lambda x, dt: rotation(x, -dt))  # counter-clockwise: wrong
    assert not checks.check_flow_map(lambda x, dt: x[:, :1])
    assert "NOT YET" in capsys.readouterr().out


def test_rk4_order_check():
    assert checks.check_rk4_order(4.02)
    assert not checks.check_rk4_order(2.0)
    assert not checks.check_rk4_order("four")


def test_sequential_calls_check():
    dts = [0.008 * 2**k for k in range(8)]
    assert checks.check_sequential_calls(16 + 7, dts, 2048)
    assert not checks.check_sequential_calls(2048, dts, 2048)


def test_best_single_step_check():
    errors = {0.008: 3e-3, 0.064: 1e-4, 1.024: 2e-2}
    assert checks.check_best_single_step(0.064, errors)
    assert not checks.check_best_single_step(0.008, errors)


def test_analogue_error_check():
    t = torch.arange(400) * 0.1
    x = torch.stack([torch.cos(t + p) for p in (0.0, 1.0, 2.0)])[..., None]  # [3, 400, 1]
    from hitslite.metrics import analogue_error

    want = analogue_error(x, x, 16, n_queries=50, generator=torch.Generator().manual_seed(3)) / float(x.var())
    assert checks.check_analogue_error(want, x, 16, n_queries=50, seed=3)
    assert not checks.check_analogue_error(want * 1.1 + 1e-3, x, 16, n_queries=50, seed=3)
    assert not checks.check_analogue_error("small", x, 16, n_queries=50, seed=3)
