"""benchmarks/compare_seeds.py: a compare over seeds x bits, aggregated; on tiny summary.json files the test writes."""

import csv
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import compare_seeds as cs  # noqa: E402

T975_2 = 4.302652729911275   # Student t, 97.5% quantile, 2 degrees of freedom


def _summary(seed, bits, ns_ratio, ns_test_loss, energy, winners, filter_status="matched"):
    """A compare summary.json with the fields the aggregation reads: two structures, two platforms."""
    structures = {"nonstructured": {"status": "matched", "ratio": ns_ratio, "compression": 1 / (1 - ns_ratio),
                                    "val_loss_pp": 0.1, "test_loss_pp": ns_test_loss},
                  "filter": {"status": filter_status, "ratio": 0.5 if filter_status == "matched" else None,
                             "compression": 2.0, "val_loss_pp": 0.3, "test_loss_pp": 0.2}}
    rows = [{"structure": "dense", "platform": p, "accuracy_status": "dense", "energy_vs_dense": 1.0}
            for p in ("eie_like", "tpu_like")]
    for (structure, platform), e in energy.items():
        status = structures[structure]["status"]
        rows.append({"structure": structure, "platform": platform, "accuracy_status": status, "energy_vs_dense": e})
    rows.append({"structure": "nonstructured", "platform": "cpu (2 threads)", "accuracy_status": "matched",
                 "energy_vs_dense": None})
    verdicts = [{"platform": p, "winner": w, "tied": t} for p, (w, t) in winners.items()]
    return {"config": {"seed": seed, "bits": bits}, "baseline_test": {"accuracy": 0.90 + seed / 1000},
            "structures": structures, "rows": rows, "verdicts": verdicts}


def _write(out, seed, bits, summary):
    d = cs.run_dir(out, seed, bits)
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def three_seeds(tmp_path):
    ns = [0.9, 0.95, 0.97]
    loss = [0.1, 0.3, 0.2]
    eie = [0.4, 0.5, 0.6]
    winners = [{"eie_like": ("nonstructured", ["nonstructured"]), "tpu_like": ("filter", ["filter"])},
               {"eie_like": ("nonstructured", ["nonstructured", "filter"]), "tpu_like": ("filter", ["filter"])},
               {"eie_like": ("filter", ["filter", "nonstructured"]), "tpu_like": ("filter", ["filter"])}]
    for s in range(3):
        _write(tmp_path, s, 8, _summary(s, 8, ns[s], loss[s], {("nonstructured", "eie_like"): eie[s],
                                                                ("filter", "eie_like"): 0.7,
                                                                ("filter", "tpu_like"): 0.3},
                                         winners[s], "matched" if s < 2 else "not matched"))
    _write(tmp_path, 0, 4, _summary(0, 4, 0.99, 0.4, {("nonstructured", "eie_like"): 0.2},
                                    {"eie_like": ("nonstructured", ["nonstructured"])}))
    return tmp_path


def test_t_interval_by_hand():
    iv = cs.t_interval([1.0, 2.0, 3.0])
    half = T975_2 * 1.0 / math.sqrt(3)
    assert (iv.n, iv.mean) == (3, 2.0)
    assert iv.low == pytest.approx(2 - half) and iv.high == pytest.approx(2 + half)
    one = cs.t_interval([5.0])
    assert one.n == 1 and math.isnan(one.low) and one.text() == "5 (n=1)"
    assert cs.t_interval([]).text() == "-"


def test_aggregation_over_seeds(three_seeds):
    agg = cs.aggregate(cs.read_summaries(three_seeds))
    assert sorted(agg) == [4, 8] and agg[8]["seeds"] == [0, 1, 2] and agg[4]["seeds"] == [0]
    st = {r["structure"]: r for r in agg[8]["structures"]}
    ns = st["nonstructured"]
    assert (ns["seeds"], ns["matched"]) == (3, 3)
    assert ns["ratio"].mean == pytest.approx(0.94) and ns["test_loss_pp"].values == (0.1, 0.3, 0.2)
    assert ns["test_loss_pp"].high - ns["test_loss_pp"].mean == pytest.approx(T975_2 * 0.1 / math.sqrt(3))
    assert (st["filter"]["seeds"], st["filter"]["matched"], st["filter"]["ratio"].n) == (3, 2, 2)   # seed 2 missed
    en = {(r["structure"], r["platform"]): r["energy_vs_dense"] for r in agg[8]["energy"]}
    assert en[("nonstructured", "eie_like")].mean == pytest.approx(0.5)
    assert en[("filter", "eie_like")].n == 2           # the unmatched seed's row is left out
    assert ("nonstructured", "cpu (2 threads)") not in en and ("dense", "eie_like") not in en
    v = {r["platform"]: r for r in agg[8]["verdicts"]}
    assert (v["eie_like"]["winner"], v["eie_like"]["agree"], v["eie_like"]["in_tie_set"]) == ("nonstructured", 2, 3)
    assert (v["tpu_like"]["winner"], v["tpu_like"]["agree"], v["tpu_like"]["seeds"]) == ("filter", 3, 3)
    assert agg[8]["dense_test"].mean == pytest.approx(90.1)


def test_outputs_and_the_cli_aggregate_only(three_seeds, capsys):
    cs.main(["--out", str(three_seeds), "--aggregate-only"])
    md = (three_seeds / "aggregate.md").read_text()
    assert "## 8-bit weights, seeds 0, 1, 2" in md and "## 4-bit weights, seeds 0" in md
    assert "| eie_like | nonstructured | 2/3 | 3/3 |" in md
    assert "| nonstructured | 3/3 | 0.940 [" in md and "0.990 (n=1)" in md
    rows = list(csv.DictReader(open(three_seeds / "aggregate.csv")))
    loss = [r for r in rows if r["bits"] == "8" and r["structure"] == "nonstructured" and r["quantity"] == "test_loss_pp"]
    assert len(loss) == 1 and loss[0]["n"] == "3" and loss[0]["values"] == "0.1 0.3 0.2"
    assert "wrote" in capsys.readouterr().out


def test_resume_reuses_existing_runs_and_builds_the_commands(three_seeds):
    lines = []
    cs.run_all("c.yaml", "DATA", [0, 1, 2], [8], three_seeds, [], log=lines.append)   # all three exist: nothing runs
    assert len(lines) == 3 and all("reused" in line for line in lines)
    cmd = cs.compare_command("c.yaml", "DATA", 1, 4, three_seeds, ["--no-cpu"])
    assert cmd[1:] == ["-m", "sparsecodesign.cli", "compare", "--config", "c.yaml", "--seed", "1", "--bits", "4",
                       "--out", str(three_seeds / "seed1_b4"), "--quiet", "--data-dir", "DATA", "--no-cpu"]


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="--seeds='0,x'; allowed: comma-separated integers"):
        cs.main(["--config", "c.yaml", "--seeds", "0,x", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="no seed\\*_b\\*/summary.json"):
        cs.main(["--out", str(tmp_path), "--aggregate-only"])
    with pytest.raises(SystemExit, match="--config: missing"):
        cs.main(["--out", str(tmp_path)])
