"""Each zoo model's layer geometry and state dict as data, so an artifact naming a zoo model is checked without
building the model (and without importing torch).

The table, ``pruning/zoo_table.py``, is generated from the model code and never typed by hand:
``python -m pruning.zoo_geometry`` builds every model of ``pruning.models.MODELS`` on the meta device, runs
``pruning.artifact.layer_geometry`` on it (what ``save_artifact`` writes into a manifest) and records the state
dict's keys, shapes and dtypes.  ``tests/test_zoo_geometry.py`` rebuilds the table from the model code and
requires it equal to the file, and checks the geometry it gives for several class counts against models built
with them; a change to a zoo model that is not regenerated fails that test, naming the command above.

The class count: a zoo model takes ``num_classes``, which sets the last layer's rows.  The table holds the
placeholder ``NUM_CLASSES`` wherever the class count appears: the generator builds each model with two
different class counts, substitutes each with the placeholder and requires the two tables equal, so a
dimension that merely equals a class count, or one that depends on it otherwise, is refused at generation.
"""

from __future__ import annotations

import pprint
import sys
from dataclasses import dataclass
from pathlib import Path

NUM_CLASSES = "num_classes"       # the placeholder for the class count in the table
_PROBE_CLASSES = (997, 991)       # two class counts no zoo dimension equals (checked at generation)
TABLE_PATH = Path(__file__).with_name("zoo_table.py")
REGENERATE = "python -m pruning.zoo_geometry"


@dataclass(frozen=True)
class ZooModel:
    """A zoo model's geometry at one class count: what ``layer_geometry`` and ``state_dict`` give when it is
    built (``layers`` in module order; ``state``: key -> (shape, torch dtype name))."""

    name: str
    num_classes: int
    input_shape: tuple[int, ...]
    layers: dict
    state: dict


def zoo_names() -> tuple[str, ...]:
    """The zoo models' names, as ``pruning.models.MODELS`` has them."""
    from .zoo_table import ZOO

    return tuple(ZOO)


def zoo_model(name: str, num_classes: int | None = None) -> ZooModel:
    """Zoo model ``name`` with ``num_classes`` classes (None: the model's default), from the table."""
    from .zoo_table import ZOO

    entry = ZOO[name]
    n = entry["num_classes"] if num_classes is None else num_classes
    return ZooModel(name, n, tuple(entry["input_shape"]), _resolve(entry["layers"], n),
                    {k: (tuple(_resolve(shape, n)), dtype) for k, (shape, dtype) in entry["state"].items()})


def _resolve(obj, n: int):
    if obj == NUM_CLASSES:
        return n
    if isinstance(obj, dict):
        return {k: _resolve(v, n) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v, n) for v in obj]
    return obj


def _placeholder(obj, n: int):
    if isinstance(obj, int) and not isinstance(obj, bool) and obj == n:
        return NUM_CLASSES
    if isinstance(obj, dict):
        return {k: _placeholder(v, n) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_placeholder(v, n) for v in obj]
    return obj


def built_geometry(name: str, num_classes: int | None = None) -> dict:
    """``{input_shape, num_classes, layers, state}`` of zoo model ``name`` built from its code on the meta device
    (imports torch): the truth the table is generated from and tested against."""
    import torch

    from .artifact import layer_geometry
    from .models import build_model

    with torch.device("meta"):
        model = build_model(name, num_classes)
    layers = layer_geometry(model, torch.zeros(1, *model.input_shape, device="meta"))
    state = {k: [list(t.shape), str(t.dtype)] for k, t in model.state_dict().items()}
    return {"input_shape": list(model.input_shape), "num_classes": model.num_classes, "layers": layers,
            "state": state}


def derive_table(names=None) -> dict:
    """The table from the model code: each zoo model at two class counts, the class count replaced by the
    placeholder; ValueError where the two differ (a dimension that is not the class count itself depends on it,
    or equals a probe count).  ``names``: those zoo models only (default: every one)."""
    from .models import MODELS

    table = {}
    for name in MODELS if names is None else names:
        default = built_geometry(name)["num_classes"]
        a, b = (_placeholder({k: v for k, v in built_geometry(name, n).items() if k != "num_classes"}, n)
                for n in _PROBE_CLASSES)
        if a != b:
            raise ValueError(f"zoo model {name!r}: its geometry depends on num_classes other than as a dimension "
                             "equal to it; the table cannot hold it (check it in pruning.artifact_read another way)")
        table[name] = {"input_shape": a["input_shape"], "num_classes": default, "layers": a["layers"],
                       "state": a["state"]}
    return table


def table_source(table: dict) -> str:
    return ('"""Generated by `' + REGENERATE + '` from pruning/models.py: do not edit.\n\n'
            "tests/test_zoo_geometry.py checks it against the model code.  Per zoo model: input shape, default class "
            "count,\nlayer geometry (pruning.artifact.layer_geometry) and state dict (key: [shape, dtype]); "
            f'"{NUM_CLASSES}" stands\nfor the class count.\n"""\n\nZOO = '
            + pprint.pformat(table, width=116, sort_dicts=False) + "\n")


def main() -> int:
    TABLE_PATH.write_text(table_source(derive_table()))
    print(f"wrote {TABLE_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
