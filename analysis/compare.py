"""The main comparison (``sparsesim compare``): sparsity structures at matched accuracy, priced everywhere.

0. Pre-flight (``preflight``), before any data is read: every preset and hardware YAML loads and every priced
   weight bit-width (``bits``, ``breakeven_bits``) fits every platform; a bad combination is one error line.
1. Train the model dense once (cached in OUT/dense); hold out a validation
   split of the training data for every accuracy decision.
2. For each structure (non-structured, filter, channel, column, block, N:M) at
   the same weight bit-width, search the highest pruning ratio whose validation
   is non-inferior to dense at the tolerance on validation (``analysis.search``
   with a paired per-image test, ``PairedRule``); every probe is an ADMM prune +
   masked retrain from the dense weights, cached as an artifact (with its
   per-image correctness, ``analysis.correctness``).  *Matched* is decided on
   validation only; the test accuracy, its paired loss and interval are
   reported, never a gate, and a test loss over the tolerance is flagged.
   Every accuracy carries its n and a 95% Wilson interval, and the summary says
   whether n resolves the tolerance (``analysis.stats``).
3. Price the dense model and every probed artifact on every hardware preset
   (analytical engine; each model's input-activation density measured on
   ``calibrate_images`` validation images, so zero-skipping engines see the
   real ReLU sparsity) and measure the chosen ones on this CPU (and GPU).
4. Break-even curves, hardware-in-the-loop per-layer structures (scaled down
   until the mix meets the tolerance), verdicts (``analysis.verdict``; costs
   within ``tie_threshold`` tie), plots, report.

Every step writes into OUT and is skipped when its output exists, so a killed
run resumes where it stopped.

The run is six typed stages (``analysis.compare_stages``: plan -> prune -> price -> measure -> decide ->
report); the searches are ``analysis.compare_search``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from accel_models.hardware import Accelerator
from fileguard import OutputLock

from . import compare_stages as stages
from .compare_config import CompareConfig, preflight


def run_compare(cfg: CompareConfig, out_dir: str | Path, log: Callable[[str], None] = print,
                progress: bool = False) -> dict:
    """Run the whole comparison into ``out_dir``; returns the summary mapping (also summary.json).

    Every preset and bit-width is checked first (``preflight``): a bad combination fails before any data is
    read or anything trained.  ``out_dir`` is locked for the run: a second compare into it fails at once
    (``OutputError``)."""
    accs = preflight(cfg, log)
    with OutputLock(out_dir, "compare", log):
        return _run_compare(cfg, Path(out_dir), list(accs), log, progress)


def _run_compare(cfg: CompareConfig, out: Path, accs: list[Accelerator], log: Callable[[str], None],
                 progress: bool) -> dict:
    plan = stages.plan(cfg, out, accs, log, progress)
    pruned = stages.prune(plan)
    priced = stages.price(plan, pruned)
    measured = stages.measure(plan, priced)
    decision = stages.decide(plan, priced, measured)
    return stages.report(plan, decision).to_json()
