"""The prune job, a thin driver over ``pruning.lifecycle.Pruner``:
dense training -> pruning phases -> hard prune -> masked retraining -> artifact.

Work is cut into units (a pretraining epoch, an ADMM round, a retraining
epoch).  After each unit a checkpoint is written atomically to
``OUT/checkpoint.pt``; ``resume=True`` restarts after the last finished unit
and, with the same seed and thread count, reaches the same weights as an
uninterrupted run.

Nothing finished is lost: ``OUT`` is checked writable and locked for the run
(``fileguard.OutputLock``: a second job into it fails at once); a
directory that already holds a run (checkpoint or artifact) is resumed with
``resume=True`` or discarded with ``overwrite=True``, and refused otherwise.
A resume may change the training hyperparameters (``RESUMABLE_FIELDS``: the
learning rates, rho, epoch and round counts...) as long as the finished units
stay the same, so a run stopped by a NaN loss continues from its last good
checkpoint with a corrected config; the log says what changed.

Methods (same budget, same framework, for honest comparison):

* ``admm``        ADMM rounds per progressive step (Zhang et al. 2018; ADMM-NN);
                  with ``admm.eps`` a step ends as soon as every layer's relative
                  primal and dual residuals are below it
* ``magnitude``   iterative magnitude pruning: prune to the step's ratio, then
                  masked retraining for the same number of epochs (Han et al. 2015)
* ``group_lasso`` structured sparsity learning: train with a group-lasso penalty
                  over the structure's groups, then prune (Wen et al. 2016)

Accuracies measured during the job use ``data.test``: the caller passes a validation split there
when the test set must stay unseen (``compare``; ``sparsesim prune`` and ``sc.prune`` by default, split by
``pruning.data.split_validation``) and may pass the real test set as ``test``, evaluated only to be reported
(the dense model when pruning starts, the saved weights at the end) and recorded beside the validation ones.
Data come as batch sources (``pruning.batches``): tensors, or a streamed set.
"""

from __future__ import annotations

import copy
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from fileguard import OutputError, OutputLock, ensure_writable

from .admm import convergence_summary, with_ratio
from .artifact import read_manifest, save_artifact, storage_headline
from .checkpoint import load_checkpoint, save_checkpoint
from .config import ConfigError, LayerPlan, PruneConfig, changed_fields, step_ratio
from .data import Dataset, StreamDataset
from .distill import Distiller
from .distributed import Replicas, barrier, is_main, shard
from .lifecycle import Pruner
from .purification import PurificationError, purify
from .train import NonFiniteLoss, cosine_lr, evaluate_source, make_optimizer, prepare_for_speed, set_lr, train_source


class PruneError(RuntimeError):
    pass


# Config fields a resume may change (dotted; ``*`` is any layer): hyperparameters of units not yet run.
# Epoch and round counts may change too when the finished units stay the same (``_units`` prefix).
RESUMABLE_FIELDS = ("pretrain_epochs", "retrain_epochs", "retrain_lr", "group_lasso", "train.lr", "train.momentum",
                    "train.weight_decay", "train.batch_size", "admm.rounds", "admm.epochs_per_round", "admm.rho",
                    "admm.rho_multiplier", "admm.rho_max", "admm.lr", "admm.eps", "defaults.rho", "layers.*.rho")
RUN_FILES = ("checkpoint.pt", "manifest.json", "weights.safetensors", "training_log.csv")


@dataclass(frozen=True)
class PruneResult:
    out_dir: Path
    dense_accuracy: float
    pruned_accuracy: float
    compression: float
    manifest: dict
    test_dense_accuracy: float | None = None     # with a held-out validation split: the test set, reported only
    test_pruned_accuracy: float | None = None


def _units(cfg: PruneConfig) -> list[tuple]:
    """The job as an ordered list of resumable units."""
    units: list[tuple] = [("pretrain", 0, 0, e) for e in range(cfg.pretrain_epochs)]
    for s in range(len(cfg.admm.schedule)):
        units += [("prune", s, r, 0) for r in range(cfg.admm.rounds)]
    units.append(("hard_prune", 0, 0, 0))
    units += [("retrain", 0, 0, e) for e in range(cfg.retrain_epochs)]
    return units


def group_lasso_penalty(plans: dict[str, LayerPlan], modules: dict[str, nn.Module], lam: float):
    """SSL penalty: lam * sum over layers and groups of ||W_g||_2 (L1 for non-structured / N:M)."""
    def penalty(model):
        total = 0.0
        for name, plan in plans.items():
            w = modules[name].weight
            s = plan.constraint.structure
            if s.kind in ("nonstructured", "nm", "dense"):
                total = total + w.abs().sum()
            else:
                total = total + torch.sqrt(s.group_scores(w * w) + 1e-12).sum()
        return lam * total
    return penalty


class _Job:
    """State of one prune job between units (everything a checkpoint must carry is in ``self.state``)."""

    def __init__(self, model: nn.Module, data: Dataset | StreamDataset, cfg: PruneConfig, device: str,
                 progress: bool, log, teacher: nn.Module | None = None, test=None):
        self.model, self.data, self.cfg, self.test = model, data, cfg, test
        # distillation: the caller's teacher, or a copy of the model holding its weights when pruning starts
        self.teacher_given = teacher is not None
        self.teacher = teacher if teacher is not None or cfg.distill is None else copy.deepcopy(model)
        self.progress, self.log = progress and is_main(), log if is_main() else (lambda s: None)
        self.shard, self.replicas = shard(), Replicas(model)
        self.plans = cfg.resolve(model)  # raises ConfigError before any training
        self.coupled = cfg.coupled_groups(model)
        if not self.plans:
            raise PruneError("config names no layer to prune")
        self.modules = dict(model.named_modules())
        self.example = torch.zeros(1, *data.input_shape, device=device)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.optimizer = None
        self.pruner: Pruner | None = None
        self.state: dict = {"done": 0, "log": [], "dense_acc": None, "timings": {}, "optimizer": None,
                            "pruner": None, "pruner_step": None, "ended_steps": [], "convergence": [],
                            "allocations": [], "teacher": None, "measured_on": self.measured_on()}

    # ---------------------------------------------------------------- helpers
    def measured_on(self) -> dict:
        """What the job trains and measures on, in sizes: a resume must see the same split."""
        return {"train": len(self.data.train), "measured": len(self.data.test),
                "test": None if self.test is None else len(self.test)}

    def evaluate(self) -> float:
        return evaluate_source(self.model, self.data.test)

    def row(self, **kw) -> None:
        self.state["log"].append(kw)

    def step_plans(self, step: int) -> dict[str, LayerPlan]:
        last = step == len(self.cfg.admm.schedule) - 1
        frac = self.cfg.admm.schedule[step]
        return {n: with_ratio(p, step_ratio(p.constraint.structure.ratio, frac), quantize=last)
                for n, p in self.plans.items()}

    def new_pruner(self, step: int) -> Pruner:
        b = self.cfg.budget
        budget = None if b is None else b.at(step_ratio(b.ratio, self.cfg.admm.schedule[step]))
        a = self.cfg.admm
        return Pruner(self.model, self.step_plans(step), rho_multiplier=a.rho_multiplier, rho_max=a.rho_max,
                      eps=a.eps, budget=budget, example=self.example, coupled=self.coupled)

    def fresh_optimizer(self, lr: float, restore: bool = False):
        t = self.cfg.train
        opt = make_optimizer(t.optimizer, self.model.parameters(), lr, t.momentum, t.weight_decay)
        if restore and self.state["optimizer"] is not None:
            opt.load_state_dict(self.state["optimizer"])
        return opt

    def train(self, desc: str, extra_loss=None, distiller: Distiller | None = None):
        return train_source(self.replicas.trainable(), self.data.train, self.optimizer, self.cfg.train.batch_size,
                            self.generator, extra_loss=extra_loss, progress=self.progress, desc=desc,
                            shard=self.shard, distiller=distiller)

    def record_dense(self) -> None:
        """Once, when pruning starts: the dense accuracy, and the distillation teacher's weights."""
        if self.state["dense_acc"] is not None:
            return
        self.state["dense_acc"] = self.evaluate()
        self.log(f"dense accuracy {self.state['dense_acc']:.4f}")
        if self.test is not None:   # reported only: no decision reads it
            self.state["dense_test_acc"] = evaluate_source(self.model, self.test)
        if self.teacher is not None and not self.teacher_given:
            self.state["teacher"] = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.teacher.load_state_dict(self.state["teacher"])

    def distiller(self) -> Distiller | None:
        d = self.cfg.distill
        return None if d is None else Distiller(self.teacher, d.weight, d.temperature)

    def save_pruner(self, step: int | None) -> None:
        self.state["pruner"] = None if self.pruner is None else self.pruner.state_dict()
        self.state["pruner_step"] = step

    def restore(self, ck: dict) -> None:
        """Resume: the pruner's parametrizations first, then the model's (and generator's) state."""
        was, now = ck["state"].get("measured_on"), self.measured_on()
        if was is not None and was != now:
            raise PruneError(f"the checkpoint was made with {was} (training / measured / reported test images), "
                             f"this run has {now}; resume with the same data and --validation-fraction, or pass "
                             "--overwrite")
        self.state = ck["state"]
        if self.state["pruner"] is not None:
            self.pruner = self.new_pruner(self.state["pruner_step"])
            self.pruner.load_state_dict(self.state["pruner"])
        self.model.load_state_dict(ck["model"])
        self.generator.set_state(ck["generator"])
        if self.state.get("teacher") is not None and not self.teacher_given:
            self.teacher.load_state_dict(self.state["teacher"])

    # ------------------------------------------------------------------ units
    def pretrain(self, epoch: int) -> None:
        cfg = self.cfg
        if self.optimizer is None:
            self.optimizer = self.fresh_optimizer(cfg.train.lr, restore=True)
        lr = cosine_lr(cfg.train.lr, epoch, cfg.pretrain_epochs)
        set_lr(self.optimizer, lr)
        st = self.train(f"pretrain {epoch + 1}/{cfg.pretrain_epochs}")
        acc = self.evaluate()
        self.row(stage="pretrain", epoch=epoch, lr=lr, loss=st.loss, test_acc=acc, seconds=st.seconds)
        self.log(f"pretrain epoch {epoch + 1}/{cfg.pretrain_epochs}: loss {st.loss:.4f} acc {acc:.4f} "
                 f"({st.seconds:.1f}s)")
        self.state["optimizer"] = self.optimizer.state_dict()
        if epoch == cfg.pretrain_epochs - 1:
            self.optimizer, self.state["optimizer"] = None, None

    def prune(self, step: int, rnd: int) -> None:
        cfg = self.cfg
        if step in self.state["ended_steps"]:
            return  # the step converged before its last round
        self.record_dense()
        self.start_round(step, rnd)
        extra = group_lasso_penalty(self.step_plans(step), self.modules, cfg.group_lasso) \
            if cfg.method == "group_lasso" else None
        lr_base = cfg.admm.lr or cfg.train.lr
        self.optimizer = self.fresh_optimizer(lr_base)  # learning rate and optimizer state reset every round
        for e in range(cfg.admm.epochs_per_round):
            lr = cosine_lr(lr_base, e, cfg.admm.epochs_per_round)
            set_lr(self.optimizer, lr)
            st = self.train(f"{cfg.method} step {step + 1} round {rnd + 1}", extra)
        acc = self.evaluate()
        self.row(stage=cfg.method, step=step, round=rnd, lr=lr, loss=st.loss, test_acc=acc, seconds=st.seconds)
        msg = f"{cfg.method} step {step + 1}/{len(cfg.admm.schedule)} round {rnd + 1}/{cfg.admm.rounds}: " \
              f"loss {st.loss:.4f} acc {acc:.4f}"
        if cfg.method == "admm":
            msg += self.end_admm_round(step, rnd)
        self.save_pruner(step)
        self.log(msg)

    def start_round(self, step: int, rnd: int) -> None:
        method = self.cfg.method
        if method == "admm" and self.pruner is None:
            self.pruner = self.new_pruner(step).prepare()
        elif method == "magnitude" and rnd == 0:
            if self.pruner is not None:
                self.pruner.finalize()  # the previous step's masks give way to this step's
            self.pruner = self.new_pruner(step)
            self.pruner.hard_prune()

    def end_admm_round(self, step: int, rnd: int) -> str:
        res = self.pruner.step()
        for r in res:
            self.row(stage="admm_residual", step=step, round=rnd, layer=r.layer, rho=r.rho,
                     primal_residual=r.primal, dual_residual=r.dual)
        worst = max(res, key=lambda r: r.primal_rel)
        last_round = rnd == self.cfg.admm.rounds - 1
        if last_round or self.pruner.converged:
            self.state["convergence"].append({
                "step": step, "rounds": rnd + 1, "converged": self.pruner.converged, "eps": self.cfg.admm.eps,
                "layers": {r.layer: {"primal_rel": r.primal_rel, "dual_rel": r.dual_rel} for r in res}})
            self.state["ended_steps"].append(step)
            if step < len(self.cfg.admm.schedule) - 1:  # next step starts from Z0 = Pi(W), U0 = 0
                self.pruner.close()
                self.pruner = None
        return f"; primal {worst.primal_rel:.3g} of ||W|| ({worst.layer}), dual {worst.dual_rel:.3g}" + \
            (" - converged" if self.pruner is not None and self.pruner.converged else "")

    def hard_prune(self) -> None:
        self.record_dense()
        last = len(self.cfg.admm.schedule) - 1
        if self.pruner is not None and self.pruner.phase == "masked":  # magnitude: re-project on the final set
            self.pruner.finalize()
            self.pruner = None
        if self.pruner is None:
            self.pruner = self.new_pruner(last)
        result = self.pruner.hard_prune()
        self.state["coupled_zeroed"] = coupled_zeroed(result.masks, self.plans)
        for name, c in self.state["coupled_zeroed"].items():
            self.log(f"hard prune: {c['zeroed']} of {c['of']} entries of {name} belong to all-zero filters and are "
                     "zeroed too (manifest: coupled_zeroed)")
        if result.allocation is not None:
            self.state["allocations"].append(_allocation_dict(result.allocation))
        self.save_pruner(last)
        acc = self.evaluate()
        self.row(stage="hard_prune", test_acc=acc)
        self.log(f"hard prune: accuracy {acc:.4f}")
        self.optimizer, self.state["optimizer"] = None, None  # retraining starts with a fresh optimizer

    def retrain(self, epoch: int) -> None:
        cfg = self.cfg
        lr_base = cfg.retrain_lr or cfg.train.lr
        if self.optimizer is None:
            self.optimizer = self.fresh_optimizer(lr_base, restore=True)
        lr = cosine_lr(lr_base, epoch, cfg.retrain_epochs)
        set_lr(self.optimizer, lr)
        st = self.train(f"retrain {epoch + 1}/{cfg.retrain_epochs}", distiller=self.distiller())
        acc = self.evaluate()
        self.row(stage="retrain", epoch=epoch, lr=lr, loss=st.loss, test_acc=acc, seconds=st.seconds)
        self.log(f"retrain epoch {epoch + 1}/{cfg.retrain_epochs}: loss {st.loss:.4f} acc {acc:.4f}")
        self.state["optimizer"] = self.optimizer.state_dict()

    def run_unit(self, unit: tuple) -> None:
        stage, step, rnd, epoch = unit
        if stage == "pretrain":
            self.pretrain(epoch)
        elif stage == "prune":
            self.prune(step, rnd)
        elif stage == "hard_prune":
            self.hard_prune()
        else:
            self.retrain(epoch)


def coupled_zeroed(masks: dict[str, torch.Tensor], plans: dict) -> dict[str, dict]:
    """Biases and BatchNorm parameters the hard prune zeroed because their filter's weights are all zero
    (a dead neuron/channel), per parameter: how many of how many; only parameters with any zeroed."""
    out = {}
    for name, m in masks.items():
        if name.endswith(".weight") and name[: -len(".weight")] in plans:
            continue
        zeroed = int((~m.bool()).sum())
        if zeroed:
            out[name] = {"zeroed": zeroed, "of": m.numel()}
    return out


def _allocation_dict(a) -> dict:
    return {"kept_groups": a.kept_groups, "groups": a.groups, "ratios": a.ratios(), "kept_weights": a.kept_weights,
            "budget_weights": a.budget_weights, "exact": a.exact,
            **({} if a.cost is None else {"cost": a.cost, "budget_cost": a.budget_cost})}


def run_prune(model: nn.Module, data: Dataset | StreamDataset, cfg: PruneConfig, out_dir: str | Path, *,
              model_name: str | None = None, resume: bool = False, overwrite: bool = False, device: str = "cpu",
              progress: bool = True, log: Callable[[str], None] = print,
              on_unit: Callable[[tuple], None] | None = None, teacher: nn.Module | None = None,
              storage: Callable[[dict], dict] | None = None, test=None) -> PruneResult:
    """Run the whole job; write the artifact to ``out_dir``.  Validates the config first.

    With ``cfg.distill``, masked retraining distils from ``teacher`` (default: the model as it stands when
    pruning starts, kept in the checkpoint; a given teacher is not, pass it again to resume).

    ``out_dir`` holding a run already (a checkpoint or an artifact): ``resume=True`` continues it,
    ``overwrite=True`` discards it; neither raises ``OutputError``.  Under ``torchrun`` (a process group
    initialised, e.g. by ``pruning.distributed.init_from_env``) every process runs this with the same
    arguments; the first one locks the directory and writes.

    ``test``: a batch source (the real test set when ``data.test`` is a validation split) evaluated only to be
    reported, never for a decision: ``manifest.accuracy.test``.

    ``storage``: the pricer of the weights' storage in real formats that ``save_artifact`` keeps as
    ``totals.storage`` and the last log line reports (``sparsesim.storage.price_storage``; the API passes it)."""
    if resume and overwrite:
        raise OutputError("resume and overwrite (--resume, --overwrite) exclude each other; allowed: one of them")
    out = Path(out_dir)
    torch.manual_seed(cfg.seed)
    model = prepare_for_speed(model.to(device))
    if teacher is not None:
        if cfg.distill is None:
            raise ConfigError("a teacher was given but the config has no 'distill' section; allowed: add "
                              "distill: {weight, temperature} or leave the teacher out")
        teacher = prepare_for_speed(teacher.to(device)).eval()
    job = _Job(model, data, cfg, device, progress, log, teacher, test)
    with OutputLock(out, "prune", log) if is_main() else nullcontext():
        return _run_locked(job, out, model_name, resume, overwrite, on_unit, storage)


def check_output(out_dir: str | Path, resume: bool = False, overwrite: bool = False) -> Path:
    """What ``run_prune`` checks about ``out_dir`` before any work, for drivers to call before loading data:
    writable, and a run already there is refused unless ``resume`` or ``overwrite`` (``OutputError``)."""
    if resume and overwrite:
        raise OutputError("resume and overwrite (--resume, --overwrite) exclude each other; allowed: one of them")
    out = Path(out_dir)
    if not out.exists():   # nothing is created before the job starts: the nearest existing parent must take it
        parent = next((p for p in out.parents if p.exists()), Path("."))
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"output directory {_short(str(out))} cannot be created under {_short(str(parent))} "
                              "(not a writable directory); allowed: a directory this user can create and write")
        return out
    out = ensure_writable(out)
    existing = _existing_run(out)
    if existing and not (resume or overwrite):
        raise OutputError(f"{out} has {existing}; pass --resume to continue or --overwrite to discard")
    return out


def _run_locked(job: _Job, out: Path, model_name: str | None, resume: bool, overwrite: bool,
                on_unit: Callable[[tuple], None] | None, storage: Callable[[dict], dict] | None) -> PruneResult:
    cfg, log, model = job.cfg, job.log, job.model
    ckpt_path = out / "checkpoint.pt"
    units = _units(cfg)
    if overwrite or not resume:
        existing = _existing_run(out)
        if existing and not overwrite:
            raise OutputError(f"{out} has {existing}; pass --resume to continue or --overwrite to discard")
        if existing:
            if is_main():
                for name in RUN_FILES:
                    (out / name).unlink(missing_ok=True)
            log(f"discarding {existing} in {out} (overwrite)")
    barrier()
    if resume and ckpt_path.exists():
        try:
            ck = load_checkpoint(ckpt_path)
            done = int(ck["state"]["done"])
        except Exception as e:  # noqa: BLE001 - a damaged file: say which, keep it
            raise PruneError(f"{ckpt_path} is unreadable ({type(e).__name__}: {_short(str(e))}); pass --overwrite "
                             "to discard it") from None
        changes = resume_changes(ck.get("config"), cfg, done, ckpt_path)
        if changes:
            _rescale_admm(ck, ck["config"], cfg, job.model)
            ck["state"].setdefault("config_changes", []).append({"at_unit": ck["state"]["done"],
                                                                 "changes": changes})
        job.restore(ck)
        for c in changes:
            log(f"resume: {c}")
        log(f"resuming after unit {job.state['done']}/{len(units)}")
    elif resume and (out / "manifest.json").exists():
        raise OutputError(f"{out} has a finished artifact (manifest.json) but no checkpoint.pt to resume from; "
                          "pass --overwrite to discard it or choose another --out")
    elif resume:
        log(f"no checkpoint in {out}; starting from scratch")

    t_start = time.perf_counter()
    for i, unit in enumerate(units):
        if i < job.state["done"]:
            continue
        t0 = time.perf_counter()
        try:
            job.run_unit(unit)
            _check_finite(model, unit)  # a diverged unit never overwrites the last good checkpoint
        except NonFiniteLoss as e:
            where = f"; the last good checkpoint is {ckpt_path}: correct the config (a lower lr or rho) and " \
                    "rerun with --resume" if ckpt_path.exists() else ""
            raise PruneError(f"{e} (unit {i + 1}/{len(units)}: {unit[0]}){where}") from None
        job.state["timings"][unit[0]] = job.state["timings"].get(unit[0], 0.0) + time.perf_counter() - t0
        job.state["done"] = i + 1
        if is_main():
            save_checkpoint(ckpt_path, {"config": cfg.to_dict(), "model": model.state_dict(),
                                        "generator": job.generator.get_state(), "state": job.state})
        if on_unit is not None:
            on_unit(unit)
    job.state["timings"]["total_this_process"] = time.perf_counter() - t_start
    return _finish(job, out, model_name, storage)


def _check_finite(model: nn.Module, unit: tuple) -> None:
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise NonFiniteLoss(f"weights became non-finite ({name}) during {unit[0]}")


def _existing_run(out: Path) -> str | None:
    """What of a run ``out`` holds, in words (None: nothing)."""
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():
        try:
            return f"a checkpoint of {int(load_checkpoint(ckpt)['state']['done'])} finished units"
        except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is still someone's work
            return f"a checkpoint ({ckpt.name}, unreadable: {type(e).__name__})"
    if (out / "manifest.json").exists():
        return "a finished artifact (manifest.json)"
    return None


def _resumable(path: str) -> bool:
    if path.startswith("layers."):  # layers.<name, may hold dots>.<field>
        return path.endswith(".rho")
    return path in RESUMABLE_FIELDS


def resume_changes(old: dict | None, cfg: PruneConfig, done: int, where: Path | str = "checkpoint") -> list[str]:
    """The config changes a resume makes, in words; ``ConfigError`` (bad input, exit 2) when one would alter
    finished work."""
    if not isinstance(old, dict):
        raise PruneError(f"{where} holds no config; cannot resume (pass --overwrite to discard it)")
    diff = changed_fields(old, cfg.to_dict())
    changed = list(diff)
    fixed = [k for k in changed if not _resumable(k)]
    if fixed:
        shown = "; ".join(f"{k}: {_short(diff[k][0])} -> {_short(diff[k][1])}" for k in fixed[:3])
        raise ConfigError(f"{where} was written with another config ({shown}); cannot resume; a resume may "
                         f"change only {', '.join(RESUMABLE_FIELDS)}")
    try:
        old_units = _units(PruneConfig.from_dict(old))
    except ValueError as e:
        raise PruneError(f"{where}: its config is no longer valid ({e}); cannot resume") from None
    if _units(cfg)[:done] != old_units[:done]:
        raise ConfigError(f"{where}: the changes to {', '.join(changed)} alter the {done} finished units; "
                         "cannot resume (epoch and round counts may change only for units not yet run)")
    return [f"{k} {_short(diff[k][0])} -> {_short(diff[k][1])} (checkpoint after unit {done})" for k in changed]


def _short(value, limit: int = 80) -> str:
    s = repr(value)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _rescale_admm(ck: dict, old: dict, cfg: PruneConfig, model: nn.Module) -> None:
    """A resumed ADMM step takes a changed rho at once: each layer's running rho scaled by new/old initial
    rho and capped by the new rho_max, U rescaled so the multiplier rho U is kept (as ``ADMM.update`` does)."""
    pruner = ck["state"].get("pruner")
    if not pruner or pruner.get("phase") != "admm" or not pruner.get("admm"):
        return
    old_rho = {n: p.rho for n, p in PruneConfig.from_dict(old).resolve(model).items()}
    new_rho = {n: p.rho for n, p in cfg.resolve(model).items()}
    admm = pruner["admm"]
    for n, rho in admm["rho"].items():
        target = min(rho * new_rho.get(n, old_rho[n]) / old_rho[n], cfg.admm.rho_max)
        if target != rho:
            admm["U"][n] = admm["U"][n] * (rho / target)
            admm["rho"][n] = target


def _finish(job: _Job, out: Path, model_name: str | None, storage: Callable[[dict], dict] | None) -> PruneResult:
    """Bake masks and levels into plain weights, purify, write the artifact."""
    final_c = job.pruner.finalize()
    model, state = job.model, job.state
    pruned_acc = job.evaluate()
    accuracy = {"dense": state["dense_acc"], "pruned": pruned_acc}
    if job.test is not None:
        accuracy.update(split="validation", n=len(job.data.test),
                        test={"dense": state.get("dense_test_acc"), "pruned": evaluate_source(model, job.test),
                              "n": len(job.test)})
    convergence = convergence_summary(state["convergence"], job.cfg.admm.eps)
    if convergence is not None:
        job.log(f"ADMM convergence: {convergence['text']}")
    extra = {
        "dataset": job.data.name,
        "method": job.cfg.method,
        "seed": job.cfg.seed,
        "accuracy": accuracy,
        "timings_s": state["timings"],
        "config": job.cfg.to_dict(),
        "admm_convergence": state["convergence"],
        "admm_convergence_summary": convergence,
        "budget_allocation": state["allocations"][-1] if state["allocations"] else None,
        "coupled_zeroed": state.get("coupled_zeroed", {}),
        "purification": _purification(model, job.example),
    }
    if is_main():
        save_artifact(out, model, model_name=model_name, constraints=final_c, example=job.example, extra=extra,
                      log_rows=state["log"], storage=storage)
    barrier()
    manifest = read_manifest(out)
    test = accuracy.get("test")
    seen = "" if test is None else f" on validation; test (reported only) {test['dense']:.4f} -> {test['pruned']:.4f}"
    job.log(f"accuracy {state['dense_acc']:.4f} -> {pruned_acc:.4f}{seen}, {storage_headline(manifest['totals'])}; "
            f"artifact in {out}")
    return PruneResult(out, state["dense_acc"], pruned_acc, manifest["totals"]["compression"], manifest,
                       *((test["dense"], test["pruned"]) if test else ()))


def _purification(model: nn.Module, example: torch.Tensor) -> dict | None:
    try:
        return purify(model, example).to_dict()
    except PurificationError:
        return None
