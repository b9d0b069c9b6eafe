"""A loop-nest model of sparse tensor accelerators, under Sparseloop's conventions (Wu et al., MICRO 2022).

A design is a storage hierarchy (bandwidths, word and block widths, energy per action), a loop-nest mapping
(which tensors each level keeps, its temporal loops) and per-level sparse features: per-rank formats (UOP, CP,
B for bitmask, RLE) and gating or skipping of one tensor's accesses conditioned on others being nonzero.
The counts follow Timeloop's tiling rules; the sparse features scale them by the probability that the
operands are nonzero, from a statistical density model or, exactly, from real masks
(:mod:`sparsesim.loopnest.exact`).  docs/validation.md section 14 reproduces Sparseloop's artifact with it.
"""

from sparsesim.loopnest.density import FixedStructured, Hypergeometric
from sparsesim.loopnest.model import LevelCost, LoopnestResult, evaluate
from sparsesim.loopnest.spec import (ActionOpt, ComputeLevel, Design, Loop, RankFormat, StorageLevel,
                                      Tensor, Workload)

__all__ = ["ActionOpt", "ComputeLevel", "Design", "FixedStructured", "Hypergeometric", "LevelCost", "Loop",
           "LoopnestResult", "RankFormat", "StorageLevel", "Tensor", "Workload", "evaluate"]
