"""The Stepper contract, checked for every Stepper subclass in the package (DESIGN: "one contract
test, parametrised over every Stepper, covers all of them").

Every subclass of :class:`hitslite.steppers.Stepper` defined in a ``hitslite`` module is found by
importing every module of the package and walking ``Stepper.__subclasses__()``; each must have a
factory in :data:`FACTORIES`, or :func:`test_every_stepper_has_a_contract_case` fails — a new
stepper cannot escape the contract. For each one, on tiny sizes:

* ``step`` maps ``[B, *S]`` to ``[B, *S]``; dtype and device follow the input (float32 and
  float64; CUDA against the CPU only when a GPU is present);
* ``rollout`` equals the same number of ``step`` calls threading the carry, and ``stepper(x)`` is
  one step from ``init_carry(x)``;
* ``Repeated(s, m)`` equals ``m`` steps of ``s`` and has step ``m * s.dt``;
* :func:`~hitslite.steppers.forecast` at the stepper's own step is the rollout;
* ``restart_carry(x, t, carry)`` is ``init_carry(x)`` unless the stepper keeps time or randomness
  in its carry (Euler–Maruyama keeps the generator of ``carry`` and restarts the clock at ``t``);
* integer states raise ``TypeError``, states of the wrong shape ``ValueError``;
* the trajectories of a batch evolve independently (deterministic steppers).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import hitslite
from hitslite.steppers import Repeated, Stepper, forecast, rollout

pytestmark = pytest.mark.usefixtures("one_thread")

B = 3  # batch size of every case
N_STEPS = 4


# ----------------------------------------------------------------------------------------
# discovery
# ----------------------------------------------------------------------------------------
def _import_all() -> list[str]:
    """Import every module of the package (subpackages included; not a ``__main__``, which runs its
    command line when imported); returns the names of those that failed to import."""
    failed = []
    for info in pkgutil.walk_packages(hitslite.__path__, "hitslite.", onerror=failed.append):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        try:
            importlib.import_module(info.name)
        except Exception as err:  # noqa: BLE001 - reported by the completeness test
            failed.append(f"{info.name} ({type(err).__name__}: {err})")
    return failed


def _subclasses(cls) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


IMPORT_FAILURES = _import_all()
#: the package's steppers: classes of ``hitslite`` modules, not helpers local to a function or test
PACKAGE_STEPPERS = sorted(
    (c for c in _subclasses(Stepper)
     if c.__module__.startswith("hitslite.") and "<locals>" not in c.__qualname__),
    key=lambda c: f"{c.__module__}.{c.__qualname__}",
)


# ----------------------------------------------------------------------------------------
# one factory per stepper class: a tiny instance and how to draw its states
# ----------------------------------------------------------------------------------------
@dataclass
class Case:
    stepper: Stepper
    make_x: Callable[[torch.Generator], torch.Tensor]  # float64 CPU states [B, *S]
    bad_shape: tuple[int, ...]  # a state shape the stepper must refuse with ValueError
    stochastic: bool = False  # draws noise: batch independence and float32/64 agreement not checked
    rtol: float = 1e-4  # float32 vs float64 agreement of one step (relative to the state's size)


def _randn(*shape):
    return lambda g: torch.randn(*shape, generator=g, dtype=torch.float64)


def _rk4():
    from hitslite import RK4, get_system

    return Case(RK4(get_system("van_der_pol"), 0.05), _randn(B, 2), (B, 3), rtol=1e-5)


def _repeated():
    from hitslite import RK4, get_system

    return Case(Repeated(RK4(get_system("lorenz"), 0.002), 3), _randn(B, 3), (B, 2), rtol=1e-5)


def _etdrk4():
    from hitslite import ETDRK4, get_system

    ks = get_system("ks", n=16)
    return Case(ETDRK4(ks, 0.05), lambda g: ks.sample_initial(B, g), (B, 12), rtol=1e-5)


def _lattice_boltzmann():
    from hitslite import LatticeBoltzmann, get_system

    fhn = get_system("fhn", n=9)
    return Case(LatticeBoltzmann(fhn, 0.01), lambda g: 0.5 * torch.randn(B, 2, 9, generator=g,
                                                                             dtype=torch.float64),
                (B, 1, 9), rtol=1e-5)


def _euler_maruyama():
    from hitslite import EulerMaruyama, get_system

    ad = get_system("advection_diffusion", dim=3, N=5)
    return Case(EulerMaruyama(ad, seed=7, t0=0.3), lambda g: 0.4 * torch.rand(B, 5, 3, generator=g,
                                                                              dtype=torch.float64) - 0.2,
                (B, 5, 2), stochastic=True)


def _resnet():
    from hitslite.neural import ResNetStepper

    return Case(ResNetStepper((2, 3), 0.1, hidden=(8,)), _randn(B, 2, 3), (B, 6))


def _recurrent():
    from hitslite.neural import RecurrentStepper

    rnn = RecurrentStepper(3, 5, cell="gru", output="residual")
    rnn.fit_scaling(torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(1)))
    return Case(rnn, _randn(B, 3), (B, 4))


def _latent():
    from hitslite.nets import Autoencoder
    from hitslite.neural import Latent, RecurrentStepper

    ae = Autoencoder(6, 2, hidden=(8,))
    return Case(Latent(ae, RecurrentStepper(2, 4, cell="lstm", output="linear"), ae), _randn(B, 6), (B, 5))


def _lstm_generator():
    from hitslite.baselines import LSTMGenerator

    return Case(LSTMGenerator(3, 6), _randn(B, 3), (B, 2))


def _echo_state_network():
    from hitslite.baselines import EchoStateNetwork

    esn = EchoStateNetwork(3, 12, degree=4)
    with torch.no_grad():  # a non-zero read-out, so the output depends on the reservoir
        esn.readout.copy_(0.3 * torch.randn(3, 12, generator=torch.Generator().manual_seed(2)))
    return Case(esn, _randn(B, 3), (B, 4))


def _clockwork_rnn():
    from hitslite.baselines import ClockworkRNN

    return Case(ClockworkRNN(3, 6, periods=(1, 2, 4)), _randn(B, 3), (B, 2))


#: "module.ClassName" -> factory. Add one for every new Stepper subclass.
FACTORIES: dict[str, Callable[[], Case]] = {
    "hitslite.steppers.RK4": _rk4,
    "hitslite.steppers.Repeated": _repeated,
    "hitslite.pde.ETDRK4": _etdrk4,
    "hitslite.pde.LatticeBoltzmann": _lattice_boltzmann,
    "hitslite.particles.EulerMaruyama": _euler_maruyama,
    "hitslite.neural.ResNetStepper": _resnet,
    "hitslite.neural.RecurrentStepper": _recurrent,
    "hitslite.neural.Latent": _latent,
    "hitslite.baselines.LSTMGenerator": _lstm_generator,
    "hitslite.baselines.EchoStateNetwork": _echo_state_network,
    "hitslite.baselines.ClockworkRNN": _clockwork_rnn,
}


def _key(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _case(cls) -> Case:
    factory = FACTORIES.get(_key(cls))
    if factory is None:
        pytest.fail(f"{_key(cls)} is a Stepper without a contract case: add a factory to FACTORIES in "
                    f"{__file__}")
    torch.manual_seed(0)  # network initialisations: reproducible cases
    case = factory()
    assert type(case.stepper) is cls, f"the factory for {_key(cls)} built a {type(case.stepper).__name__}"
    case.stepper.eval()
    return case


def _x(case: Case, dtype=torch.float64, device="cpu") -> torch.Tensor:
    return case.make_x(torch.Generator().manual_seed(123)).to(device=device, dtype=dtype)


def _steps(stepper, x, n, carry=None):
    """``n`` calls of ``step`` from ``init_carry(x)`` (or ``carry``); returns all states ``[B, n+1, *S]``."""
    carry = stepper.init_carry(x) if carry is None else carry
    states = [x]
    for _ in range(n):
        x, carry = stepper.step(x, carry)
        states.append(x)
    return torch.stack(states, dim=1), carry


stepper_classes = pytest.mark.parametrize("cls", PACKAGE_STEPPERS, ids=lambda c: c.__qualname__)


# ----------------------------------------------------------------------------------------
# completeness
# ----------------------------------------------------------------------------------------
def test_every_stepper_has_a_contract_case():
    assert not IMPORT_FAILURES, f"modules that failed to import (steppers unchecked): {IMPORT_FAILURES}"
    found = {_key(c) for c in PACKAGE_STEPPERS}
    missing = sorted(found - set(FACTORIES))
    assert not missing, f"Stepper subclasses without a contract case (add them to FACTORIES): {missing}"
    stale = sorted(set(FACTORIES) - found)
    assert not stale, f"FACTORIES lists classes that are no longer Stepper subclasses of the package: {stale}"
    assert len(found) >= 11, sorted(found)  # the discovery itself works


def _source_steppers() -> set[str]:
    """Stepper subclasses found in the *source* (``class X(Stepper)``, or of a subclass found so far),
    independently of importing: a class in a module the import walk skips is still seen."""
    classes = []  # (module, class name, base names)
    root = Path(hitslite.__file__).resolve().parent
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
                         if isinstance(b, (ast.Name, ast.Attribute))}
                classes.append((module, node.name, bases))
    names, found, grew = {"Stepper"}, set(), True
    while grew:
        grew = False
        for module, name, bases in classes:
            if bases & names and f"{module}.{name}" not in found:
                found.add(f"{module}.{name}")
                names.add(name)
                grew = True
    return found


def test_every_stepper_class_in_the_source_has_a_contract_case():
    found = _source_steppers()
    assert len(found) >= 11, sorted(found)
    missing = sorted(found - set(FACTORIES))
    assert not missing, ("Stepper subclasses in the source without a contract case (add them to FACTORIES): "
                         f"{missing}")


# ----------------------------------------------------------------------------------------
# the contract
# ----------------------------------------------------------------------------------------
@stepper_classes
@torch.no_grad()
def test_step_keeps_shape_dtype_and_device(cls):
    case = _case(cls)
    s = case.stepper
    assert isinstance(s.dt, float) and s.dt > 0
    assert s.order is None or (isinstance(s.order, int) and s.order >= 1)
    outs = {}
    for dtype in (torch.float32, torch.float64):
        x = _x(case, dtype)
        y, _ = s.step(x, s.init_carry(x))
        assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
        assert bool(torch.isfinite(y).all())
        assert s(x).shape == x.shape and s(x).dtype == dtype
        outs[dtype] = y
    if case.stochastic:  # float32 and float64 noise are different draws
        return
    scale = float(outs[torch.float64].abs().max()) + 1e-12
    err = float((outs[torch.float32].double() - outs[torch.float64]).abs().max())
    assert err <= case.rtol * scale * 10, f"float32 and float64 steps differ by {err:.2e}"


@stepper_classes
@torch.no_grad()
def test_rollout_equals_repeated_step_and_call_is_one_step(cls):
    case = _case(cls)
    s, x = case.stepper, _x(case)
    traj, carry = rollout(s, x, N_STEPS, return_carry=True, t0=0.0)
    manual, manual_carry = _steps(s, x, N_STEPS)
    assert traj.x.shape == (B, N_STEPS + 1, *x.shape[1:])
    torch.testing.assert_close(traj.x, manual, rtol=0, atol=0)
    torch.testing.assert_close(traj.t, s.dt * torch.arange(N_STEPS + 1, dtype=torch.float64))
    # the final carries continue identically
    torch.testing.assert_close(s.step(traj.x[:, -1], carry)[0], s.step(manual[:, -1], manual_carry)[0],
                               rtol=0, atol=0)
    torch.testing.assert_close(s(x), manual[:, 1], rtol=0, atol=0)


@stepper_classes
@torch.no_grad()
def test_forecast_at_its_own_step_is_the_rollout(cls):
    """``forecast(s, x, n)`` (the one forecast of every model) at ``s.dt``: the rollout, bit for bit.
    A Latent decodes every state, the first one too (``decode(encode(x))`` where the rollout keeps
    ``x``), in one batched call: there the states after the first agree to round-off."""
    case = _case(cls)
    s, x = case.stepper, _x(case)
    got = forecast(s, x, N_STEPS)
    want = rollout(s, x, N_STEPS)
    if type(s).forecast is Stepper.forecast:
        torch.testing.assert_close(got.x, want.x, rtol=0, atol=0)
    else:
        torch.testing.assert_close(got.x[:, 1:], want.x[:, 1:])
    torch.testing.assert_close(got.t, want.t, rtol=0, atol=0)
    assert got.dt == s.dt and bool(got.meta["known"].all()) and got.meta["known"].shape == (N_STEPS + 1,)


@stepper_classes
@torch.no_grad()
def test_repeated_equals_m_steps(cls):
    case = _case(cls)
    s, x, m = case.stepper, _x(case), 3
    rep = Repeated(s, m)
    assert rep.dt == pytest.approx(m * s.dt, rel=1e-12)
    coarse = rollout(rep, x, 2).x
    fine = rollout(s, x, 2 * m).x
    torch.testing.assert_close(coarse, fine[:, ::m], rtol=0, atol=0)
    torch.testing.assert_close(rep(x), fine[:, m], rtol=0, atol=0)


@stepper_classes
@torch.no_grad()
def test_restart_carry_semantics(cls):
    """``restart_carry(x, t, carry)`` hands a state over at time ``t``: a fresh ``init_carry(x)``
    for every stepper, except those that keep time/randomness in the carry (Euler–Maruyama)."""
    case = _case(cls)
    s, x = case.stepper, _x(case)
    _, carry = _steps(s, x, 2)  # a carry that has been used
    handed = x + 0.01 * torch.ones_like(x)
    for previous in (carry, None):
        restarted = s.restart_carry(handed, 1.5, previous)
        got = _steps(s, handed, 2, restarted)[0]
        if type(s).restart_carry is Stepper.restart_carry:  # the default: init_carry
            want = _steps(s, handed, 2)[0]
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        else:
            assert got.shape == (B, 3, *x.shape[1:]) and bool(torch.isfinite(got).all())
    if cls.__name__ == "EulerMaruyama":
        t, gen = s.restart_carry(handed, 1.5, carry)
        assert t == 1.5 and gen is carry[1]  # clock restarted at t, noise stream continued
        t, gen = s.restart_carry(handed, 2.0, None)
        assert t == 2.0 and gen is not None  # seeded: a fresh generator
    # Repeated delegates the hand-over to the stepper it repeats
    rep = Repeated(s, 2)
    if type(s).restart_carry is Stepper.restart_carry:
        torch.testing.assert_close(_steps(rep, handed, 1, rep.restart_carry(handed, 1.5, carry))[0],
                                   _steps(rep, handed, 1)[0], rtol=0, atol=0)


@stepper_classes
def test_bad_states_are_refused(cls):
    case = _case(cls)
    s, x = case.stepper, _x(case)
    with pytest.raises(TypeError, match="floating-point"):
        s.step(x.round().long(), None)
    with pytest.raises(TypeError, match="floating-point"):
        s(x.round().long())
    with pytest.raises(ValueError, match="shape"):
        s.step(torch.zeros(case.bad_shape, dtype=torch.float64), None)


@stepper_classes
@torch.no_grad()
def test_trajectories_of_a_batch_evolve_independently(cls):
    case = _case(cls)
    if case.stochastic:
        pytest.skip("noise is drawn for the whole batch at once")
    s, x = case.stepper, _x(case)
    whole = _steps(s, x, 2)[0]
    for b in range(B):
        torch.testing.assert_close(_steps(s, x[b:b + 1], 2)[0], whole[b:b + 1], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@stepper_classes
@torch.no_grad()
def test_cuda_steps_stay_on_cuda_and_match_the_cpu(cls):
    case = _case(cls)
    s = case.stepper
    for dtype in (torch.float32, torch.float64):
        x = _x(case, dtype)
        cpu = rollout(s, x, 2).x
        s.to("cuda")
        try:
            gpu = rollout(s, x.cuda(), 2).x
        finally:
            s.to("cpu")
        assert gpu.device.type == "cuda" and gpu.dtype == dtype and gpu.shape == cpu.shape
        if not case.stochastic:  # a CUDA generator draws other numbers than a CPU one
            scale = float(cpu.abs().max()) + 1e-12
            torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-4 * scale)
