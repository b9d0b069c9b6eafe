"""The Timeloop/Accelergy v4 export, checked by timeloopfe itself: every exported layer through timeloopfe's processing.

Builds pruned-model artifacts with random weights and masks (``scalesim_export.build_artifact``: the digits CNN and the
zoo's CIFAR ResNet-18 by default; the first conv 50% non-structured, the second 2:4, the first linear layer 90%
non-structured), exports each with ``sparsesim.export.timeloop_files`` (``sparsesim export --to timeloop``) for each
hardware description, and runs, for every layer, what ``timeloopfe.v4.call_mapper`` runs before it starts Timeloop:
``Specification.from_yaml_files([arch.yaml, mapper.yaml, problem_<layer>.yaml])``, expression parsing, the
processors and the v4 -> v3 transpilation (timeloopfe's ``_specification_to_yaml_string``; its output,
``parsed-processed-input.yaml``, is what Timeloop reads).  When a ``timeloop-mapper`` is on the PATH of the timeloopfe
python, each layer is also mapped (``call_mapper`` with a short search); its result or first error line is printed.

timeloopfe is not a dependency of this project and is not on the package index; build it from its public source in
a venv (``--system-site-packages`` so that the venv also sees this project's torch):

    python -m venv --system-site-packages /tmp/venv-tlfe
    /tmp/venv-tlfe/bin/pip install ./accelergy ./timeloopfe      # source trees of Accelergy-Project/{accelergy,timeloopfe}
    /tmp/venv-tlfe/bin/python benchmarks/timeloop_export_check.py
    python benchmarks/timeloop_export_check.py --timeloopfe-python /tmp/venv-tlfe/bin/python   # same, split pythons

Exit status 1 when a layer fails timeloopfe's processing (a mapper failure is reported, not counted: it depends on
the Timeloop build found).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from accel_models.hardware import load_accelerator  # noqa: E402
from scalesim_export import build_artifact  # noqa: E402
from sparsesim.export import problem_file_name, timeloop_files, write_files  # noqa: E402
from sparsesim.workload import from_artifact  # noqa: E402

DEFAULT_MODELS = ("digits_cnn", "resnet18")
DEFAULT_HARDWARE = ("eyeriss_like", "tpu_like")

# Runs in the python that has timeloopfe: argv = export dir, output dir, "1" to also map, then problem file names.
# One JSON line per problem: {"problem", "processed", "mapper"}.
RUNNER = r'''
import json, shutil, sys
from pathlib import Path
import timeloopfe.v4 as tl
from timeloopfe.common.backend_calls import _specification_to_yaml_string

def why(exc, log=None):
    lines = [l.strip() for l in (str(exc).splitlines() + (log.read_text().splitlines() if log and log.exists() else []))
             if l.strip() and not l.startswith("=")]
    key = [l for l in lines if l.startswith(("ERROR", "Failed to evaluate", "Problem encountered", "Could not"))]
    return f"{type(exc).__name__}: {(key or lines or ['?'])[0][:160]}"

src, out, map_it = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
mapper = shutil.which("timeloop-mapper") if map_it else None
for problem in sys.argv[4:]:
    row = {"problem": problem, "mapper": "not run" if not map_it else "no timeloop-mapper on PATH"}
    layer_out = out / Path(problem).stem
    layer_out.mkdir(parents=True, exist_ok=True)
    try:
        spec = tl.Specification.from_yaml_files([str(src / "arch.yaml"), str(src / "mapper.yaml"), str(src / problem)])
        (layer_out / "parsed-processed-input.yaml").write_text(_specification_to_yaml_string(spec))
        row["processed"] = "ok"
    except Exception as exc:
        row["processed"] = why(exc)
    if mapper and row["processed"] == "ok":
        spec.mapper.timeout, spec.mapper.victory_condition, spec.mapper.num_threads, spec.mapper.search_size = (
            500, 50, 2, 500)
        log = layer_out / "timeloop-mapper.log"
        try:
            stats = tl.call_mapper(spec, output_dir=str(layer_out), log_to=str(log))
            row["mapper"] = f"ok: {stats.cycles:,.0f} cycles, {stats.energy:.4g} J" if hasattr(stats, "cycles") else "ok"
        except Exception as exc:
            row["mapper"] = why(exc, log)
    print(json.dumps(row), flush=True)
'''


def process_export(python: str, export_dir: Path, problems: list[str], out: Path, mapper: bool = True) -> list[dict]:
    """Run timeloopfe's processing (and the mapper when asked and found) in ``python`` on each problem file of an
    export; one row per problem: {"problem", "processed" ("ok" or the error), "mapper"}."""
    res = subprocess.run([python, "-c", RUNNER, str(export_dir), str(out), "1" if mapper else "0", *problems],
                         capture_output=True, text=True)
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    if res.returncode or len(rows) != len(problems):
        raise RuntimeError(f"{python} could not run timeloopfe (exit {res.returncode}): "
                           f"{(res.stderr.strip().splitlines() or ['no output'])[-1]}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeloopfe-python", default=sys.executable, help="python that imports timeloopfe.v4")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated zoo models")
    ap.add_argument("--hardware", default=",".join(DEFAULT_HARDWARE), help="comma-separated presets or YAML files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-mapper", action="store_true", help="only timeloopfe's processing, never Timeloop")
    ap.add_argument("--keep", help="keep the exports and timeloopfe's outputs in this folder")
    args = ap.parse_args()
    failed = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        print("| model | hardware | layer | timeloopfe processing | Timeloop mapper |")
        print("|---|---|---|---|---|")
        for model in args.models.split(","):
            workloads = from_artifact(build_artifact(model, base / model / "artifact", args.seed))
            for hw in args.hardware.split(","):
                acc = load_accelerator(hw)
                export = base / model / acc.name / "export"
                write_files(timeloop_files(workloads, acc), export)
                problems = [problem_file_name(w.name) for w in workloads]
                rows = process_export(args.timeloopfe_python, export, problems, base / model / acc.name / "out",
                                      mapper=not args.no_mapper)
                for w, row in zip(workloads, rows):
                    total += 1
                    failed += row["processed"] != "ok"
                    print(f"| {model} | {acc.name} | {w.name} | {row['processed']} | {row['mapper']} |", flush=True)
    print(f"\n{total - failed} of {total} exported layers pass timeloopfe's processing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
