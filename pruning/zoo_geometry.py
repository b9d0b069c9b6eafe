"""Each zoo model's layer geometry and state dict as data, so an artifact naming a zoo model is checked without
building the model (and without importing torch).

The table, ``pruning/zoo_table.py``, is generated from the model code and never typed by hand:
``python -m pruning.zoo_table_gen`` builds every model of ``pruning.models.MODELS`` on the meta device, runs
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

from dataclasses import dataclass

NUM_CLASSES = "num_classes"       # the placeholder for the class count in the table
REGENERATE = "python -m pruning.zoo_table_gen"


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
