"""ADMM weight pruning (Zhang et al., ECCV 2018) with dynamic regulation.

Problem:  minimize  loss(W) + sum_i g_i(Z_i)  s.t.  W_i = Z_i,
g_i the indicator of layer i's constraint set S_i.  Scaled-form ADMM:

    W  <- a few epochs of SGD/Adam on  loss(W) + sum_i rho_i/2 ||W_i - Z_i + U_i||^2
    Z  <- Pi_Si(W + U)
    U  <- U + W - Z
    rho_i' = min(rho_i * multiplier, rho_max);  U <- U * rho_i / rho_i'   (dynamic regulation)

with ``Z0 = Pi(W)`` (a copy) and ``U0 = 0``.  ``U`` is the *scaled* dual
(``U = Lambda / rho``), so when rho grows the multiplier ``Lambda`` is kept by
rescaling ``U`` (Boyd et al. 2011, section 3.4.1); without it every rho step
would silently shrink the accumulated dual.

Convergence (Zhang et al. 2018, section 3.3; Boyd et al. 3.3.1): after each
round the primal residual ``||W - Z||`` and the dual residual
``rho ||Z - Z_prev||`` are measured per layer; made scale free as
``||W - Z|| / ||W||`` and ``||Z - Z_prev|| / ||Z||``, a layer has converged
when both are at most ``eps`` (the paper's epsilon, relative).

The penalty is not added to the loss graph: its gradient ``rho (W - Z + U)``
is added to W's gradient by a hook on each weight (``pruning.lifecycle``), which keeps
an ADMM epoch within a few percent of a plain one.  Any optimizer works, since
only gradients change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from .budget import Allocation, GlobalBudget, budget_constraints
from .config import LayerPlan
from .constraint import Constraint
from .coupled import CoupledGroups
from .coupled_projection import project_coupled
from .quantizers import Quantizer
from .structures import Structure


@dataclass(frozen=True)
class Residual:
    layer: str
    primal: float       # ||W - Z||_F after the update
    dual: float         # rho ||Z - Z_prev||_F
    rho: float          # rho used in the round that just ended
    primal_rel: float   # ||W - Z|| / ||W||
    dual_rel: float     # ||Z - Z_prev|| / ||Z||  (the dual residual over rho ||Z||, scale free)

    def converged(self, eps: float) -> bool:
        return self.primal_rel <= eps and self.dual_rel <= eps



def convergence_summary(steps: list[dict], eps: float | None) -> dict | None:
    """Whether ADMM met its stated criterion, from the per-step records the pipeline keeps (``admm_convergence``:
    each step's end residuals per layer); if not, by how much: the worst layer's relative primal and dual
    residuals at the end of a step, and the larger of the two over ``eps``.  None when no ADMM step ran."""
    if not steps:
        return None
    rows = [(c["step"], name, r["primal_rel"], r["dual_rel"]) for c in steps for name, r in c["layers"].items()]
    step, layer, primal, dual = max(rows, key=lambda t: max(t[2], t[3]))
    worst = {"step": step, "layer": layer, "primal_rel": primal, "dual_rel": dual,
             "times_eps": None if eps is None else max(primal, dual) / eps}
    met_steps = sum(bool(c["converged"]) for c in steps)
    where = f"worst layer {layer} at the end of step {step + 1}: relative primal {primal:.3g}, dual {dual:.3g}"
    if eps is None:
        met, text = None, f"no criterion stated (admm.eps unset; every step ran its rounds); {where}"
    else:
        met = met_steps == len(steps)
        text = (f"eps {eps:g} {'met' if met else 'not met'}: {met_steps} of {len(steps)} steps converged; {where} "
                f"({worst['times_eps']:.3g}x eps)")
    return {"eps": eps, "met": met, "steps": len(steps), "steps_met": met_steps, "worst": worst, "text": text}

class ADMM:
    """The ADMM state (Z, U, rho) of a set of layers and its updates; ``pruning.lifecycle.Pruner`` drives it.

    With a ``budget`` the Z-update is the exact projection onto the whole-network set of
    ``pruning.budget`` in the norm ``sum_l rho_l ||.||^2`` that ADMM minimises; with ``coupled`` sets
    (heads, neurons) their member layers are projected jointly (``pruning.coupled_projection``)."""

    def __init__(self, model: nn.Module, plans: dict[str, LayerPlan], rho_multiplier: float = 1.3,
                 rho_max: float = 10.0, budget: GlobalBudget | None = None,
                 coupled: tuple[CoupledGroups, ...] = ()):
        modules = dict(model.named_modules())
        self.params = {name: modules[name].weight for name in plans}
        self.constraints: dict[str, Constraint] = {
            name: plan.constraint.fit(self.params[name]) for name, plan in plans.items()}
        self.rho = {name: float(plan.rho) for name, plan in plans.items()}
        self.rho_multiplier = rho_multiplier
        self.rho_max = rho_max
        self.budget = budget
        self.coupled = tuple(coupled)
        self.allocation: Allocation | None = None
        self.Z: dict[str, torch.Tensor] = {}
        self.U: dict[str, torch.Tensor] = {}
        self._shift: dict[str, torch.Tensor] = {}  # U - Z, constant between updates
        z0 = self.project({n: w.detach() for n, w in self.params.items()})
        for name, w in self.params.items():
            self.Z[name] = z0[name].clone()
            self.U[name] = torch.zeros_like(w)
            self._shift[name] = self.U[name] - self.Z[name]

    @torch.no_grad()
    def penalty_grad(self, name: str, w: torch.Tensor) -> torch.Tensor:
        """Gradient of ``rho/2 ||W - Z + U||^2`` with respect to W."""
        return (w + self._shift[name]).mul_(self.rho[name])

    # -------------------------------------------------------------- update
    @torch.no_grad()
    def project(self, v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Z = the projection of ``v`` onto every layer's set (coupled members jointly)."""
        joint = project_coupled(self.coupled, self.constraints, v, self.rho) if self.coupled else {}
        return {n: joint[n][0] if n in joint else self.constraints[n].project(t)[0] for n, t in v.items()}

    @torch.no_grad()
    def update(self) -> list[Residual]:
        """Z- and U-updates, then rho grows (U rescaled); returns the residuals of the round."""
        v = {n: w.detach() + self.U[n] for n, w in self.params.items()}
        if self.budget is not None:  # share the budget out for this Z-update
            self.constraints, self.allocation = budget_constraints(self.budget, self.constraints, v, self.rho)
        projected = self.project(v)
        out = []
        for name, w in self.params.items():
            z_prev = self.Z[name]
            z = projected[name]
            self.U[name].add_(w - z)
            rho = self.rho[name]
            primal = float(torch.linalg.vector_norm(w - z))
            step = float(torch.linalg.vector_norm(z - z_prev))
            out.append(Residual(name, primal, rho * step, rho, primal / _norm_floor(w), step / _norm_floor(z)))
            self.Z[name] = z
            new_rho = min(rho * self.rho_multiplier, self.rho_max)
            self.U[name].mul_(rho / new_rho)  # scaled dual: keep Lambda = rho U when rho changes
            self._shift[name] = self.U[name] - z
            self.rho[name] = new_rho
        return out

    @torch.no_grad()
    def penalty(self) -> float:
        return sum(self.rho[n] / 2 * float(((w + self._shift[n]) ** 2).sum()) for n, w in self.params.items())

    @torch.no_grad()
    def primal_residuals(self) -> dict[str, float]:
        return {n: float(torch.linalg.vector_norm(w - self.Z[n])) for n, w in self.params.items()}

    # --------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {
            "Z": {n: t.detach().cpu() for n, t in self.Z.items()},
            "U": {n: t.detach().cpu() for n, t in self.U.items()},
            "rho": dict(self.rho),
            "constraints": {n: c.to_dict() for n, c in self.constraints.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        for n, w in self.params.items():
            self.Z[n] = state["Z"][n].to(w.device)
            self.U[n] = state["U"][n].to(w.device)
            self._shift[n] = self.U[n] - self.Z[n]
            self.rho[n] = float(state["rho"][n])
            self.constraints[n] = constraint_from_dict(state["constraints"][n])


def _norm_floor(t: torch.Tensor) -> float:
    return max(float(torch.linalg.vector_norm(t)), 1e-12)


def constraint_from_dict(d: dict) -> Constraint:
    nm = d.get("nm", [2, 4])
    structure = Structure(d["type"], d["ratio"] if d["type"] != "nm" else 0.0,
                          block=tuple(d.get("block", (1, 1))), n=nm[0], m=nm[1])
    q = d.get("quantizer")
    quantizer = None if q is None else Quantizer(q["scheme"], q["bits"], q["zero_level"], q["scale"])
    return Constraint(structure, quantizer)


def with_ratio(plan: LayerPlan, ratio: float, quantize: bool) -> LayerPlan:
    """The plan at one progressive step: its structure at ``ratio``, optionally without quantizer."""
    c = plan.constraint
    s = c.structure if c.structure.kind in ("nm", "dense") else replace(c.structure, ratio=ratio)
    return replace(plan, constraint=Constraint(s, c.quantizer if quantize else None))
