"""Zoo entries of LED on advection–diffusion particles (LED Sec. 3.1, SI 8.1–8.2; Tables 1–4).

Registered into :data:`hitslite.zoo.ENTRIES` on import. The LED protocol (SI 6.5, 8.1): the
particle autoencoder (permutation-invariant encoder + mixture density decoder, SI 6.3–6.4) is
trained first by maximum likelihood on single configurations, then frozen; its latent
trajectories train the LSTM by stateful truncated BPTT, as for the other LED entries
(:func:`hitslite.zoo.led.train_propagator`). Selection (best epoch, and for the 3-D entry the LSTM
size) looks at **validation** data only (:func:`hitslite.zoo.selected`); the test split is for
Chapter 12. Below the entries: ensembles of runs and their moment statistics, for Chapter 12.

* ``led_particles_1d`` — SI 8.1: ``d_x = 1``, N = 1000, D = 0.2, A = 1, ω = 0.1, Δt = 0.5;
  ``d_z = 1``, K = 4 kernels, LSTM of 100 units, BPTT length 100.
* ``led_particles_3d`` — Sec. 3.1 / SI 8.2: ``d_x = 3``, A = (1, 1.5, 0), ω = (0.2, 1, 0.5);
  ``d_z = 8``, K = 5 kernels, LSTM of 20 or 100 units (Table 4 tried 10–100), chosen on the
  validation loss.
* ``led_peclet_100``, ``led_peclet_10``, ``led_peclet_1`` — SI 8.2.4: the 3-D system with
  ``|A|_2 = 2`` and D = 0.02, 0.2, 2 (Péclet numbers 100, 10, 1), Δt = 1; ``d_z = 8``, LSTM of 40
  units, 500 + 500 samples, as the paper.

Reductions against the paper, all for a 2-core CPU (stated again in Chapter 12):

* **particle subsampling** — each training configuration shows the encoder and the likelihood a
  fresh random subset of ``particles_per_sample = 200`` of its 1000 particles per batch (the mean
  feature and the per-particle log-likelihood are unbiased estimates of the full ones; a model
  is still applied to all N particles after training);
* **smaller networks** — φ, g and the decoder trunk are residual tanh nets of 2 x 64 with
  ``d_p = 128`` (paper: 5 x 100, ``d_p = 200``); a plain autoencoder (the paper's grid also
  had non-variational ones; its 1-D pick was a VAE);
* **less data per split** — 4 trajectories of 250 coarse steps (1000 samples, as the paper's
  train and validation sets) rather than one long run, so the hidden-state propagation length
  is 200 (paper: 500).
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import torch
from torch import nn

from ..systems import PECLET_DT
from . import store
from .led import train_propagator
from .loading import load_or_train, selected
from .registry import Selection, ZooEntry, get_entry, register_entry, retrained_dir, seeded

__all__ = ["ParticleLED", "particle_data", "subsampled_particle_loss", "subsample_particles",
           "particle_validation_score", "encode_in_chunks", "train_particle_led", "load_particle_led",
           "LED_PARTICLES_1D_CONFIG", "LED_PARTICLES_3D_CONFIG", "PECLET_DIFFUSIVITIES", "PECLET_ENTRIES",
           "peclet_config",
           "micro_solver", "true_runs", "led_runs", "run_moments", "moment_errors"]


def subsample_particles(x: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random subset of ``n`` particles of every configuration: ``x [..., N, d] -> [..., n, d]``
    (without replacement, drawn independently per configuration; ``x`` itself if ``n >= N``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (particles to keep), got {n!r}")
    if x.ndim < 2:
        raise ValueError(f"x must hold configurations [..., N, d], got shape {tuple(x.shape)}")
    big_n = x.shape[-2]
    if n >= big_n:
        return x
    lead = x.shape[:-2]
    flat = x.reshape(-1, big_n, x.shape[-1])
    device = generator.device if generator is not None else None
    keys = torch.rand(flat.shape[0], big_n, generator=generator, device=device)
    idx = keys.argsort(dim=1)[:, :n].to(x.device)
    out = torch.gather(flat, 1, idx[..., None].expand(-1, -1, x.shape[-1]))
    return out.reshape(*lead, n, x.shape[-1])


def encode_in_chunks(model, x: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """``model.encode`` of configurations ``x [B, T, N, d] -> [B, T, d_z]``, ``chunk`` configurations at a
    time (the per-particle features of all of them at once would need gigabytes)."""
    flat = x.reshape(-1, *x.shape[-2:])
    with torch.no_grad():
        z = torch.cat([model.encode(flat[i:i + chunk]) for i in range(0, flat.shape[0], chunk)])
    return z.reshape(*x.shape[:-2], z.shape[-1])


def subsampled_particle_loss(model, batch: torch.Tensor, *, particles: int,
                             generator: torch.Generator | None = None, eval_seed: int = 0) -> torch.Tensor:
    """Negative log-likelihood per particle (LED SI 6.4) on a random subset of ``particles`` of each
    configuration ``batch [B, N, d]`` (or ``[B, 1, N, d]``): both the encoder's mean feature and the
    mean log-likelihood are then unbiased estimates of the full ones, at ``particles / N`` of the
    cost. Training (gradients enabled) draws a fresh subset from ``generator`` at every call;
    evaluation (under ``torch.no_grad``) always uses the same subset, seeded with ``eval_seed``, so
    validation losses of different epochs compare on the same particles. A ``loss_fn`` for
    :func:`~hitslite.train.fit` via ``functools.partial``."""
    from ..nets import particle_autoencoder_loss

    if not torch.is_grad_enabled():
        generator = torch.Generator().manual_seed(eval_seed)
    return particle_autoencoder_loss(model, subsample_particles(batch, particles, generator))


class ParticleLED(nn.Module):
    """A zoo container: one particle autoencoder and its LSTM latent propagators by size.

    ``autoencoder`` is a :class:`~hitslite.nets.ParticleAutoencoder`; ``propagators["lstm<H>"]``
    :class:`~hitslite.neural.RecurrentStepper` s on its latent states; ``selected`` names the one
    chosen on validation data (set when trained or loaded). :meth:`led` assembles the
    :class:`~hitslite.led.LED` model whose decoder samples configurations with a given generator.
    """

    def __init__(self, autoencoder: nn.Module, propagators: dict[str, nn.Module],
                 selected: str | None = None):
        super().__init__()
        self.autoencoder = autoencoder
        self.propagators = nn.ModuleDict(propagators)
        self.selected = selected or next(iter(propagators))

    def led(self, variant: str | None = None, *, n_particles: int | None = None,
            generator: torch.Generator | None = None):
        """The LED model of propagator ``variant`` (default: the selected one). Its decoder samples
        ``n_particles`` (default the autoencoder's N = 1000) positions per latent state, drawing
        from ``generator`` (explicit randomness; torch's default generator if None)."""
        from ..led import LED

        variant = variant or self.selected
        if variant not in self.propagators:
            raise KeyError(f"variant must be one of {list(self.propagators)}, got {variant!r}")
        ae = self.autoencoder

        def decode(z):
            return ae.decode(z, n_particles, generator)

        return LED(ae, self.propagators[variant], decode)

    def extra_repr(self) -> str:
        return f"selected={self.selected!r}"


def particle_data(config_or_name, splits=("train", "val")) -> dict:
    """The float32 particle trajectories ``[B, T, N, d_x]`` an entry trains on, by split (cached).
    The test split is Chapter 12's: it chooses its own horizon and number of runs."""
    from ..data import particle_dataset

    config = get_entry(config_or_name).config if isinstance(config_or_name, str) else config_or_name
    out = {split: particle_dataset(split, dim=config["dim"], **config["data"]) for split in splits}
    if isinstance(config_or_name, str):
        store.check_data_signature(config_or_name, out)  # warns if these are not the data it was trained on
    return out


def _build_particle_led(config: dict) -> ParticleLED:
    from ..nets import ParticleAutoencoder
    from ..neural import RecurrentStepper

    def make():
        arch = config["autoencoder"]["architecture"]
        ae = ParticleAutoencoder(config["dim"], config["latent_dim"], **arch)
        props = {f"lstm{h}": RecurrentStepper(config["latent_dim"], h, cell="lstm", dt=config["dt"],
                                              output=config["rnn"]["output"])
                 for h in config["rnn"]["hidden"]}
        return ParticleLED(ae, props)

    module = seeded(config["seed"], make)
    selected = config.get("selected")  # none in the config; loaded models read it from the manifest
    if selected:
        module.selected = selected
    return module


def particle_validation_score(family: ParticleLED, val, *, warm_up: int, variant: str | None = None) -> dict:
    """Latent-forecast score on validation trajectories ``val [B, T, N, d]``: warm up on the first
    ``warm_up`` states, propagate the latent state to the end, and compare the decoder's mean
    position (no sampling) with the true mean position M1: mean absolute error over time and runs."""
    from ..metrics import moments

    led = family.led(variant)
    with torch.no_grad():
        traj = led.forecast(val.x[:, :warm_up], val.x.shape[1] - warm_up, decode=False)
        m1_pred = family.autoencoder.decoder.mean(traj.x)  # [B, T, d]
    m1_true, _ = moments(val.x[:, warm_up - 1:])
    return {"m1_mae": float((m1_pred.double() - m1_true).abs().mean()), "runs": int(val.x.shape[0]),
            "steps": int(traj.x.shape[1] - 1)}


def train_particle_led(config: dict, *, workdir: Path, device, progress: bool):
    """Train the particle autoencoder, then every LSTM propagator (:func:`~hitslite.zoo.led.train_propagator`
    on the frozen autoencoder's latents): the ``train`` of the particle entries, returning ``(family,
    metrics)``. Resumable per part (:func:`hitslite.io.resume_or_fit`). Every random draw comes from a
    generator seeded from ``config["seed"]``: shuffling, the particle subsets (``seed + 2``; validation
    ``seed + 1``), the window starts (:func:`~hitslite.zoo.led.propagator_windows`)."""
    from ..data import Trajectory
    from ..io import fingerprint, resume_or_fit
    from ..train import fit

    t_start = time.perf_counter()
    data = particle_data(config)
    family = _build_particle_led(config)
    ae, ae_cfg = family.autoencoder, config["autoencoder"]
    metrics: dict = {"propagators": {}}
    data_fp = {"config": fingerprint(config), "train": fingerprint(data["train"].x),
               "val": fingerprint(data["val"].x)}

    # 1. the particle autoencoder on single configurations
    def train_autoencoder() -> dict:
        snaps = {k: data[k].x.reshape(-1, 1, *data[k].x.shape[2:]) for k in ("train", "val")}
        gen = torch.Generator().manual_seed(config["seed"] + 2)
        loss = functools.partial(subsampled_particle_loss, particles=ae_cfg["particles_per_sample"],
                                 generator=gen, eval_seed=config["seed"] + 1)
        res = fit(ae, snaps["train"], snaps["val"], loss_fn=loss, seed=config["seed"], device=device,
                  progress=progress, desc="particle autoencoder", checkpoint=workdir / "autoencoder.pt",
                  **ae_cfg["train"])
        ae.cpu().eval()
        return {**res.as_dict(), "val_nll_per_particle": res.best_loss}

    metrics["autoencoder"] = resume_or_fit(workdir / "autoencoder.done.pt", ae, train_autoencoder,
                                           fingerprint={**data_fp, "part": "autoencoder"})
    ae.cpu().eval()
    for p in ae.parameters():
        p.requires_grad_(False)
    # 2. LSTMs on the frozen autoencoder's latent trajectories (all N particles encoded)
    with torch.no_grad():
        lat = {k: Trajectory(t=data[k].t, x=encode_in_chunks(ae, data[k].x), dt=data[k].dt)
               for k in ("train", "val")}

    def train_one(name: str, rnn) -> dict:
        t0 = time.perf_counter()
        _, res = train_propagator(lat, config, seed=config["seed"], device=device, progress=progress,
                                  checkpoint=workdir / f"{name}.pt", cell=rnn, desc=f"LSTM {name}")
        rnn.cpu().eval()
        try:
            score = particle_validation_score(family, data["val"], warm_up=config["warm_up"], variant=name)
        except ValueError as err:  # ForecastDivergedError
            score = {"m1_mae": math.inf, "diverged": str(err)}
        return {**res.as_dict(), "val_rmse": math.sqrt(res.best_loss), "validation_forecast": score,
                "seconds": time.perf_counter() - t0}

    for name, rnn in family.propagators.items():
        metrics["propagators"][name] = resume_or_fit(
            workdir / f"{name}.done.pt", rnn, functools.partial(train_one, name, rnn),
            fingerprint={**data_fp, "part": name})
    for p in ae.parameters():
        p.requires_grad_(True)
    # the paper's criterion for the RNN part: the lowest validation RMSE (SI 8.1)
    scores = {n: m["val_rmse"] for n, m in metrics["propagators"].items()}
    metrics["selected"] = family.selected = min(scores, key=scores.get)
    # training compute, also when parts were finished by an earlier, interrupted run
    rnn_seconds = sum(m["seconds"] for m in metrics["propagators"].values())
    metrics["seconds"] = metrics["autoencoder"]["seconds"] + rnn_seconds
    metrics["wall_seconds_this_run"] = time.perf_counter() - t_start
    return family.cpu().eval(), metrics


def load_particle_led(name: str, *, device=None, retrain: bool = False) -> ParticleLED:
    """:func:`~hitslite.zoo.load_or_train` of a particle entry, with the propagator chosen on validation
    data (:func:`~hitslite.zoo.selected`, from :func:`~hitslite.zoo.retrained_dir` when ``retrain``) set
    as ``selected``."""
    family = load_or_train(name, retrain=retrain, device=device)
    family.selected = selected(name, directory=retrained_dir() if retrain else None).choice
    return family


def _read_selection(name: str, manifest: dict, folder: Path) -> Selection:
    """The propagator with the least validation RMSE (the paper's criterion, SI 8.1), as recorded."""
    metrics = manifest["metrics"]
    scores = {n: float(m["val_rmse"]) for n, m in metrics["propagators"].items()}
    return Selection(name, "particles", metrics["selected"], "one-step RMSE of the latent propagator",
                     scores, "validation split (particle_data)")


_AE_TRAIN = {"lr": 1e-3, "batch_size": 32, "max_epochs": 400, "patience": 40, "lr_halving_patience": 15,
             "target_loss": -1e9}  # a log-likelihood: the loss can be negative, never stop on its value
_RNN_TRAIN = {"lr": 1e-3, "batch_size": 32, "max_epochs": 2000, "patience": 200, "lr_halving_patience": 50,
              "target_loss": 1e-10}

#: SI 8.1, Tables 1-2 (reduced as the module docstring says).
LED_PARTICLES_1D_CONFIG = {
    "system": "advection_diffusion",
    "dim": 1,
    "latent_dim": 1,
    "dt": 0.5,
    "data": {"n_trajectories": 4, "n_steps": 250, "seed": 0},
    "warm_up": 60,
    "autoencoder": {
        "architecture": {"feature_dim": 128, "width": 64, "layers": 2, "kernels": 4, "hidden": 50,
                         "activation": "tanh", "n_particles": 1000},
        "particles_per_sample": 200,
        "train": _AE_TRAIN,
    },
    "rnn": {"hidden": [100], "output": "bounded", "propagation_length": 200, "bptt_length": 100,
            "burn_in": 10, "window_starts": 16, "train": _RNN_TRAIN},
    "seed": 0,
}

#: Sec. 3.1 / SI 8.2, Tables 3-4 (reduced as the module docstring says).
LED_PARTICLES_3D_CONFIG = {
    **LED_PARTICLES_1D_CONFIG,
    "dim": 3,
    "latent_dim": 8,
    "autoencoder": {**LED_PARTICLES_1D_CONFIG["autoencoder"],
                    "architecture": {**LED_PARTICLES_1D_CONFIG["autoencoder"]["architecture"], "kernels": 5}},
    "rnn": {**LED_PARTICLES_1D_CONFIG["rnn"], "hidden": [20, 100]},
}

register_entry(ZooEntry(
    "led_particles_1d",
    "LED SI 8.1: 1-D advection-diffusion particles, permutation-invariant encoder + MDN decoder (d_z = 1, "
    "K = 4) + LSTM(100)",
    LED_PARTICLES_1D_CONFIG, _build_particle_led, train_particle_led, data=particle_data,
    read_selection=_read_selection))

register_entry(ZooEntry(
    "led_particles_3d",
    "LED Sec. 3.1 / SI 8.2: 3-D advection-diffusion particles, permutation-invariant encoder + MDN decoder "
    "(d_z = 8, K = 5) + LSTM(20 | 100, chosen on validation)",
    LED_PARTICLES_3D_CONFIG, _build_particle_led, train_particle_led, data=particle_data,
    read_selection=_read_selection))


#: SI 8.2.4 (Fig. 5, SI Fig. 29): the Péclet study. ``|A|_2 = 2`` and D in {0.02, 0.2, 2} give
#: Pe = 100, 10, 1; the micro step falls with D (δt = 1e-2, 1e-3, 1e-4) and LED's coarse step is
#: Δt = 1. As the paper: d_z = 8, one LSTM layer of 40 units, 500 training and 500 validation
#: samples (2 trajectories of 250 coarse steps per split); the networks otherwise as the 3-D
#: entry's (reduced as the module docstring says).
PECLET_DIFFUSIVITIES = {100: 0.02, 10: 0.2, 1: 2.0}


def peclet_config(D: float) -> dict:
    """The config of the Péclet-study entry with diffusion coefficient ``D`` (SI 8.2.4)."""
    return {**LED_PARTICLES_3D_CONFIG, "dt": 1.0,
            "data": {"preset": "peclet", "D": D, "n_trajectories": 2, "n_steps": 250, "seed": 0},
            "rnn": {**LED_PARTICLES_3D_CONFIG["rnn"], "hidden": [40]}}


#: entry name for each Péclet number: ``led_peclet_100``, ``led_peclet_10``, ``led_peclet_1``
PECLET_ENTRIES = {pe: f"led_peclet_{pe}" for pe in PECLET_DIFFUSIVITIES}

for _pe, _D in PECLET_DIFFUSIVITIES.items():
    register_entry(ZooEntry(
        PECLET_ENTRIES[_pe],
        f"LED SI 8.2.4: Péclet study, Pe = {_pe} (D = {_D:g}, micro δt = {PECLET_DT[_D]:g}, Δt = 1); 3-D "
        "particles, d_z = 8, LSTM(40)",
        peclet_config(_D), _build_particle_led, train_particle_led, data=particle_data,
        read_selection=_read_selection))
del _pe, _D


# ----------------------------------------------------------------------------------------
# Ensembles of runs and their moment statistics (LED SI 8.1.1, 8.2.1), used by Chapter 12
# ----------------------------------------------------------------------------------------
def micro_solver(system, *, generator: torch.Generator | None = None, seed: int | None = None,
                 t0: float = 0.0):
    """The micro model on LED's coarse step: ``Repeated(EulerMaruyama(system, δt), Δt / δt)``
    (SI 8.1: δt = 1e-3, Δt = 0.5, so 500 Euler–Maruyama steps per coarse step), starting at time ``t0``."""
    from ..particles import EulerMaruyama
    from ..steppers import Repeated

    sub = round(system.save_dt / system.dt)
    if not math.isclose(sub * system.dt, system.save_dt, rel_tol=1e-9):
        raise ValueError(f"save_dt {system.save_dt} must be a multiple of dt {system.dt}")
    return Repeated(EulerMaruyama(system, generator=generator, seed=seed, t0=t0), sub)


def true_runs(system, x0: torch.Tensor, n_steps: int, *, runs: int, t0: float, seed: int,
              chunk: int = 10, progress: bool = True, desc: str = "micro solver"):
    """``runs`` independent micro-solver runs from every configuration of ``x0 [B, N, d]``, each
    ``n_steps`` coarse steps from time ``t0``: a Trajectory ``x [B * runs, n_steps + 1, N, d]``
    (run ``r`` of start ``b`` at batch index ``b * runs + r``), in ``x0``'s dtype. The noise comes
    from one generator seeded with ``seed``; the batch is advanced together by
    :func:`~hitslite.steppers.rollout` in chunks of ``chunk`` steps (a progress bar per chunk)."""
    from tqdm.auto import tqdm

    from ..data import Trajectory
    from ..steppers import rollout

    gen = torch.Generator(device=x0.device).manual_seed(seed)
    micro = micro_solver(system, generator=gen, t0=t0)
    x, carry, pieces = x0.repeat_interleave(runs, dim=0), None, []
    with torch.no_grad():
        for start in tqdm(range(0, n_steps, chunk), desc=desc, disable=not progress, leave=False):
            piece, carry = rollout(micro, x, min(chunk, n_steps - start), carry=carry, return_carry=True)
            pieces.append(piece.x if not pieces else piece.x[:, 1:])
            x = piece.x[:, -1]
    xs = torch.cat(pieces, dim=1) if pieces else x[:, None]
    t = t0 + micro.dt * torch.arange(n_steps + 1, dtype=torch.float64)
    return Trajectory(t=t, x=xs, dt=micro.dt, meta={"source": "true_runs", "runs": runs, "seed": seed})


def led_runs(family: ParticleLED, system, x_warm: torch.Tensor, n_steps: int, *, runs: int, t0: float,
             seed: int, macro_steps: int, micro_steps: int = 0, n_particles: int | None = None,
             variant: str | None = None, warm_latent: torch.Tensor | None = None):
    """``runs`` LED forecasts from every warm-up sequence ``x_warm [B, W, N, d]`` (batch index
    ``b * runs + r``): ``macro_steps`` (T_m) latent steps alternating with ``micro_steps`` (T_mu)
    micro-solver steps (``micro_steps=0``: latent propagation only). ``t0`` is the time of the last
    warm-up state, where the micro solver restarts (the drift depends on time). Each run samples
    its own configurations from the mixture density decoder and, in micro phases, its own noise;
    the decoder and the solver draw from generators seeded with ``seed`` and ``seed + 1``.

    The runs of one start share their warm-up, so it is encoded once per start (or passed as
    ``warm_latent [B, W, d_z]``) rather than once per run; every other encoding is LED's own.
    Returns :meth:`~hitslite.led.LED.multiscale_forecast`'s Trajectory ``[B * runs, n_steps + 1, N, d]``."""
    from ..led import LED

    n = x_warm.shape[-2] if n_particles is None else n_particles
    ae = family.autoencoder
    z_warm = encode_in_chunks(ae, x_warm) if warm_latent is None else warm_latent
    warm = x_warm.repeat_interleave(runs, dim=0)
    z_warm = z_warm.repeat_interleave(runs, dim=0)

    def encode(x):
        return z_warm if x is warm else ae.encode(x)

    gen = torch.Generator().manual_seed(seed)
    led = LED(encode, family.propagators[variant or family.selected], lambda z: ae.decode(z, n, gen))
    # the solver draws its noise on the states' device (EulerMaruyama refuses a generator elsewhere)
    micro = micro_solver(system, generator=torch.Generator(device=x_warm.device).manual_seed(seed + 1), t0=t0)
    return led.multiscale_forecast(warm, n_steps, micro if micro_steps else None, macro_steps=macro_steps,
                                   micro_steps=micro_steps, t0=t0)


def run_moments(x: torch.Tensor, runs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """M1 and M2 of every configuration (SI 8.1.1; averaged over the dimensions, as SI 8.2 does in 3-D),
    grouped by start: ``x [B * runs, T, N, d] -> (M1, M2)``, each ``[B, runs, T]`` float64."""
    from ..metrics import moments

    m1, m2 = moments(x, average_dims=True)
    return m1.reshape(-1, runs, x.shape[1]), m2.reshape(-1, runs, x.shape[1])


def moment_errors(pred: torch.Tensor, truth: torch.Tensor) -> dict[str, torch.Tensor]:
    """Distances between the distributions over runs of a moment: ``pred [B, R, T]`` and
    ``truth [B, R', T]`` -> ``{"wd": [B, T], "l1": [B, T]}``, the Wasserstein distance (SI eq. 24)
    and the L1 histogram distance (SI 7.3, Rice bins) at every start and time."""
    from ..metrics import l1_histogram_distance, wasserstein

    if pred.shape[0] != truth.shape[0] or pred.shape[2] != truth.shape[2]:
        raise ValueError(f"pred and truth must share starts and times, got {tuple(pred.shape)} and "
                         f"{tuple(truth.shape)}")
    wd = torch.zeros(pred.shape[0], pred.shape[2], dtype=torch.float64)
    l1 = torch.zeros_like(wd)
    for b in range(pred.shape[0]):
        for k in range(pred.shape[2]):
            a, c = pred[b, :, k], truth[b, :, k]
            wd[b, k] = wasserstein(a, c)
            l1[b, k] = l1_histogram_distance(a, c) if float(torch.cat([a, c]).std()) > 0 else 0.0
    return {"wd": wd, "l1": l1}
