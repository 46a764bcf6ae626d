"""Losses and ``fit``: the only place in the library with optimisers, epochs and progress bars.

* :func:`make_windows` cuts trajectories into training samples (HiTS eq. 6): ``p + 1`` states
  spaced ``stride`` samples apart.
* :func:`multistep_loss` — HiTS eq. (9): roll the stepper ``p`` steps from the first state of
  each window and average the squared error over the ``p`` predicted states.
* :func:`fit` — Adam, minibatches, early stopping on the validation loss with the best weights
  restored, a tqdm bar, resumable checkpoints; returns the loss history.
* :func:`fit_levels` — one stepper per step size ``dt * 2**k`` (the HiTS NNTS 0 … NNTS m-1).

Why one module of ~700 lines: every loss here is written for :func:`fit`'s one calling convention
(``loss_fn(model, batch)`` on windows from :func:`make_windows`), and a reader looking for "how is this
trained" should find the windows, the losses and the loop on one page.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .data import Trajectory
from .io import fingerprint, load_checkpoint, resume_or_fit, save_checkpoint
from .steppers import Stepper

__all__ = ["make_windows", "multistep_loss", "fit", "fit_stack", "fit_levels", "FitResult",
           "stack_multistep_loss"]


def make_windows(
    traj: Trajectory,
    stride: int,
    n_forward: int = 5,
    *,
    starts: str | int = "first",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Training windows ``[N, n_forward + 1, *S]``: the states
    ``x[s], x[s + stride], …, x[s + n_forward*stride]``.

    ``starts`` chooses the window starts ``s`` in each trajectory:

    * ``"first"`` — one window per trajectory, starting at t = 0 (the HiTS code's protocol);
    * ``"all"`` — every admissible start (many, strongly correlated windows);
    * an int ``k`` — ``k`` distinct random starts per trajectory drawn with ``generator``.
    """
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive int, got {stride!r}")
    if isinstance(n_forward, bool) or not isinstance(n_forward, int) or n_forward < 1:
        raise ValueError(f"n_forward must be a positive int, got {n_forward!r}")
    span = stride * n_forward
    n_starts = traj.x.shape[1] - span
    if n_starts < 1:
        raise ValueError(
            f"trajectories of {traj.n_steps} steps are too short for n_forward={n_forward} steps of "
            f"stride {stride} (need at least {span} steps)"
        )
    offsets = torch.arange(n_forward + 1) * stride
    if starts == "first":
        return traj.x[:, offsets]
    if starts == "all":
        idx = torch.arange(n_starts)[:, None] + offsets  # [n_starts, p+1]
        return traj.x[:, idx].reshape(-1, n_forward + 1, *traj.state_shape)
    if isinstance(starts, int) and not isinstance(starts, bool) and starts >= 1:
        k = min(starts, n_starts)
        choice = torch.stack([torch.randperm(n_starts, generator=generator)[:k]
                              for _ in range(traj.batch_size)])
        idx = choice[:, :, None] + offsets  # [B, k, p+1]
        batch = torch.arange(traj.batch_size)[:, None, None]
        return traj.x[batch, idx].reshape(-1, n_forward + 1, *traj.state_shape)
    raise ValueError(f"starts must be 'first', 'all' or a positive int, got {starts!r}")


def multistep_loss(stepper: Stepper, windows: torch.Tensor) -> torch.Tensor:
    """HiTS eq. (9): mean over windows, the ``p`` forward steps and the state of the squared error.

    ``windows [N, p + 1, *S]``; the stepper is applied recurrently from ``windows[:, 0]``.
    """
    x = windows[:, 0]
    carry = stepper.init_carry(x)
    total = windows.new_zeros(())
    p = windows.shape[1] - 1
    for k in range(1, p + 1):
        x, carry = stepper.step(x, carry)
        total = total + torch.mean((x - windows[:, k]) ** 2)
    return total / p


@dataclass
class FitResult:
    """What :func:`fit` returns: per-epoch history and the restored best weights' losses."""

    history: dict[str, list[float]] = field(
        default_factory=lambda: {"epoch": [], "train": [], "val": [], "lr": []})
    best_epoch: int = 0
    best_loss: float = math.inf
    epochs: int = 0
    seconds: float = 0.0
    stop_reason: str = ""

    @property
    def train_loss(self) -> float:
        """Training loss at the best epoch."""
        i = self.history["epoch"].index(self.best_epoch) if self.best_epoch in self.history["epoch"] else -1
        return self.history["train"][i]

    def as_dict(self) -> dict:
        return {
            "best_epoch": self.best_epoch, "best_loss": self.best_loss, "train_loss": self.train_loss,
            "epochs": self.epochs, "seconds": round(self.seconds, 2), "stop_reason": self.stop_reason,
        }

    def to_state(self) -> dict:
        """Everything, history included, as JSON-able values (for checkpoints; see :meth:`from_state`)."""
        return {"history": {k: list(v) for k, v in self.history.items()}, "best_epoch": self.best_epoch,
                "best_loss": self.best_loss, "epochs": self.epochs, "seconds": self.seconds,
                "stop_reason": self.stop_reason}

    @classmethod
    def from_state(cls, state: dict) -> FitResult:
        """The :class:`FitResult` that :meth:`to_state` described."""
        return cls(history={k: list(v) for k, v in state["history"].items()}, best_epoch=state["best_epoch"],
                   best_loss=state["best_loss"], epochs=state["epochs"], seconds=state["seconds"],
                   stop_reason=state["stop_reason"])


#: the arguments of :func:`fit` that decide its result (fingerprinted with a checkpoint); the loss function
#: is not among them: functions have no identity that is stable from one process to the next
_FIT_HYPERPARAMETERS = ("lr", "batch_size", "max_epochs", "patience", "target_loss", "lr_halving_patience",
                        "cosine_decay", "min_lr", "seed")


def _loss_generators(loss_fn) -> list[torch.Generator]:
    """The ``torch.Generator`` s bound into a ``functools.partial`` loss (e.g. its noise generator)."""
    found = []
    while isinstance(loss_fn, functools.partial):
        found += [v for v in (*loss_fn.args, *loss_fn.keywords.values()) if isinstance(v, torch.Generator)]
        loss_fn = loss_fn.func
    return found


def _check_windows(name: str, windows: torch.Tensor) -> None:
    """ValueError naming ``name`` for no windows at all, or NaN/Inf in them."""
    if windows.shape[0] == 0:
        raise ValueError(f"{name} holds 0 windows (shape {tuple(windows.shape)}); need at least one")
    if windows.is_floating_point() or windows.is_complex():
        bad = ~torch.isfinite(windows)
        if bool(bad.any()):
            first = int(bad.reshape(windows.shape[0], -1).any(dim=1).nonzero()[0])
            raise ValueError(f"{name} contains NaN or Inf ({int(bad.sum())} values; first in window "
                             f"{first}); training on it would return garbage weights — clean or drop those "
                             "windows")


def _diverged(what: str, value: float, epoch: int, lr) -> FloatingPointError:
    return FloatingPointError(
        f"{what} became {value} at epoch {epoch + 1}: training diverged. Try a smaller lr (now {lr:g}); "
        "the weights of this run are not usable")


def epoch_stop_reason(train_loss: float, epoch: int, since_best: int, target_loss: float,
                      patience: int | None) -> str:
    """Why training stops after ``epoch`` (0-based), or ``""`` to go on — shared by fit and fit_stack
    (a non-finite loss never gets here: both raise :func:`_diverged` first)."""
    if train_loss <= target_loss:
        return f"training loss {train_loss:.2e} <= target {target_loss:g}"
    if patience is not None and since_best >= patience:
        return f"no validation improvement for {patience} epochs"
    return ""


def fit(
    stepper: Stepper,
    train: torch.Tensor,
    val: torch.Tensor | None = None,
    *,
    loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] = multistep_loss,
    lr: float = 1e-3,
    batch_size: int = 320,
    max_epochs: int = 1000,
    patience: int | None = 50,
    target_loss: float = 1e-8,
    lr_halving_patience: int | None = None,
    cosine_decay: bool = False,
    min_lr: float = 1e-6,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    desc: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 25,
) -> FitResult:
    """Train ``stepper`` on windows ``train [N, p+1, *S]`` with Adam; returns a :class:`FitResult`.

    One epoch is a pass over ``train`` in shuffled minibatches of ``batch_size``. After every
    epoch the loss on ``val`` (the selection criterion; the training loss if ``val`` is None) is
    recorded; training stops after ``max_epochs``, when the training loss falls below
    ``target_loss`` (HiTS App. A.1 uses 1e-8), or after ``patience`` epochs without a better
    validation loss. The best weights are restored at the end.

    HiTS trains with a constant learning rate. With ``lr_halving_patience`` set, the learning
    rate is halved (down to ``min_lr``) after that many epochs without a better validation loss,
    as LED does (SI 6.5); this reaches a much lower loss floor for the coarse flow maps. With
    ``cosine_decay`` instead, the learning rate follows a half cosine from ``lr`` at the first epoch
    to ``min_lr`` at ``max_epochs`` (useful when the validation loss is a poor proxy for the goal,
    e.g. one-step error for a free-running forecast, and should not steer the schedule).

    ``device`` moves the stepper and data there (default: where the stepper already is).
    ``checkpoint`` makes the run resumable: state is saved atomically every ``checkpoint_every``
    epochs (:func:`hitslite.io.save_checkpoint`: no pickled objects) and a later call with the same
    path continues where it stopped. The checkpoint records a fingerprint of ``train``, ``val``, the
    hyperparameters and the stepper's initial weights; a checkpoint of a different run is refused
    with a ``ValueError`` (delete it to start afresh). Shuffling uses a ``torch.Generator`` seeded
    with ``seed``; generators bound into a ``functools.partial`` ``loss_fn`` (noise, subsampling)
    are checkpointed too, so a resumed run draws what an uninterrupted one would. Nothing is
    seeded globally.

    Refuses garbage: NaN/Inf or zero windows in ``train`` or ``val`` are a ``ValueError``; a
    training or validation loss that becomes NaN/Inf raises ``FloatingPointError`` naming the epoch
    (typically ``lr`` is too large) instead of returning weights that never trained.
    """
    from tqdm.auto import tqdm

    if train.ndim < 3:
        raise ValueError(f"train must be windows of shape [N, p+1, *state], got {tuple(train.shape)}")
    if val is not None and tuple(val.shape[1:]) != tuple(train.shape[1:]):
        raise ValueError(f"val windows must have shape [M, {', '.join(map(str, train.shape[1:]))}], "
                         f"got {tuple(val.shape)}")
    if not (lr > 0 and batch_size >= 1 and max_epochs >= 1):
        raise ValueError(f"need lr > 0, batch_size >= 1, max_epochs >= 1; "
                         f"got {lr}, {batch_size}, {max_epochs}")
    if cosine_decay and lr_halving_patience:
        raise ValueError("cosine_decay and lr_halving_patience are two learning-rate schedules; pass one")
    _check_windows("train", train)
    if val is not None:
        _check_windows("val", val)
    params = list(stepper.parameters())
    if not params:
        raise ValueError("stepper has no trainable parameters")
    loss_gens = _loss_generators(loss_fn)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None:
        hparams = {"lr": lr, "batch_size": batch_size, "max_epochs": max_epochs, "patience": patience,
                   "target_loss": target_loss, "lr_halving_patience": lr_halving_patience,
                   "cosine_decay": cosine_decay, "min_lr": min_lr, "seed": seed}
        run_fp = {"train": fingerprint(train), "val": fingerprint(val),
                  "hyperparameters": fingerprint(hparams),
                  "initial_weights": fingerprint(stepper.state_dict()),
                  "loss_generators": fingerprint(loss_gens)}
    device = torch.device(device) if device is not None else params[0].device
    dtype = params[0].dtype
    stepper.to(device)
    train = train.to(device=device, dtype=dtype)
    val = val.to(device=device, dtype=dtype) if val is not None else None
    opt = torch.optim.Adam(stepper.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    result = FitResult()
    best_state = copy.deepcopy(stepper.state_dict())
    start_epoch, since_best, elapsed = 0, 0, 0.0

    if ckpt is not None and ckpt.exists():
        state, meta = load_checkpoint(ckpt, fingerprint=run_fp, map_location=device)
        stepper.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        for g, g_state in zip(loss_gens, state["loss_generators"]):
            g.set_state(g_state)
        best_state, result = state["best_state"], FitResult.from_state(meta["result"])
        start_epoch, since_best, elapsed = meta["epoch"], meta["since_best"], result.seconds

    t0 = time.perf_counter() - elapsed
    bar = tqdm(range(start_epoch, max_epochs), desc=desc or f"fit dt={getattr(stepper, 'dt', '?')}",
               disable=not progress, leave=False, initial=start_epoch, total=max_epochs)
    epoch = start_epoch
    for epoch in bar:
        if cosine_decay:
            for group in opt.param_groups:
                group["lr"] = min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * epoch / max_epochs))
        stepper.train()
        perm = torch.randperm(train.shape[0], generator=gen).to(device)
        running, seen = 0.0, 0
        for i in range(0, train.shape[0], batch_size):
            batch = train[perm[i : i + batch_size]]
            loss = loss_fn(stepper, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += float(loss.detach()) * batch.shape[0]
            seen += batch.shape[0]
        train_loss = running / seen
        if not math.isfinite(train_loss):
            raise _diverged("the training loss", train_loss, epoch, opt.param_groups[0]["lr"])
        stepper.eval()
        if val is not None:
            with torch.no_grad():
                val_loss = float(loss_fn(stepper, val))
            if not math.isfinite(val_loss):
                raise _diverged("the validation loss", val_loss, epoch, opt.param_groups[0]["lr"])
        else:
            val_loss = train_loss
        result.history["epoch"].append(epoch + 1)
        result.history["train"].append(train_loss)
        result.history["val"].append(val_loss)
        result.history["lr"].append(opt.param_groups[0]["lr"])
        if val_loss < result.best_loss:
            result.best_loss, result.best_epoch, since_best = val_loss, epoch + 1, 0
            best_state = copy.deepcopy(stepper.state_dict())
        else:
            since_best += 1
            if lr_halving_patience and since_best % lr_halving_patience == 0:
                for group in opt.param_groups:
                    group["lr"] = max(min_lr, group["lr"] / 2)
        bar.set_postfix(train=f"{train_loss:.2e}", val=f"{val_loss:.2e}", best=f"{result.best_loss:.2e}",
                        lr=f"{opt.param_groups[0]['lr']:.0e}")
        result.epochs = epoch + 1
        result.seconds = time.perf_counter() - t0
        result.stop_reason = epoch_stop_reason(train_loss, epoch, since_best, target_loss, patience)
        if result.stop_reason:
            break
        if ckpt is not None and (epoch + 1) % checkpoint_every == 0:
            save_checkpoint(ckpt, {"model": stepper.state_dict(), "optimizer": opt.state_dict(),
                                   "generator": gen.get_state(), "best_state": best_state,
                                   "loss_generators": [g.get_state() for g in loss_gens]},
                            {"result": result.to_state(), "epoch": epoch + 1, "since_best": since_best},
                            fingerprint=run_fp)
    else:
        result.stop_reason = result.stop_reason or f"reached max_epochs={max_epochs}"
    bar.close()
    stepper.load_state_dict(best_state)
    stepper.eval()
    result.seconds = time.perf_counter() - t0
    if ckpt is not None and ckpt.exists():
        ckpt.unlink()
    return result


def fit_levels(
    make_stepper: Callable[[float], Stepper],
    train: Trajectory,
    val: Trajectory,
    *,
    levels: Iterable[int] = range(11),
    n_forward: int = 5,
    starts: str | int = "first",
    seed: int = 0,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    batched: bool = False,
    **fit_kwargs,
) -> tuple[list[Stepper], list[FitResult]]:
    """Train one stepper per step size ``train.dt * 2**k`` for ``k`` in ``levels`` (NNTS k).

    ``make_stepper(dt)`` builds an untrained stepper for step ``dt``. Windows come from
    :func:`make_windows` with stride ``2**k`` on ``train`` and ``val``. Returns the trained
    steppers (ordered like ``levels``) and their :class:`FitResult` s. Extra keyword arguments go
    to :func:`fit`. With ``checkpoint_dir`` each level checkpoints to ``level{k}.pt`` there and,
    once trained, is kept in ``level{k}.done.pt`` (weights and :class:`FitResult`, with a fingerprint
    of its windows and settings): a rerun loads finished levels instead of training them again
    (:func:`hitslite.io.resume_or_fit`), and refuses those of a different run.

    ``batched=True`` trains all levels at once with :func:`fit_stack` (ResNet steppers of one
    architecture only): the same per-level Adam, early stopping and learning-rate halving, one
    batched call per layer instead of one call per level.
    """
    from tqdm.auto import tqdm

    levels = list(levels)
    if batched:
        gen = torch.Generator().manual_seed(seed)
        steppers = [make_stepper(train.dt * 2**k) for k in levels]
        tr = [make_windows(train, 2**k, n_forward, starts=starts, generator=gen) for k in levels]
        va = [make_windows(val, 2**k, n_forward, starts=starts, generator=gen) for k in levels]
        ckpt = Path(checkpoint_dir) / "stack.pt" if checkpoint_dir is not None else None
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
        results = fit_stack(steppers, tr, va, seed=seed, progress=progress, checkpoint=ckpt, **fit_kwargs)
        return steppers, results
    steppers, results = [], []
    for k in tqdm(levels, desc="levels", disable=not progress):
        stride = 2**k
        gen = torch.Generator().manual_seed(seed + k)
        tr = make_windows(train, stride, n_forward, starts=starts, generator=gen)
        va = make_windows(val, stride, n_forward, starts=starts, generator=gen)
        stepper = make_stepper(train.dt * stride)
        desc = f"NNTS {k} (dt={train.dt * stride:g})"
        if checkpoint_dir is None:
            res = fit(stepper, tr, va, seed=seed + k, progress=progress, desc=desc, **fit_kwargs)
        else:
            Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
            ckpt = Path(checkpoint_dir) / f"level{k}.pt"
            run = {"level": k, "seed": seed + k,
                   "fit": {key: v for key, v in fit_kwargs.items() if key in _FIT_HYPERPARAMETERS}}
            state = resume_or_fit(
                Path(checkpoint_dir) / f"level{k}.done.pt", stepper,
                lambda stepper=stepper, tr=tr, va=va, k=k, ckpt=ckpt, desc=desc: fit(
                    stepper, tr, va, seed=seed + k, progress=progress, desc=desc, checkpoint=ckpt,
                    **fit_kwargs).to_state(),
                fingerprint={"train": fingerprint(tr), "val": fingerprint(va), "run": fingerprint(run)})
            res = FitResult.from_state(state)
        steppers.append(stepper)
        results.append(res)
    return steppers, results


class _LevelAdam:
    """Adam (Kingma & Ba 2015) with one learning rate per level: the leading axis of every parameter.

    Used by :func:`fit_stack`; for level ``l`` the update is exactly Adam with rate ``lr[l]``, so
    training a stack equals training its levels one by one (up to minibatch order).
    """

    def __init__(self, params, lr: torch.Tensor, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr = lr.clone()
        self.betas, self.eps, self.t = betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            rate = self.lr.to(p).reshape(-1, *([1] * (p.ndim - 1)))
            p.sub_(rate * (m / (1 - b1**self.t)) / ((v / (1 - b2**self.t)).sqrt() + self.eps))

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        return {"lr": self.lr, "t": self.t, "m": self.m, "v": self.v}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.t = state["lr"].clone(), state["t"]
        for dst, src in zip(self.m + self.v, state["m"] + state["v"]):
            dst.copy_(src)


def _stack_windows(windows: list[torch.Tensor], device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad per-level windows ``[N_l, p+1, *S]`` to ``[L, N_max, p+1, *S]`` plus a mask ``[L, N_max]``."""
    n_max = max(w.shape[0] for w in windows)
    out = windows[0].new_zeros((len(windows), n_max, *windows[0].shape[1:]), dtype=dtype, device=device)
    mask = torch.zeros(len(windows), n_max, dtype=torch.bool, device=device)
    for l, w in enumerate(windows):
        out[l, : w.shape[0]] = w.to(device=device, dtype=dtype)
        mask[l, : w.shape[0]] = True
    return out, mask


def stack_window_losses(stack, batch: torch.Tensor) -> torch.Tensor:
    """Per-window eq. (9) for every level: ``batch [L, N, p+1, *S] -> [L, N]``."""
    x = batch[:, :, 0]
    p = batch.shape[2] - 1
    total = 0.0
    for k in range(1, p + 1):
        x = stack(x)
        total = total + ((x - batch[:, :, k]) ** 2).reshape(x.shape[0], x.shape[1], -1).mean(dim=-1)
    return total / p


def stack_multistep_loss(stack, batch: torch.Tensor) -> torch.Tensor:
    """The loss :func:`fit_stack` minimises, eq. (9) for every level of a
    :class:`~hitslite.neural.ResNetStack` at once: ``batch [L, N, p+1, *S] -> [L, N]`` (used by the
    ``budget`` benchmark to time one minibatch)."""
    return stack_window_losses(stack, batch)


def fit_stack(
    steppers: list,
    train: list[torch.Tensor],
    val: list[torch.Tensor],
    *,
    lr: float = 1e-3,
    batch_size: int = 320,
    max_epochs: int = 1000,
    patience: int | None = 50,
    target_loss: float = 1e-8,
    lr_halving_patience: int | None = None,
    min_lr: float = 1e-6,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 25,
) -> list[FitResult]:
    """Train ``L`` ResNet steppers together (weights stacked, :class:`~hitslite.neural.ResNetStack`).

    ``train[l]`` and ``val[l]`` are level ``l``'s windows ``[N_l, p+1, *S]``. Each level keeps its
    own Adam learning rate, validation history, best weights, learning-rate halving and early
    stopping exactly as :func:`fit` (a stopped level is frozen); an epoch is ``ceil(max N_l /
    batch_size)`` minibatches, each drawing ``batch_size`` windows of every level (levels with
    fewer windows cycle through theirs). The trained weights are copied back into ``steppers``
    (best epoch of each level). Resumable with ``checkpoint`` like :func:`fit`. No learning-rate
    schedule here depends on ``max_epochs``, so it is not part of the run's identity: a checkpointed
    run can be resumed with a larger ``max_epochs`` (extended) or with exactly its epoch count
    (stopped there), and gives the weights an uninterrupted run to that epoch gives; a ``max_epochs``
    below the checkpoint's epoch is refused.
    """
    from tqdm.auto import tqdm

    from .neural import ResNetStack

    if not (len(steppers) == len(train) == len(val)) or not steppers:
        raise ValueError("steppers, train and val must be non-empty lists of the same length (one per level)")
    for l, (tr, va) in enumerate(zip(train, val)):
        _check_windows(f"train[{l}]", tr)
        _check_windows(f"val[{l}]", va)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None:
        # max_epochs only bounds the loop, so it is left out: a run can be extended or stopped early
        hparams = {"lr": lr, "batch_size": batch_size, "patience": patience, "target_loss": target_loss,
                   "lr_halving_patience": lr_halving_patience, "min_lr": min_lr, "seed": seed}
        run_fp = {"train": fingerprint(train), "val": fingerprint(val),
                  "hyperparameters": fingerprint(hparams),
                  "initial_weights": fingerprint([s.state_dict() for s in steppers])}
    stack = ResNetStack(steppers)
    device = torch.device(device) if device is not None else next(steppers[0].parameters()).device
    dtype = stack.weights[0].dtype
    stack.to(device)
    L = len(steppers)
    train = [w.to(device=device, dtype=dtype) for w in train]
    val_all, val_mask = _stack_windows(val, device, dtype)
    sizes = torch.tensor([w.shape[0] for w in train])
    n_batches = math.ceil(int(sizes.max()) / batch_size)
    opt = _LevelAdam(stack.parameters(), torch.full((L,), float(lr)))
    gen = torch.Generator().manual_seed(seed)
    results = [FitResult() for _ in range(L)]
    best_params = [p.detach().clone() for p in stack.parameters()]
    since_best = torch.zeros(L, dtype=torch.long)
    active = torch.ones(L, dtype=torch.bool)
    start_epoch, elapsed = 0, 0.0

    if ckpt is not None and ckpt.exists():
        state, meta = load_checkpoint(ckpt, fingerprint=run_fp, map_location=device)
        stack.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        best_params, results = state["best_params"], [FitResult.from_state(r) for r in meta["results"]]
        # counters live on the CPU whatever map_location put them on
        since_best, active, start_epoch = state["since_best"].cpu(), state["active"].cpu(), meta["epoch"]
        if start_epoch > max_epochs:
            raise ValueError(f"max_epochs must be >= the checkpoint's epoch {start_epoch} (a resumed run can "
                             f"be extended or stopped where it is, not rewound), got {max_epochs}")
        elapsed = max(r.seconds for r in results)

    t0 = time.perf_counter() - elapsed
    bar = tqdm(range(start_epoch, max_epochs), desc=f"{L} levels together", disable=not progress, leave=False,
               initial=start_epoch, total=max_epochs)
    for epoch in bar:
        stack.train()
        perms = [torch.randperm(int(n), generator=gen) for n in sizes]
        running = torch.zeros(L, dtype=torch.float64)
        for i in range(n_batches):
            offsets = i * batch_size + torch.arange(batch_size)
            batch = torch.stack([w[perm[offsets % len(perm)].to(device)] for w, perm in zip(train, perms)])
            per_level = stack_window_losses(stack, batch).mean(dim=1)
            opt.zero_grad()
            per_level.sum().backward()  # levels share no parameters: each gets its own gradient
            opt.step()
            running += per_level.detach().double().cpu()
        train_loss = running / n_batches
        stack.eval()
        with torch.no_grad():
            per_window = stack_window_losses(stack, val_all)
            val_loss = ((per_window * val_mask).sum(dim=1) / val_mask.sum(dim=1)).double().cpu()
        for l in range(L):  # a stopped level is frozen: its losses stay what they were
            for what, loss in (("training", float(train_loss[l])), ("validation", float(val_loss[l]))):
                if active[l] and not math.isfinite(loss):
                    raise _diverged(f"the {what} loss of level {l}", loss, epoch, float(opt.lr[l]))
        improved = (val_loss < torch.tensor([r.best_loss for r in results])) & active
        for p, best in zip(stack.parameters(), best_params):
            best[improved.to(device)] = p.detach()[improved.to(device)]
        for l in range(L):
            if not active[l]:
                continue
            r = results[l]
            r.history["epoch"].append(epoch + 1)
            r.history["train"].append(float(train_loss[l]))
            r.history["val"].append(float(val_loss[l]))
            r.history["lr"].append(float(opt.lr[l]))
            r.epochs, r.seconds = epoch + 1, time.perf_counter() - t0
            if improved[l]:
                r.best_loss, r.best_epoch, since_best[l] = float(val_loss[l]), epoch + 1, 0
            else:
                since_best[l] += 1
                if lr_halving_patience and since_best[l] % lr_halving_patience == 0:
                    opt.lr[l] = max(min_lr, float(opt.lr[l]) / 2)
            reason = epoch_stop_reason(float(train_loss[l]), epoch, int(since_best[l]), target_loss, patience)
            if reason:
                r.stop_reason, active[l] = reason, False
                opt.lr[l] = 0.0  # freeze: a stopped level keeps its best weights
        bar.set_postfix(active=int(active.sum()), worst_best=f"{max(r.best_loss for r in results):.1e}")
        if not active.any():
            break
        if ckpt is not None and (epoch + 1) % checkpoint_every == 0:
            save_checkpoint(ckpt, {"model": stack.state_dict(), "optimizer": opt.state_dict(),
                                   "generator": gen.get_state(), "best_params": best_params,
                                   "since_best": since_best, "active": active},
                            {"results": [r.to_state() for r in results], "epoch": epoch + 1},
                            fingerprint=run_fp)
    bar.close()
    for r in results:
        r.stop_reason = r.stop_reason or f"reached max_epochs={max_epochs}"
        r.seconds = time.perf_counter() - t0
    with torch.no_grad():
        for p, best in zip(stack.parameters(), best_params):
            p.copy_(best)
    stack.unstack_into(steppers)
    for s in steppers:
        s.to(device).eval()
    if ckpt is not None and ckpt.exists():
        ckpt.unlink()
    return results


# ============================================================================================
# Sequence generation baselines (HiTS Sec. 3.2)
# ============================================================================================
__all__ += ["teacher_forcing_loss", "truncated_bptt_loss"]


def teacher_forcing_loss(stepper: Stepper, windows: torch.Tensor) -> torch.Tensor:
    """One-step (teacher-forced) loss of a recurrent generator on sequences ``windows [N, T, *S]``.

    The generator is fed the true ``windows[:, :-1]`` and predicts ``windows[:, 1:]``; the mean
    squared error is averaged over sequences, steps and state. Uses the stepper's fused
    ``teacher_forced`` method when it has one, else steps it with its carry. Pass it to
    :func:`fit` as ``loss_fn`` (e.g. for :class:`~hitslite.baselines.LSTMGenerator`).
    """
    if windows.ndim < 3 or windows.shape[1] < 2:
        raise ValueError(f"windows must have shape [N, T >= 2, *state], got {tuple(windows.shape)}")
    inputs, targets = windows[:, :-1], windows[:, 1:]
    if hasattr(stepper, "teacher_forced"):
        pred = stepper.teacher_forced(inputs)
    else:
        carry = stepper.init_carry(inputs[:, 0])
        preds = []
        for k in range(inputs.shape[1]):
            y, carry = stepper.step(inputs[:, k], carry)
            preds.append(y)
        pred = torch.stack(preds, dim=1)
    return torch.mean((pred - targets) ** 2)


def truncated_bptt_loss(stepper: Stepper, windows: torch.Tensor, *, chunk: int,
                        burn_in: int = 0, input_noise: float = 0.0,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """Teacher-forced loss of a recurrent stepper by truncated backpropagation through time (LED SI 6.5).

    ``windows [N, P + 1, d]`` are latent sequences of the hidden-state propagation length ``P``
    (LED: 300 for FHN, 1000 for KS). The cell runs over them from a zero state in chunks of
    ``chunk`` steps (the BPTT sequence length: 40 for FHN in the reference code, 125 for KS); the
    hidden state is carried from one chunk to the next but detached, so gradients flow back at
    most ``chunk`` steps — the stateful truncated BPTT of LED. The first ``burn_in`` predictions
    (made from an almost empty memory) are left out of the mean squared error. Pass it to
    :func:`fit` as ``loss_fn=functools.partial(truncated_bptt_loss, chunk=40)``.

    ``input_noise`` > 0 perturbs the *inputs* (never the targets) with Gaussian noise of standard
    deviation ``input_noise`` times the cell's input scale (``stepper.scale``: the latent standard
    deviation for the standardised read-outs), drawn from ``generator``, and only while the stepper
    is in training mode — so the validation loss :func:`fit` computes in eval mode stays exact.
    The cell then learns to map slightly-off states back towards the data: in free running its own
    errors are such perturbations (not in the LED paper, whose autoencoder, not cell, is trained
    with noise; see Chapter 11 for what it changes on KS).
    """
    if windows.ndim != 3 or windows.shape[1] < 2:
        raise ValueError(f"windows must have shape [N, P + 1 >= 2, latent_dim], got {tuple(windows.shape)}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int (BPTT sequence length), got {chunk!r}")
    steps = windows.shape[1] - 1
    if isinstance(burn_in, bool) or not isinstance(burn_in, int) or not 0 <= burn_in < steps:
        raise ValueError(f"burn_in must be an int in [0, {steps}), got {burn_in!r}")
    if not (isinstance(input_noise, (int, float)) and math.isfinite(input_noise) and input_noise >= 0):
        raise ValueError(f"input_noise must be a finite float >= 0 (a fraction of the input scale), "
                         f"got {input_noise!r}")
    inputs, targets = windows[:, :-1], windows[:, 1:]
    if input_noise > 0 and stepper.training:
        scale = getattr(stepper, "scale", None)
        scale = torch.ones((), dtype=inputs.dtype) if scale is None else scale.to(inputs.dtype).cpu()
        noise = torch.randn(inputs.shape, generator=generator, dtype=inputs.dtype)
        inputs = inputs + (input_noise * scale * noise).to(inputs.device)
    carry, total, count = None, windows.new_zeros(()), 0
    for start in range(0, steps, chunk):
        stop = min(start + chunk, steps)
        pred, carry = stepper.teacher_forced(inputs[:, start:stop], carry, return_carry=True)
        carry = tuple(c.detach() for c in carry) if isinstance(carry, tuple) else carry.detach()
        lo = max(burn_in - start, 0)
        if lo < stop - start:
            err = (pred[:, lo:] - targets[:, start + lo:stop]) ** 2
            total = total + err.sum()
            count += err.numel()
    return total / count
