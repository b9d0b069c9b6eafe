"""The prune job: dense training -> pruning phases -> hard prune -> masked retraining -> artifact.

Work is cut into units (a pretraining epoch, an ADMM round, a retraining
epoch).  After each unit a checkpoint is written atomically to
``OUT/checkpoint.pt``; ``resume=True`` restarts after the last finished unit
and, with the same seed, reaches the same weights as an uninterrupted run.

Methods (same budget, same framework, for honest comparison):

* ``admm``        ADMM rounds per progressive step (Zhang et al. 2018; ADMM-NN)
* ``magnitude``   iterative magnitude pruning: prune to the step's ratio, then
                  masked retraining for the same number of epochs (Han et al. 2015)
* ``group_lasso`` structured sparsity learning: train with a group-lasso penalty
                  over the structure's groups, then prune (Wen et al. 2016)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .admm import ADMM, constraint_from_dict, with_ratio
from .artifact import read_manifest, save_artifact
from .checkpoint import load_checkpoint, save_checkpoint
from .config import LayerPlan, PruneConfig, step_ratio
from .constraint import Constraint
from .data import Dataset
from .purification import PurificationError, coupled_masks, purify
from .retrain import MaskedRetrainer
from .train import (NonFiniteLoss, cosine_lr, evaluate, make_optimizer, prepare_for_speed, set_lr,
                    train_epoch)


class PruneError(RuntimeError):
    pass


@dataclass(frozen=True)
class PruneResult:
    out_dir: Path
    dense_accuracy: float
    pruned_accuracy: float
    compression: float
    manifest: dict


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


def run_prune(model: nn.Module, data: Dataset, cfg: PruneConfig, out_dir: str | Path, *,
              model_name: str | None = None, resume: bool = False, device: str = "cpu",
              progress: bool = True, log: Callable[[str], None] = print,
              on_unit: Callable[[tuple], None] | None = None) -> PruneResult:
    """Run the whole job; write the artifact to ``out_dir``.  Validates the config first."""
    out = Path(out_dir)
    plans = cfg.resolve(model)  # raises ConfigError before any training
    if not plans:
        raise PruneError("config names no layer to prune")
    torch.manual_seed(cfg.seed)
    model = prepare_for_speed(model.to(device))
    modules = dict(model.named_modules())
    example = torch.zeros(1, *data.input_shape, device=device)
    ckpt_path = out / "checkpoint.pt"
    units = _units(cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    state: dict = {"done": 0, "log": [], "dense_acc": None, "timings": {}, "masks": None,
                   "quantizers": None, "optimizer": None, "admm": None, "final_constraints": None}
    if resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        if ck.get("config") != cfg.to_dict():
            raise PruneError(f"{ckpt_path} was written with another config; cannot resume")
        model.load_state_dict(ck["model"])
        generator.set_state(ck["generator"])
        state = ck["state"]
        log(f"resuming after unit {state['done']}/{len(units)}")
    elif resume:
        log(f"no checkpoint in {out}; starting from scratch")

    train_cfg = cfg.train
    x, y = data.train_x, data.train_y
    tx, ty = data.test_x, data.test_y
    evaluate_now = lambda: evaluate(model, tx, ty)  # noqa: E731
    row = lambda **kw: state["log"].append(kw)  # noqa: E731
    admm: ADMM | None = None
    retrainer: MaskedRetrainer | None = None
    optimizer = None
    final_plans = plans

    def step_plans(step: int, last: bool) -> dict[str, LayerPlan]:
        frac = cfg.admm.schedule[step]
        return {n: with_ratio(p, step_ratio(p.constraint.structure.ratio, frac), quantize=last)
                for n, p in plans.items()}

    def make_retrainer(masks, quantizers):
        return MaskedRetrainer(model, masks, quantizers)

    def resume_retrainer():
        masks = {k: v.to(device) for k, v in state["masks"].items()}
        quants = {k: constraint_from_dict(v).quantizer for k, v in (state["quantizers"] or {}).items()}
        return make_retrainer(masks, quants)

    def hard_prune(step_plans_now: dict[str, LayerPlan], constraints: dict[str, Constraint] | None = None):
        """Project every layer onto its set; masks (with coupled bias/BN) for retraining."""
        nonlocal retrainer
        with torch.no_grad():
            weight_masks, quants, final_c = {}, {}, {}
            for n, p in step_plans_now.items():
                c = constraints[n] if constraints else p.constraint.fit(modules[n].weight)
                z, mask = c.project(modules[n].weight)
                modules[n].weight.copy_(z)
                weight_masks[n] = mask
                final_c[n] = c
                if c.quantizer is not None:
                    quants[f"{n}.weight"] = c.quantizer
            masks = {f"{n}.weight": m.float() for n, m in weight_masks.items()}
            masks.update(coupled_masks(model, example, weight_masks))
        state["masks"] = {k: v.cpu() for k, v in masks.items()}
        state["quantizers"] = {k: Constraint(quantizer=q).to_dict() for k, q in quants.items()}
        state["final_constraints"] = {n: c.to_dict() for n, c in final_c.items()}
        retrainer = make_retrainer(masks, quants)
        return retrainer

    t_start = time.perf_counter()
    for i, unit in enumerate(units):
        if i < state["done"]:
            continue
        stage, step, rnd, epoch = unit
        t0 = time.perf_counter()
        try:
            if stage == "pretrain":
                if optimizer is None:
                    optimizer = make_optimizer(train_cfg.optimizer, model.parameters(), train_cfg.lr,
                                               train_cfg.momentum, train_cfg.weight_decay)
                    if state["optimizer"] is not None:
                        optimizer.load_state_dict(state["optimizer"])
                lr = cosine_lr(train_cfg.lr, epoch, cfg.pretrain_epochs)
                set_lr(optimizer, lr)
                st = train_epoch(model, x, y, optimizer, train_cfg.batch_size, generator,
                                 progress=progress, desc=f"pretrain {epoch + 1}/{cfg.pretrain_epochs}")
                acc = evaluate_now()
                row(stage=stage, epoch=epoch, lr=lr, loss=st.loss, test_acc=acc, seconds=st.seconds)
                log(f"pretrain epoch {epoch + 1}/{cfg.pretrain_epochs}: loss {st.loss:.4f} acc {acc:.4f} "
                    f"({st.seconds:.1f}s)")
                state["optimizer"] = optimizer.state_dict()
                if epoch == cfg.pretrain_epochs - 1:
                    optimizer, state["optimizer"] = None, None
            elif stage == "prune":
                last = step == len(cfg.admm.schedule) - 1
                sp = step_plans(step, last)
                if state["dense_acc"] is None:
                    state["dense_acc"] = evaluate_now()
                    log(f"dense accuracy {state['dense_acc']:.4f}")
                lr_base = cfg.admm.lr or train_cfg.lr
                if cfg.method == "admm":
                    if admm is None:
                        admm = ADMM(model, sp, cfg.admm.rho_multiplier, cfg.admm.rho_max)
                        if state["admm"] is not None:
                            admm.load_state_dict(state["admm"])
                    hooks, extra = (admm,), None
                elif cfg.method == "magnitude":
                    if rnd == 0:
                        hard_prune(sp)
                    elif retrainer is None:
                        retrainer = resume_retrainer()
                    hooks, extra = (retrainer,), None
                else:
                    hooks, extra = (), group_lasso_penalty(sp, modules, cfg.group_lasso)
                # the learning rate (and optimizer state) is reset at the start of every round
                optimizer = make_optimizer(train_cfg.optimizer, model.parameters(), lr_base,
                                           train_cfg.momentum, train_cfg.weight_decay)
                for e in range(cfg.admm.epochs_per_round):
                    lr = cosine_lr(lr_base, e, cfg.admm.epochs_per_round)
                    set_lr(optimizer, lr)
                    st = train_epoch(model, x, y, optimizer, train_cfg.batch_size, generator, hooks=hooks,
                                     extra_loss=extra, progress=progress,
                                     desc=f"{cfg.method} step {step + 1} round {rnd + 1}")
                if retrainer is not None and cfg.method == "magnitude":
                    with retrainer.projected():
                        acc = evaluate_now()
                else:
                    acc = evaluate_now()
                row(stage=cfg.method, step=step, round=rnd, lr=lr, loss=st.loss, test_acc=acc, seconds=st.seconds)
                msg = f"{cfg.method} step {step + 1}/{len(cfg.admm.schedule)} round {rnd + 1}/{cfg.admm.rounds}: " \
                      f"loss {st.loss:.4f} acc {acc:.4f}"
                if admm is not None:
                    res = admm.update()
                    for r in res:
                        row(stage="admm_residual", step=step, round=rnd, layer=r.layer, rho=r.rho,
                            primal_residual=r.primal, dual_residual=r.dual)
                    worst = max(res, key=lambda r: r.primal / (1e-12 + float(modules[r.layer].weight.detach().norm())))
                    msg += f"; primal {worst.primal:.3g} ({worst.layer})"
                    state["admm"] = admm.state_dict()
                    if rnd == cfg.admm.rounds - 1:  # next step starts from Z0 = Pi(W), U0 = 0
                        if last:  # hard prune onto the sets ADMM converged to (same scales)
                            state["final_constraints"] = state["admm"]["constraints"]
                        admm, state["admm"] = None, None
                elif cfg.method == "magnitude" and rnd == cfg.admm.rounds - 1:
                    retrainer = None
                log(msg)
            elif stage == "hard_prune":
                if state["dense_acc"] is None:
                    state["dense_acc"] = evaluate_now()
                final_plans = step_plans(len(cfg.admm.schedule) - 1, True)
                known = state["final_constraints"]
                hard_prune(final_plans, None if known is None else
                           {n: constraint_from_dict(d) for n, d in known.items()})
                acc = evaluate_now()
                row(stage="hard_prune", test_acc=acc)
                log(f"hard prune: accuracy {acc:.4f}")
                optimizer, state["optimizer"] = None, None  # retraining starts with a fresh optimizer
            elif stage == "retrain":
                if retrainer is None:
                    retrainer = resume_retrainer()
                lr_base = cfg.retrain_lr or train_cfg.lr
                if optimizer is None:
                    optimizer = make_optimizer(train_cfg.optimizer, model.parameters(), lr_base,
                                               train_cfg.momentum, train_cfg.weight_decay)
                    if state["optimizer"] is not None:
                        optimizer.load_state_dict(state["optimizer"])
                lr = cosine_lr(lr_base, epoch, cfg.retrain_epochs)
                set_lr(optimizer, lr)
                st = train_epoch(model, x, y, optimizer, train_cfg.batch_size, generator, hooks=(retrainer,),
                                 progress=progress, desc=f"retrain {epoch + 1}/{cfg.retrain_epochs}")
                with retrainer.projected():
                    acc = evaluate_now()
                row(stage=stage, epoch=epoch, lr=lr, loss=st.loss, test_acc=acc, seconds=st.seconds)
                log(f"retrain epoch {epoch + 1}/{cfg.retrain_epochs}: loss {st.loss:.4f} acc {acc:.4f}")
                state["optimizer"] = optimizer.state_dict()
        except NonFiniteLoss as e:
            where = f"; the last good checkpoint is {ckpt_path}" if ckpt_path.exists() else ""
            raise PruneError(f"{e} (unit {i + 1}/{len(units)}: {stage}){where}") from None
        state["timings"][stage] = state["timings"].get(stage, 0.0) + time.perf_counter() - t0
        state["done"] = i + 1
        save_checkpoint(ckpt_path, {"config": cfg.to_dict(), "model": model.state_dict(),
                                    "generator": generator.get_state(), "state": state})
        if on_unit is not None:
            on_unit(unit)

    if retrainer is None:
        retrainer = resume_retrainer()
    retrainer.apply()  # exactly on zeros and levels
    pruned_acc = evaluate_now()
    final_c = {n: constraint_from_dict(d) for n, d in state["final_constraints"].items()}
    report = _purification(model, example)
    state["timings"]["total_this_process"] = time.perf_counter() - t_start
    extra = {
        "dataset": data.name,
        "method": cfg.method,
        "seed": cfg.seed,
        "accuracy": {"dense": state["dense_acc"], "pruned": pruned_acc},
        "timings_s": state["timings"],
        "config": cfg.to_dict(),
        "purification": report,
    }
    save_artifact(out, model, model_name=model_name, constraints=final_c, example=example, extra=extra,
                  log_rows=state["log"])
    manifest = read_manifest(out)
    log(f"accuracy {state['dense_acc']:.4f} -> {pruned_acc:.4f}, compression "
        f"{manifest['totals']['compression']:.1f}x; artifact in {out}")
    return PruneResult(out, state["dense_acc"], pruned_acc, manifest["totals"]["compression"], manifest)


def _purification(model: nn.Module, example: torch.Tensor) -> dict | None:
    try:
        return purify(model, example).to_dict()
    except PurificationError:
        return None
