"""The artifact reader's numpy level sets (``pruning.quant_levels``, no torch) are ``Quantizer.levels()`` (torch),
value for value, and its parameter rules refuse exactly what ``Quantizer`` refuses."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pruning.quant_levels import SCHEMES, levels, quantizer_params
from pruning.quantizers import Quantizer
from pruning.weight_bits import QUANT_BITS

SCALES = st.floats(min_value=1e-30, max_value=1e30, allow_nan=False, allow_infinity=False, exclude_min=False)


@settings(max_examples=40, deadline=None)
@given(scale=SCALES)
def test_numpy_levels_are_the_quantizers_levels_for_every_scheme_and_bit_width(scale):
    checked = 0
    for scheme in SCHEMES:
        for bits in QUANT_BITS:
            for zero_level in (False, True):
                try:
                    q = Quantizer(scheme, bits, zero_level, scale)
                except ValueError:
                    continue
                want = q.levels().numpy()
                got = levels(q.scheme, q.bits, q.zero_level, scale)
                assert got.dtype == want.dtype == np.float64
                assert np.array_equal(got, want), (scheme, bits, zero_level, scale)
                assert np.array_equal(q.levels_numpy(), want)
                assert np.all(np.diff(got) >= 0)     # ascending (pow2 at 12+ bits: the smallest levels underflow to 0)
                checked += 1
    # uniform and pow2: 16 widths x zero or not, less the refused 1 bit with zero (31 each); binary and ternary fix
    # their bits and zero level, so each of their 32 combinations is accepted (as 1 bit or 2 bits)
    assert checked == 31 + 31 + 32 + 32


@settings(max_examples=200, deadline=None)
@given(scheme=st.sampled_from([*SCHEMES, "log", ""]), bits=st.one_of(st.integers(-2, 20), st.sampled_from([1.0, "4"])),
       zero_level=st.booleans(), scale=st.one_of(st.none(), SCALES, st.sampled_from([0.0, -1.0, float("nan"),
                                                                                      float("inf")])))
def test_numpy_rules_refuse_exactly_what_the_quantizer_refuses(scheme, bits, zero_level, scale):
    try:
        q = Quantizer(scheme, bits, zero_level, scale)
    except ValueError as e:
        with pytest.raises(ValueError) as mine:
            quantizer_params(scheme, bits, zero_level, scale)
        assert str(mine.value) == str(e)
        return
    assert quantizer_params(scheme, bits, zero_level, scale) == (q.bits, q.zero_level)
