"""Zoo entries of Chapter 14 (the three methods head to head): LED's recurrent propagator trained on
L-HiTS's autoencoder and data.

L-HiTS and LED are both "autoencoder + latent propagator"; they differ in the propagator (a hierarchy
of ResNet flow maps against one recurrent cell with a warm-up). To compare them on the *same* data
with the *same* coordinates, ``led_lhits_<system>`` takes the autoencoder of ``lhits_<system>``
(frozen, copied into the entry so that it loads on its own), encodes the L-HiTS train and validation
trajectories, and trains LED's recurrent cell on them exactly as the LED entries do
(:func:`~hitslite.zoo.led.train_propagator`: stateful truncated BPTT on windows, input noise). The
full-state baseline ``hits_full_<system>`` is trained on these data too, so Chapter 14 compares all
three, and the solver, on one test split.

* ``led_lhits_fhn``: the LSTM of 32 units of ``led_fhn`` at the data's step (Δt = 1), one read-out
  (bounded, as ``led_fhn``).
* ``led_lhits_ks``: the GRU of 200 units of ``led_ks`` on every 5th state (Δt = 0.25, LED's KS
  step; the data's 0.05 would make a Lyapunov time 420 recurrent steps), two read-outs (increment
  and bounded), the one with the least validation NAD chosen (:func:`hitslite.zoo.selected`).

The configs record the source entry and its autoencoder config; the manifest's metrics record the
SHA-256 of the source's weights file the autoencoder was copied from (``autoencoder_source``).
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import torch
from torch import nn

from .led import LED_FHN_CONFIG, LED_KS_CONFIG, train_propagator
from .lhits import lhits_data, lhits_initial_autoencoder
from .registry import ENTRIES, Selection, ZooEntry, register_entry, seeded

__all__ = ["LEDOnLatent", "H2H_CONFIGS", "subsample", "fields", "varying", "led_lhits_score"]


class LEDOnLatent(nn.Module):
    """A zoo container: one ``autoencoder`` and recurrent ``propagators`` by read-out name.

    :meth:`led` assembles the :class:`~hitslite.led.LED` model of one of them.
    """

    def __init__(self, autoencoder: nn.Module, propagators: dict):
        super().__init__()
        self.autoencoder = autoencoder
        self.propagators = nn.ModuleDict(propagators)

    def led(self, variant: str):
        from ..led import LED

        if variant not in self.propagators:
            raise KeyError(f"variant must be one of {list(self.propagators)}, got {variant!r}")
        return LED(self.autoencoder, self.propagators[variant], self.autoencoder)


def subsample(traj, stride: int):
    """Every ``stride``-th state of ``traj`` (a :class:`~hitslite.trajectory.Trajectory`), whose step
    becomes ``dt * stride``."""
    from ..trajectory import Trajectory

    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive int, got {stride!r}")
    return Trajectory(t=traj.t[::stride], x=traj.x[:, ::stride], dt=traj.dt * stride, meta=traj.meta)


def fields(x: torch.Tensor, system: str) -> torch.Tensor:
    """The L-HiTS states ``x [..., D]`` of ``system`` by field: FHN's ``[..., 202]`` as ``[..., 2, 101]``
    (u and v, so NAD has one range per field); KS states as they are."""
    return x.unflatten(-1, (2, -1)) if system == "fhn" else x


def varying(truth: torch.Tensor, system: str) -> torch.Tensor:
    """Which of the true forecasts ``[M, T, D]`` vary in time or space in every field (a bool ``[M]``):
    NAD divides by the true field's range, so it is undefined for a forecast of a state at rest (some
    FHN initial conditions of the L-HiTS data settle to the homogeneous rest state)."""
    q = fields(truth, system).flatten(3) if system == "fhn" else truth.unsqueeze(2)
    return ((q.amax(dim=(1, 3)) - q.amin(dim=(1, 3))) > 0).all(dim=1)


def led_lhits_score(led, traj, config: dict) -> dict:
    """Validation score of an LED model of these entries on the subsampled trajectories ``traj``: warm up on
    ``config["validation"]["warm_up"]`` states, propagate ``horizon`` steps (default to the end) from starts
    every ``every`` steps, MNAD (FHN: mean of u and v, each with its own range) over the starts whose
    true field is not at rest (:func:`varying`). ``inf`` if it diverges."""
    from ..metrics import mnad
    from .led import forecast_windows

    v = config["validation"]
    horizon = v.get("horizon") or traj.n_steps - v["warm_up"] + 1
    warm, truth = forecast_windows(traj, warm_up=v["warm_up"], horizon=horizon,
                                   every=v.get("every") or traj.x.shape[1])
    try:
        with torch.no_grad():
            pred = led.forecast(warm, horizon).x
    except ValueError as err:  # ForecastDivergedError
        return {"mnad": math.inf, "diverged": str(err)}
    keep = varying(truth, config["system"])
    starts = {"starts": int(keep.sum()), "starts_at_rest": int((~keep).sum())}
    pred, truth = pred[keep], truth[keep]
    if config["system"] == "fhn":
        per = mnad(fields(pred, "fhn"), fields(truth, "fhn"), channel_axis=2)
        return {"mnad_u": float(per[0]), "mnad_v": float(per[1]), "mnad": float(per.mean()), **starts}
    return {"mnad": float(mnad(pred, truth)), **starts}


def _build(config: dict) -> LEDOnLatent:
    from ..neural import RecurrentStepper

    z = config["autoencoder"]["latent_dim"]

    def make():
        ae = lhits_initial_autoencoder(config["system"], z)  # the architecture of the source's autoencoder
        cells = {r: RecurrentStepper(z, dt=config["dt"], **{**config["rnn"]["architecture"], "output": r})
                 for r in config["variants"]}
        return LEDOnLatent(ae, cells)

    return seeded(config["seed"], make)


def _data(config: dict) -> dict:
    """The L-HiTS splits of the source entry (full state, the data's own step)."""
    return lhits_data(config["autoencoder_from"])


def _train(config: dict, *, workdir: Path, device, progress: bool):
    """Copy the source entry's autoencoder, encode, train one cell per read-out, score on validation."""
    from ..data import Trajectory
    from ..io import fingerprint, resume_or_fit
    from . import store
    from .loading import load_pretrained

    source = config["autoencoder_from"]
    module = _build(config)
    module.autoencoder.load_state_dict(load_pretrained(source).autoencoder.state_dict())
    module.autoencoder.eval()
    for p in module.autoencoder.parameters():
        p.requires_grad_(False)
    source_files = store.verify(source)["files"]
    splits = _data(config)
    with torch.no_grad():
        latent = {k: subsample(Trajectory(t=splits[k].t, x=module.autoencoder.encode(splits[k].x),
                                          dt=splits[k].dt), config["stride"]) for k in ("train", "val")}
    val_states = subsample(splits["val"], config["stride"])
    metrics: dict = {"variants": {}, "autoencoder_source": {"entry": source, "files": source_files}}
    t_start = time.perf_counter()

    def fit_variant(name: str) -> dict:
        cell = module.propagators[name]
        _, res = train_propagator(latent, config, seed=config["seed"], device=device, progress=progress,
                                  checkpoint=workdir / f"{name}-rnn.pt", cell=cell, desc=f"{name} cell")
        cell.cpu().eval()
        return {"rnn": res.as_dict(), "validation": led_lhits_score(module.led(name), val_states, config)}

    for name in config["variants"]:
        metrics["variants"][name] = resume_or_fit(
            workdir / f"{name}.done.pt", module.propagators[name], functools.partial(fit_variant, name),
            fingerprint={"config": fingerprint(config), "train": fingerprint(latent["train"].x),
                         "variant": name})
    for p in module.autoencoder.parameters():
        p.requires_grad_(True)
    scores = {n: m["validation"]["mnad"] for n, m in metrics["variants"].items()}
    metrics["selected"] = min(scores, key=scores.get)
    metrics["seconds"] = time.perf_counter() - t_start
    metrics["propagator_seconds"] = sum(m["rnn"]["seconds"] for m in metrics["variants"].values())
    return module.cpu().eval(), metrics


def _read_selection(name: str, manifest: dict, folder: Path) -> Selection:
    metrics = manifest["metrics"]
    scores = {n: float(m["validation"]["mnad"]) for n, m in metrics["variants"].items()}
    v = manifest["config"]["validation"]
    metric = (f"MNAD of the LED forecast after a warm-up of {v['warm_up']} steps, "
              + (f"over {v['horizon']} steps from starts every {v['every']} steps" if v.get("horizon")
                 else "to each trajectory's end"))
    return Selection(name, "led", metrics["selected"], metric, scores, "validation split (lhits_data)")


#: One config per system; ``rnn`` is the LED entry's (architecture, windows, BPTT, input noise, training).
H2H_CONFIGS: dict[str, dict] = {}
for _system, _led, _stride, _variants, _validation in (
    # FHN: warm-up 60 steps, then to the end of each validation trajectory (as led_fhn)
    ("fhn", LED_FHN_CONFIG, 1, ["bounded"], {"warm_up": 60}),
    # KS: one Lyapunov time (83 steps of 0.25) from starts every 250 steps (as led_ks)
    ("ks", LED_KS_CONFIG, 5, ["residual", "bounded"], {"warm_up": 60, "horizon": 83, "every": 250}),
):
    _base = ENTRIES[f"lhits_{_system}"].config
    H2H_CONFIGS[_system] = {
        "system": _system, "autoencoder_from": f"lhits_{_system}", "state_dim": _base["state_dim"],
        "data": _base["data"], "autoencoder": _base["autoencoder"], "stride": _stride,
        "dt": _base["dt"] * _stride, "variants": _variants, "validation": _validation,
        "rnn": _led["rnn"], "seed": 0}
    _arch = _led["rnn"]["architecture"]
    register_entry(ZooEntry(
        f"led_lhits_{_system}",
        f"Ch. 14: LED's {_arch['cell'].upper()}({_arch['hidden']}) "
        f"on the frozen autoencoder and data of lhits_{_system} (step {H2H_CONFIGS[_system]['dt']:g})",
        H2H_CONFIGS[_system], _build, _train, data=_data, read_selection=_read_selection))
del _system, _led, _stride, _variants, _validation, _base, _arch
