"""ADMM weight pruning (Zhang et al., ECCV 2018) with dynamic regulation.

Problem:  minimize  loss(W) + sum_i g_i(Z_i)  s.t.  W_i = Z_i,
g_i the indicator of layer i's constraint set S_i.  Scaled-form ADMM:

    W  <- a few epochs of SGD/Adam on  loss(W) + sum_i rho_i/2 ||W_i - Z_i + U_i||^2
    Z  <- Pi_Si(W + U)
    U  <- U + W - Z
    rho_i <- min(rho_i * multiplier, rho_max)        (dynamic regulation)

with ``Z0 = Pi(W)`` (a copy) and ``U0 = 0``.  The penalty is not added to the
loss graph: its gradient ``rho (W - Z + U)`` is added to ``W.grad`` after
``backward()`` (two in-place ops per layer), which keeps an ADMM epoch within a
few percent of a plain one.  Any optimizer works, since only gradients change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from .config import LayerPlan
from .constraint import Constraint
from .quantizers import Quantizer
from .structures import Structure


@dataclass(frozen=True)
class Residual:
    layer: str
    primal: float  # ||W - Z||_F after the update
    dual: float    # rho ||Z - Z_prev||_F
    rho: float     # rho used in the round that just ended


class ADMM:
    """Hook object for ``train_epoch``: adds the penalty gradient after every backward."""

    def __init__(self, model: nn.Module, plans: dict[str, LayerPlan], rho_multiplier: float = 1.3,
                 rho_max: float = 10.0):
        modules = dict(model.named_modules())
        self.params = {name: modules[name].weight for name in plans}
        self.constraints: dict[str, Constraint] = {
            name: plan.constraint.fit(self.params[name]) for name, plan in plans.items()}
        self.rho = {name: float(plan.rho) for name, plan in plans.items()}
        self.rho_multiplier = rho_multiplier
        self.rho_max = rho_max
        self.Z: dict[str, torch.Tensor] = {}
        self.U: dict[str, torch.Tensor] = {}
        self._shift: dict[str, torch.Tensor] = {}  # U - Z, constant between updates
        for name, w in self.params.items():
            self.Z[name] = self.constraints[name].project(w)[0].clone()
            self.U[name] = torch.zeros_like(w)
            self._shift[name] = self.U[name] - self.Z[name]

    # --------------------------------------------------------------- hooks
    @torch.no_grad()
    def after_backward(self) -> None:
        for name, w in self.params.items():
            if w.grad is None:
                continue
            rho = self.rho[name]
            w.grad.add_(w, alpha=rho).add_(self._shift[name], alpha=rho)

    # -------------------------------------------------------------- update
    @torch.no_grad()
    def update(self) -> list[Residual]:
        """Z- and U-updates, then rho grows; returns the residuals of the round."""
        out = []
        for name, w in self.params.items():
            z_prev = self.Z[name]
            z = self.constraints[name].project(w + self.U[name])[0]
            self.U[name].add_(w - z)
            rho = self.rho[name]
            out.append(Residual(name, float(torch.linalg.vector_norm(w - z)),
                                rho * float(torch.linalg.vector_norm(z - z_prev)), rho))
            self.Z[name] = z
            self._shift[name] = self.U[name] - z
            self.rho[name] = min(rho * self.rho_multiplier, self.rho_max)
        return out

    @torch.no_grad()
    def penalty(self) -> float:
        return sum(self.rho[n] / 2 * float(((w + self._shift[n]) ** 2).sum()) for n, w in self.params.items())

    @torch.no_grad()
    def primal_residuals(self) -> dict[str, float]:
        return {n: float(torch.linalg.vector_norm(w - self.Z[n])) for n, w in self.params.items()}

    # ----------------------------------------------------------- hard prune
    @torch.no_grad()
    def hard_prune(self) -> dict[str, torch.Tensor]:
        """Project W onto its set in place; returns the support masks."""
        masks = {}
        for name, w in self.params.items():
            z, mask = self.constraints[name].project(w)
            w.copy_(z)
            masks[name] = mask
        return masks

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
