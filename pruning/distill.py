"""Knowledge distillation for masked retraining (Hinton et al., "Distilling the Knowledge in a Neural
Network", 2015): the pruned student learns from the dense teacher's softened outputs as well as the labels.

    loss = (1 - weight) * CE(student, y) + weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))

The T^2 factor keeps the soft term's gradient scale independent of T (Hinton et al., section 2).  The teacher
runs in eval mode under ``no_grad``; it is never trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                 weight: float, temperature: float) -> torch.Tensor:
    """The blended loss above; ``weight`` in [0, 1] is the share of the soft (teacher) term."""
    hard = F.cross_entropy(student_logits, labels)
    if weight == 0:
        return hard
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)
    return (1 - weight) * hard + weight * soft


@dataclass(frozen=True)
class Distiller:
    """A frozen teacher and the blend: ``loss(student_logits, x, y)`` for a training loop."""

    teacher: nn.Module
    weight: float
    temperature: float

    def loss(self, student_logits: torch.Tensor, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.teacher.eval()
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        return distill_loss(student_logits, teacher_logits, labels, self.weight, self.temperature)
