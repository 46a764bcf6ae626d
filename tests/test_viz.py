"""The figures the chapters share draw what they say they draw."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import hitslite as hl  # noqa: E402
from hitslite import viz  # noqa: E402


def test_plot_spacetime_puts_time_across_and_space_up():
    t = torch.linspace(0.0, 5.0, 11, dtype=torch.float64)
    x = torch.arange(3 * 11 * 4, dtype=torch.float64).reshape(3, 11, 4)
    fig, ax = plt.subplots()
    viz.plot_spacetime(ax, hl.Trajectory(t=t, x=x, dt=0.5), 22.0, "demo", index=1)
    image = ax.get_images()[0]
    assert tuple(image.get_extent()) == (0.0, 5.0, 0.0, 22.0)
    assert torch.equal(torch.as_tensor(image.get_array().data), x[1].T)
    plt.close(fig)


def test_plot_spacetime_rows_shares_the_colour_scale_and_shows_the_error():
    truth = torch.randn(20, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    fig = viz.plot_spacetime_rows([(truth, truth + 0.1)] * 2, [("a", "b", "c")] * 2, [0, 1, 0, 1], nrows=2)
    images = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert len(images) == 6
    lim = float(truth.abs().max())
    assert images[0].get_clim() == images[1].get_clim() == (-lim, lim)
    error = torch.as_tensor(images[2].get_array().data)
    assert torch.allclose(error, torch.full((6, 20), 0.1, dtype=torch.float64))
    plt.close(fig)


def test_plot_cost_curves_draws_one_line_per_family_and_skips_failed_runs():
    rows = [{"family": "RK4", "seconds": 0.4, "mse": 1e-9}, {"family": "RK4", "seconds": 0.1, "mse": 1e-5},
            {"family": "neural hierarchy", "seconds": 0.01, "mse": 1e-4},
            {"family": "DOP853", "seconds": float("nan"), "mse": float("inf")},
            {"family": "DOP853", "seconds": 0.2, "mse": None}]
    ax = viz.plot_cost_curves(rows)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"RK4", "neural hierarchy"}
    assert list(lines["RK4"].get_xdata()) == [0.1, 0.4]  # joined in order of time
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="rows"):
        viz.plot_cost_curves([])
