"""hitslite — multiscale neural time-stepping (HiTS, L-HiTS, LED) in small, tested PyTorch pieces.

One room per idea: ``systems`` (equations), ``trajectory`` (what every forecast returns),
``steppers`` (how to step, the one sequential loop, and ``forecast`` for every kind of model),
``data`` (ground truth and data sets; ``cache`` and ``pde_data`` below it), ``neural`` (learned
steppers), ``train`` (losses and ``fit``), ``multiscale`` (hierarchies, level selection, hybrids),
``timing`` (best-of-N wall times), ``zoo`` (pretrained weights). See the book's API page for the full
reference.
"""

__version__ = "0.1.0"

from .data import ode_dataset, ode_splits, solve_reference
from .device import default_device, seed_everything
from .steppers import RK4, ForecastDivergedError, Repeated, Stepper, forecast, rollout
from .systems import get_system, list_systems
from .trajectory import Trajectory

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
    "forecast",
    "ForecastDivergedError",
    "get_system",
    "list_systems",
]

from .multiscale import Hierarchy, LevelSelection, select_levels  # noqa: E402
from .neural import MLP, ResNetStepper  # noqa: E402
from .train import fit, fit_levels, make_windows, multistep_loss  # noqa: E402

__all__ += ["Hierarchy", "LevelSelection", "select_levels", "MLP", "ResNetStepper", "fit", "fit_levels",
            "make_windows", "multistep_loss"]

from .data import fhn_dataset, ks_dataset, particle_dataset  # noqa: E402
from .particles import EulerMaruyama  # noqa: E402
from .pde import ETDRK4, LatticeBoltzmann, lyapunov_exponent  # noqa: E402

__all__ += ["ETDRK4", "LatticeBoltzmann", "EulerMaruyama", "lyapunov_exponent", "fhn_dataset", "ks_dataset",
            "particle_dataset"]

from .data import lhits_splits  # noqa: E402
from .nets import PCA, Autoencoder  # noqa: E402
from .neural import Latent  # noqa: E402

__all__ += ["Latent", "Autoencoder", "PCA", "lhits_splits"]

# Part III: LED
from .led import LED, measure_speedup  # noqa: E402
from .nets import LEDAutoencoder, MixtureDensityDecoder, ParticleAutoencoder, PermutationInvariantEncoder  # noqa: E402
from .neural import RecurrentStepper  # noqa: E402

__all__ += ["LED", "measure_speedup", "RecurrentStepper", "LEDAutoencoder", "PermutationInvariantEncoder",
            "MixtureDensityDecoder", "ParticleAutoencoder"]
