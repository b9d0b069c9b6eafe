"""Every fenced example in README.md and docs/*.md is tested (issue 24): a YAML block parses with the reader it is
for, a ``sparsesim ...`` / ``python -m sparsecodesign.cli ...`` command block runs on tiny inputs, a Python block
compiles and its imports resolve; a block that cannot run here says why in the doc with a marker on the line
before it:

* ``<!-- example: output -->``: it shows output (a table, a tree, a log line), not something to run;
* ``<!-- example: needs-mnist -->``: its commands read MNIST (run by ``benchmarks/docs_examples.py`` where MNIST is);
* ``<!-- example: slow -->``: it runs for more than 30 s on these inputs (run by ``benchmarks/docs_examples.py``);
* ``<!-- example: needs-gpu -->``: it needs a CUDA device;
* ``<!-- example: needs-tool -->``: it installs (``pip install``/``python -m venv`` lines: known by content, so
  README.md opens with its commands) or runs another program (pip, a venv, SCALE-Sim, ZigZag, STONNE,
  timeloopfe);
* ``<!-- example: reproduction -->``: a reproduction script of docs/validation.md whose figures its section quotes
  (run by ``benchmarks/docs_examples.py``; some write fixtures, so it runs them into a scratch copy).

A command runs in a scratch directory after the substitutions of ``SUBSTITUTIONS`` (the table below, in order):
a synopsis's ``[optional ...]`` groups are dropped and ``a|b`` takes ``a``; MNIST becomes a tiny generated npz;
the docs' placeholder models and files become small generated ones; training runs with the tiniest settings
(``--config`` a one-epoch job; ``bench --repeats 1``).  Each command must exit 0.
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
KINDS = ("output", "needs-mnist", "slow", "needs-gpu", "needs-tool", "reproduction")
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)
MARKER = re.compile(r"<!-- example: ([\w-]+) -->")


@dataclass(frozen=True)
class Block:
    doc: str      # README.md, docs/x.md
    line: int     # of the opening fence
    lang: str
    body: str
    mark: str | None   # the marker's kind, or None

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks() -> list[Block]:
    out = []
    for path in DOCS:
        text = path.read_text()
        for m in FENCE.finditer(text):
            before = text[:m.start()].rstrip("\n ").rsplit("\n", 1)[-1]
            mark = MARKER.search(before)
            out.append(Block(str(path.relative_to(ROOT)), text[:m.start()].count("\n") + 1, m["lang"],
                             "\n".join(l[len(m["indent"]):] for l in m["body"].splitlines()), mark and mark[1]))
    return out


def commands(body: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and ``$ `` prompts dropped."""
    lines, cur = [], ""
    for raw in body.splitlines():
        line = raw.rstrip()
        cur += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            cmd = re.sub(r"(^|\s)#.*$", "", cur).strip().removeprefix("$ ")
            if cmd:
                lines.append(cmd)
            cur = ""
    return lines


TORCHRUN = re.compile(r"^(\w+=\S+ )*torchrun .*?-m sparsecodesign\.cli ")


def is_command(cmd: str) -> bool:
    return cmd.startswith(("sparsesim ", "python -m sparsecodesign.cli ")) or bool(TORCHRUN.match(cmd))


ALL = blocks()


# ================================================================ what each block is
def kind(b: Block) -> str:
    if b.mark:
        return b.mark
    if b.lang == "yaml":
        return "yaml"
    if b.lang == "python":
        return "python"
    cmds = commands(b.body)
    if cmds and all(c.startswith(("pip install", "python -m venv")) for c in cmds):
        return "needs-tool"   # installing (README's first lines, which must open the file): pip, not this test
    return "command" if cmds and all(is_command(c) for c in cmds) else "unmarked"


def test_every_example_is_tested_or_marked():
    """A block this test cannot run says why (a marker of ``KINDS``); a marker names a known kind."""
    bad = [f"{b.id} ({b.mark or commands(b.body)[:1]})" for b in ALL
           if kind(b) == "unmarked" or (b.mark and b.mark not in KINDS)]
    assert not bad, "unmarked or unknown-kind examples: " + "; ".join(bad)
    assert len(ALL) > 50   # the collector sees the docs' blocks (a broken regex would pass everything)


# ================================================================ YAML blocks: the reader each is for
def yaml_reader(data: dict):
    """The reader of a YAML example, by its content: a sweep (``parameters``), hardware (``pe``/``dram`` or
    ``name``), a pruning job (``method``/``layers``/``admm``), else a compare config."""
    from accel_models.hardware import accelerator_from_dict
    from analysis.compare_config import CompareConfig
    from analysis.sweep import SweepSpec
    from pruning.config import PruneConfig

    if "parameters" in data:
        return SweepSpec.from_dict
    if {"pe", "dram", "glb", "clock_hz"} & set(data):
        return accelerator_from_dict
    if {"method", "layers", "admm", "prune_ratios"} & set(data):
        return PruneConfig.from_dict
    return CompareConfig.from_dict


@pytest.mark.parametrize("block", [b for b in ALL if kind(b) == "yaml"], ids=lambda b: b.id)
def test_yaml_examples_parse_with_their_reader(block, tmp_path, monkeypatch):
    from fileguard import loads_unique_yaml

    data = loads_unique_yaml(block.body)
    monkeypatch.chdir(tmp_path)
    _artifact(tmp_path / "runs" / "digits")   # what a sweep example reads
    yaml_reader(data)(data)


# ================================================================ Python blocks: they compile, their imports resolve
@pytest.mark.parametrize("block", [b for b in ALL if kind(b) == "python"], ids=lambda b: b.id)
def test_python_examples_compile_and_import(block):
    tree = ast.parse(block.body, block.id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in ("timeloopfe",):
                    continue   # another program's package (docs/export.md): not a dependency
                importlib.import_module(a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] != "timeloopfe":
            module = importlib.import_module(node.module)
            for a in node.names:
                assert hasattr(module, a.name) or importlib.util.find_spec(f"{node.module}.{a.name}"), \
                    f"{block.id}: from {node.module} import {a.name}: no such name"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sc":
            import sparsecodesign as sc
            assert hasattr(sc, node.attr) or hasattr(sc.CostTable, node.attr), f"{block.id}: sc.{node.attr}"


# ================================================================ command blocks: run on tiny inputs
TINY_PRUNE = ("pretrain_epochs: 1\nretrain_epochs: 0\ntrain: {batch_size: 256}\n"
              "admm: {schedule: [1.0], rounds: 0}\n"   # one dense epoch, then the one-shot prune
              'layers: {"re:.*": {type: nonstructured, ratio: 0.5}}\n')
# a compare takes minutes even with one epoch per phase (a loaded 2-core machine: ~100 s for the digits job):
# within a tested block its commands are run by benchmarks/docs_examples.py instead, and what they would write
# (cmp/runs/dense, an artifact) is generated here so the commands after them run
SLOW_COMMANDS = ("compare",)
TINY_COMPARE = ("ladder: [0.5]\nbisections: 0\npretrain_epochs: 1\nadmm_rounds: 1\nepochs_per_round: 1\n"
                "retrain_epochs: 1\nmeasure_cpu: false\ncalibrate_images: 8\nhil_probes: 1\n"
                "structures: [nonstructured, filter]\n")

# (pattern, replacement) applied in order to each command: the documented substitution table
SUBSTITUTIONS = [
    (TORCHRUN.pattern, "sparsesim "),                         # torchrun (DDP, tests/test_distributed*): one process
    (r" \.\.\.$", " --dataset digits --out runs/ddp"),     # "prune ...": the digits job
    (r"\s\[[^\[\]]*\]", ""),                                  # a synopsis's [optional ...] group: dropped
    (r"(\S+?)\|\S+", r"\1"),                                  # a|b: the first alternative
    (r"--dataset mnist --data-dir \S+", "--dataset npz --data-dir tiny28.npz"),   # MNIST -> a tiny npz
    (r"--data-dir my\.npz", "--data-dir tiny28.npz"),
    (r"\b(mynets:build|nets\.py:build|nets/tiny\.py:build)", "nets28.py:build"),   # your model, 28x28 digits
    (r"\b(mypkg\.models:Net|mypkg:Net|path/to/models\.py:make_net)", "net3.py:build"),   # a 3-channel CNN
    (r"--dataset imagefolder --data-dir \S+", "--dataset imagefolder --data-dir imgs"),   # 8x8 PNGs, 2 classes
    (r"--config \S+", ""),
    (r"^(sparsesim|python -m sparsecodesign\.cli) sweep (.*)", r"\1 sweep \2 --scheduler sync"),   # no cluster
    (r"^(sparsesim|python -m sparsecodesign\.cli) prune ", r"\1 prune --config tiny_prune.yaml --overwrite "),
    (r"^(sparsesim|python -m sparsecodesign\.cli) compare ", r"\1 compare --config tiny_compare.yaml "),
    (r"^(sparsesim|python -m sparsecodesign\.cli) bench (.*)", r"\1 bench \2 --repeats 1 --batch 2"),
    (r"--download", ""),
]


def substituted(cmd: str) -> list[str]:
    for pattern, repl in SUBSTITUTIONS:
        cmd = re.sub(pattern, repl, cmd)
    if "tiny28.npz" in cmd and "--model" not in cmd:   # MNIST's default model, named for the npz
        cmd += " --model lenet5"
    argv = shlex.split(cmd)
    return argv[1:] if argv[0] == "sparsesim" else argv[3:]


def _artifact(path: Path) -> None:
    """A digits_cnn artifact written directly (no training)."""
    import torch

    from pruning.artifact import save_artifact
    from pruning.models import build_model

    torch.manual_seed(0)
    save_artifact(path, build_model("digits_cnn").eval(), model_name="digits_cnn", constraints={},
                  example=torch.zeros(1, 1, 8, 8), extra={"dataset": "digits"}, log_rows=[])


SCALE_CFG = """[general]
run_name = doc
[architecture_presets]
ArrayHeight: 8
ArrayWidth: 8
IfmapSramSzkB: 4
FilterSramSzkB: 8
OfmapSramSzkB: 2
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: os
[run_presets]
InterfaceBandwidth: USER
"""
NETS28 = """import torch.nn as nn


def build(num_classes=10):
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                        nn.Linear(64, num_classes))
    net.input_shape = (1, 28, 28)
    return net
"""
NET3 = NETS28.replace("nn.Conv2d(1,", "nn.Conv2d(3,").replace("    net.input_shape = (1, 28, 28)\n", "")


def _workspace(root: Path) -> None:
    """The files the examples name, tiny: data, your models, checkpoints, an ONNX graph, a topology, hardware."""
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    y = np.arange(64) % 10
    x = rng.random((64, 1, 28, 28), dtype=np.float32) * 0.1
    x[np.arange(64), 0, 2 * y, :] += 1.0   # a learnable mark per class: the accuracy baseline is no coin toss
    np.savez(root / "tiny28.npz", x_train=x[:48], y_train=y[:48], x_test=x[48:], y_test=y[48:])
    (root / "nets28.py").write_text(NETS28)
    (root / "net3.py").write_text(NET3)
    (root / "tiny_prune.yaml").write_text(TINY_PRUNE)
    (root / "tiny_compare.yaml").write_text(TINY_COMPARE)
    spec = importlib.util.spec_from_file_location("net3_doc", root / "net3.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.build().eval()
    torch.save(net.state_dict(), root / "net.pt")   # (resnet18's for the command naming it: _resnet_checkpoint)
    from safetensors.torch import save_file
    save_file(net.state_dict(), str(root / "net.safetensors"))
    torch.onnx.export(net, torch.zeros(1, 3, 16, 16), str(root / "net.onnx"), dynamo=False)
    (root / "net.csv").write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "c1, 8, 8, 3, 3, 2, 4, 1,\n")
    (root / "llm.csv").write_text("Layer, M, N, K,\nproj, 64, 1, 64,\n")
    (root / "my_hw.yaml").write_text("name: my_hw\npe: {rows: 8, cols: 8}\n")
    (root / "my_array.yaml").write_text("name: my_array\npe: {rows: 8, cols: 8}\n")
    (root / "scale.cfg").write_text(SCALE_CFG)
    _artifact(root / "runs" / "x")
    _artifact(root / "runs" / "digits")
    _artifact(root / "cmp" / "runs" / "dense")   # what `compare --out cmp` writes (SLOW_COMMANDS)
    (root / "sweep.yaml").write_text("artifact: runs/digits\nbase_hw: eyeriss_like\nparameters: {pe.rows: [8]}\n"
                                     "workload: {structures: [dense, nonstructured], ratios: [0.5], bits: [8]}\n")
    from PIL import Image

    for split in ("train", "test"):
        for c in ("a", "b"):
            (root / "imgs" / split / c).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / "imgs" / split / c / f"{i}.png")


def _resnet_checkpoint(root: Path) -> None:
    import torch

    from pruning.models import build_model

    torch.save(build_model("resnet18").state_dict(), root / "net.pt")


# one test per command: the workspace holds what earlier commands would have written (runs/x, runs/digits,
# cmp/runs/dense) and an earlier prune of the block into a directory this command reads runs first, so each
# runs on its own and none nears the 30 s limit
COMMANDS = [(b, i, c) for b in ALL if kind(b) == "command" for i, c in enumerate(commands(b.body))]


@pytest.mark.parametrize("block, index, cmd", COMMANDS, ids=[f"{b.id}#{i + 1}" for b, i, _ in COMMANDS])
def test_command_examples_run_on_tiny_inputs(block, index, cmd, tmp_path, monkeypatch, capsys):
    from sparsecodesign.cli import main

    argv = substituted(cmd)
    if argv[0] in SLOW_COMMANDS:
        pytest.skip(f"{argv[0]}: minutes even tiny; run by benchmarks/docs_examples.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    _workspace(tmp_path)
    if "resnet18" in argv:
        _resnet_checkpoint(tmp_path)
    for before in commands(block.body)[:index]:   # an earlier prune of the block writes what this one reads
        prior = substituted(before)
        if prior[0] == "prune" and prior[prior.index("--out") + 1] in argv:
            assert main(prior) == 0, f"{block.id}: {before!r}"
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 0, f"{block.id}: {cmd!r} -> {' '.join(argv)!r}: exit {code}: {err[-2000:]}"
