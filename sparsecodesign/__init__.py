"""sparsecodesign: does non-structured sparsity pay off on your hardware?  One import, the whole flow::

    import sparsecodesign as sc
    result = sc.prune("digits_cnn", "digits", "my_job.yaml", "runs/p")    # ADMM prune + quantize -> artifact
    table = sc.simulate(result, hardware="eyeriss_like")                  # per-layer cost -> CostTable
    table.plot("costs.png"); table.total("energy_pj")

Names: a *layer* is a module name (``"conv1"``: manifest entries, config ``layers:``, cost rows); a *mask* is
keyed by parameter name (``"conv1.weight"``: ``masks()``, ``model.state_dict()``, the pruner's masks).
Reference: docs/api.md.  The ``sparsesim`` command line is a shell over these same functions.
"""

from .api import bench, compare, export, load_artifact, load_hardware, masks, presets, prune, simulate, sweep
from .checks import InputError
from .table import CostTable

__all__ = ["prune", "simulate", "bench", "compare", "sweep", "export", "CostTable", "load_artifact", "load_hardware",
           "presets", "masks", "InputError"]
