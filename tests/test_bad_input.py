"""Issue 19: bad input gets a clear error naming the argument — never silent garbage.

Each case below was found by trying: before the fix it returned the input unchanged, wrong
numbers, NaN, or failed deep inside torch with a message that named nothing the caller passed.
"""

import math

import numpy as np
import pytest
import torch

import hitslite as h
from hitslite import validate
from hitslite.baselines import ClockworkRNN, EchoStateNetwork, LSTMGenerator
from hitslite.led import LED, measure_speedup
from hitslite.metrics import analogue_error, dominant_period
from hitslite.multiscale import compare_levels
from hitslite.nets import PCA, Autoencoder, ConvAutoencoder, LEDAutoencoder
from hitslite.neural import Latent, RecurrentStepper, ResNetStepper
from hitslite.pde import ETDRK4, LatticeBoltzmann, lyapunov_exponent

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def oscillator():
    return h.get_system("harmonic_oscillator")


# ----------------------------------------------------------------------------------------
# the validation helpers themselves
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, True, "3", None])
def test_positive_int_rejects_everything_but_integers_from_one(bad):
    with pytest.raises(ValueError, match="n_steps must be a positive int"):
        validate.positive_int("n_steps", bad)


def test_integer_helpers_accept_numpy_integers_and_return_python_ints():
    n = validate.positive_int("n", np.int64(3))
    assert n == 3 and type(n) is int
    assert validate.nonnegative_int("n", 0) == 0
    assert validate.int_at_least("nodes", 2, 2) == 2
    with pytest.raises(ValueError, match="nodes must be an int >= 2"):
        validate.int_at_least("nodes", 1, 2)
    with pytest.raises(ValueError, match="non-negative int"):
        validate.nonnegative_int("exclude", -1)


@pytest.mark.parametrize("bad", [0.0, -1e-3, math.nan, math.inf, True, "0.1", None])
def test_positive_float_rejects_zero_negative_nonfinite_and_non_numbers(bad):
    with pytest.raises(ValueError, match="dt must be a positive finite number"):
        validate.positive_float("dt", bad)


def test_float_helpers_accept_numpy_scalars_and_zero_dim_tensors():
    assert validate.positive_float("dt", np.float64(0.5)) == 0.5
    assert validate.finite_float("t0", torch.tensor(2.0, dtype=torch.float64)) == 2.0
    assert validate.nonnegative_float("noise", 0) == 0.0
    with pytest.raises(ValueError, match="t0 must be a finite number"):
        validate.finite_float("t0", math.inf)


def test_tensor_helpers_name_the_argument():
    with pytest.raises(TypeError, match="x0 must be a torch.Tensor"):
        validate.floating_tensor("x0", [1.0, 2.0])
    with pytest.raises(TypeError, match="x0 must have a floating-point dtype.*torch.int64"):
        validate.floating_tensor("x0", torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="x0 must have a floating-point dtype"):
        validate.floating_tensor("x0", torch.ones(2, 2, dtype=torch.complex64))
    z = torch.ones(2, dtype=torch.complex64)
    assert validate.floating_tensor("x0", z, allow_complex=True) is z
    with pytest.raises(ValueError, match=r"val\.x must be finite.*1 NaN, 1 Inf"):
        validate.finite_tensor("val.x", torch.tensor([1.0, math.nan, math.inf]))
    with pytest.raises(ValueError, match="val.x must hold at least one sample"):
        validate.nonempty_batch("val.x", torch.zeros(0, 3, 2))
    with pytest.raises(ValueError, match=r"x must have shape \[batch, 2, 5\].*got \(3, 5\)"):
        validate.state_shape("x", torch.zeros(3, 5), (2, 5))
    validate.state_shape("x", torch.zeros(4, 3, 2, 5), (2, 5), batched=False)


# ----------------------------------------------------------------------------------------
# integer states: every stepper says a floating dtype is expected
# ----------------------------------------------------------------------------------------
def test_integer_state_through_resnet_stepper_is_a_type_error_not_the_input_back():
    net = ResNetStepper(2, 0.1, hidden=(4,))
    with pytest.raises(TypeError, match="x must have a floating-point dtype.*int64"):
        net(torch.tensor([[1, 2]]))
    # a float state of the same values steps as before
    assert net(torch.tensor([[1.0, 2.0]])).dtype == torch.float32


def test_integer_state_through_etdrk4_is_a_type_error_not_wrong_values():
    ks = h.get_system("ks", n=16)
    with pytest.raises(TypeError, match="floating-point dtype"):
        ETDRK4(ks, 0.1)(torch.ones(2, 16, dtype=torch.long))


def test_integer_states_are_rejected_by_every_kind_of_stepper(oscillator):
    fhn = h.get_system("fhn", n=8)
    ad = h.get_system("advection_diffusion", N=4)
    ae = Autoencoder(2, 1, hidden=(4,))
    cases = [
        (h.RK4(oscillator, 0.1), torch.ones(3, 2, dtype=torch.long)),
        (h.Repeated(h.RK4(oscillator, 0.1), 2), torch.ones(3, 2, dtype=torch.long)),
        (LatticeBoltzmann(fhn), torch.ones(3, 2, 8, dtype=torch.long)),
        (h.EulerMaruyama(ad, seed=0), torch.zeros(3, 4, 1, dtype=torch.long)),
        (RecurrentStepper(2, 4), torch.ones(3, 2, dtype=torch.int32)),
        (Latent(ae, ResNetStepper(1, 0.1, hidden=(4,)), ae), torch.ones(3, 2, dtype=torch.long)),
        (LSTMGenerator(2, 4), torch.ones(3, 2, dtype=torch.long)),
        (EchoStateNetwork(2, 8), torch.ones(3, 2, dtype=torch.long)),
        (ClockworkRNN(2, 4, periods=(1, 2)), torch.ones(3, 2, dtype=torch.long)),
    ]
    for stepper, x in cases:
        with pytest.raises(TypeError, match="floating-point"):
            stepper.step(x, None)
        with pytest.raises(TypeError, match="floating-point"):
            stepper(x)


def test_drivers_name_x0_for_an_integer_initial_state(oscillator):
    x0 = torch.ones(2, 2, dtype=torch.long)
    with pytest.raises(TypeError, match="x0 must have a floating"):
        h.rollout(h.RK4(oscillator, 0.1), x0, 3)
    with pytest.raises(TypeError, match="x0 must have a floating"):
        h.Hierarchy([h.RK4(oscillator, 0.1)]).forecast(x0, 3)
    ae = Autoencoder(2, 1, hidden=(4,))
    with pytest.raises(TypeError, match="x0 must have a floating"):
        Latent(ae, ResNetStepper(1, 0.1, hidden=(4,)), ae).forecast(x0, 3)
    with pytest.raises(TypeError, match="x0 must have a floating"):
        lyapunov_exponent(h.RK4(oscillator, 0.1), x0, n_renorm=1, steps_per_renorm=1)


# ----------------------------------------------------------------------------------------
# wrong state shapes
# ----------------------------------------------------------------------------------------
def test_rk4_on_a_state_of_the_wrong_size_names_the_expected_shape(oscillator):
    with pytest.raises(ValueError, match=r"x must have shape \[\.\.\., 2\].*got \(4, 3\)"):
        h.RK4(oscillator, 0.1)(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"\[\.\.\., 2, 8\]"):
        h.RK4(h.get_system("fhn", n=8), 1e-3)(torch.zeros(4, 8))
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        h.rollout(h.RK4(oscillator, 0.1), torch.zeros(4, 3), 2)
    # a bare callable has no declared shape: RK4 trusts it
    assert h.RK4(lambda x: -x, 0.1)(torch.ones(4, 3)).shape == (4, 3)


# ----------------------------------------------------------------------------------------
# hierarchies and level selection
# ----------------------------------------------------------------------------------------
def test_hierarchy_with_non_multiple_step_sizes_says_so_and_names_the_pair():
    levels = [ResNetStepper(2, 0.012, hidden=(4,)), ResNetStepper(2, 0.01, hidden=(4,))]
    message = r"integer multiples of the finest one \(0\.01\): 0\.012 is not"
    with pytest.raises(ValueError, match=message) as info:
        h.Hierarchy(levels)
    assert "repeated" not in str(info.value)
    with pytest.raises(ValueError, match="repeated step sizes"):
        h.Hierarchy([ResNetStepper(2, 0.01, hidden=(4,)), ResNetStepper(2, 0.01, hidden=(4,))])


def _val(oscillator, gen, n=4, steps=16):
    return h.rollout(h.RK4(oscillator, 0.01), oscillator.sample_initial(n, gen), steps)


def test_select_levels_with_nan_in_the_data_says_the_data_contain_nan(oscillator, gen):
    levels = [h.Repeated(h.RK4(oscillator, 0.01), 2**k) for k in range(3)]
    val = _val(oscillator, gen)
    val.x[1, 5, 0] = math.nan
    with pytest.raises(ValueError, match=r"val\.x must be finite.*NaN") as info:
        h.select_levels(levels, val)
    assert not isinstance(info.value, h.ForecastDivergedError)  # not "every candidate diverged"


def test_select_and_compare_levels_reject_empty_batches_and_bad_ranges(oscillator, gen):
    levels = [h.Repeated(h.RK4(oscillator, 0.01), 2**k) for k in range(3)]
    val = _val(oscillator, gen)
    empty = h.Trajectory(t=val.t, x=val.x[:0], dt=val.dt)
    with pytest.raises(ValueError, match="val.x must hold at least one sample"):
        h.select_levels(levels, empty)
    with pytest.raises(ValueError, match="test.x must hold at least one sample"):
        compare_levels(levels, empty, 0, 1)
    with pytest.raises(TypeError, match="val must be a hitslite.data.Trajectory"):
        h.select_levels(levels, val.x)
    with pytest.raises(ValueError, match="val must have at least 2 time samples"):
        h.select_levels(levels, h.Trajectory(t=val.t[:1], x=val.x[:, :1], dt=val.dt))
    bad = h.Trajectory(t=val.t, x=val.x.clone(), dt=val.dt)
    bad.x[0, -1, 1] = math.inf
    with pytest.raises(ValueError, match=r"test\.x must be finite.*Inf"):
        compare_levels(levels, bad, 0, 1)
    with pytest.raises(ValueError, match="lower and upper"):
        compare_levels(levels, val, 2, 1)
    with pytest.raises(ValueError, match="lower and upper"):
        compare_levels(levels, val, 0, 3)
    with pytest.raises(ValueError, match="repeats"):
        compare_levels(levels, val, 0, 1, repeats=0)


# ----------------------------------------------------------------------------------------
# scalings fitted on data with NaN
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: Autoencoder(8, 2, hidden=(4,)),
    lambda: LEDAutoencoder(8, 2, width=4, layers=1),
    lambda: LEDAutoencoder(8, 2, width=4, layers=1, scaling="minmax"),
    lambda: ConvAutoencoder(8, 2, channels=(2,), kernel_size=3),
], ids=["Autoencoder", "LEDAutoencoder-standard", "LEDAutoencoder-minmax", "ConvAutoencoder"])
def test_fit_scaling_on_data_with_one_nan_raises_and_leaves_the_scaling_alone(make, gen):
    model = make()
    x = torch.randn(20, 8, generator=gen)
    model.fit_scaling(x)
    before = model.encode(x)
    bad = x.clone()
    bad[3, 2] = math.nan
    with pytest.raises(ValueError, match=r"x must be finite.*1 NaN"):
        model.fit_scaling(bad)
    torch.testing.assert_close(model.encode(x), before, rtol=0, atol=0)  # not poisoned
    with pytest.raises(ValueError, match="at least one sample"):
        model.fit_scaling(x[:0])


def test_pca_and_recurrent_scaling_reject_nan(gen):
    x = torch.randn(20, 6, generator=gen, dtype=torch.float64)
    x[0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        PCA(6, 2).fit(x)
    z = torch.randn(2, 10, 3, generator=gen)
    z[1, 4, 2] = math.inf
    for output in ("bounded", "linear", "residual"):
        with pytest.raises(ValueError, match=r"z must be finite.*Inf"):
            RecurrentStepper(3, 4, output=output).fit_scaling(z)


def test_echo_state_read_out_rejects_nan_data(gen):
    x = torch.randn(2, 10, 2, generator=gen)
    x[0, 3, 1] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        EchoStateNetwork(2, 8).fit_readout(x)


# ----------------------------------------------------------------------------------------
# hyper-arguments of the metrics and of the Lyapunov exponent
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [0.0, -1e-8, math.nan, math.inf])
def test_lyapunov_exponent_rejects_a_non_positive_eps_instead_of_returning_nan(eps, oscillator, gen):
    with pytest.raises(ValueError, match="eps must be a positive finite number"):
        lyapunov_exponent(h.RK4(oscillator, 0.1), oscillator.sample_initial(2, gen),
                          n_renorm=2, steps_per_renorm=2, eps=eps)


def test_lyapunov_exponent_rejects_bad_counts(oscillator, gen):
    x0 = oscillator.sample_initial(2, gen)
    with pytest.raises(ValueError, match="n_renorm must be a positive int"):
        lyapunov_exponent(h.RK4(oscillator, 0.1), x0, n_renorm=2.5, steps_per_renorm=2)
    with pytest.raises(ValueError, match="steps_per_renorm must be a positive int"):
        lyapunov_exponent(h.RK4(oscillator, 0.1), x0, n_renorm=2, steps_per_renorm=0)
    with pytest.raises(TypeError, match="generator"):
        lyapunov_exponent(h.RK4(oscillator, 0.1), x0, n_renorm=2, steps_per_renorm=1, generator=0)


@pytest.mark.parametrize("dt", [math.inf, math.nan, 0.0, True])
def test_dominant_period_rejects_a_bad_sampling_step(dt):
    with pytest.raises(ValueError, match="dt must be a positive finite number"):
        dominant_period(np.sin(np.linspace(0, 20, 64)), dt)


def test_analogue_error_rejects_bad_hyper_arguments(gen):
    c = torch.randn(2, 30, 2, generator=gen)
    with pytest.raises(ValueError, match="exclude must be a non-negative int"):
        analogue_error(c, c, 1, exclude=-1)
    with pytest.raises(ValueError, match="chunk must be a positive int"):
        analogue_error(c, c, 1, chunk=0)
    with pytest.raises(TypeError, match="coords must be a torch.Tensor"):
        analogue_error(c.numpy(), c, 1)


def test_nan_data_in_metrics_still_propagates():
    """Metrics report what they are given: NaN in a forecast is a NaN error, not an exception."""
    pred = torch.zeros(1, 3, 2)
    pred[0, 1, 0] = math.nan
    assert math.isnan(h.metrics.integrated_mse(pred, torch.zeros(1, 3, 2)))


# ----------------------------------------------------------------------------------------
# constructors and drivers: numbers named
# ----------------------------------------------------------------------------------------
def test_constructors_name_their_bad_numbers(oscillator):
    with pytest.raises(ValueError, match="dt must be a positive finite number"):
        ResNetStepper(2, math.nan)
    with pytest.raises(ValueError, match="dt must be a positive finite number"):
        LSTMGenerator(2, 4, dt=0.0)
    with pytest.raises(ValueError, match="dt must be a positive finite number"):
        ClockworkRNN(2, 4, periods=(1, 2), dt=-1.0)
    with pytest.raises(ValueError, match="periods"):
        ClockworkRNN(2, 4, periods=(1, 2.5))
    with pytest.raises(ValueError, match="input_scale"):
        EchoStateNetwork(2, 8, input_scale=-1.0)
    with pytest.raises(ValueError, match="layers must be a positive int"):
        RecurrentStepper(2, 4, layers=True)
    with pytest.raises(TypeError, match="stepper must be a Stepper"):
        h.Repeated(lambda x: x, 2)
    with pytest.raises(ValueError, match="t0 must be a finite number"):
        h.rollout(h.RK4(oscillator, 0.1), torch.zeros(1, 2), 2, t0=math.nan)
    with pytest.raises(ValueError, match="n must be a positive int"):
        oscillator.sample_initial(True)


def test_led_names_bad_warm_up_states_and_repeats():
    class Identity(torch.nn.Module):
        state_shape = (3,)

        def encode(self, x):
            return x

        def decode(self, z):
            return z

    coords = Identity()
    led = LED(coords, RecurrentStepper(3, 4), coords)
    with pytest.raises(TypeError, match="x_warm must have a floating"):
        led.forecast(torch.ones(2, 3, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="x_warm must hold at least one trajectory"):
        led.forecast(torch.zeros(0, 3, 3), 2)
    with pytest.raises(ValueError, match="t0 must be a finite number"):
        led.forecast(torch.zeros(2, 3, 3), 2, t0=math.inf)
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        measure_speedup(led, RecurrentStepper(3, 4), torch.zeros(2, 3, 3), 2, macro_steps=1, micro_steps=0,
                        repeats=0)


# ----------------------------------------------------------------------------------------
# HITSLITE_DEVICE
# ----------------------------------------------------------------------------------------
def test_default_device_refuses_a_cuda_request_on_a_machine_without_it(monkeypatch):
    request = "cuda:99" if torch.cuda.is_available() else "cuda"
    monkeypatch.setenv("HITSLITE_DEVICE", request)
    with pytest.raises(RuntimeError, match="HITSLITE_DEVICE"):
        h.default_device()


def test_default_device_names_the_variable_for_an_unknown_device(monkeypatch):
    monkeypatch.setenv("HITSLITE_DEVICE", "gpu")
    with pytest.raises(ValueError, match="HITSLITE_DEVICE must name a torch device"):
        h.default_device()
    monkeypatch.setenv("HITSLITE_DEVICE", "cpu")
    assert h.default_device() == torch.device("cpu")
    monkeypatch.delenv("HITSLITE_DEVICE")
    assert h.default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
