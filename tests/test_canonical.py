"""Chaotic data every machine shares (committed anchors), data signatures, and cache keys that see code."""

import shutil
import warnings

import numpy as np
import pytest
import torch

import hitslite as h
from hitslite import canonical, data, pde
from hitslite.canonical import (
    CanonicalDataWarning,
    anchored_rollout,
    anchors_for,
    data_signature,
    signature_mismatch,
)
from hitslite.steppers import Repeated

LED_VAL = {"preset": "led", "n_trajectories": 1}


def test_every_canonical_data_set_has_verified_anchors():
    for spec in data.CANONICAL_KS:
        spec = dict(spec)
        split, n_steps = spec.pop("split"), spec.pop("n_steps")
        found = anchors_for(data.ks_recipe(split, n_steps=n_steps, **spec), n_steps)
        assert found is not None, spec
        anchors, stride, _ = found
        assert anchors.dtype == torch.float64 and anchors.shape[0] == spec["n_trajectories"]
        assert anchors.shape[1] == n_steps // stride + 1


def test_anchored_data_pass_through_their_anchors_and_join_up(one_thread):
    """Each segment starts exactly at its anchor and ends at the next one up to round-off: the measured
    mismatch is this machine's disagreement with the anchors' machine over one segment."""
    traj = h.ks_dataset("val", n_steps=600, **LED_VAL)
    anchors, stride, _ = anchors_for(data.ks_recipe("val", n_steps=600, **LED_VAL), 600)
    assert traj.meta["canonical"] is True
    for j in range(600 // stride + 1):
        assert torch.equal(traj.x[:, j * stride], anchors[:, j])
    assert traj.meta["anchor_mismatch"] < canonical.MISMATCH_WARN
    assert float(traj.t[0]) == pytest.approx(1000.0) and traj.dt == 0.25  # times after the dropped transient


@pytest.mark.slow
def test_another_machines_round_off_stays_round_off_with_anchors_and_not_without(one_thread, monkeypatch):
    """Simulate another CPU: the ETDRK4 coefficients change in their last bits (as numpy's exp does
    between AVX2 and AVX-512 kernels). From the anchors the data move by round-off; one long run from
    the same start lands on another trajectory of the attractor (the failure this design prevents)."""
    system = h.get_system("ks", preset="led")
    n = 4000  # 1000 time units, about 48 Lyapunov times
    anchors, stride, _ = anchors_for(data.ks_recipe("val", n_steps=n, **LED_VAL), n)
    here = Repeated(pde.ETDRK4(system, system.solver_dt), 10)
    other = Repeated(pde.ETDRK4(system, system.solver_dt), 10)
    gen = torch.Generator().manual_seed(0)
    for _name, buf in other.inner.named_buffers():
        if buf.is_floating_point():
            buf.mul_(1 + 2e-16 * torch.randn(buf.shape, generator=gen, dtype=buf.dtype))
    x_here, _ = anchored_rollout(here, anchors, stride, n)
    x_other, mismatch = anchored_rollout(other, anchors, stride, n)
    assert float((x_here - x_other).abs().max()) < 1e-8
    assert mismatch < canonical.MISMATCH_WARN
    with torch.no_grad():  # without anchors: one run of the same length from the same first state
        long_here = h.rollout(here, anchors[:, 0], n).x
        long_other = h.rollout(other, anchors[:, 0], n).x
    assert float((long_here - long_other).abs().max()) > 0.1


def test_corrupted_anchors_are_refused(tmp_path):
    copy = tmp_path / "canonical"
    shutil.copytree(canonical.CANONICAL_DIR, copy)
    recipe = data.ks_recipe("val", n_steps=400, **LED_VAL)
    anchors, _, _ = anchors_for(recipe, 400, directory=copy)
    entry = next(e for e in __import__("json").loads((copy / "manifest.json").read_text()).values()
                 if e["file"].startswith("ks-led-val"))
    with np.load(copy / entry["file"]) as z:
        arrays = dict(z)
    arrays["anchors"][0, 0, 0] += 1e-12
    np.savez(copy / entry["file"], **arrays)
    with pytest.raises(ValueError, match="SHA-256"):
        anchors_for(recipe, 400, directory=copy)


def test_chaotic_data_without_anchors_warn(one_thread):
    with pytest.warns(CanonicalDataWarning, match="no committed anchors"):
        h.ks_dataset("val", preset="led", n_trajectories=2, n_steps=4, transient=300.0)  # not a canonical set
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h.ks_dataset("val", n_steps=4, **LED_VAL)  # covered by anchors: silent


def test_data_signature_tolerates_round_off_and_catches_other_data():
    traj = h.ks_dataset("val", n_steps=200, **LED_VAL)
    sig = data_signature(traj.x)
    assert signature_mismatch(sig, data_signature(traj.x.clone())) is None
    assert signature_mismatch(sig, data_signature(traj.x + 1e-9)) is None
    assert "dtype" in signature_mismatch(sig, data_signature(traj.x.float()))
    single = traj.x.float()
    assert signature_mismatch(data_signature(single), data_signature(single * (1 + 1e-7))) is None
    other = h.ks_dataset("val", n_steps=200, **LED_VAL).x.roll(1, dims=1)
    assert signature_mismatch(sig, data_signature(other)) is not None
    assert "shape" in signature_mismatch(sig, data_signature(traj.x[:, :100]))


# --------------------------------------------------------------------------------------------
# Cache keys see the equations (issue 19: stale data)
# --------------------------------------------------------------------------------------------
def _duffing(field):
    from hitslite.systems import ODESystem

    return ODESystem(name="duffing", state_shape=(2,), params={"delta": 0.2}, vector_field=field,
                     region=((-1.0, 1.0), (-1.0, 1.0)), dt=0.01, n_steps=20, n_samples=(3, 2, 2))


def _duffing_a(x, delta):
    u, v = x[..., 0], x[..., 1]
    return np.stack([v, u - u**3 - delta * v], axis=-1)


def _duffing_b(x, delta):  # the same system with its equation edited: the cubic term's sign
    u, v = x[..., 0], x[..., 1]
    return np.stack([v, u + u**3 - delta * v], axis=-1)


def test_editing_a_systems_equations_never_returns_the_old_data():
    a = h.ode_dataset(_duffing(_duffing_a), "train")
    b = h.ode_dataset(_duffing(_duffing_b), "train")
    assert a.meta["cache_file"] != b.meta["cache_file"]
    assert not torch.allclose(a.x[:, -1], b.x[:, -1])
    again = h.ode_dataset(_duffing(_duffing_a), "train")
    assert again.meta["cache_file"] == a.meta["cache_file"] and torch.equal(again.x, a.x)


SCALE = 1.0


def _scaled(x, delta):
    return SCALE * _duffing_a(x, delta)


def test_a_module_constant_the_field_reads_is_part_of_the_key(monkeypatch):
    first = data.system_fingerprint(_duffing(_scaled))
    monkeypatch.setitem(globals(), "SCALE", 2.0)
    assert data.system_fingerprint(_duffing(_scaled)) != first
    lam = data.system_fingerprint(_duffing(lambda x, delta: _duffing_a(x, delta)))
    assert lam == data.system_fingerprint(_duffing(lambda x, delta: _duffing_a(x, delta)))


def test_a_field_that_cannot_be_fingerprinted_is_refused_unless_uncached():
    class Opaque:  # a callable without Python code to read (its __call__ is a builtin)
        __call__ = staticmethod(np.add.reduce)

    bad = _duffing(Opaque())
    with pytest.raises(TypeError, match="cache=False"):
        h.ode_dataset(bad, "train")
    field = _duffing(_duffing_a)
    traj = h.ode_dataset(field, "train", cache=False)
    assert "cache_file" not in traj.meta and traj.x.shape == (3, 21, 2)
