"""One validation layer for the command line and the Python API: every public function's arguments, one rule each.

A *rule* (a frozen dataclass) says what a value may be and turns an allowed value into its canonical form
(``input_shape="1,8,8"`` -> ``(1, 8, 8)``, a hardware ``Path`` -> ``str``).  The same rule objects serve both faces:

* the API: ``@validated`` on each public function (``sparsecodesign.api``) binds the call to the function's
  signature and checks every argument before any work, raising ``InputError`` (``sc.InputError``, a
  ``ValueError``) ``"simulate: batch=1000000000000; allowed: an integer in 1..65,536"``;
* the CLI: ``rule.option`` is the argparse ``type`` of the matching option, so ``--batch 0`` is refused by the
  same rule as ``batch=0`` (``argument --batch: 0; allowed: an integer in 1..65,536``).  The command functions
  only parse and pass values on.

``FUNCTION_RULES`` maps each public function to its parameters' rules; a test enumerates the functions'
signatures and proves every parameter has a rule that refuses a bad value by name.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import math
import numbers
import os
import re
import sys
from dataclasses import dataclass
from typing import Callable

from fileguard import clip, short
from pruning.weight_bits import ALLOWED_BITS, is_weight_bits
from sparsesim.size_bounds import MAX_TOTAL_WEIGHTS

MAX_SEED = 2**32 - 1
MAX_THREADS = 1024
MAX_BATCH = 65_536
MAX_REPEATS = 10_000
MAX_CALIBRATE = 1_000_000
MAX_WAIT_S = 86_400
MAX_SWEEP_WORKERS = 256
MAX_LOADER_WORKERS = 64
# the same values as pruning.user_model.MAX_SIDE and pruning.model_spec.IDENT, restated so that the command line
# parses its options without importing torch (those modules do)
MAX_SIDE = 65_536             # one input dimension
MAX_PATH_CHARS = 4096
IDENT = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
DEVICE = re.compile(r"cpu|cuda(:\d{1,3})?")


class InputError(ValueError):
    """An argument (or option) outside what is allowed: names the function and argument, the value and what is
    allowed.  Bad input: the command line exits with status 2."""


class _Refused(Exception):
    """Raised by a rule's ``_canon``; ``check``/``option`` turn it into their own error."""


# ================================================================ rules
@dataclass(frozen=True)
class Rule:
    """What one argument may be (``allowed``, for messages) and its canonical form; ``optional``: None too."""

    allowed: str
    optional: bool = False

    def _canon(self, value):  # pragma: no cover - every rule overrides it
        raise NotImplementedError

    def check(self, value, name: str, where: str):
        """The canonical value, or ``InputError`` naming ``where`` (the function) and ``name``."""
        if value is None and self.optional:
            return None
        try:
            return self._canon(value)
        except _Refused as e:
            extra = f" ({e})" if str(e) else ""
            allowed = self.allowed + (" or None" if self.optional else "")
            raise InputError(f"{where}: {name}={short(value)}{extra}; allowed: {allowed}") from None

    def option(self, text: str):
        """The argparse ``type`` of the matching option: text -> value through the same rule."""
        try:
            return self._canon(text)
        except _Refused:
            raise argparse.ArgumentTypeError(f"{short(text)}; allowed: {self.allowed}") from None


def _plain_int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _Refused()
    return int(value)


@dataclass(frozen=True)
class IntIn(Rule):
    lo: int = 0
    hi: int = 0

    def _canon(self, value) -> int:
        value = _plain_int(value)
        if not self.lo <= value <= self.hi:
            raise _Refused()
        return value

    def option(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{short(text)} is not an integer; allowed: {self.allowed}") from None
        if not self.lo <= value <= self.hi:
            raise argparse.ArgumentTypeError(f"{short(value)}; allowed: {self.allowed}")
        return value


def int_in(lo: int, hi: int, optional: bool = False, what: str = "") -> IntIn:
    return IntIn(f"an integer in {lo}..{hi:,}{what}", optional, lo, hi)


@dataclass(frozen=True)
class WeightBits(Rule):
    """A weight bit-width, by the one rule of ``pruning.weight_bits`` (1..16 quantized, or 32 float): the
    API's ``bits=``, ``--bits`` of ``simulate`` and ``compare``; the configs check theirs with the same function."""

    allowed: str = ALLOWED_BITS

    def _canon(self, value) -> int:
        if not is_weight_bits(value):
            raise _Refused()
        return int(value)

    def option(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{short(text)} is not an integer; allowed: {self.allowed}") from None
        return Rule.option(self, value)


@dataclass(frozen=True)
class NumberIn(Rule):
    """A finite real number in [lo, hi] (bounds None: unbounded on that side)."""

    lo: float | None = None
    hi: float | None = None

    def _canon(self, value) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _Refused()
        value = float(value)
        if not math.isfinite(value) or (self.lo is not None and value < self.lo) or \
                (self.hi is not None and value > self.hi):
            raise _Refused()
        return value

    def option(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{short(text)} is not a number; allowed: {self.allowed}") from None
        try:
            return self._canon(value)
        except _Refused:   # the text as typed
            raise argparse.ArgumentTypeError(f"{short(text)}; allowed: {self.allowed}") from None


@dataclass(frozen=True)
class Choice(Rule):
    choices: tuple = ()

    def _canon(self, value):
        if not isinstance(value, str) or value not in self.choices:
            raise _Refused()
        return value


def choice(*choices: str, optional: bool = False) -> Choice:
    return Choice(", ".join(map(repr, choices)), optional, tuple(choices))


@dataclass(frozen=True)
class Pattern(Rule):
    regex: re.Pattern = IDENT
    max_chars: int = 200

    def _canon(self, value):
        if not isinstance(value, str) or len(value) > self.max_chars or not self.regex.fullmatch(value):
            raise _Refused()
        return value


@dataclass(frozen=True)
class Flag(Rule):
    def _canon(self, value) -> bool:
        if not isinstance(value, bool):
            raise _Refused()
        return value


@dataclass(frozen=True)
class Function(Rule):
    def _canon(self, value):
        if not callable(value):
            raise _Refused()
        return value


def _path(value):
    """A path given as ``str`` or ``os.PathLike`` (not bytes), non-empty, without NUL, of a sane length; returned
    as given (a ``Path`` stays a ``Path``)."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str) or not text or "\0" in text or len(text) > MAX_PATH_CHARS:
        raise _Refused()
    return value


@dataclass(frozen=True)
class PathArg(Rule):
    """A file or directory name (what is at it is the reader's business, which names the file in its errors)."""

    def _canon(self, value):
        return _path(value)


@dataclass(frozen=True)
class OneOf(Rule):
    """A path, or an instance of one of ``kinds`` (``"module.Class"`` names, imported only when checking), or an
    object with one of ``attrs`` (a ``PruneResult``'s ``out_dir``, an ``Artifact``'s ``path``), or a string
    (``text``: a name, spec or comma list), or a non-empty list of the allowed items (``many``); ``fspath``: a
    path is passed on as ``str`` (where the callee reads names and paths alike)."""

    kinds: tuple = ()
    attrs: tuple = ()
    path: bool = False
    text: bool = False
    many: bool = False
    fspath: bool = False

    def _one(self, value):
        if self.kinds and isinstance(value, _classes(self.kinds)):
            return value
        if self.attrs and not isinstance(value, (str, bytes, os.PathLike)) and \
                any(isinstance(getattr(value, a, None), (str, os.PathLike)) for a in self.attrs):
            return value
        if self.text and isinstance(value, str):
            if not value.strip() or len(value) > MAX_PATH_CHARS or "\0" in value:
                raise _Refused()
            return value
        if self.path and isinstance(value, (str, os.PathLike)):
            return os.fspath(_path(value)) if self.fspath else _path(value)
        raise _Refused()

    def _canon(self, value):
        if self.many and isinstance(value, (list, tuple)):
            if not value:
                raise _Refused("an empty list")
            return [self._one(v) for v in value]
        return self._one(value)


def _classes(names: tuple) -> tuple[type, ...]:
    """The classes named ``"module.Class"`` whose modules are loaded.  A value can be an instance of a class only
    once the class's module has been imported, so a class of a module nobody imported matches nothing and is not
    imported for the check (checking a path never imports torch for ``torch.nn.Module``)."""
    found = []
    for name in names:
        module, _, cls = name.rpartition(".")
        if module in sys.modules:
            found.append(getattr(sys.modules[module], cls))
    return tuple(found)


@dataclass(frozen=True)
class DataArg(OneOf):
    """A built-in data set's name (``pruning.data.DATASETS``, read there) or a loaded data set."""

    def _one(self, value):
        from pruning.data import DATASETS

        if isinstance(value, str):
            if value not in DATASETS:
                raise _Refused()
            return value
        return super()._one(value)


@dataclass(frozen=True)
class InputShape(Rule):
    """One sample's shape: ``"C,H,W"`` (or ``"F"``) or a sequence of 1 to 3 integers in 1..MAX_SIDE."""

    def _canon(self, value) -> tuple[int, ...]:
        if isinstance(value, str):
            try:
                value = [int(t) for t in value.split(",")]
            except ValueError:
                raise _Refused() from None
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 3:
            raise _Refused()
        dims = tuple(_plain_int(d) for d in value)
        if not all(1 <= d <= MAX_SIDE for d in dims):
            raise _Refused()
        return dims


@dataclass(frozen=True)
class Scheduler(Rule):
    """None (a local Dask cluster), ``"sync"`` or a Dask address; the address form is ``analysis.sweep``'s."""

    def _canon(self, value):
        from analysis.sweep import check_scheduler

        if not isinstance(value, str):
            raise _Refused()
        try:
            check_scheduler(value)
        except ValueError:
            raise _Refused() from None
        return value


# ------------------------------------------------------------ the rules, by argument
SEED = int_in(0, MAX_SEED)
BATCH = int_in(1, MAX_BATCH)
THREADS = int_in(1, MAX_THREADS, optional=True)
BITS = WeightBits(optional=True)
REPEATS = int_in(1, MAX_REPEATS)
CALIBRATE = int_in(0, MAX_CALIBRATE, what=" (0: none)")
CALIBRATE_IMAGES = int_in(1, MAX_CALIBRATE)               # --calibrate N: the option given means N >= 1
MAX_EXACT = int_in(0, MAX_TOTAL_WEIGHTS, optional=True)      # a topology's weights drawn as exact masks
SWEEP_WORKERS = int_in(1, MAX_SWEEP_WORKERS, optional=True)
LOADER_WORKERS = int_in(0, MAX_LOADER_WORKERS)             # prune --workers (imagefolder's DataLoader)
WAIT_S = NumberIn(f"seconds in 0..{MAX_WAIT_S:,}", False, 0.0, float(MAX_WAIT_S))
DENSITY = NumberIn("a number in [0, 1]", True, 0.0, 1.0)
VALIDATION_FRACTION = NumberIn("a fraction in [0, 0.5] (0: no validation split)", True, 0.0, 0.5)
FINITE = NumberIn("a finite number")
DEVICE_RULE = Pattern("cpu, cuda, cuda:N", False, DEVICE, 16)
TRUST = Pattern("a module name (package.module)", True, IDENT, 200)
WORKLOADS = choice("traced", "modules", optional=True)
LOG = Function("a function taking one line of text (such as print)")
FLAG = Flag("True or False")
OUT = PathArg("a directory path (str or os.PathLike)")
DATA_DIR = PathArg("a directory or file path (str or os.PathLike)", True)
SHAPE = InputShape("C,H,W (or F): 1 to 3 integers in 1..65,536, one sample without the batch, as a "
                   "'1,8,8' string or a tuple", True)
MODULE = "torch.nn.Module"
ARTIFACT_LIKE = ("out_dir", "path")
SOURCE_FILE = OneOf("an artifact directory, a prune/load_artifact result or a file path", attrs=ARTIFACT_LIKE,
                    path=True)
SOURCE_ANY = OneOf("an artifact directory, a prune/load_artifact result, a file path or an nn.Module",
                   kinds=(MODULE,), attrs=ARTIFACT_LIKE, path=True)
MODEL = OneOf("a zoo name, 'module:callable', 'file.py:callable' or an nn.Module", True, kinds=(MODULE,), text=True)
MODEL_IN = OneOf("an nn.Module of the artifact's architecture", True, kinds=(MODULE,))
ACCELERATOR = "accel_models.hardware.Accelerator"
HARDWARE_ONE = OneOf("a preset name, a hardware YAML path or an Accelerator", kinds=(ACCELERATOR,), path=True,
                     fspath=True)
HARDWARE = OneOf("a preset name, 'a,b', a hardware YAML path, an Accelerator or a non-empty list of them", True,
                 kinds=(ACCELERATOR,), path=True, many=True, fspath=True)
HARDWARE_NAME = OneOf("a preset name or a hardware YAML path", path=True, fspath=True)
DATA = DataArg("a data set name ('digits', 'mnist', 'fashion_mnist', 'cifar10', 'imagefolder', 'npz') or a pruning.data.Dataset",
              kinds=("pruning.data.Dataset", "pruning.data.StreamDataset"))
PRUNE_CONFIG = OneOf("a dict, a YAML path or a PruneConfig", True, kinds=("pruning.config.PruneConfig", "builtins.dict"),
                     path=True)
COMPARE_CONFIG = OneOf("a dict, a YAML path or a CompareConfig", True,
                       kinds=("analysis.compare_config.CompareConfig", "builtins.dict"), path=True)
SWEEP_SPEC = OneOf("a dict, a YAML path or a SweepSpec", kinds=("analysis.sweep.SweepSpec", "builtins.dict"),
                   path=True)
SCHEDULER = Scheduler("None (a local Dask cluster), 'sync' (this process) or a Dask address tcp://host:port", True)
TEACHER = OneOf("an nn.Module", True, kinds=(MODULE,))
NAME = OneOf("a non-empty name", True, text=True)
HOOK = Function("a function", True)

@dataclass(frozen=True)
class Scalar(Rule):
    """A value a table cell can equal: a string, a finite number or a bool."""

    def _canon(self, value):
        if isinstance(value, str) or isinstance(value, bool) or \
                (isinstance(value, numbers.Real) and math.isfinite(float(value))):
            return value
        raise _Refused()


TABLE = OneOf("a CostTable (what simulate or bench returned)", kinds=("sparsecodesign.table.CostTable",))
FILE_OUT = PathArg("a file path (str or os.PathLike)", True)
CELL = Scalar("a string, a finite number or a bool")

# what ``prune(**kw)`` passes on to ``pruning.pipeline.run_prune``
PRUNE_KEYWORDS = {"resume": FLAG, "overwrite": FLAG, "device": DEVICE_RULE, "progress": FLAG, "log": LOG,
                  "teacher": TEACHER, "model_name": NAME, "on_unit": HOOK}

FUNCTION_RULES: dict[str, dict[str, Rule | dict]] = {
    "prune": {"model": MODEL, "data": DATA, "config": PRUNE_CONFIG, "out": OUT, "data_dir": DATA_DIR,
              "validation_fraction": VALIDATION_FRACTION, "kw": PRUNE_KEYWORDS},
    "simulate": {"source": SOURCE_ANY, "hardware": HARDWARE, "batch": BATCH, "bits": BITS, "model": MODEL,
                 "input_shape": SHAPE, "calibrate": CALIBRATE, "data_dir": DATA_DIR, "trust_module": TRUST,
                 "seed": SEED, "act_seed": SEED, "max_exact_weights": MAX_EXACT, "workloads": WORKLOADS, "log": LOG},
    "bench": {"source": SOURCE_ANY, "device": DEVICE_RULE, "batch": BATCH, "repeats": REPEATS, "threads": THREADS,
              "wait_idle_s": WAIT_S, "model": MODEL, "input_shape": SHAPE, "trust_module": TRUST, "log": LOG},
    "compare": {"config": COMPARE_CONFIG, "out": OUT, "log": LOG, "progress": FLAG},
    "sweep": {"spec": SWEEP_SPEC, "out": OUT, "scheduler": SCHEDULER, "workers": SWEEP_WORKERS, "progress": FLAG,
              "log": LOG},
    "export": {"source": SOURCE_FILE, "to": choice("scalesim", "timeloop"), "hardware": HARDWARE_ONE, "out": OUT,
               "scalesim_format": choice("conv", "gemm", optional=True), "act_density": DENSITY},
    "presets": {},
    "load_hardware": {"name_or_yaml": HARDWARE_NAME, "log": LOG},
    "load_artifact": {"path": SOURCE_FILE, "model": MODEL_IN, "trust_module": TRUST},
    "masks": {"source": SOURCE_ANY},
}


def _table_rules() -> dict[str, dict]:
    """``CostTable``'s methods (``sparsecodesign.table``): columns from ``sparsesim.results``."""
    from sparsesim.results import ADDITIVE, COLUMNS

    column = Choice(f"a column that adds over layers ({', '.join(ADDITIVE)}) or 'utilization'", False,
                    (*ADDITIVE, "utilization"))
    hardware = OneOf("an accelerator's name in this table", text=True)
    return {"CostTable.concat": {"tables": TABLE}, "CostTable.select": {"hardware": hardware},
            "CostTable.where": {"equal": {c: CELL for c in COLUMNS}},
            "CostTable.total": {"column": column, "hardware": OneOf(hardware.allowed, True, text=True)},
            "CostTable.to_csv": {"path": FILE_OUT}, "CostTable.to_json": {"path": FILE_OUT},
            "CostTable.plot": {"path": FILE_OUT}}


FUNCTION_RULES.update(_table_rules())
SELF = ("self", "cls")


# ================================================================ the API's decorator
def check_call(function: str, signature: inspect.Signature, args: tuple, kwargs: dict) -> inspect.BoundArguments:
    """``args``/``kwargs`` bound to ``signature``, every argument checked by its rule and made canonical."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as e:   # a missing argument or an unknown keyword: name it
        raise InputError(f"{function}: {e}; allowed: see help(sparsecodesign.{function})") from None
    bound.apply_defaults()
    rules = FUNCTION_RULES[function]
    kinds = {p.name: p.kind for p in signature.parameters.values()}
    for name, value in list(bound.arguments.items()):
        if name in SELF:
            continue
        rule = rules[name]
        if kinds[name] is inspect.Parameter.VAR_POSITIONAL:   # *tables: each by the rule
            bound.arguments[name] = tuple(rule.check(v, f"{name}[{i}]", function) for i, v in enumerate(value))
        elif isinstance(rule, dict):   # **kw: each keyword by its own rule, an unknown one refused by name
            for key, v in value.items():
                if key not in rule:
                    raise InputError(f"{function}: unknown keyword {key}={short(v)}; allowed: "
                                     f"{', '.join(sorted(rule))}")
                value[key] = rule[key].check(v, key, function)
        else:
            bound.arguments[name] = rule.check(value, name, function)
    return bound


def validated(fn: Callable) -> Callable:
    """Check every argument of a public function by ``FUNCTION_RULES`` before it runs (``InputError``)."""
    signature, where = inspect.signature(fn), fn.__qualname__
    SIGNATURES[where] = signature
    missing = set(signature.parameters) - set(FUNCTION_RULES[where]) - set(SELF)
    if missing:   # a parameter without a rule is a bug here, found at import
        raise TypeError(f"{where}: parameter(s) {sorted(missing)} have no rule in sparsecodesign.checks")

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        bound = check_call(where, signature, args, kwargs)
        return fn(*bound.args, **bound.kwargs)

    return checked


# ================================================================ options with no effect in a combination
DRAWING_ENGINES = ("eie", "scnn")
FILE_DATASETS = ("mnist", "fashion_mnist", "cifar10", "imagefolder", "npz")   # pruning.data's data sets read from --data-dir   # the engines that draw input-activation patterns from act_seed
CLI_NAMES = {"hardware": "--hw", "wait_idle_s": "--wait-idle", "data": "--dataset"}


@dataclass(frozen=True)
class Unused:
    """``option`` has no effect where ``when(call)`` holds, because of ``partner`` (another option, or the kind of
    source): the call is refused naming both, never run with the option silently dropped (the CLI's exit 2).

    ``call`` holds the given values by parameter name plus ``kind`` (the source: artifact, checkpoint, onnx,
    topology or module) and ``engines`` (of the hardware) where the function has them."""

    option: str
    partner: str
    when: Callable[[dict], bool]
    why: str


def _kind(*kinds: str) -> Callable[[dict], bool]:
    return lambda c: c.get("kind") in kinds


def _without(name: str) -> Callable[[dict], bool]:
    return lambda c: c.get(name) is None


UNUSED: dict[str, tuple[Unused, ...]] = {
    "simulate": (
        Unused("model", "source", _kind("topology"), "a topology lists its layers; no model code runs"),
        Unused("input_shape", "source", _kind("topology"), "a topology gives every layer's geometry"),
        Unused("input_shape", "source", lambda c: c.get("kind") == "checkpoint" and c.get("model") is None,
               "without a model a checkpoint is priced from its weight shapes alone; give the model for conv "
               "geometry"),
        Unused("calibrate", "source", _kind("topology", "module"), "calibration needs an artifact's data set"),
        Unused("data_dir", "calibrate", _without("calibrate"), "only calibration reads data"),
        Unused("trust_module", "calibrate", _without("calibrate"), "simulate runs an artifact's model code only "
                                                                   "to calibrate"),
        Unused("trust_module", "model", lambda c: c.get("model") is not None, "the model you give is the one "
                                                                              "that runs"),
        Unused("seed", "source", lambda c: c.get("kind") != "topology", "it seeds the weight masks a topology's "
                                                                         "densities ask for"),
        Unused("max_exact_weights", "source", lambda c: c.get("kind") != "topology", "it bounds a topology's "
                                                                                     "drawn weights"),
        Unused("workloads", "source", lambda c: not (c.get("kind") == "module" or
                                                     (c.get("kind") == "checkpoint" and c.get("model") is not None)),
               "only a model you give (a checkpoint with its model, or an nn.Module) is traced or listed; this "
               "source is priced from its own layer list"),
        Unused("act_seed", "hardware", lambda c: not set(c.get("engines", ())) & set(DRAWING_ENGINES),
               f"only the {' and '.join(DRAWING_ENGINES)} engines draw input-activation patterns"),
    ),
    "bench": (
        Unused("trust_module", "source", lambda c: c.get("kind") != "artifact",
               "only an artifact's recorded model.factory is imported under trust"),
        Unused("trust_module", "model", lambda c: c.get("kind") == "artifact" and c.get("model") is not None,
               "the model you give is the one that runs"),
        Unused("input_shape", "source", _kind("artifact"), "an artifact records its input shape"),
    ),
    "sweep": (
        Unused("workers", "scheduler", lambda c: c.get("scheduler") is not None,
               "workers sets the size of the local Dask cluster started when no scheduler is given"),
    ),
    "export": (
        Unused("scalesim_format", "to", lambda c: c.get("to") != "scalesim", "it is SCALE-Sim's topology format"),
        Unused("act_density", "to", lambda c: c.get("to") != "timeloop",
               "SCALE-Sim files carry no activation density; only the Timeloop problems do"),
    ),
    "prune": (
        Unused("data_dir", "data", lambda c: c.get("data") not in FILE_DATASETS,
               "only mnist, fashion_mnist, cifar10, imagefolder and npz are read from files; digits is scikit-learn's, a loaded "
               "data set is already read"),
    ),
}


def _shown(name: str, value, cli: bool) -> str:
    if name == "source":
        kind = {"topology": "a topology", "artifact": "an artifact", "checkpoint": "a checkpoint",
                "onnx": "an ONNX file", "module": "an nn.Module"}.get(value[0], value[0])
        if cli:
            return f"--topology {clip(value[1], 120)}" if value[0] == "topology" else f"{kind} {clip(value[1], 120)}"
        return f"source={short(value[1])} ({kind})"
    if cli:
        flag = CLI_NAMES.get(name, "--" + name.replace("_", "-"))
        text = ",".join(map(str, value)) if isinstance(value, (tuple, list)) else value
        return flag if value is True else f"{flag} {clip(text, 120)}"
    return f"{name}={short(value)}"


def refuse_unused(function: str, call: dict, cli: bool = False) -> None:
    """``InputError`` for the first option in ``call`` (given values; None = not given) that has no effect in this
    combination (``UNUSED``), naming it and its partner as the CLI or the API spells them."""
    for rule in UNUSED.get(function, ()):
        value = call.get(rule.option)
        if value is None or not rule.when(call):
            continue
        if rule.partner == "source":
            partner = "with " + _shown("source", (call.get("kind"), call.get("source")), cli)
        elif call.get(rule.partner) is None:
            partner = "without " + (CLI_NAMES.get(rule.partner, "--" + rule.partner.replace("_", "-")) if cli
                                    else rule.partner)
        else:
            partner = "with " + _shown(rule.partner, call[rule.partner], cli)
        leave = CLI_NAMES.get(rule.option, "--" + rule.option.replace("_", "-")) if cli else f"{rule.option}="
        where = "" if cli else f"{function}: "
        raise InputError(f"{where}{_shown(rule.option, value, cli)} has no effect {partner} ({rule.why}); "
                         f"allowed: leave {leave} out")


def given(function: str, values: dict) -> dict:
    """The API's arguments that differ from the function's defaults (what the caller chose), by name."""
    signature = SIGNATURES[function]
    defaults = {k: p.default for k, p in signature.parameters.items()}
    return {k: v for k, v in values.items() if k not in defaults or not _same(v, defaults[k])}


def _same(value, default) -> bool:
    return value is default or (type(value) is type(default) and value == default)


SIGNATURES: dict[str, inspect.Signature] = {}
