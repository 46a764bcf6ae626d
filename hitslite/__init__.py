"""hitslite — multiscale neural time-stepping (HiTS, L-HiTS, LED) in small, tested PyTorch pieces.

One room per idea: ``systems`` (equations), ``steppers`` (how to step, and the one sequential
loop), ``data`` (trajectories, ground truth, cache), ``neural`` (learned steppers), ``train``
(losses and ``fit``), ``multiscale`` (hierarchies, level selection, hybrids), ``zoo``
(pretrained weights). See the book's API page for the full reference.
"""

__version__ = "0.1.0"

from .data import Trajectory, ode_dataset, ode_splits, solve_reference
from .device import default_device, seed_everything
from .steppers import RK4, ForecastDivergedError, Repeated, Stepper, rollout
from .systems import get_system, list_systems

__all__ = [
    "__version__",
    "Trajectory",
    "ode_dataset",
    "ode_splits",
    "solve_reference",
    "default_device",
    "seed_everything",
    "Stepper",
    "RK4",
    "Repeated",
    "rollout",
    "ForecastDivergedError",
    "get_system",
    "list_systems",
]
