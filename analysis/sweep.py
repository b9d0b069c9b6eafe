"""Design-space sweeps (``sparsesim sweep sweep.yaml``): hardware parameters x structure x ratio x bits.

A sweep file names a base accelerator, the hardware parameters to vary (dotted
paths into its description, e.g. ``pe.rows``), the workload axes (sparsity
structure, pruning ratio, weight bits) and the artifact whose weights are
re-pruned (by the toolkit's exact projections, no retraining: a cost sweep, not
an accuracy one).  ``mode: grid`` takes the Cartesian product; ``mode: random``
draws ``samples`` points with ``seed``.

Execution runs on Dask: by default a ``LocalCluster`` of worker processes on
this machine; ``--scheduler tcp://host:8786`` sends the same tasks to a remote
cluster.  A task is one workload (structure, ratio, bits) priced on all of its
hardware points in one vectorized call.  Each finished point is cached as
``OUT/cache/<sha256>.json`` (hash of the point, the artifact's weights and the
code version) by the client as results arrive, so a killed sweep restarts
without recomputing anything it finished.  Results: ``results.csv`` (and
``results.parquet`` when pyarrow is installed), ``pareto.csv`` and
``pareto.png``.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import itertools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from accel_models.hardware import HardwareError, accelerator_from_dict, load_accelerator
from pruning.checkpoint import atomic_write_json, atomic_write_text
from pruning.config import load_yaml
from pruning.structures import KINDS

CODE_VERSION = "sweep-2"  # bump when the cost model changes (issue 8: memory hierarchy, engines, energy)
COST_KEYS = ("energy_pj", "latency_s", "cycles", "stall_cycles", "storage_bits", "dram_bits", "utilization",
             "energy_dram_pj", "energy_sram_pj", "energy_rf_pj", "energy_mac_pj", "energy_index_pj")
OBJECTIVES = ("energy_pj", "latency_s", "cycles", "storage_bits", "dram_bits")


class SweepError(ValueError):
    pass


@dataclass(frozen=True)
class SweepSpec:
    artifact: str
    base_hw: str = "eyeriss_like"
    mode: str = "grid"
    samples: int = 20
    seed: int = 0
    batch: int = 1
    parameters: dict = field(default_factory=dict)      # dotted path -> list of values
    structures: tuple = ("nonstructured",)
    ratios: tuple = (0.5,)
    bits: tuple = (8,)
    objectives: tuple = ("energy_pj", "latency_s")
    block: tuple = (4, 4)
    nm: tuple = (2, 4)

    @classmethod
    def from_dict(cls, d: dict, base_dir: Path | None = None) -> "SweepSpec":
        allowed = {"artifact", "base_hw", "mode", "samples", "seed", "batch", "parameters", "workload",
                   "objectives"}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise SweepError(f"sweep: unknown field(s) {', '.join(map(repr, unknown))}; allowed: "
                             f"{', '.join(sorted(allowed))}")
        if "artifact" not in d:
            raise SweepError("sweep: field 'artifact' is required (an artifact directory whose weights are re-pruned)")
        art = Path(d["artifact"])
        if not art.is_absolute() and base_dir is not None:
            art = base_dir / art
        work = d.get("workload") or {}
        if not isinstance(work, dict):
            raise SweepError("sweep: field 'workload' must be a mapping (structures, ratios, bits, block, nm)")
        wk_unknown = sorted(set(work) - {"structures", "ratios", "bits", "block", "nm"})
        if wk_unknown:
            raise SweepError(f"sweep.workload: unknown field(s) {', '.join(map(repr, wk_unknown))}; allowed: "
                             "bits, block, nm, ratios, structures")
        params = d.get("parameters") or {}
        if not isinstance(params, dict):
            raise SweepError("sweep: field 'parameters' must map dotted hardware paths (pe.rows) to value lists")
        spec = cls(artifact=str(art), base_hw=str(d.get("base_hw", "eyeriss_like")), mode=d.get("mode", "grid"),
                   samples=d.get("samples", 20), seed=d.get("seed", 0), batch=d.get("batch", 1),
                   parameters={str(k): list(v) if isinstance(v, (list, tuple)) else v for k, v in params.items()},
                   structures=tuple(work.get("structures", ("nonstructured",))),
                   ratios=tuple(work.get("ratios", (0.5,))), bits=tuple(work.get("bits", (8,))),
                   objectives=tuple(d.get("objectives", ("energy_pj", "latency_s"))),
                   block=tuple(work.get("block", (4, 4))), nm=tuple(work.get("nm", (2, 4))))
        spec.validate()
        return spec

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SweepSpec":
        try:
            data = load_yaml(path)
        except (OSError, yaml.YAMLError) as e:
            raise SweepError(f"{path}: cannot read sweep file: {e}") from None
        except ValueError as e:
            raise SweepError(f"{path}: {e}") from None
        return cls.from_dict(data, Path(path).parent)

    def validate(self) -> None:
        if self.mode not in ("grid", "random"):
            raise SweepError(f"sweep: field 'mode'={self.mode!r}; allowed: grid, random")
        if not isinstance(self.samples, int) or self.samples < 1:
            raise SweepError(f"sweep: field 'samples'={self.samples!r}; allowed: an integer >= 1")
        if not isinstance(self.batch, int) or self.batch < 1:
            raise SweepError(f"sweep: field 'batch'={self.batch!r}; allowed: an integer >= 1")
        if not (Path(self.artifact) / "manifest.json").exists():
            raise SweepError(f"sweep: field 'artifact'={self.artifact!r} is not an artifact directory")
        for path, values in self.parameters.items():
            if not isinstance(values, list) or not values:
                raise SweepError(f"sweep.parameters: {path!r} must be a non-empty list of values")
            if path.count(".") > 1 or (path.split(".")[0] not in ("pe", "glb", "rf", "dram") and "." in path) \
                    or ("." not in path and path not in ("clock_hz", "energy_scale")):
                raise SweepError(f"sweep.parameters: {path!r} unknown; allowed: pe.*, glb.*, rf.*, dram.*, "
                                 "clock_hz, energy_scale")
        for s in self.structures:
            if s not in KINDS:
                raise SweepError(f"sweep.workload: structure {s!r} unknown; allowed: {', '.join(KINDS)}")
        for r in self.ratios:
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < 1:
                raise SweepError(f"sweep.workload: ratio {r!r}; allowed: numbers in [0, 1)")
        for b in self.bits:
            if isinstance(b, bool) or not isinstance(b, int) or not (1 <= b <= 16 or b == 32):
                raise SweepError(f"sweep.workload: bits {b!r}; allowed: 1..16 or 32")
        for o in self.objectives:
            if o not in OBJECTIVES:
                raise SweepError(f"sweep: objective {o!r}; allowed: {', '.join(OBJECTIVES)}")
        base = self.base_dict()
        for point in self.hw_points():  # every hardware point must be a valid description
            try:
                build_accelerator(base, point)
            except HardwareError as e:
                raise SweepError(f"sweep point {point}: {e}") from None

    # ------------------------------------------------------------ points
    def base_dict(self) -> dict:
        try:
            return load_accelerator(self.base_hw).to_dict()
        except HardwareError as e:
            raise SweepError(f"sweep: field 'base_hw': {e}") from None

    def hw_points(self) -> list[dict]:
        keys = sorted(self.parameters)
        if self.mode == "grid":
            return [dict(zip(keys, vals)) for vals in itertools.product(*(self.parameters[k] for k in keys))]
        rng = random.Random(self.seed)
        return [{k: rng.choice(self.parameters[k]) for k in keys} for _ in range(self.samples)]

    def workloads(self) -> list[tuple[str, float, int]]:
        out = []
        for s, r, b in itertools.product(self.structures, self.ratios, self.bits):
            if s == "nm":
                r = 1 - self.nm[0] / self.nm[1]
            if s == "dense":
                r = 0.0
            out.append((s, float(r), int(b)))
        return list(dict.fromkeys(out))


def build_accelerator(base: dict, overrides: dict):
    d = copy.deepcopy(base)
    for path, value in overrides.items():
        if "." in path:
            sec, key = path.split(".")
            d.setdefault(sec, {})
            if d[sec] is None:
                d[sec] = {}
            d[sec][key] = value
        else:
            d[path] = value
    d["name"] = "hw[" + ",".join(f"{k}={v}" for k, v in sorted(overrides.items())) + "]"
    return accelerator_from_dict(d)


def _artifact_digest(path: str) -> str:
    h = hashlib.sha256()
    for name in ("manifest.json", "weights.safetensors"):
        h.update((Path(path) / name).read_bytes())
    return h.hexdigest()


def point_key(digest: str, spec: SweepSpec, workload: tuple, hw: dict) -> str:
    blob = json.dumps({"v": CODE_VERSION, "artifact": digest, "base": spec.base_hw, "batch": spec.batch,
                       "block": list(spec.block), "nm": list(spec.nm), "workload": list(workload), "hw": hw},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


# ----------------------------------------------------------------- task
def evaluate_group(artifact: str, base: dict, workload: tuple, hw_points: list[dict], batch: int,
                   block: tuple, nm: tuple) -> list[dict]:
    """One workload priced on many hardware points (one vectorized analytical call). Pure."""
    import torch

    from pruning.artifact import load_artifact
    from pruning.constraint import Constraint
    from pruning.structures import Structure, StructureError
    from sparsesim.analytical import evaluate
    from sparsesim.workload import from_model

    structure, ratio, bits = workload
    art = load_artifact(artifact)
    model = art.model
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)) and structure != "dense":
                s = Structure(structure, 0.0 if structure == "nm" else ratio, block=block, n=nm[0], m=nm[1])
                try:
                    s.check_shape(tuple(mod.weight.shape), name)
                except StructureError:
                    continue  # layers the structure cannot apply to stay dense
                mod.weight.copy_(Constraint(s).project(mod.weight)[0])
    ws = from_model(model, torch.zeros(1, *art.manifest["model"]["input_shape"]), batch=batch, weight_bits=bits)
    accs = [build_accelerator(base, p) for p in hw_points]
    totals = evaluate(ws, accs).totals()
    rows = []
    for p, a in zip(hw_points, accs):
        t = totals[a.name]
        rows.append({**{f"hw.{k}": v for k, v in p.items()}, "structure": structure, "ratio": ratio, "bits": bits,
                     **{k: getattr(t, k) for k in COST_KEYS}})
    return rows


# ------------------------------------------------------------------ run
@dataclass(frozen=True)
class SweepResult:
    rows: list
    pareto: list
    computed: int      # points evaluated in this call
    cached: int        # points read from the cache
    out: Path


def pareto_front(rows: list[dict], objectives: tuple) -> list[dict]:
    """Rows not dominated on all objectives (all minimized); vectorized in chunks."""
    import numpy as np

    if not rows:
        return []
    v = np.array([[r[o] for o in objectives] for r in rows], dtype=float)
    keep = np.ones(len(rows), dtype=bool)
    for i in range(0, len(rows), 512):
        c = v[i:i + 512, None, :]
        dominated = ((v[None, :, :] <= c).all(-1) & (v[None, :, :] < c).any(-1)).any(1)
        keep[i:i + 512] = ~dominated
    return [r for r, k in zip(rows, keep) if k]


def run_sweep(spec: SweepSpec, out_dir: str | Path, scheduler: str | None = None, workers: int | None = None,
              progress: bool = True, client=None) -> SweepResult:
    """Run (or resume) a sweep.  ``scheduler``: None = LocalCluster here, "sync" = in this process,
    "tcp://..." = a Dask cluster; ``client``: an existing ``distributed.Client``."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    digest = _artifact_digest(spec.artifact)
    base = spec.base_dict()
    hw = spec.hw_points()
    groups = []
    cached_rows: dict[str, dict] = {}
    for wl in spec.workloads():
        missing = []
        for p in hw:
            key = point_key(digest, spec, wl, p)
            f = cache / f"{key}.json"
            if f.exists():
                cached_rows[key] = json.loads(f.read_text())
            else:
                missing.append((key, p))
        if missing:
            groups.append((wl, missing))
    n_todo = sum(len(m) for _, m in groups)
    bar = tqdm(total=n_todo, desc="sweep", unit="pt", disable=not progress)

    def store(missing, rows):
        for (key, _), row in zip(missing, rows):
            atomic_write_json(cache / f"{key}.json", row)
            cached_rows[key] = row
        bar.update(len(rows))

    computed = 0
    if groups:
        if scheduler == "sync" and client is None:
            for wl, missing in groups:
                store(missing, evaluate_group(spec.artifact, base, wl, [p for _, p in missing], spec.batch,
                                              spec.block, spec.nm))
                computed += len(missing)
        else:
            from distributed import Client, LocalCluster, as_completed

            own_cluster = None
            if client is None:
                if scheduler and scheduler.startswith("tcp://"):
                    client = Client(scheduler)
                else:
                    own_cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                               dashboard_address=None)
                    client = Client(own_cluster)
                own_client = True
            else:
                own_client = False
            try:
                futures = {client.submit(evaluate_group, spec.artifact, base, wl, [p for _, p in missing], spec.batch,
                                         spec.block, spec.nm, pure=False): missing for wl, missing in groups}
                for fut in as_completed(futures):
                    store(futures[fut], fut.result())
                    computed += len(futures[fut])
            finally:
                if own_client:
                    client.close()
                if own_cluster is not None:
                    own_cluster.close()
    bar.close()
    rows = [cached_rows[point_key(digest, spec, wl, p)] for wl in spec.workloads() for p in hw]
    front = pareto_front(rows, spec.objectives)
    write_tables(out, rows, front, spec)
    return SweepResult(rows, front, computed, len(rows) - computed, out)


def write_tables(out: Path, rows: list[dict], front: list[dict], spec: SweepSpec) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    for name, data in (("results.csv", rows), ("pareto.csv", front)):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(data)
        atomic_write_text(out / name, buf.getvalue())
    try:
        import pandas as pd
        pd.DataFrame(rows).to_parquet(out / "results.parquet")
    except Exception:  # noqa: BLE001 - parquet needs pyarrow/fastparquet; CSV is always written
        pass
    _plot(out, rows, front, spec)


def _plot(out: Path, rows, front, spec) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import COLORS

    x, y = spec.objectives[0], spec.objectives[1] if len(spec.objectives) > 1 else "latency_s"
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for s in dict.fromkeys(r["structure"] for r in rows):
        pts = [r for r in rows if r["structure"] == s]
        ax.scatter([r[x] for r in pts], [r[y] for r in pts], s=12, alpha=0.6, color=COLORS.get(s, "k"), label=s)
    f = sorted(front, key=lambda r: r[x])
    ax.plot([r[x] for r in f], [r[y] for r in f], "k-", lw=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=7)
    ax.set_title(f"{len(rows)} design points")
    fig.tight_layout()
    fig.savefig(out / "pareto.png", dpi=110)
    plt.close(fig)
