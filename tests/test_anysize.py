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
from sparsesim.pattern import WeightPattern
from sparsesim.workload import WorkloadError
from sparsesim.topology import TopologyError, exact_threshold, read_topology

CONV = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, " \
       "Sparsity, Weight density,\n"
ALL_PRESETS = ("eyeriss_like", "tpu_like", "nm_asic", "sigma_like", "fpga_small", "fpga_large", "fpga_sparse",
               "eie_like", "scnn_like")
POSITION_PRESETS = ("fpga_sparse", "eie_like", "scnn_like")   # engines eie, scnn: a random mask drawn in blocks
RARE = "storage_padding_bits"   # padding entries: a few hundred per layer here, so checked against their noise


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


def means_over_seeds(path, presets, seeds: int) -> dict:
    """{(layer, preset, column): (exact masks' values, counted values)} over ``seeds`` seeds."""
    out: dict = {}
    for seed in range(seeds):
        for mode, bound in ((0, 1 << 26), (1, 0)):
            for key, row in table(read_topology(path, seed, 8, bound), presets).items():
                for col, v in row.items():
                    out.setdefault((*key, col), ([], []))[mode].append(v)
    return out


@pytest.mark.parametrize("presets", [ALL_PRESETS[:6], POSITION_PRESETS])
def test_random_density_agrees_with_exact_masks_within_one_percent(tmp_path, presets):
    conv = write(tmp_path, "r.csv", CONV + "c4, 14, 14, 3, 3, 128, 256, 1, , 0.5,\nc5, 14, 14, 3, 3, 256, 256, 2, , 0.1,\n")
    gemm = write(tmp_path, "g.csv", "Layer, M, N, K, Weight density,\ng1, 64, 512, 1024, 0.3,\n"
                 "g2, 32, 1000, 600, 0.05,\n")
    for path in (conv, gemm):
        for key, (exact, counted) in means_over_seeds(path, presets, 8).items():
            if key[2] == RARE:       # within 4 standard errors of the difference of the two means
                se = np.sqrt((np.var(exact, ddof=1) + np.var(counted, ddof=1)) / len(exact))
                assert abs(np.mean(counted) - np.mean(exact)) <= 4 * se + 1e-9, key
            else:
                assert np.mean(counted) == pytest.approx(np.mean(exact), rel=0.01, abs=1e-12), key


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


def test_an_engine_reading_the_mask_of_a_counted_layer_gets_one_line(tmp_path):
    p = write(tmp_path, "e.csv", CONV + "c1, 8, 8, 3, 3, 8, 16, 1, , 0.5,\n")
    w = read_topology(p, max_exact_weights=0)[0]
    with pytest.raises(WorkloadError, match=r"layer 'c1': 1,152 weights priced from counts \(random density 0.5; "
                                            r"the exact-mask bound is 0 weights\), so it has no mask.*allowed: "
                                            r"--max-exact-weights .* of at least 1,152"):
        w.mask
    assert w.nnz > 0 and w.kept_columns().shape == (72,)      # the built-in engines read the counts


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


def test_a_random_layout_drawn_in_blocks_is_the_layout_of_its_mask(monkeypatch):
    from sparsesim import pattern as pattern_module
    from sparsesim.formats import encode_relative

    monkeypatch.setattr(pattern_module, "CHUNK_WEIGHTS", 100)          # blocks of 3 columns at M = 33
    p = WeightPattern(33, 50, density=0.08, seed=3)
    mask = np.concatenate([b for _, b in p._mask_chunks()], axis=1)
    assert mask.shape == (33, 50) and np.array_equal(p.kept_column_vector(), mask.any(0))
    for pes, bits in ((4, 2), (64, 4), (1, 1)):
        per, pads, pointers = p.relative_layout(pes, bits)
        e = encode_relative(mask.astype(np.float32), 1, index_bits=bits, pes=pes)
        live = min(pes, 33)
        want = np.bincount(e.arrays["col"].astype(np.int64) * live + e.arrays["pe"], weights=e.arrays["pads"] + 1,
                           minlength=50 * live).reshape(50, live)
        assert np.array_equal(per, want) and (pads, pointers) == (e.params["padding_entries"], e.pointer_bits)
