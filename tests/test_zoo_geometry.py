"""The zoo table (pruning/zoo_table.py) the torch-free artifact reader checks zoo models against is the model code:
regenerated from it here, and the geometry it gives at a class count is the geometry of the model built with it."""

import pytest
from torch import nn

from pruning.models import MODELS
from pruning.zoo_geometry import REGENERATE, zoo_model, zoo_names
from pruning.zoo_table_gen import built_geometry, derive_table, table_source
from pruning.zoo_table import ZOO


def test_the_table_is_generated_from_the_model_code():
    assert zoo_names() == tuple(MODELS)
    fresh = derive_table()
    assert fresh == ZOO, f"pruning/zoo_table.py differs from the model code (stale or edited); run `{REGENERATE}`"
    written = {}
    exec(table_source(fresh), written)   # what `python -m pruning.zoo_table_gen` writes reads back as the table
    assert written["ZOO"] == fresh


@pytest.mark.parametrize("name", list(MODELS))
def test_the_table_gives_the_built_geometry_at_any_class_count(name):
    for n in (None, 1, 2, 10, 1000, 1 << 20):
        built = built_geometry(name, n)
        table = zoo_model(name, n)
        assert table.num_classes == built["num_classes"]
        assert list(table.input_shape) == built["input_shape"]
        assert table.layers == built["layers"] and list(table.layers) == list(built["layers"]), (name, n)
        assert {k: [list(s), d] for k, (s, d) in table.state.items()} == built["state"], (name, n)


class _Hidden(nn.Module):
    """A model whose hidden width is twice the class count: the table (class count as a placeholder) cannot hold it."""

    input_shape = (1, 4, 4)

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        self.fc1 = nn.Linear(16, 2 * num_classes)
        self.fc2 = nn.Linear(2 * num_classes, num_classes)

    def forward(self, x):
        return self.fc2(self.fc1(x.flatten(1)))


def test_a_dimension_that_depends_on_the_class_count_otherwise_is_refused_at_generation(monkeypatch):
    monkeypatch.setitem(MODELS, "hidden", _Hidden)
    with pytest.raises(ValueError, match="zoo model 'hidden': its geometry depends on num_classes"):
        derive_table(["hidden"])
