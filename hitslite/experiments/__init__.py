"""The experiment protocols the chapters and the benchmarks share, one module per topic.

* :mod:`~hitslite.experiments.record`: where a result came from (:func:`provenance`) and the strict,
  atomic JSON every benchmark writes (:func:`write_record`);
* :mod:`~hitslite.experiments.solvers`: the classical solvers' speed (:func:`bench_solvers`, Ch. 7) and
  the KS step's convergence (:func:`ks_dt_convergence`);
* :mod:`~hitslite.experiments.hits`: HiTS single levels, multiscale, hybrids and batched training
  (:func:`bench_hits`), and what the paper's training budget costs (:func:`bench_hits_budget`);
* :mod:`~hitslite.experiments.lhits`: L-HiTS against full-state HiTS (:func:`compare_lhits`,
  :func:`lhits_by_latent_dim`, Ch. 9; :func:`bench_lhits`);
* :mod:`~hitslite.experiments.led`: LED's error and speed-up against rho (:func:`bench_led`), the
  ablation of the zoo recipes (:func:`bench_led_ablation`) and the FHN forecast on each of the two mirror
  cycles (:func:`led_fhn_cycles`);
* :mod:`~hitslite.experiments.h2h`: HiTS, L-HiTS, LED and the solver on the same data, scored alike
  (:func:`head_to_head`, Ch. 14; :func:`bench_h2h`);
* :mod:`~hitslite.experiments.perf`: cost curves (:func:`bench_perf`): error against wall time of the
  neural hierarchy, hybrids, RK4 and DOP853; forecast throughput against the matmul peak; memory with
  and without chunking; LED against ETDRK4 at its largest adequate step; the L-HiTS time split;
* :mod:`~hitslite.experiments.recipe`: ``train_hits`` on systems outside the papers over several seeds
  (:func:`recipe_study`, Ch. 13);
* :mod:`~hitslite.experiments.peclet`: LED's error and speed-up across Péclet numbers
  (:func:`peclet_study`, LED Fig. 5; Ch. 12).

Every function runs on a ``device`` (default the CPU) and times with :mod:`hitslite.timing`.
``python -m hitslite.bench`` (:mod:`hitslite.bench`) is the command line over them.
"""

from .h2h import bench_h2h, head_to_head
from .hits import PAPER_MINIBATCHES, TABLE2_WIDTHS, bench_hits, bench_hits_budget
from .led import bench_led, bench_led_ablation, cycle_branch, led_fhn_cycles, led_fhn_period_by_data
from .lhits import (
    LHITS_PAPER,
    LHITS_PAPER_TABLE1,
    LHITS_SHORT_HORIZON,
    bench_lhits,
    compare_lhits,
    lhits_by_latent_dim,
)
from .peclet import PECLET_PAPER, peclet_study, speedup_model
from .perf import bench_perf
from .recipe import RECIPE_SYSTEMS, recipe_study
from .record import RESULTS, provenance, write_record
from .solvers import bench_solvers, ks_dt_convergence

__all__ = ["RESULTS", "provenance", "write_record", "bench_solvers", "ks_dt_convergence", "bench_hits",
           "bench_hits_budget", "TABLE2_WIDTHS", "PAPER_MINIBATCHES", "compare_lhits", "lhits_by_latent_dim",
           "bench_lhits", "LHITS_PAPER", "LHITS_PAPER_TABLE1", "LHITS_SHORT_HORIZON", "bench_led",
           "bench_led_ablation", "bench_perf", "head_to_head", "bench_h2h", "led_fhn_period_by_data",
           "led_fhn_cycles", "cycle_branch",
           "RECIPE_SYSTEMS", "recipe_study", "PECLET_PAPER", "peclet_study", "speedup_model"]
