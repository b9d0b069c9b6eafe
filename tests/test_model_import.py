"""Plain checkpoints (.pt, .safetensors; torch.nn.utils.prune and torch.ao.pruning states) and ONNX files give the
per-layer costs of the same model given as a module or an artifact; missing geometry is an error naming the layer."""

import inspect
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from torch.ao.pruning import BaseSparsifier, WeightNormSparsifier
from torch.nn.utils import prune

from accel_models.hardware import load_accelerator
from sparsecodesign.cli import main
from pruning.artifact import save_artifact
from sparsesim.analytical import evaluate
from sparsesim.model_import import from_checkpoint, from_onnx, load_checkpoint_model, load_model
from sparsesim.workload import WorkloadError, from_artifact, from_model, from_state_dict

SHAPE = (3, 8, 8)
LAYERS = ("conv1", "block.0", "fc")
HW = ("eyeriss_like", "eie_like", "scnn_like", "tpu_like")

class Net(nn.Module):
    """A conv, a stride-2 conv with BatchNorm (folded into it by the ONNX exporter) and a linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8))
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.block(torch.relu(self.conv1(x)))).flatten(1))


NET_SOURCE = "import torch\nfrom torch import nn\n\n\n" + inspect.getsource(Net)   # the user's model file


def random_masks(model, seed: int, density: float = 0.4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: (torch.rand(model.get_submodule(n).weight.shape, generator=g) < density).float() for n in LAYERS}


def masked_net(seed: int = 0) -> tuple[nn.Module, dict]:
    """A Net with random weights and random masks applied (the reference: a plain module)."""
    torch.manual_seed(seed)
    net = Net()
    masks = random_masks(net, seed)
    with torch.no_grad():
        for n in LAYERS:
            net.get_submodule(n).weight.mul_(masks[n])
    return net, masks


def costs(workloads) -> dict:
    """Every numeric cost column per (layer, hardware) on a few engines (incl. geometry-aware SCNN, SCALE-Sim-like)."""
    table = evaluate(workloads, [load_accelerator(h) for h in HW])
    return {(r["layer"], r["hardware"]): {k: v for k, v in r.items() if isinstance(v, (int, float))}
            for r in table.rows()}


def same_costs(got, want):
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-9, nan_ok=True), key   # NaN: not a timed run


@pytest.fixture(scope="module")
def reference():
    net, _ = masked_net()
    return costs(from_model(net, torch.zeros(1, *SHAPE)))


@pytest.mark.parametrize("container", ["plain", "state_dict", "model", "safetensors"])
def test_checkpoint_files_price_like_the_module(tmp_path, reference, container):
    net, _ = masked_net()
    state = net.state_dict()
    if container == "safetensors":
        path = tmp_path / "net.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        path = tmp_path / "net.pt"
        torch.save(state if container == "plain" else {container: state, "epoch": 3}, path)
    same_costs(costs(from_checkpoint(path, Net(), SHAPE)), reference)


def test_artifact_prices_like_the_module(tmp_path, reference):
    net, _ = masked_net()
    art = save_artifact(tmp_path / "art", net, model_name=None, constraints={}, example=torch.zeros(1, *SHAPE),
                        extra={}, log_rows=[])
    same_costs(costs(from_artifact(art)), reference)


def test_torch_nn_utils_prune_state(tmp_path, reference):
    torch.manual_seed(0)
    net = Net()
    masks = random_masks(net, 0)
    for n in LAYERS:
        prune.custom_from_mask(net.get_submodule(n), "weight", masks[n])
    assert "block.0.weight_orig" in net.state_dict() and "block.0.weight_mask" in net.state_dict()
    torch.save(net.state_dict(), tmp_path / "pruned.pt")
    same_costs(costs(from_checkpoint(tmp_path / "pruned.pt", Net(), SHAPE)), reference)
    same_costs(costs(from_model(net, torch.zeros(1, *SHAPE))), reference)   # torch's own forward hook agrees
    loaded = load_checkpoint_model(tmp_path / "pruned.pt", Net())             # what bench runs
    for n in LAYERS:
        assert torch.equal(loaded.get_submodule(n).weight, net.get_submodule(n).weight)


class GivenMasks(BaseSparsifier):
    """A torch.ao.pruning sparsifier that sets fixed masks (WeightNormSparsifier handles 2-D weights only)."""

    def __init__(self, masks):
        super().__init__(defaults={})
        self.given = masks

    def update_mask(self, module, tensor_name, **kwargs):
        name = next(n for n, m in self.model.named_modules() if m is module)
        getattr(module.parametrizations, tensor_name)[0].mask.data = self.given[name].bool()


def ao_pruned(seed: int = 0):
    torch.manual_seed(seed)
    net = Net()
    sparsifier = GivenMasks(random_masks(net, seed))
    sparsifier.prepare(net, [{"tensor_fqn": f"{n}.weight"} for n in LAYERS])
    sparsifier.step()
    return net, sparsifier


def test_torch_ao_pruning_state(tmp_path, reference):
    net, sparsifier = ao_pruned()
    state = net.state_dict()
    assert "conv1.parametrizations.weight.original" in state and "conv1.weight" not in state
    masks = {fqn: s["mask"] for fqn, s in sparsifier.state_dict()["state"].items()}
    torch.save({"model": state, "masks": masks}, tmp_path / "ao.pt")
    same_costs(costs(from_checkpoint(tmp_path / "ao.pt", Net(), SHAPE)), reference)
    torch.save({"model": state, "sparsifier": sparsifier.state_dict()}, tmp_path / "ao_raw.pt")  # a defaultdict
    with pytest.raises(WorkloadError, match="save its masks as a plain dict under 'masks'"):
        from_checkpoint(tmp_path / "ao_raw.pt", Net(), SHAPE)
    same_costs(costs(from_model(net, torch.zeros(1, *SHAPE))), reference)   # the parametrized module agrees
    # the model's state alone has no masks (FakeSparsity does not save them): an error naming a layer, not a drop
    torch.save(state, tmp_path / "ao_nomask.pt")
    with pytest.raises(WorkloadError, match=r"layer 'conv1'.*without its mask"):
        from_checkpoint(tmp_path / "ao_nomask.pt", Net(), SHAPE)
    sparsifier.squash_mask()   # masks folded into plain weights
    torch.save(net.state_dict(), tmp_path / "ao_squashed.pt")
    same_costs(costs(from_checkpoint(tmp_path / "ao_squashed.pt", Net(), SHAPE)), reference)


def test_torch_ao_pruning_drops_no_layer_without_geometry():
    """A linear-only model needs no geometry: every parametrized layer is priced, with its mask."""
    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    sp = WeightNormSparsifier(sparsity_level=1.0, sparse_block_shape=(1, 4), zeros_per_block=2)
    sp.prepare(mlp, [{"tensor_fqn": "0.weight"}, {"tensor_fqn": "2.weight"}])
    sp.step()
    ws = {w.name: w for w in from_state_dict(mlp.state_dict(), masks=sp.state_dict()["state"])}
    assert set(ws) == {"0", "2", "4"}
    assert ws["0"].density == pytest.approx(0.5) and ws["2"].density == pytest.approx(0.5)
    assert ws["4"].density == 1.0
    for n in ("0", "2"):
        assert np.array_equal(ws[n].weights, mlp[int(n)].weight.detach().numpy())


def test_onnx_prices_like_the_module(tmp_path, reference):
    pytest.importorskip("onnx")
    net, _ = masked_net()
    path = tmp_path / "net.onnx"
    torch.onnx.export(net, torch.zeros(1, *SHAPE), str(path), dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {0: "N"}})
    ws = from_onnx(path)
    assert [w.name for w in ws] == list(LAYERS)
    same_costs(costs(ws), reference)
    # a graph whose H/W are symbolic: the conv's input size is unknown -> error naming it, or --input-shape
    torch.onnx.export(net, torch.zeros(1, *SHAPE), str(tmp_path / "dyn.onnx"), dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {0: "N", 2: "H", 3: "W"}})
    with pytest.raises(WorkloadError, match="layer 'conv1'.*--input-shape"):
        from_onnx(tmp_path / "dyn.onnx")
    same_costs(costs(from_onnx(tmp_path / "dyn.onnx", input_shape=SHAPE)), reference)
    assert main(["simulate", str(tmp_path / "dyn.onnx"), "--input-shape", "3,8,8", "--hw", "eyeriss_like"]) == 0
    rows = json.loads((tmp_path / "dyn_sim" / "layers.json").read_text())
    assert [r["layer"] for r in rows if r["layer"] in LAYERS] == list(LAYERS)


def test_onnx_missing_package_is_one_line(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)   # as if not installed
    with pytest.raises(WorkloadError, match=r"needs the onnx package: pip install"):
        from_onnx(tmp_path / "net.onnx")


def test_missing_geometry_is_an_error_naming_the_layer(tmp_path):
    net, _ = masked_net()
    torch.save(net.state_dict(), tmp_path / "net.pt")
    with pytest.raises(WorkloadError, match=r"layer 'conv1': a conv weight \(4, 3, 3, 3\) with no geometry"):
        from_checkpoint(tmp_path / "net.pt")


def test_checkpoint_of_another_model_is_refused(tmp_path):
    torch.save(nn.Sequential(nn.Linear(3, 2)).state_dict(), tmp_path / "other.pt")
    with pytest.raises(WorkloadError, match="layer 'conv1': the model has this conv2d but the state dict holds no"):
        from_checkpoint(tmp_path / "other.pt", Net(), SHAPE)
    with pytest.raises(WorkloadError, match="the checkpoint lacks"):
        load_checkpoint_model(tmp_path / "other.pt", Net())
    torch.save({"model": nn.Sequential(nn.Linear(3, 2)), "x": 1}, tmp_path / "pickled.pt")   # a pickled module
    with pytest.raises(WorkloadError, match="weights_only"):
        from_checkpoint(tmp_path / "pickled.pt", Net(), SHAPE)


def test_load_model_forms(tmp_path, monkeypatch):
    (tmp_path / "usernet.py").write_text(NET_SOURCE)
    assert isinstance(load_model(f"{tmp_path / 'usernet.py'}:Net"), nn.Module)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(load_model("usernet:Net"), nn.Module)
    assert type(load_model("lenet5")).__name__ == "LeNet5"
    for bad, why in (("nope", "allowed: a zoo model"), ("no_such_mod_xyz:Net", "cannot import"),
                     ("usernet:Nope", "has no 'Nope'"), ("usernet:torch", "returned a module")):
        with pytest.raises(WorkloadError, match=why):
            load_model(bad)


def test_simulate_cli_checkpoint_equals_artifact(tmp_path, capsys):
    net, _ = masked_net()
    torch.save(net.state_dict(), tmp_path / "net.pt")
    (tmp_path / "usernet.py").write_text(NET_SOURCE)
    art = save_artifact(tmp_path / "art", net, model_name=None, constraints={}, example=torch.zeros(1, *SHAPE),
                        extra={}, log_rows=[])
    assert main(["simulate", str(art), "--out", str(tmp_path / "a"), "--hw", "eyeriss_like,eie_like"]) == 0
    assert main(["simulate", str(tmp_path / "net.pt"), "--model", f"{tmp_path / 'usernet.py'}:Net",
                 "--input-shape", "3,8,8", "--out", str(tmp_path / "c"),
                 "--hw", "eyeriss_like,eie_like"]) == 0
    rows = [json.loads((tmp_path / d / "layers.json").read_text()) for d in ("a", "c")]
    assert rows[0] == rows[1] and {r["layer"] for r in rows[0]} >= set(LAYERS)
    capsys.readouterr()
    assert main(["simulate", str(tmp_path / "net.pt"), "--out", str(tmp_path / "d")]) == 2
    assert "layer 'conv1'" in capsys.readouterr().err
    (tmp_path / "net.txt").write_text("weights")
    for argv, why in (([str(tmp_path / "net.pt"), "--model", "usernet.py"], "allowed: a zoo model"),
                      ([str(art), "--input-shape", "3,8,8"], "only for a checkpoint or ONNX"),
                      ([str(tmp_path / "net.pt"), "--model", "lenet5", "--input-shape", "3,x"], "--input-shape"),
                      ([str(tmp_path / "net.txt")], "allowed: a directory, .pt")):
        assert main(["simulate", *argv, "--out", str(tmp_path / "e")]) == 2
        assert why in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "net.pt"), "--out", str(tmp_path / "b")]) == 2
    assert "--model" in capsys.readouterr().err


def test_bench_cli_times_a_checkpoint(tmp_path, monkeypatch, capsys):
    net, _ = masked_net()
    torch.save(net.state_dict(), tmp_path / "net.pt")
    (tmp_path / "usernet.py").write_text(NET_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["bench", str(tmp_path / "net.pt"), "--model", "usernet:Net", "--input-shape", "3,8,8",
                 "--out", str(tmp_path / "b"), "--repeats", "2", "--batch", "2"]) == 0
    text = (tmp_path / "b" / "measured.csv").read_text()
    assert all(f"\n{n}," in text for n in LAYERS) and "MODEL,cpu" in text
    (tmp_path / "net.onnx").write_bytes(b"")
    assert main(["bench", str(tmp_path / "net.onnx"), "--out", str(tmp_path / "c")]) == 2
    assert "ONNX files: simulate only" in capsys.readouterr().err
