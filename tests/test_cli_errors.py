"""Every CLI failure is one stderr line, ``sparsesim <command>: error: ...`` (exit 2) or ``... failed: ...``
(exit 1), naming the file, field or option and the value; ``--debug`` shows the traceback instead."""

import errno
import os
import re

import pytest

from fileguard import YamlError, load_unique_yaml, loads_unique_yaml, short
import sparsecodesign.cli as cli
from accel_models.hardware import HardwareError, load_accelerator
from sparsecodesign.cli import main
from analysis.compare_config import CompareConfig, CompareError
from pruning.config import ConfigError, PruneConfig
from pruning.models import build_model

CONV = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
TOPOLOGY = CONV + "c1, 6, 6, 3, 3, 2, 4, 1,\n"


def billion_laughs(levels: int = 10) -> str:
    """The classic alias bomb: 9^levels strings from a few hundred bytes."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    lines.append(f"layers: *a{levels - 1}")
    return "\n".join(lines) + "\n"


FILES = {
    "tab.yaml": "layers:\n\tfc1: {ratio: 0.5}\n",
    "syntax.yaml": "layers: [1, 2\n",
    "truncated.yaml": "pretrain_epochs: 1\nlayers: {fc1: {ratio: 0.5, bits:",
    "dup.yaml": "seed: 1\nseed: 2\n",
    "bomb.yaml": billion_laughs(),
    "nonutf8.yaml": b"seed: \xff\xfe\n",
    "zero_level.yaml": "defaults: {zero_level: 'false'}\n",
    "rho_nan.yaml": "admm: {rho: .nan}\n",
    "lr_inf.yaml": "train: {lr: .inf}\n",
    "bad_re.yaml": 'layers: {"re:conv(": {ratio: 0.5}}\n',
    "name_and_re.yaml": 'pretrain_epochs: 0\nlayers: {fc1: {ratio: 0.5}, "re:fc.*": {ratio: 0.3}}\n',
    "empty_schedule.yaml": "admm: {schedule: []}\n",
    "python_tag.yaml": "seed: !!python/object/apply:os.abort []\n",
    "list_top.yaml": "- 1\n- 2\n",
    "cmp_structures_empty.yaml": "structures: []\n",
    "cmp_presets_empty.yaml": "presets: []\n",
    "cmp_ladder_empty.yaml": "ladder: []\n",
    "cmp_unknown.yaml": "toleranse: 1\n",
    "cmp_dataset_list.yaml": "dataset: [mnist]\n",
    "hw_rows.yaml": "name: big\npe: {rows: 1000000000000, cols: 1}\n",
    "hw_bw.yaml": "name: slow\ndram: {bandwidth_bits_per_cycle: 1.0e-300}\n",
    "hw_flag.yaml": "name: f\ndram: {stall_free: 'false'}\n",
    "hw_eie_queue.yaml": "name: q\npe: {engine: eie, rows: 4096, cols: 4096, fifo_depth: 65536}\n",
    "hw_clock.yaml": "name: c\nclock_hz: 1.0e-300\n",
    "t.csv": TOPOLOGY,
    "dup_names.csv": TOPOLOGY + "c1, 8, 8, 3, 3, 2, 4, 1,\n",
}


@pytest.fixture
def files(tmp_path):
    for name, text in FILES.items():
        p = tmp_path / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    (tmp_path / "big.yaml").write_text("# " + "x" * (1 << 20) + "\n")
    (tmp_path / "adir.yaml").mkdir()
    os.symlink("/dev/zero", tmp_path / "zero.yaml")
    return tmp_path


CASES = [
    # (argv with {d} = the files directory, exit code, pattern the one line must match)
    (["prune", "--config", "{d}/tab.yaml"], 2, r"tab.yaml: line 2, column 1: a tab character"),
    (["prune", "--config", "{d}/syntax.yaml"], 2, r"syntax.yaml: line 2, column 1: expected ',' or ']'"),
    (["prune", "--config", "{d}/truncated.yaml"], 2, r"truncated.yaml: line \d+, column \d+"),
    (["prune", "--config", "{d}/dup.yaml"], 2, r"dup.yaml: duplicate key 'seed' at line 2"),
    (["prune", "--config", "{d}/bomb.yaml"], 2, r"bomb.yaml: line \d+: aliases expand the document beyond 100,000"),
    (["compare", "--config", "{d}/bomb.yaml"], 2, r"bomb.yaml: .*aliases expand"),
    (["simulate", "--topology", "{d}/t.csv", "--hw", "{d}/bomb.yaml"], 2, r"bomb.yaml: .*aliases expand"),
    (["prune", "--config", "{d}/big.yaml"], 2, r"big.yaml: 1,048,57\d bytes; allowed: at most 1,048,576"),
    (["prune", "--config", "{d}/nonutf8.yaml"], 2, r"nonutf8.yaml: byte 6: not UTF-8"),
    (["prune", "--config", "{d}/adir.yaml"], 2, r"adir.yaml: a directory"),
    (["prune", "--config", "{d}/zero.yaml"], 2, r"zero.yaml: not a regular file"),
    (["prune", "--config", "{d}/missing.yaml"], 2, r"missing.yaml: YAML file not found"),
    (["prune", "--config", "{d}/python_tag.yaml"], 2, r"python_tag.yaml: line 1, .*could not determine a constructor"),
    (["prune", "--config", "{d}/list_top.yaml"], 2, r"list_top.yaml: top level must be a mapping"),
    (["prune", "--config", "{d}/zero_level.yaml"], 2, r"defaults: field 'zero_level'='false'; allowed: true, false"),
    (["prune", "--config", "{d}/rho_nan.yaml"], 2, r"admm: field 'rho'=nan; allowed: a finite number > 0"),
    (["prune", "--config", "{d}/lr_inf.yaml"], 2, r"train: field 'lr'=inf; allowed: a finite number > 0"),
    (["prune", "--config", "{d}/bad_re.yaml"], 2, r"layer key 're:conv\(': invalid regular expression"),
    (["prune", "--config", "{d}/name_and_re.yaml"], 2, r"layer 'fc1' is named by both 'fc1' and 're:fc\.\*'"),
    (["prune", "--config", "{d}/empty_schedule.yaml"], 2, r"admm: field 'schedule'=\[\]; allowed: a non-empty"),
    (["compare", "--config", "{d}/cmp_structures_empty.yaml"], 2, r"compare config: structures is empty"),
    (["compare", "--config", "{d}/cmp_presets_empty.yaml"], 2, r"compare config: presets is empty"),
    (["compare", "--config", "{d}/cmp_ladder_empty.yaml"], 2, r"compare config: ladder is empty"),
    (["compare", "--config", "{d}/cmp_unknown.yaml"], 2, r"compare config: unknown field\(s\) 'toleranse'"),
    (["compare", "--config", "{d}/cmp_dataset_list.yaml"], 2, r"compare config: dataset=\['mnist'\]; allowed"),
    (["simulate", "--topology", "{d}/t.csv", "--hw", "{d}/hw_rows.yaml"], 2,
     r"hw_rows.yaml: pe: field 'rows'=1000000000000; allowed: an integer > 0 and <= 65536"),
    (["simulate", "--topology", "{d}/t.csv", "--hw", "{d}/hw_bw.yaml"], 2,
     r"hw_bw.yaml: dram: field 'bandwidth_bits_per_cycle'=1e-300; allowed: a number >= 0.001"),
    (["simulate", "--topology", "{d}/t.csv", "--hw", "{d}/hw_flag.yaml"], 2, r"field 'stall_free'='false'"),
    (["simulate", "--topology", "{d}/t.csv", "--hw", "{d}/hw_eie_queue.yaml"], 2, r"fifo_depth x rows x cols="),
    (["simulate", "--topology", "{d}/t.csv", "--hw", "{d}/hw_clock.yaml"], 2, r"field 'clock_hz'=1e-300; allowed"),
    (["simulate", "--topology", "{d}/t.csv", "--hw", "{d}/tab.yaml"], 2, r"tab.yaml: line 2, column 1: a tab"),
    (["simulate", "--topology", "{d}/t.csv", "--hw", ","], 2, r"--hw ',': no preset or file named"),
    (["simulate", "--topology", "{d}/t.csv", "--hw", "eie_like,,tpu_like"], 2, r"--hw 'eie_like,,tpu_like': an empty"),
    (["simulate", "--topology", "{d}/t.csv", "--hw", "eie_like,eie_like"], 2, r"'eie_like' named twice"),
    (["simulate", "--topology", "{d}/t.csv", "--hw", "../../etc/passwd"], 2, r"hardware preset '../../etc/passwd' "
                                                                             r"unknown"),
    # options
    (["prune", "--device", "foo"], 2, r"argument --device: 'foo'; allowed: cpu, cuda, cuda:N"),
    (["prune", "--threads", "-1"], 2, r"argument --threads: -1; allowed: an integer in 1..1,024"),
    (["prune", "--threads", "0"], 2, r"argument --threads: 0; allowed"),
    (["prune", "--seed", "-3"], 2, r"argument --seed: -3; allowed: an integer in 0..4,294,967,295"),
    (["prune", "--pretrain-epochs", "x"], 2, r"argument --pretrain-epochs: 'x' is not an integer"),
    (["prune", "--workers", "-1"], 2, r"argument --workers: -1"),
    (["simulate", "--batch", "0"], 2, r"argument --batch: 0; allowed: an integer in 1..65,536"),
    (["simulate", "--bits", "0"], 2, r"argument --bits: 0; allowed: 1..16 \(quantized\) or 32 \(float\)"),
    (["simulate", "--calibrate", "0"], 2, r"argument --calibrate: 0"),
    (["bench", "x", "--out", "o", "--batch", "0"], 2, r"argument --batch: 0"),
    (["bench", "x", "--out", "o", "--repeats", "0"], 2, r"argument --repeats: 0"),
    (["bench", "x", "--out", "o", "--device", "gpu"], 2, r"argument --device: 'gpu'"),
    (["bench", "x", "--out", "o", "--wait-idle", "-1"], 2, r"argument --wait-idle: '-1'; allowed: seconds in 0"),
    # compare's config flags: CompareConfig checks each (the line its YAML field gets: test_compare_stages.py)
    (["compare", "--tolerance", "nan"], 2, r"compare config: tolerance_pp=nan; allowed: a finite number in \(0, 100\)"),
    (["compare", "--tolerance", "150"], 2, r"compare config: tolerance_pp=150; allowed: a finite number in \(0, "
                                           r"100\)"),
    (["compare", "--tie-threshold", "inf"], 2, r"compare config: tie_threshold=inf; allowed"),
    (["compare", "--jobs", "0"], 2, r"compare config: jobs=0; allowed: an integer in 1..64"),
    (["compare", "--bits", "20"], 2, r"compare config: bits=20; allowed: 1..16 \(quantized\) or 32 \(float\)"),
    (["compare", "--structures", ","], 2, r"compare config: structures has ''; allowed"),
    (["compare", "--structures", "filter,,nm"], 2, r"compare config: structures has ''; allowed"),
    (["compare", "--structures", "diagonal"], 2, r"compare config: structures has 'diagonal'"),
    (["compare", "--presets", "tpu_like,tpu_like"], 2, r"compare config: presets=\['tpu_like', 'tpu_like'\] repeats an "
                                                       r"entry"),
    (["compare", "--presets", "tpu_v9"], 2, r"compare config: presets has 'tpu_v9'"),
    (["sweep", "{d}/s.yaml", "--workers", "0"], 2, r"argument --workers: 0"),
    (["prune", "--frobnicate"], 2, r"unrecognized arguments: --frobnicate"),
    # options that would be silently ignored; output checked before the work, not after it
    (["prune", "--workers", "4"], 2, r"--workers 4: only --dataset imagefolder reads with DataLoader workers"),
    (["sweep", "{d}/s.yaml", "--scheduler", "foo"], 2, r"--scheduler 'foo'; allowed: sync, tcp://host:port"),
    (["simulate", "--topology", "{d}/t.csv", "--out", "{d}/t.csv"], 2, r"output directory .*t.csv is a file"),
    (["simulate", "--topology", "{d}/dup_names.csv"], 2, r"dup_names.csv: line 3: layer name 'c1' is already used"),
]


def _run(argv, capsys):
    rc = main(argv)
    err = capsys.readouterr().err
    return rc, err.strip().splitlines()


@pytest.mark.parametrize("argv, code, pattern", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_is_one_line_naming_it(files, tmp_path, capsys, argv, code, pattern):
    command = argv[0]
    argv = [a.format(d=files) for a in argv]
    if command in ("prune", "compare") and "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    rc, lines = _run(argv, capsys)
    assert rc == code, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"sparsesim {command}: error: "), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    assert len(lines[0]) < 600
    assert not (tmp_path / "out").exists()  # refused before any work


FAULTS = [
    (PermissionError(errno.EACCES, "Permission denied", "/runs/x/manifest.json"), 2,
     r"presets: error: /runs/x/manifest.json: Permission denied$"),
    (OSError(errno.EROFS, "Read-only file system", "/ro/out"), 2, r"error: /ro/out: Read-only file system$"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/runs/x/weights.safetensors"), 2,
     r"error: /runs/x/weights.safetensors: Is a directory$"),
    (OSError(errno.ENOSPC, "No space left on device", "/runs/x/checkpoint.pt"), 1,
     r"failed: /runs/x/checkpoint.pt: No space left on device \(disk full"),
    (RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 4096 vs 3712\nframe #0: c10::..."), 1,
     r"failed: could not write a file \(disk full or I/O error\): \[enforce fail"),
    (KeyboardInterrupt(), 130, r"presets: interrupted"),
    (MemoryError(), 1, r"failed: out of memory"),
    (ZeroDivisionError("division by zero"), 1,
     r"failed: ZeroDivisionError: division by zero \(run with --debug for the traceback\)$"),
    (RuntimeError("x" * 5000), 1, r"failed: RuntimeError: x+\.\.\.$"),
]


@pytest.mark.parametrize("exc, code, pattern", FAULTS, ids=[type(f[0]).__name__ + str(f[1]) for f in FAULTS])
def test_faults_during_a_run_are_one_line(monkeypatch, capsys, exc, code, pattern):
    def boom(args):
        raise exc
    monkeypatch.setattr(cli, "cmd_presets", boom)
    rc, lines = _run(["presets"], capsys)
    assert rc == code
    assert len(lines) == 1 and lines[0].startswith("sparsesim presets: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert len(lines[0]) <= 1100


@pytest.mark.parametrize("argv", [["--debug", "presets"], ["presets", "--debug"]])
def test_debug_shows_the_traceback(monkeypatch, argv):
    def boom(args):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(cli, "cmd_presets", boom)
    with pytest.raises(ZeroDivisionError):
        main(argv)


def test_help_and_success_exit_0(capsys):
    assert main(["--help"]) == 0
    assert main(["presets"]) == 0
    assert "eie_like" in capsys.readouterr().out


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes whatever the permission bits say")
def test_real_permission_errors_are_one_line(files, tmp_path, capsys):
    cfg = files / "dup.yaml"
    cfg.chmod(0)
    rc, lines = _run(["prune", "--config", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and len(lines) == 1 and "Permission denied" in lines[0]
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    rc, lines = _run(["simulate", "--topology", str(files / "t.csv"), "--hw", "eie_like", "--out",
                      str(ro / "sim")], capsys)
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("sparsesim simulate: error: ")


def test_bench_checks_its_output_before_timing_anything(tmp_path, capsys, monkeypatch):
    import analysis.bench

    def must_not_run(*a, **k):
        raise AssertionError("timed before --out was checked")

    monkeypatch.setattr(analysis.bench, "bench_artifact", must_not_run)
    (tmp_path / "f").write_text("a file")
    rc, lines = _run(["bench", str(tmp_path / "art"), "--out", str(tmp_path / "f"), "--repeats", "1"], capsys)
    assert rc == 2 and len(lines) == 1, lines
    assert re.search(r"^sparsesim bench: error: output directory .*f is a file", lines[0]), lines[0]


def test_simulate_a_topology_still_works(files, tmp_path, capsys):
    assert main(["simulate", "--topology", str(files / "t.csv"), "--hw", "eie_like", "--out",
                 str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "layers.csv").exists()


# ------------------------------------------------------------------ YAML
def test_merge_keys_work_and_own_keys_override(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("base: &base {type: filter, ratio: 0.5, bits: 4}\n"
                 "layers:\n  conv2: {<<: *base}\n  fc1:\n    <<: *base\n    type: nonstructured\n    ratio: 0.9\n")
    data = load_unique_yaml(p)
    assert data["layers"]["fc1"] == {"type": "nonstructured", "ratio": 0.9, "bits": 4}
    data.pop("base")
    plans = PruneConfig.from_dict(data).resolve(build_model("digits_cnn"))
    assert plans["conv2"].constraint.structure.kind == "filter"
    assert plans["fc1"].constraint.structure.ratio == 0.9
    hw = tmp_path / "hw.yaml"
    hw.write_text("name: m\nsram: &s {capacity_bytes: 4096, width_bits: 32}\n")
    with pytest.raises(HardwareError, match=r"unknown field\(s\) 'sram'"):  # merge works, unknown keys still named
        load_accelerator(hw)
    hw.write_text("name: m\nmemory: {organization: per_operand}\nifmap_sram: &s {capacity_bytes: 4096, "
                  "width_bits: 32}\nfilter_sram: {<<: *s, capacity_bytes: 8192}\nofmap_sram: *s\n")
    a = load_accelerator(hw)
    assert a.filter_sram.capacity_bytes == 8192 and a.filter_sram.width_bits == 32
    assert a.ofmap_sram == a.ifmap_sram


@pytest.mark.parametrize("text, pattern", [
    ("a: {x: 1, x: 2}\n", r"duplicate key 'x' at line 1"),
    ("b: &b {x: 1}\nc: {<<: *b, y: 1, y: 2}\n", r"duplicate key 'y'"),
    ("a: &a [*a]\n", r"recursive alias"),
    ("c: {<<: 3}\n", r"line 1, column \d+: expected a mapping or list of mappings for merging"),
    ("[" * 3000 + "]" * 3000, r"nested too deeply"),
], ids=["duplicate", "duplicate-after-merge", "recursive", "merge-scalar", "deep"])
def test_yaml_refusals(text, pattern):
    with pytest.raises(YamlError, match=pattern):
        loads_unique_yaml(text)


def test_alias_bomb_is_refused_quickly_and_small():
    text = billion_laughs(10)
    assert len(text) < 700
    with pytest.raises(YamlError, match="aliases expand") as e:
        loads_unique_yaml(text, "bomb.yaml")
    assert len(str(e.value)) < 200


def test_yaml_12_exponent_floats_are_numbers():
    assert loads_unique_yaml("a: 1e-3\nb: 2E9\nc: 1\nd: '1e3'\n") == {"a": 0.001, "b": 2e9, "c": 1, "d": "1e3"}


def test_short_bounds_any_value():
    huge = [[["lol"] * 1000] * 1000] * 1000  # shared references: cheap to build, 10^9 strings to print
    assert len(short(huge)) <= 80
    assert short("x" * 10_000, 20).endswith("...") and len(short("x" * 10_000, 20)) == 20
    assert "\n" not in short("a\nb")


# ------------------------------------------------------------- validation
@pytest.mark.parametrize("data, pattern", [
    ({"defaults": {"zero_level": "false"}}, r"'zero_level'='false'"),
    ({"layers": {"fc1": {"zero_level": 0}}}, r"'zero_level'=0"),
    ({"admm": {"rho": float("nan")}}, r"'rho'=nan"),
    ({"admm": {"rho_max": float("inf")}}, r"'rho_max'=inf"),
    ({"admm": {"lr": float("nan")}}, r"'lr'=nan"),
    ({"train": {"momentum": float("nan")}}, r"'momentum'=nan"),
    ({"retrain_lr": float("-inf")}, r"'retrain_lr'=-inf"),
    ({"group_lasso": float("nan")}, r"'group_lasso'=nan"),
    ({"layers": {"fc1": {"rho": float("inf")}}}, r"layer 'fc1': field 'rho'=inf"),
    ({"layers": {"fc1": {"ratio": float("nan")}}}, r"'ratio'=nan"),
    ({"budget": {"ratio": 0.5, "min_keep": float("nan")}}, r"'min_keep'=nan"),
    ({"budget": {"ratio": 0.5, "exact_cells": 10**15}}, r"'exact_cells'=1000000000000000"),
    ({"seed": 2**64}, r"'seed'=18446744073709551616"),
    ({"train": {"batch_size": 10**9}}, r"'batch_size'"),
    ({"layers": {"fc1": {"block": [4, 10**9]}}}, r"'block'"),
    ({"layers": {"fc1": {"type": ["filter"]}}}, r"'type'=\['filter'\]"),
    ({"layers": {"fc1": {}, "fc1.weight": {}}}, r"layer 'fc1' is named twice"),
    ({"layers": {"fc1": {}}, "prune_ratios": {"fc1.weight": 0.5}}, r"layer 'fc1' is named twice"),
    ({"layers": {"fc1": 0}}, r"layer 'fc1': expected a mapping"),
    ({"layers": {7: {}}}, r"layers: key 7"),
    # a repeated schedule step is no step; a rho above rho_max would be cut to rho_max after one round
    ({"admm": {"schedule": [0.5, 0.5, 1.0]}}, r"'schedule'=\[0.5, 0.5, 1.0\]; allowed: .*increasing"),
    ({"admm": {"rho": 1.0, "rho_max": 0.1}}, r"admm: field 'rho'=1.0 exceeds admm: field 'rho_max'=0.1"),
    ({"admm": {"rho": 20.0}}, r"'rho'=20.0 exceeds admm: field 'rho_max'=10.0"),   # rho_max's default
    ({"defaults": {"rho": 2.0}, "admm": {"rho_max": 1.0}}, r"defaults: field 'rho'=2.0 exceeds"),
    ({"layers": {"fc1": {"rho": 2.0}}, "admm": {"rho_max": 1.0}}, r"layer 'fc1': field 'rho'=2.0 exceeds"),
])
def test_prune_config_refusals(data, pattern):
    with pytest.raises(ConfigError, match=pattern) as e:
        PruneConfig.from_dict(data)
    assert "\n" not in str(e.value)


def test_a_layer_named_twice_through_patterns_names_both_keys():
    cfg = PruneConfig.from_dict({"layers": {"re:conv.*": {"ratio": 0.5}, "re:conv2": {"ratio": 0.1}}})
    with pytest.raises(ConfigError, match=r"layer 'conv2' is named by both 're:conv\.\*' and 're:conv2'"):
        cfg.resolve(build_model("digits_cnn"))


def test_list_fields_take_one_scalar_as_a_one_element_list():
    assert PruneConfig.from_dict({"admm": {"schedule": 1}}).admm.schedule == (1.0,)
    cfg = CompareConfig.from_dict({"structures": "filter", "presets": "eie_like", "ladder": 0.5, "bits": 4,
                                   "breakeven_bits": 4})
    assert (cfg.structures, cfg.presets, cfg.ladder, cfg.breakeven_bits) == (("filter",), ("eie_like",), (0.5,),
                                                                            (4,))
    with pytest.raises(CompareError, match=r"structures is empty"):
        CompareConfig(structures=())
    with pytest.raises(CompareError, match=r"structures=.*repeats an entry"):
        CompareConfig(structures=("filter", "filter"))
