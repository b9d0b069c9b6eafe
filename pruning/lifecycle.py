"""Pruning as a library: one object with a lifecycle, in the style of ``torch.ao.pruning``.

    pruner = Pruner(model, config.resolve(model), admm=config.admm)
    pruner.prepare()                  # Z0 = Pi(W), U0 = 0; the ADMM penalty gradient rides on W's grad hook
    for round in range(rounds):
        train_one_epoch(model, ...)   # your own loop: loss.backward(); optimizer.step()
        residuals = pruner.step()     # Z/U update, rho grows; pruner.converged says when to stop
    pruner.hard_prune()               # W -> Pi(W); masks and levels become parametrizations
    for epoch in range(retrain):
        train_one_epoch(model, ...)   # zeros stay zeros, quantized layers stay on their levels
    constraints = pruner.finalize()   # plain parameters holding the constrained values

Nothing has to be called inside the training loop: the penalty gradient
``rho (W - Z + U)`` is added by a hook on each constrained weight (before
gradient accumulation, so DDP averages it with the loss gradient), and after
the hard prune ``pruning.masking`` parametrizations make the forward pass see
``mask * q(latent)``.  ``state_dict()`` / ``load_state_dict()`` carry
everything needed to resume (load the pruner's state before the model's).

``method="magnitude"`` skips the ADMM phase (call ``hard_prune`` directly);
``budget`` shares one whole-network pruning ratio across layers
(``pruning.budget``) at every Z-update and at the hard prune.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import distributed
from .admm import ADMM, Residual, constraint_from_dict
from .budget import Allocation, GlobalBudget, budget_constraints
from .config import LayerPlan
from .constraint import Constraint
from .coupled import CoupledGroups
from .coupled_projection import bias_masks, project_coupled
from .masking import apply_masks, bake, is_masked
from .purification import coupled_masks

PHASES = ("new", "admm", "masked", "final", "closed")


class LifecycleError(RuntimeError):
    pass


@dataclass(frozen=True)
class HardPrune:
    """What the hard prune fixed: per-layer constraints (realised ratios, fitted scales) and the masks."""

    constraints: dict[str, Constraint]
    masks: dict[str, torch.Tensor]           # by parameter name, coupled bias/BatchNorm masks included
    allocation: Allocation | None


class Pruner:
    def __init__(self, model: nn.Module, plans: dict[str, LayerPlan], *, rho_multiplier: float = 1.3,
                 rho_max: float = 10.0, eps: float | None = None, budget: GlobalBudget | None = None,
                 example: torch.Tensor | None = None, coupled: tuple[CoupledGroups, ...] = ()):
        self.model = model
        self.coupled = tuple(coupled)
        self.plans = dict(plans)
        self.rho_multiplier, self.rho_max, self.eps = rho_multiplier, rho_max, eps
        self.budget = budget
        self.example = example
        self.phase = "new"
        self.admm: ADMM | None = None
        self.residuals: list[Residual] = []
        self.allocation: Allocation | None = None
        self.result: HardPrune | None = None
        self._handles: list = []

    # --------------------------------------------------------------- helpers
    def _weights(self) -> dict[str, torch.Tensor]:
        modules = dict(self.model.named_modules())
        return {n: modules[n].weight for n in self.plans}

    def _require(self, *phases: str) -> None:
        if self.phase not in phases:
            raise LifecycleError(f"pruner is in phase {self.phase!r}; this call needs {' or '.join(phases)}")

    def constraints_for(self, tensors: dict[str, torch.Tensor]) -> dict[str, Constraint]:
        """Per-layer constraints for these tensors: the budget shared out (on plain magnitudes), then
        each quantizer's scale fitted to the weights its layer keeps."""
        cons = {n: p.constraint for n, p in self.plans.items()}
        if self.budget is not None:
            plain = {n: Constraint(c.structure) for n, c in cons.items()}
            shared, self.allocation = budget_constraints(self.budget, plain, tensors)
            cons = {n: Constraint(shared[n].structure, c.quantizer) for n, c in cons.items()}
        return {n: c.fit(tensors[n]) for n, c in cons.items()}

    # ------------------------------------------------------------ lifecycle
    @torch.no_grad()
    def prepare(self) -> "Pruner":
        """Start ADMM: Z0 = Pi(W), U0 = 0, and the penalty gradient hooks."""
        self._require("new")
        w = {n: t.detach() for n, t in self._weights().items()}
        cons = self.constraints_for(w)
        plans = {n: LayerPlan(n, cons[n], p.rho) for n, p in self.plans.items()}
        self.admm = ADMM(self.model, plans, self.rho_multiplier, self.rho_max, budget=self.budget,
                         coupled=self.coupled)
        self._attach()
        self.phase = "admm"
        return self

    def _attach(self) -> None:
        admm = self.admm
        for name, w in self._weights().items():
            def hook(grad, name=name, w=w):
                return grad + admm.penalty_grad(name, w.detach())
            self._handles.append(w.register_hook(hook))

    def _detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def close(self) -> None:
        """Abandon the ADMM phase without pruning (a progressive step ended): the penalty hooks go."""
        self._detach()
        self.admm, self.phase = None, "closed"

    def step(self) -> list[Residual]:
        """One ADMM round ends: Z- and U-updates, rho grows; returns the layers' residuals."""
        self._require("admm")
        self.residuals = self.admm.update()
        return self.residuals

    @property
    def converged(self) -> bool:
        return bool(self.eps is not None and self.residuals and all(r.converged(self.eps) for r in self.residuals))

    @torch.no_grad()
    def hard_prune(self) -> HardPrune:
        """Project W onto its set (ADMM's last scales when it ran); masks and levels become parametrizations."""
        self._require("new", "admm")
        self._detach()
        w = {n: t.detach() for n, t in self._weights().items()}
        if self.admm is None:
            cons = self.constraints_for(w)
        else:  # the scales ADMM converged to; the budget shared out on W itself
            cons = dict(self.admm.constraints)
            if self.budget is not None:
                cons, self.allocation = budget_constraints(self.budget, cons, w)
        joint = project_coupled(self.coupled, cons, w) if self.coupled else {}
        weight_masks = {}
        for n, c in cons.items():
            z, mask = joint[n] if n in joint else c.project(w[n])
            w[n].copy_(z)
            weight_masks[n] = mask
        masks = {f"{n}.weight": m for n, m in weight_masks.items()}
        if self.example is not None:
            masks.update({k: v.bool() for k, v in coupled_masks(self.model, self.example, weight_masks).items()})
        params = dict(self.model.named_parameters())
        for k, m in bias_masks(self.coupled, masks, params).items():  # a pruned head's / neuron's bias goes too
            masks[k] = masks[k] & m if k in masks else m
        quantizers = {f"{n}.weight": c.quantizer for n, c in cons.items() if c.quantizer is not None}
        apply_masks(self.model, masks, quantizers, fresh_tensors=distributed.active())
        self.result = HardPrune(cons, masks, self.allocation if self.budget is not None else None)
        self.admm, self.phase = None, "masked"
        return self.result

    def finalize(self) -> dict[str, Constraint]:
        """Bake the parametrizations: plain parameters exactly on zeros and levels; returns the constraints."""
        self._require("masked")
        bake(self.model)
        self.phase = "final"
        return self.result.constraints

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict:
        d: dict = {"phase": self.phase, "admm": self.admm.state_dict() if self.admm is not None else None,
                   "residuals": [r.__dict__ for r in self.residuals]}
        if self.result is not None:
            d["constraints"] = {n: c.to_dict() for n, c in self.result.constraints.items()}
            d["masks"] = {k: v.cpu() for k, v in self.result.masks.items()}
        return d

    def load_state_dict(self, state: dict) -> None:
        """Restore a pruner built with the same model and plans (before loading the model's state)."""
        self._require("new")
        self.residuals = [Residual(**r) for r in state.get("residuals", [])]
        if state["phase"] == "admm":
            self.prepare()
            self.admm.load_state_dict(state["admm"])
        elif state["phase"] in ("masked", "final"):
            cons = {n: constraint_from_dict(d) for n, d in state["constraints"].items()}
            self.result = HardPrune(cons, dict(state["masks"]), None)
            if state["phase"] == "masked" and not is_masked(self.model):
                quantizers = {f"{n}.weight": c.quantizer for n, c in cons.items() if c.quantizer is not None}
                apply_masks(self.model, self.result.masks, quantizers)
            self.phase = state["phase"]
