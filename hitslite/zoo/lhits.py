"""Zoo entries of L-HiTS (L-HiTS Sec. 3.3, 4; Tables 5-6): autoencoders, latent hierarchies, and the
full-state HiTS baselines on the FitzHugh–Nagumo and Kuramoto–Sivashinsky data.

* ``lhits_<system>``: an autoencoder and eleven latent ResNet steppers (:class:`LatentHiTS`); the
  coupled levels are chosen on the encoded validation trajectories when it is trained.
* ``hits_full_<system>``: multiscale HiTS on the full state, same data and training (the baseline of
  L-HiTS Table 2).
* ``lhits_dim_sweep_<system>``: the L-HiTS recipe at the other latent sizes of Table 1 / Fig. 6
  (:class:`LatentDimensionSweep`).

:func:`lhits_autoencoders` gives Chapter 8 the autoencoders of these entries by latent size.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn

from ..data import cache_dir, cache_key
from ..io import fingerprint, resume_or_fit
from ..neural import ResNetStepper
from ..train import fit_levels
from . import store
from .loading import load_pretrained
from .registry import ENTRIES, Selection, ZooEntry, get_entry, register_entry, seeded, zoo_dir

__all__ = ["lhits_data", "lhits_autoencoders", "lhits_initial_autoencoder", "LatentHiTS",
           "LatentDimensionSweep", "rescore_lhits_selection", "LHITS_AE_TRAIN", "LHITS_LEVEL_TRAIN",
           "LHITS_SYSTEMS", "LHITS_SWEEP_DIMS", "LHITS_DIM_SWEEP", "LHITS_RESNET_HIDDEN"]


def _lhits_data(config: dict) -> dict:
    """float32 splits with flat states ``[B, T, state_dim]`` (FHN: ``[u; v]``, 202 values, as the paper)."""
    from ..data import Trajectory, lhits_splits

    out = {}
    for k, v in lhits_splits(config["system"], **config["data"]).items():
        x = v.x.reshape(*v.x.shape[:2], config["state_dim"]).to(torch.float32)
        out[k] = Trajectory(t=v.t, x=x, dt=v.dt, meta=v.meta)
    return out


def lhits_data(name: str) -> dict:
    """The float32 train / val / test splits an L-HiTS zoo entry was trained on, states flattened to
    ``[B, T, state_dim]`` (FHN: ``[u; v]``, 202 values)."""
    config = get_entry(name).config
    if "state_dim" not in config or "system" not in config or config["system"] not in ("fhn", "ks"):
        raise ValueError("name must be an L-HiTS entry (lhits_*, hits_full_*, lhits_dim_sweep_*), "
                         f"got {name!r}")
    return store.entry_data(name)


def _make_autoencoder(state_shape, ae: dict) -> nn.Module:
    from ..nets import Autoencoder

    return Autoencoder(state_shape, ae["latent_dim"], hidden=ae["hidden"])


def _fit_autoencoder(model, splits: dict, ae: dict, *, workdir: Path, tag: str, device, progress: bool,
                     seed: int) -> dict:
    """Min-max scaling and reconstruction training (L-HiTS eq. 10) on training snapshots; resumable."""
    from ..nets import reconstruction_loss
    from ..train import fit

    stride = ae["snapshot_stride"]
    shape = model.state_shape
    train = splits["train"].x[:, ::stride].reshape(-1, 1, *shape)
    val = splits["val"].x[:, ::stride].reshape(-1, 1, *shape)

    def run() -> dict:
        model.fit_scaling(splits["train"].x)  # training data only
        res = fit(model, train, val, loss_fn=reconstruction_loss, seed=seed, progress=progress, device=device,
                  desc=f"autoencoder {tag}", checkpoint=workdir / f"{tag}.pt", **ae["train"])
        model.cpu()
        return res.as_dict()

    return resume_or_fit(workdir / f"{tag}.done.pt", model, run, fingerprint={
        "train": fingerprint(train), "val": fingerprint(val),
        "recipe": fingerprint({"autoencoder": ae, "seed": seed, "tag": tag})})


def _encode_splits(coords, splits: dict) -> dict:
    from ..data import Trajectory

    with torch.no_grad():
        return {k: Trajectory(t=v.t, x=coords.encode(v.x).detach(), dt=v.dt, meta={"encoded": k})
                for k, v in splits.items()}


def _fit_resnet_levels(module: nn.ModuleList, train, val, config: dict, *, workdir: Path, device,
                       progress: bool) -> dict:
    settings = dict(config["train"])
    n_forward, starts = settings.pop("n_forward"), settings.pop("starts")
    by_k = dict(zip(config["levels"], module))
    _, results = fit_levels(lambda dt: by_k[round(dt / train.dt).bit_length() - 1], train, val,
                            levels=config["levels"], n_forward=n_forward, starts=starts, seed=config["seed"],
                            progress=progress, checkpoint_dir=workdir, device=device, **settings)
    module.cpu()
    # each level's own training time, accumulated over interrupted runs (a resumed level costs nothing now)
    return {"seconds": sum(r.seconds for r in results),
            "levels": {f"NNTS {k} (dt={train.dt * 2**k:g})": r.as_dict()
                       for k, r in zip(config["levels"], results)}}


def _selection_metrics(levels, val) -> dict:
    from ..multiscale import select_levels

    sel = select_levels(list(levels), val)
    return {"lower": sel.lower, "upper": sel.upper, "val_mse": sel.error,
            "upper_scores": {str(k): v for k, v in sel.upper_scores.items()},
            "lower_scores": {str(k): v for k, v in sel.lower_scores.items()}}


def _state_shape(config: dict) -> int:
    return config["state_dim"]


class LatentHiTS(nn.Module):
    """A zoo container: ``autoencoder`` and the latent ``levels`` (finest first).

    Iterating yields one :class:`~hitslite.neural.Latent` stepper per level (encode, step, decode),
    so generic tools that expect a list of full-state steppers work; :meth:`hierarchy` is the
    efficient L-HiTS model, ``Latent(autoencoder, Hierarchy(levels), autoencoder)``.
    """

    def __init__(self, autoencoder: nn.Module, levels):
        super().__init__()
        self.autoencoder = autoencoder
        self.levels = nn.ModuleList(levels)

    def __iter__(self):
        from ..neural import Latent

        return iter([Latent(self.autoencoder, s, self.autoencoder) for s in self.levels])

    def __len__(self) -> int:
        return len(self.levels)

    def hierarchy(self, lower: int = 0, upper: int | None = None):
        """``Latent(autoencoder, Hierarchy(levels[lower..upper]), autoencoder)`` (indices inclusive)."""
        from ..multiscale import Hierarchy
        from ..neural import Latent

        upper = len(self.levels) - 1 if upper is None else upper
        return Latent(self.autoencoder, Hierarchy(list(self.levels)[lower : upper + 1]), self.autoencoder)


def _build_lhits(config: dict) -> nn.Module:
    """:class:`LatentHiTS`: an Autoencoder and ResNetStepper(z, dt 2^k) for k in ``levels``."""
    dt, z = config["dt"], config["autoencoder"]["latent_dim"]
    return seeded(config["seed"], lambda: LatentHiTS(
        _make_autoencoder(_state_shape(config), config["autoencoder"]),
        [ResNetStepper(z, dt * 2**k, hidden=config["hidden"]) for k in config["levels"]]))


def _train_lhits(config: dict, *, workdir: Path, device, progress: bool):
    """L-HiTS Sec. 3.3: autoencoder, then one latent ResNet per step on encoded trajectories."""
    splits = _lhits_data(config)
    module = _build_lhits(config)
    t0 = time.perf_counter()
    ae_metrics = _fit_autoencoder(module.autoencoder, splits, config["autoencoder"], workdir=workdir,
                                  tag=f"ae-z{config['autoencoder']['latent_dim']}", device=device,
                                  progress=progress, seed=config["seed"])
    ae_seconds = time.perf_counter() - t0
    latent = _encode_splits(module.autoencoder, {k: splits[k] for k in ("train", "val")})
    level_metrics = _fit_resnet_levels(module.levels, latent["train"], latent["val"], config,
                                       workdir=workdir, device=device, progress=progress)
    ae_seconds = max(ae_seconds, ae_metrics["seconds"])  # a resumed run: the fit's own accumulated time
    metrics = {"seconds": ae_seconds + level_metrics["seconds"], "autoencoder_seconds": ae_seconds,
               "levels_seconds": level_metrics["seconds"], "autoencoder": ae_metrics,
               "levels": level_metrics["levels"],
               "selection": _selection_metrics(module.levels, latent["val"])}
    return module.cpu(), metrics


def _build_full_hits(config: dict) -> nn.Module:
    dt = config["dt"]
    return seeded(config["seed"], lambda: nn.ModuleList(
        ResNetStepper(_state_shape(config), dt * 2**k, hidden=config["hidden"]) for k in config["levels"]))


def _train_full_hits(config: dict, *, workdir: Path, device, progress: bool):
    """Multiscale HiTS on the full state (the baseline of L-HiTS Table 2), same data and training."""
    splits = _lhits_data(config)
    module = _build_full_hits(config)
    level_metrics = _fit_resnet_levels(module, splits["train"], splits["val"], config, workdir=workdir,
                                       device=device, progress=progress)
    return module.cpu(), {**level_metrics, "selection": _selection_metrics(module, splits["val"])}


def rescore_lhits_selection(name: str, *, reason: str) -> dict:
    """Maintainer tool: choose the coupled levels of an L-HiTS-family entry (``lhits_*``, ``hits_full_*``,
    ``lhits_dim_sweep_*``) again on the validation data made now, exactly as training did, and write
    the new record (the previous one is kept under ``previous_selection`` with ``reason``); also records
    the data signatures. Used once, when the KS data became canonical (see
    :func:`hitslite.zoo.led.rescore_validation`). Returns the new selection record(s)."""
    config = get_entry(name).config
    manifest = store.verify(name)
    module = load_pretrained(name)
    splits = _lhits_data(config)
    metrics = manifest["metrics"]
    def encoded_val(autoencoder):
        return _encode_splits(autoencoder, {"val": splits["val"]})["val"]

    if name.startswith("hits_full_"):
        targets = {None: (module, splits["val"], metrics)}
    elif name.startswith("lhits_dim_sweep_"):
        targets = {z: (m.levels, encoded_val(m.autoencoder), metrics["by_dim"][z]) for z, m in module.items()}
    else:
        targets = {None: (module.levels, encoded_val(module.autoencoder), metrics)}
    new = {}
    for key, (levels, val, record) in targets.items():
        record["previous_selection"] = {"reason": reason, **record["selection"]}
        record["selection"] = _selection_metrics(levels, val)
        new[key] = record["selection"]
    manifest["data_signature"] = store.data_signatures(splits)
    manifest["data_signature_note"] = ("selection and signatures of the canonical data; the weights were "
                                       "trained on trajectories of the same recipe made on another CPU")
    store.write_manifest(zoo_dir() / name, manifest)
    return new


def lhits_autoencoders(system: str, *, retrain: bool = False, device: torch.device | str | None = None,
                       directory: str | os.PathLike | None = None, progress: bool = True) -> dict:
    """The L-HiTS autoencoders of ``system`` (``"fhn"`` or ``"ks"``) by latent size, ``{z: Autoencoder}``
    for z in :data:`LHITS_SWEEP_DIMS` (L-HiTS Fig. 4A / 5A, Table 1), in eval mode on the CPU.

    By default they are the autoencoders of the zoo entries ``lhits_<system>`` and
    ``lhits_dim_sweep_<system>`` (from ``directory``, default the committed zoo), so Chapter 8's
    reconstruction errors belong to the same models as Table 1's forecasts. With ``retrain`` each
    is trained again alone (minutes, not the hours of the latent levels), with the same recipe and
    the same initial weights as inside those entries; checkpoints go to ``<cache>/zoo-work``.
    """
    if system not in LHITS_SYSTEMS:
        raise ValueError(f"system must be one of {sorted(LHITS_SYSTEMS)}, got {system!r}")
    name, sweep_name = f"lhits_{system}", f"lhits_dim_sweep_{system}"
    if not retrain:
        main = load_pretrained(name, directory=directory)
        out = {main.autoencoder.latent_dim: main.autoencoder}
        out.update({m.autoencoder.latent_dim: m.autoencoder
                    for m in load_pretrained(sweep_name, directory=directory).values()})
        return dict(sorted(out.items()))
    config = ENTRIES[name].config
    splits = _lhits_data(config)
    out = {}
    for z in LHITS_SWEEP_DIMS:
        cz = _lhits_for_dim(config, z)
        ae = lhits_initial_autoencoder(system, z)
        workdir = cache_dir() / "zoo-work" / f"lhits_autoencoder_{system}-{cache_key(cz)}"
        workdir.mkdir(parents=True, exist_ok=True)
        _fit_autoencoder(ae, splits, cz["autoencoder"], workdir=workdir, tag=f"ae-z{z}",
                         device=torch.device(device or "cpu"), progress=progress, seed=cz["seed"])
        out[z] = ae.cpu().eval()
    return out


def lhits_initial_autoencoder(system: str, z: int) -> nn.Module:
    """The untrained autoencoder of latent size ``z`` that the L-HiTS entries of ``system`` start from
    (``lhits_<system>`` or ``lhits_dim_sweep_<system>``): what :func:`lhits_autoencoders` trains with
    ``retrain=True``."""
    if system not in LHITS_SYSTEMS:
        raise ValueError(f"system must be one of {sorted(LHITS_SYSTEMS)}, got {system!r}")
    return _build_lhits(_lhits_for_dim(ENTRIES[f"lhits_{system}"].config, z)).autoencoder


class LatentDimensionSweep(nn.ModuleDict):
    """L-HiTS for several latent sizes (keys ``"z1"``, ``"z4"`` ...), each a :class:`LatentHiTS`
    (its own autoencoder and eleven latent levels): L-HiTS Table 1 and Fig. 6.

    Iterating yields every level of every latent size as a full-state
    :class:`~hitslite.neural.Latent` stepper (for the generic zoo checks); use ``sweep["z4"]``.
    """

    def __iter__(self):
        return iter([stepper for model in self.values() for stepper in model])


def _lhits_for_dim(config: dict, z: int) -> dict:
    return {**config, "autoencoder": {**config["autoencoder"], "latent_dim": z}}


def _build_lhits_dim_sweep(config: dict) -> nn.Module:
    return LatentDimensionSweep({f"z{z}": _build_lhits(_lhits_for_dim(config, z))
                                 for z in config["latent_dims"]})


def _train_lhits_dim_sweep(config: dict, *, workdir: Path, device, progress: bool):
    """:func:`_train_lhits` once per latent size, each resumable in its own subfolder."""
    models, metrics = {}, {}
    for z in config["latent_dims"]:
        folder = workdir / f"z{z}"
        folder.mkdir(parents=True, exist_ok=True)
        models[f"z{z}"], metrics[f"z{z}"] = _train_lhits(_lhits_for_dim(config, z), workdir=folder,
                                                         device=device, progress=progress)
    seconds = sum(m["seconds"] for m in metrics.values())
    return LatentDimensionSweep(models), {"seconds": seconds, "by_dim": metrics}


#: Training settings shared by the L-HiTS entries (Tables 5–6 use Adam 1e-3, batch 32, 5000 AE
#: epochs and 20000 ResNet epochs). Autoencoders: batch 256, learning-rate halving on plateaus and
#: early stopping on validation. Latent and full-state levels: the paper's batch 32, 512 random window
#: starts per trajectory, 250 epochs with a cosine learning-rate decay, early stopping on validation
#: (the manifests record each level's losses, epochs and seconds).
LHITS_AE_TRAIN = {"lr": 1e-3, "batch_size": 256, "max_epochs": 300, "patience": 30, "lr_halving_patience": 10,
                  "target_loss": 1e-9}
LHITS_LEVEL_TRAIN = {"n_forward": 5, "starts": 512, "lr": 1e-3, "batch_size": 32, "max_epochs": 250,
                     "patience": 50, "cosine_decay": True, "min_lr": 1e-5, "target_loss": 1e-9}
LHITS_SYSTEMS = {
    # Table 5: AE 100 : 100 : 100 : z (mirrored), z = 2; 202 = [u; v] on 101 nodes; T = 5120 steps of
    # Δt = 1: the LED lattice-Boltzmann data the authors reused, at LED's own sampling (200 LB steps;
    # Table 5's Δt = 0.01 would cover a quarter of one oscillation), six initial conditions split
    # 3 / 2 / 1 as in their code, pooled over five seeded families (15 / 10 / 5 trajectories), recorded
    # from t = 1000, after the transients (Chapter 9); autoencoders see every 4th training snapshot.
    "fhn": {"system": "fhn", "state_dim": 202, "dt": 1.0,
            "data": {"n_steps": 5120, "save_every": 200, "t_drop": 1000.0, "seeds": [0, 1, 2, 3, 4]},
            "latent_dim": 2,
            "ae_hidden": [100, 100, 100], "ae_stride": 4},
    # Table 6: AE 120 : 120 : 100 : z (mirrored), z = 8; 120 nodes, Δt = 0.05, recorded on the attractor
    # (after LED's 1000 time units of transient)
    "ks": {"system": "ks", "state_dim": 120, "dt": 0.05, "data": {"transient": 1000.0}, "latent_dim": 8,
           "ae_hidden": [120, 120, 100]},
}
#: Latent sizes of the autoencoder sweep (L-HiTS Fig. 4A / 5A, Table 1).
LHITS_SWEEP_DIMS = [1, 2, 4, 6, 8, 10]
#: Latent sizes of the L-HiTS sweep (Table 1, Fig. 6) besides the main entry's.
LHITS_DIM_SWEEP = {name: [z for z in LHITS_SWEEP_DIMS if z != system["latent_dim"]]
                   for name, system in LHITS_SYSTEMS.items()}
#: ResNet widths: the paper uses 128 x 6 (FHN) and 1024 x 3 (KS); three layers of 128 train in
#: minutes on a CPU. The full-state baseline uses the same widths, so only the input size differs.
LHITS_RESNET_HIDDEN = [128, 128, 128]


def _read_selection(name: str, manifest: dict, folder: Path) -> Selection:
    """``metrics["selection"]`` of ``lhits_*`` (latent levels) and ``hits_full_*`` (full-state levels)."""
    space = "full-state" if manifest["config"].get("autoencoder") is None else "latent"
    return Selection.of_level_search(name, "lhits", manifest["metrics"]["selection"],
                                     metric=f"{space} forecast MSE over the validation horizon",
                                     source="validation split (lhits_data)")


def _read_sweep_selections(name: str, manifest: dict, folder: Path) -> dict[str, Selection]:
    """One latent-level selection per latent size of ``lhits_dim_sweep_*`` (parts ``"z1"``, ``"z4"`` ...)."""
    return {key: Selection.of_level_search(name, "lhits", record["selection"],
                                           metric="latent forecast MSE over the validation horizon",
                                           source="validation split (lhits_data)")
            for key, record in manifest["metrics"]["by_dim"].items()}


def _lhits_common(s: dict) -> dict:
    return {"system": s["system"], "state_dim": s["state_dim"], "dt": s["dt"], "data": s["data"], "seed": 0}


for _name, _s in LHITS_SYSTEMS.items():
    _ae = {"latent_dim": _s["latent_dim"], "hidden": _s["ae_hidden"],
           "snapshot_stride": _s.get("ae_stride", 2), "train": LHITS_AE_TRAIN}
    register_entry(ZooEntry(
        f"lhits_{_name}",
        f"L-HiTS Sec. 3.3 on {_name.upper()}: autoencoder (z = {_s['latent_dim']}) + 11 latent ResNet "
        "steppers dt 2^k",
        {**_lhits_common(_s), "autoencoder": _ae, "levels": list(range(11)), "hidden": LHITS_RESNET_HIDDEN,
         "train": LHITS_LEVEL_TRAIN},
        _build_lhits, _train_lhits, data=_lhits_data, read_selection=_read_selection))
    register_entry(ZooEntry(
        f"hits_full_{_name}",
        f"Full-state multiscale HiTS on the L-HiTS {_name.upper()} data (baseline of L-HiTS Table 2)",
        {**_lhits_common(_s), "levels": list(range(11)), "hidden": LHITS_RESNET_HIDDEN,
         "train": LHITS_LEVEL_TRAIN},
        _build_full_hits, _train_full_hits, data=_lhits_data, read_selection=_read_selection))
    register_entry(ZooEntry(
        f"lhits_dim_sweep_{_name}",
        f"L-HiTS on {_name.upper()} for z in {tuple(LHITS_DIM_SWEEP[_name])} (L-HiTS Table 1, Fig. 6; z = "
        f"{_s['latent_dim']} is lhits_{_name})",
        {**_lhits_common(_s), "latent_dims": LHITS_DIM_SWEEP[_name],
         "autoencoder": {**_ae, "latent_dim": None}, "levels": list(range(11)), "hidden": LHITS_RESNET_HIDDEN,
         "train": LHITS_LEVEL_TRAIN},
        _build_lhits_dim_sweep, _train_lhits_dim_sweep, data=_lhits_data,
        read_selection=_read_sweep_selections,
        storage_dtype="float16"))  # 55 ResNets and 5 autoencoders: half-size files keep data/ small
del _name, _s, _ae
