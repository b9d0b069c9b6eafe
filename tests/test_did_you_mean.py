"""A near-miss field name gets "did you mean" in every config reader (compare, prune, hardware, sweep)."""

import pytest

from accel_models.hardware import HardwareError, accelerator_from_dict
from analysis.compare_config import CompareConfig, CompareError
from analysis.sweep import SweepError, SweepSpec
from fileguard import unknown_fields
from pruning.config import ConfigError, PruneConfig


def test_the_nearest_allowed_name_is_offered_and_far_names_get_none():
    text = unknown_fields(["tolerance", "zzzz"], ["tolerance_pp", "bits"])
    assert "'tolerance' (did you mean 'tolerance_pp'?)" in text and "'zzzz'," not in text
    assert text.endswith("'zzzz'")


@pytest.mark.parametrize("build, error, near", [
    (lambda: CompareConfig.from_dict({"pretrain_epoch": 3}), CompareError, "pretrain_epochs"),
    (lambda: PruneConfig.from_dict({"admm": {"round": 3}}), ConfigError, "rounds"),
    (lambda: PruneConfig.from_dict({"retrain_epoch": 3}), ConfigError, "retrain_epochs"),
    (lambda: accelerator_from_dict({"pe": {"engin": "systolic"}}), HardwareError, "engine"),
    (lambda: accelerator_from_dict({"clock": 1e9}), HardwareError, "clock_hz"),
    (lambda: SweepSpec.from_dict({"artifact": "a", "paramters": {}}), SweepError, "parameters"),
])
def test_every_reader_says_did_you_mean(build, error, near):
    with pytest.raises(error, match=f"did you mean '{near}'"):
        build()
