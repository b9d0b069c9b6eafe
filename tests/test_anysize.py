"""Layers of any size: the exact-mask bound (--max-exact-weights), the statistical mode and their agreement.

The statistical mode (``sparsesim.pattern``) prices a topology layer from counts of its mask's law instead of a
drawn (M, K) matrix.  Row-uniform patterns (dense, SCALE-Sim's N:M) must give every cost column exactly; a random
density must agree with the exact masks within 1 % in the mean over seeds, on every engine that takes it.
"""

import re

import numpy as np
import pytest

from analysis.simulation import hardware_list, price
from sparsecodesign.cli import main
from sparsesim.pattern import StatisticalRefused, WeightPattern
from sparsesim.topology import TopologyError, exact_threshold, read_topology

CONV = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, " \
       "Sparsity, Weight density,\n"
ALL_PRESETS = ("eyeriss_like", "tpu_like", "nm_asic", "sigma_like", "fpga_small", "fpga_large", "fpga_sparse",
               "eie_like", "scnn_like")
RANDOM_DENSITY_PRESETS = ALL_PRESETS[:6]     # engines systolic, nm, rowstationary, sigma (not eie, scnn)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def table(workloads, presets) -> dict:
    rows = price(workloads, hardware_list(",".join(presets), log=lambda s: None)).rows()
    return {(r["layer"], r["hardware"]): {k: v for k, v in r.items() if isinstance(v, (int, float))
                                          and not isinstance(v, bool) and v == v} for r in rows}


def test_row_uniform_layers_price_exactly_on_every_engine(tmp_path):
    p = write(tmp_path, "u.csv", CONV + "dense, 12, 12, 3, 3, 16, 40, 1, , ,\n"
              "nm24, 12, 12, 3, 3, 16, 40, 2, 2:4, ,\n" "nm14, 10, 10, 3, 3, 3, 33, 1, 1:4, ,\n"   # K = 27: padded
              "fc, 1, 1, 1, 1, 300, 70, 1, 2:4, ,\n" "dense2, 12, 12, 3, 3, 16, 40, 1, , ,\n")   # shares dense's cache
    exact, counted = read_topology(p), read_topology(p, max_exact_weights=0)
    assert not any(w.statistical for w in exact) and all(w.statistical for w in counted)
    a, b = table(exact, ALL_PRESETS), table(counted, ALL_PRESETS)
    assert a.keys() == b.keys() and len(a) == 5 * len(ALL_PRESETS) and counted[0].cache is counted[4].cache
    for key, row in a.items():
        for col, v in row.items():
            assert b[key][col] == pytest.approx(v, rel=1e-12, abs=1e-9), (key, col)


@pytest.mark.parametrize("rows", [
    "c4, 14, 14, 3, 3, 128, 256, 1, , 0.5,\nc5, 14, 14, 3, 3, 256, 256, 2, , 0.1,\n",
])
def test_random_density_agrees_with_exact_masks_within_one_percent(tmp_path, rows):
    p = write(tmp_path, "r.csv", CONV + rows)
    g = write(tmp_path, "g.csv", "Layer, M, N, K, Weight density,\ng1, 64, 512, 1024, 0.3,\ng2, 32, 1000, 600, 0.05,\n")
    for path in (p, g):
        sums_exact, sums_counted = {}, {}
        for seed in range(8):
            for sums, bound in ((sums_exact, None), (sums_counted, 0)):
                ws = read_topology(path, seed=seed) if bound is None else read_topology(path, seed, 8, bound)
                for key, row in table(ws, RANDOM_DENSITY_PRESETS).items():
                    for col, v in row.items():
                        sums.setdefault((key, col), []).append(v)
        for k, vals in sums_exact.items():
            want, got = np.mean(vals), np.mean(sums_counted[k])
            assert got == pytest.approx(want, rel=0.01, abs=1e-12), k


def test_pattern_counts_follow_the_mask_law():
    rng = np.random.default_rng(0)
    m, k, d = 40, 30, 0.2
    exact = [(rng.random((m, k)) < d) for _ in range(300)]
    drawn = [WeightPattern(m, k, density=d, seed=s) for s in range(300)]
    for m_group in (2, 4, 8):
        want = np.mean([np.pad(x, ((0, 0), (0, (-k) % m_group))).reshape(m, -1, m_group).sum(-1).max()
                        for x in exact])
        assert np.mean([p.max_per_group(m_group) for p in drawn]) == pytest.approx(want, rel=0.05)
    assert np.mean([p.kept_cols() for p in drawn]) == pytest.approx(np.mean([x.any(0).sum() for x in exact]),
                                                                    rel=0.01)
    assert np.mean([p.row_nnz().sum() for p in drawn]) == pytest.approx(m * k * d, rel=0.01)
    assert np.mean([p.kept_channel_fraction(3) for p in drawn]) == pytest.approx(
        np.mean([x.reshape(m, 10, 3).any((0, 2)).mean() for x in exact]), rel=0.01)
    p = WeightPattern(8, 4000, density=0.001, seed=1)          # counts are seeded: the same answer every call
    assert p.kept_cols() == p.kept_cols() and np.array_equal(p.row_nnz(), p.row_nnz())


def test_the_bound_sends_the_largest_layers_to_counts_first(tmp_path):
    assert exact_threshold([10, 50, 20, 50], 1000) == 50
    assert exact_threshold([10, 50, 20, 50], 99) == 20          # equal sizes go together
    assert exact_threshold([10, 50], 9) == -1
    p = write(tmp_path, "m.csv", "Layer, M, N, K,\na, 4, 100, 100,\nb, 4, 300, 1000,\nc, 4, 30, 10,\n")
    modes = [w.statistical for w in read_topology(p, max_exact_weights=10_300)]
    assert modes == [False, True, False]
    assert not any(w.statistical for w in read_topology(p))    # under the default bound: exact, as before
    with pytest.raises(TopologyError, match=r"max_exact_weights=-1; allowed: an integer in 0\.\.10,000,000,000 "
                                            r"\(--max-exact-weights"):
        read_topology(p, max_exact_weights=-1)


def test_a_huge_layer_is_priced_from_counts_in_little_memory(tmp_path):
    p = write(tmp_path, "h.csv", "Layer, M, N, K, Weight density,\nfc6, 1, 4096, 25088, 0.09,\n"
              "llm, 2048, 50000, 100000, 0.5,\n")
    ws = read_topology(p)
    assert all(w.statistical for w in ws) and ws[1].M * ws[1].K == 5 * 10 ** 9
    assert ws[0].nnz == pytest.approx(4096 * 25088 * 0.09, rel=0.001)
    rows = table(ws, ("tpu_like",))
    assert rows[("llm", "tpu_like")]["macs_useful"] == pytest.approx(0.5 * 5 * 10 ** 9 * 2048, rel=0.001)
    assert table(ws[:1], ("sigma_like",))[("fc6", "sigma_like")]["macs_executed"] == pytest.approx(
        4096 * 25088 * 0.09, rel=0.001)


def test_engines_needing_positions_refuse_a_random_density_in_one_line(tmp_path, capsys):
    p = write(tmp_path, "e.csv", CONV + "c1, 8, 8, 3, 3, 8, 16, 1, , 0.5,\n")
    ws = read_topology(p, max_exact_weights=0)
    for preset, engine in (("eie_like", "eie"), ("scnn_like", "scnn")):
        with pytest.raises(StatisticalRefused, match=rf"layer 'c1': 1,152 weights priced from counts \(random "
                                                     rf"density 0.5; the exact-mask bound is 0 weights\); engine "
                                                     rf"{engine} needs where each nonzero sits.*allowed: "
                                                     r"--max-exact-weights"):
            table(ws, (preset,))
    argv = ["simulate", "--topology", str(p), "--hw", "eie_like", "--max-exact-weights", "0",
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--max-exact-weights" in err and "exact-mask bound is 0" in err, err


@pytest.mark.parametrize("args, pattern", [
    (["--max-exact-weights", "-1"], r"--max-exact-weights: .*allowed: an integer in 0\.\.10,000,000,000"),
    (["--max-exact-weights", "lots"], r"--max-exact-weights: .*not an integer"),
])
def test_cli_bad_bound_is_one_line(tmp_path, capsys, args, pattern):
    p = write(tmp_path, "t.csv", "Layer, M, N, K,\ng, 4, 4, 4,\n")
    assert main(["simulate", "--topology", str(p), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(pattern, err), err


def test_cli_prices_a_file_above_the_bound_and_says_which_layers_are_counted(tmp_path, capsys):
    p = write(tmp_path, "big.csv", "Layer, M, N, K, Sparsity,\nsmall, 4, 8, 8,\nbig, 4, 300, 1000, 2:4,\n")
    assert main(["simulate", "--topology", str(p), "--hw", "nm_asic,eie_like", "--max-exact-weights", "1000",
                 "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "1 of 2 layers priced from counts" in out and "'big'" in out
    ceiling = write(tmp_path, "c.csv", "Layer, M, N, K,\ng, 1, 1000000, 100000,\n")
    assert main(["simulate", "--topology", str(ceiling), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "allowed: at most 10,000,000,000 in one file" in err \
        and "--max-exact-weights" in err, err
