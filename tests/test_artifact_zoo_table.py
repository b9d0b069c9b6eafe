"""A zoo artifact is checked against the zoo table (pruning/zoo_table.py, generated from the model code) without
building the model: a state dict or layer list that differs from the zoo model's is refused, by the torch-free
reader and by ``load_artifact`` alike, with the message the meta-device check gave."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from pruning.artifact import ArtifactError, load_artifact, save_artifact
from pruning.artifact_read import read_artifact
from pruning.models import build_model


@pytest.fixture(scope="module")
def zoo_art(tmp_path_factory):
    torch.manual_seed(0)
    return save_artifact(tmp_path_factory.mktemp("zoo") / "a", build_model("digits_cnn"), model_name="digits_cnn",
                         constraints={}, example=torch.zeros(1, 1, 8, 8), extra={}, log_rows=[])


def _rename_fc2(state, manifest):
    for suffix in ("weight", "bias"):
        state[f"head.{suffix}"] = state.pop(f"fc2.{suffix}")
    manifest["layers"][3]["name"] = "head"


WHAT = "zoo model 'digits_cnn'"
TAMPERED = [
    (lambda s, m: s.update(extra=np.zeros(3, np.float32)), rf"tensor 'extra' is not a parameter or buffer of {WHAT}"),
    (lambda s, m: s.pop("bn1.running_var"), rf"no tensor 'bn1.running_var', which {WHAT} has"),
    (lambda s, m: s.update({"bn1.running_mean": np.zeros(33, np.float32)}),
     rf"tensor 'bn1.running_mean' has shape \[33\]; {WHAT} has \[32\]"),
    (lambda s, m: s.update({"bn2.num_batches_tracked": s["bn2.num_batches_tracked"].astype(np.int32)}),
     rf"tensor 'bn2.num_batches_tracked' is I32; {WHAT} has torch.int64"),
    (_rename_fc2, r"field 'layers'=\['conv1', 'conv2', 'fc1', 'head'\]; expected the Conv2d/Linear layers of zoo "
                  r"model 'digits_cnn': \['conv1', 'conv2', 'fc1', 'fc2'\] \(differs at layers\[3\]\)"),
    (lambda s, m: m["model"].update(input_shape=[1, 9, 9]), rf"model.input_shape'=\[1, 9, 9\]; expected \[1, 8, 8\]"),
]


@pytest.mark.parametrize("edit, pattern", TAMPERED)
def test_a_zoo_artifact_that_differs_from_its_model_is_refused(zoo_art, tmp_path, edit, pattern):
    path = tmp_path / "a"
    shutil.copytree(zoo_art, path)
    state = load_file(path / "weights.safetensors")
    manifest = json.loads((path / "manifest.json").read_text())
    edit(state, manifest)
    save_file(state, path / "weights.safetensors")
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=pattern) as e:
        read_artifact(path)
    assert "\n" not in str(e.value)
    with pytest.raises(ArtifactError, match=pattern):
        load_artifact(path)


def test_an_untampered_zoo_artifact_reads_at_another_class_count(tmp_path):
    """The table's class count follows the manifest's, as the model built with it would."""
    model = build_model("lenet300", 3)
    path = save_artifact(tmp_path / "a", model, model_name="lenet300", constraints={}, example=torch.zeros(1, 1, 28, 28),
                         extra={}, log_rows=[])
    assert read_artifact(path).weights["fc3"].shape == (3, 100)
    assert load_artifact(path).model.fc3.out_features == 3
