"""docs/compare_config.md: every ``CompareConfig`` field with its default (read from the dataclass), unit, allowed
values, meaning and what it costs in time.  ``python -m analysis.compare_reference > docs/compare_config.md``; a
test fails when the page and the code differ, and when a field has no entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from pruning.config import MAX_BATCH, MAX_EPOCHS, MAX_ROUNDS, ADMMConfig

from .compare_config import (COST_METRICS, ALLOWED_STRUCTURES, BUDGETS, INTEGER_BOUNDS, NUMBER_BOUNDS, CompareConfig,
                             flat_fields)

REGENERATE = "python -m analysis.compare_reference > docs/compare_config.md"


@dataclass(frozen=True)
class FieldDoc:
    unit: str
    allowed: str
    meaning: str
    time: str = ""      # what the field costs in run time (empty: nothing measurable)


EPOCHS = "epochs of the training split (the search split: 1 - validation_fraction of train)"
PROBE = "every ADMM probe: (admm_rounds x epochs_per_round + retrain_epochs) epochs"
FIELD_DOCS: dict[str, FieldDoc] = {
    "model": FieldDoc("", "a zoo name, MODULE:CALLABLE or FILE.py:CALLABLE",
                      "the network pruned and priced (your code runs: see docs/data.md)",
                      "sets the cost of every epoch"),
    "input_shape": FieldDoc("C,H,W", "positive integers, or null", "your model's sample shape when it declares none"),
    "dataset": FieldDoc("", "digits, mnist, fashion_mnist, cifar10, npz", "the data set (imagefolder: write an .npz)",
                        "sets the images per epoch"),
    "data_dir": FieldDoc("path", "a directory (mnist, fashion_mnist, cifar10) or an .npz file, or null", "where the data is"),
    "structures": FieldDoc("", ", ".join(ALLOWED_STRUCTURES),
                           "the structures compared (heads, neurons: a transformer's coupled groups)",
                           "one search (a few probes) per structure and budget"),
    "bits": FieldDoc("bits", "1..16, or 32 (float)", "weight bit-width of every structure and the dense reference"),
    "tolerance_pp": FieldDoc("percentage points", "",
                             "non-inferiority margin on validation: a probe is matched when the one-sided 95% upper "
                             "bound of its paired loss against dense (Tango's score bound over the images either "
                             "model alone gets right) is at most this; test is reported, never a gate"),
    "ladder": FieldDoc("fraction pruned", "increasing ratios in [0, 1)",
                       "the coarse ratios each search walks up before bisecting",
                       "up to len(ladder) + 1 probes per search"),
    "bisections": FieldDoc("", "", "bisection steps after the ladder", "one probe each"),
    "block": FieldDoc("rows, cols", "two integers in 1..65,536", "tile shape of the block structure"),
    "nm": FieldDoc("N, M", "two integers in 1..1024, N <= M", "the N:M pattern (N kept of every M)", "one probe"),
    "presets": FieldDoc("", "shipped preset names or hardware .yaml files",
                        "the platforms priced (docs/hardware.md)", "one pricing pass of each model per preset"),
    "measure_cpu": FieldDoc("", "true, false", "also time the chosen models on this CPU (measured engine)",
                            "timed runs of every chosen model"),
    "batch": FieldDoc("samples", "", "inference batch the platforms are priced at"),
    "seed": FieldDoc("", "", "seed of training, splits and probes"),
    "act_seed": FieldDoc("", "", "seed of drawn activation patterns (EIE without calibration; SCNN)"),
    "validation_fraction": FieldDoc("fraction", "",
                                    "share of the training set held out as the validation split the searches select on "
                                    "(the default on digits: 575 images, one image = 0.17 pp, under a fifth of the "
                                    "1 pp tolerance)",
                                    "shrinks every epoch by the same share"),
    # the training recipe (``Recipe``): pruning.config's fields, checked by pruning's own checks (ranges: its limits)
    "pretrain_epochs": FieldDoc("epochs", f"integer 0..{MAX_EPOCHS:,}", "training of the dense reference (pruning's "
                                "pretrain_epochs)", EPOCHS),
    "admm_rounds": FieldDoc("rounds", f"integer 0..{MAX_ROUNDS:,}", "ADMM rounds of every probe (0: prune once, then "
                            "retrain; pruning's admm.rounds)", PROBE),
    "epochs_per_round": FieldDoc("epochs", f"integer 1..{MAX_EPOCHS:,}", "training epochs inside each ADMM round "
                                 "(pruning's admm.epochs_per_round)", PROBE),
    "retrain_epochs": FieldDoc("epochs", f"integer 0..{MAX_EPOCHS:,}", "masked retraining after the hard prune "
                               "(pruning's retrain_epochs)", PROBE),
    "lr": FieldDoc("", "> 0", "Adam learning rate of every phase (pruning's train.lr)"),
    "batch_size": FieldDoc("samples", f"integer 1..{MAX_BATCH:,}", "training mini-batch (pruning's train.batch_size)",
                           "larger is faster per image on a CPU"),
    "rho": FieldDoc("", f"(0, {ADMMConfig().rho_max:g}] (pruning's admm.rho_max)",
                    "initial ADMM penalty (grows 1.3x a round; pruning's admm.rho)"),
    "breakeven_bits": FieldDoc("bits", "a list holding bits, or null (follows bits)",
                               "weight widths of the break-even curves", "one pricing pass each"),
    "hil_preset": FieldDoc("", "a preset name or .yaml among presets, or null",
                           "platform of the hardware-in-the-loop per-layer search (null: none)",
                           "up to hil_probes probes"),
    "calibrate_images": FieldDoc("images", "",
                                 "validation images that measure activation densities (0: dense activations)",
                                 "one forward pass"),
    "tie_threshold": FieldDoc("fraction", "", "relative cost difference below which two models tie"),
    "budget": FieldDoc("", ", ".join(BUDGETS),
                       "global: one whole-network ratio of weights shared out per layer; uniform: the same ratio "
                       "in every layer; cost: per platform, a whole-network budget of that platform's cost "
                       "(pruning.cost_budget; the global search runs too, for the CPU, break-even and HIL); both: "
                       "global decides, uniform beside it; all: global decides, uniform and cost beside it (N:M "
                       "and coupled structures: searched once); the report gives the verdict under every rule "
                       "searched",
                       "both: twice the searches; cost and all: one more search per structure and platform "
                       "(fewer where platforms share one)"),
    "cost_metric": FieldDoc("", ", ".join(COST_METRICS),
                            "what a cost budget minimises: energy (pJ), latency (cycles) or edp (each layer's "
                            "E/E0 + L/L0: a first-order energy-delay product); verdicts compare energy",
                            "none (9 pricing passes per structure for the curves)"),
    "cost_presets": FieldDoc("", "entries of presets, or null (every preset)",
                             "the platforms a cost budget searches", "one search per platform and structure"),
    "budget_min_keep": FieldDoc("fraction", "", "global and cost budgets: each layer keeps at least this share"),
    "hil_probes": FieldDoc("probes", "", "most ADMM runs of the hardware-in-the-loop search",
                           PROBE),
    "jobs": FieldDoc("processes", "", "structure searches run at once (1 torch thread each when > 1)",
                     "divides the search's wall time by up to jobs on free cores"),
    "workloads": FieldDoc("", "traced, modules",
                          "your model (and vit_tiny): traced = every GEMM it runs; modules = its Conv2d/Linear "
                          "list, a Linear as one token", "one traced forward pass"),
}


def _default(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "[" + ", ".join(map(str, v)) + "]"
    return str(v)


def allowed_text(name: str, doc: FieldDoc) -> str:
    """The field's range from the validator's own table where it has one, else the doc's words."""
    if name in INTEGER_BOUNDS:
        lo, hi = INTEGER_BOUNDS[name]
        return f"integer {lo:,}..{hi:,}"
    if name in NUMBER_BOUNDS:
        lo, hi, _, lo_open, hi_open = NUMBER_BOUNDS[name]
        return f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    return doc.allowed


def compare_reference() -> str:
    """The page: one row per field as users write it, in the dataclass's order (the recipe's keys flat)."""
    out = ["# `sparsesim compare` configuration reference", "",
           (f"<!-- Generated from analysis/compare_config.py by `{REGENERATE}`; do not edit by hand: "
            "tests/test_compare_reference.py fails when this page and the code differ. -->"), "",
           ("Every field of `--config FILE.yaml` (flags of the same name override it). Unknown fields are refused "
            "with the nearest allowed name (`did you mean`); every value is checked before any data is read "
            "(docs/compare.md). What a run costs: one dense training (`pretrain_epochs`), then per structure and "
            "budget a search of a few probes, each `admm_rounds x epochs_per_round + retrain_epochs` epochs; the "
            "`[plan]` line at the start counts them."), "",
           "| field | default | unit | allowed | meaning | time |", "|---|---|---|---|---|---|"]
    defaults = {k: v for f in fields(CompareConfig) for k, v in
                (f.default.flat() if f.name == "recipe" else {f.name: f.default}).items()}   # as declared
    for name in flat_fields():
        d = FIELD_DOCS[name]
        out.append(f"| `{name}` | `{_default(defaults[name])}` | {d.unit} | {allowed_text(name, d)} | {d.meaning} | "
                   f"{d.time} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(compare_reference(), end="")
