"""sparsecodesign: does non-structured sparsity pay off on your hardware?  One import, the whole flow::

    import sparsecodesign as sc
    result = sc.prune("digits_cnn", "digits", "my_job.yaml", "runs/p")    # ADMM prune + quantize -> artifact
    table = sc.simulate(result, hardware="eyeriss_like")                  # per-layer cost -> CostTable
    table.plot("costs.png"); table.total("energy_pj")

Names: a *layer* is a module name (``"conv1"``: manifest entries, config ``layers:``, cost rows); a *mask* is
keyed by parameter name (``"conv1.weight"``: ``masks()``, ``model.state_dict()``, the pruner's masks).
Reference: docs/api.md.  The ``sparsesim`` command line is a shell over these same functions.

The package also holds ``sparsecodesign.fileio``, the generic file I/O every floor imports (bounded reads, strict
YAML, atomic writes, output locks).  The API names below load on first use, so that importing ``fileio`` from
``pruning`` or ``accel_models`` does not pull in the whole stack (and cannot make an import cycle).
"""

from importlib import import_module

_WHERE = {"prune": "api", "simulate": "api", "bench": "api", "compare": "api", "sweep": "api", "export": "api",
          "load_artifact": "api", "load_hardware": "api", "presets": "api", "masks": "api", "CostTable": "table",
          "InputError": "checks"}

__all__ = ["prune", "simulate", "bench", "compare", "sweep", "export", "CostTable", "load_artifact", "load_hardware",
           "presets", "masks", "InputError"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'sparsecodesign' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
