"""Your own model: a zoo name, ``module:callable`` or ``path/to/file.py:callable`` (the CLI's ``--model``).

* ``resolve_model(spec)``: a fresh ``nn.Module`` from the spec (the callable is called with no arguments, or with
  ``num_classes=`` when its signature takes that and the caller knows the classes).  This imports and runs the
  user's code, so a spec only ever comes from the user (an option or their compare config), never from an
  artifact's data: an artifact records the spec (``model.spec``) but nothing rebuilds from it unasked.
* ``model_input_shape(model, spec, given)``: the model's ``input_shape`` attribute, else its module's, else the
  ``--input-shape`` given; neither is a one-line error.
* ``build_for_data``: the model for a data set (classes from the data, input shape checked against it).
* ``load_artifact_as(path, spec, input_shape)``: an artifact's model, rebuilt from the spec the user gave.

Every error is a ``ModelSpecError`` (a ValueError: exit 2 on the command line) naming the option and value.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from torch import nn

from fileguard import clip, short

from .model_spec import IDENT, ModelSpecError, code_failure, spec_form, split_spec  # noqa: F401 (re-exported)
from .models import MODELS, build_model

MAX_SIDE = 65_536


def is_zoo(spec: str) -> bool:
    return spec in MODELS


def parse_input_shape(text: str, option: str = "--input-shape") -> tuple[int, ...]:
    """``C,H,W`` (or ``F`` for a model that takes vectors) as a tuple of positive integers."""
    try:
        dims = tuple(int(t) for t in str(text).split(","))
    except ValueError:
        dims = ()
    if not 1 <= len(dims) <= 3 or not all(1 <= d <= MAX_SIDE for d in dims):
        raise ModelSpecError(f"{option} {short(text)}; allowed: C,H,W (or F), integers in 1..{MAX_SIDE:,}, "
                             "one sample without the batch")
    return dims


def _module(spec: str, where: str):
    if where.endswith(".py"):
        file = Path(where)
        if not file.is_file():
            raise ModelSpecError(f"--model {short(spec)}: no file {short(where)}")
        name = f"_sparsecodesign_user_{file.stem}"
        mod_spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module   # classes defined there pickle and deepcopy by this name
        try:
            mod_spec.loader.exec_module(module)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's file failed (or exited): one line
            sys.modules.pop(name, None)
            raise ModelSpecError(f"--model {short(spec)}: running {short(where)} failed ({code_failure(e)})") from None
        return module
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        if e.name is not None and where != e.name and not where.startswith(e.name + "."):
            raise ModelSpecError(f"--model {short(spec)}: importing {short(where)} failed ({code_failure(e)})") \
                from None   # the module is there; something it imports is not
        raise ModelSpecError(f"--model {short(spec)}: cannot import {short(where)} ({clip(e, 80)}); allowed: a "
                             "module on the Python path (or run from its directory) or FILE.py:CALLABLE") from None
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's module failed (or exited) at import
        raise ModelSpecError(f"--model {short(spec)}: importing {short(where)} failed ({code_failure(e)})") from None


def _callable(spec: str):
    """(the named object, its module)."""
    where, attr = split_spec(spec)
    module = _module(spec, where)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelSpecError(f"--model {short(spec)}: {short(where)} has no {short(attr)}")
        obj = getattr(obj, part)
    return obj, module


def _takes_num_classes(obj) -> bool:
    try:
        return "num_classes" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False


def resolve_model(spec: str, num_classes: int | None = None) -> nn.Module:
    """A fresh ``nn.Module`` from a zoo name, ``module:callable`` or ``file.py:callable``.  Runs the named code:
    call it only with a spec the user typed."""
    if is_zoo(spec):
        return build_model(spec, num_classes)
    obj, module = _callable(spec)
    attr = split_spec(spec)[1]
    try:
        if not callable(obj):
            model = obj
        elif num_classes is not None and _takes_num_classes(obj):
            model = obj(num_classes=num_classes)
        else:
            model = obj()
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's callable failed (or exited): one line
        raise ModelSpecError(f"--model {short(spec)}: {attr}() failed ({code_failure(e)})") from None
    if not isinstance(model, nn.Module):
        raise ModelSpecError(f"--model {short(spec)}: {short(attr)}() returned a {type(model).__name__}; allowed: a "
                             "callable returning a torch.nn.Module")
    if getattr(model, "input_shape", None) is None and getattr(module, "input_shape", None) is not None:
        model.input_shape = tuple(module.input_shape)   # the module's attribute, kept on the instance
    return model


def model_input_shape(model: nn.Module, spec: str, given: tuple[int, ...] | None) -> tuple[int, ...]:
    """The model's ``input_shape`` (its own or its module's), else ``given`` (--input-shape); both and different,
    or neither, is an error."""
    own = getattr(model, "input_shape", None)
    if own is not None:
        own = parse_input_shape(",".join(map(str, own)), f"--model {short(spec)}: input_shape")
        if given is not None and tuple(given) != own:
            raise ModelSpecError(f"--input-shape {','.join(map(str, given))}: model {short(spec)} declares "
                                 f"input_shape {','.join(map(str, own))}; allowed: leave --input-shape out or match it")
        return own
    if given is None:
        raise ModelSpecError(f"--model {short(spec)}: the model has no input_shape attribute (nor its module); "
                             "give --input-shape C,H,W")
    return tuple(given)


def build_for_data(spec: str, num_classes: int, data_shape: tuple[int, ...],
                   given: tuple[int, ...] | None = None, dataset: str = "data") -> nn.Module:
    """The model for a data set: built with the data's classes where its callable takes ``num_classes``, its
    input shape (``model_input_shape``) checked against the data's; ``input_shape``/``num_classes`` set on it."""
    model = resolve_model(spec, num_classes)
    shape = model_input_shape(model, spec, given)
    if shape != tuple(data_shape):
        raise ModelSpecError(f"model {short(spec)} takes inputs {shape}, dataset {dataset!r} has "
                             f"{tuple(data_shape)}" + ("" if is_zoo(spec) else "; allowed: --input-shape "
                                                       + ",".join(map(str, data_shape))))
    model.input_shape = shape
    if getattr(model, "num_classes", None) is None:
        model.num_classes = num_classes
    check_fits_data(model, f"--model {short(spec)}", num_classes, shape, dataset)
    return model


PROBE_SAMPLES = 2   # a batch of 2: BatchNorm in eval mode and flatten(1) both see a real batch dimension


def check_fits_data(model: nn.Module, name: str, num_classes: int, shape: tuple[int, ...], dataset: str) -> None:
    """One forward pass on ``PROBE_SAMPLES`` zero samples of the data's shape, before any training: the model must
    take them and give one score per class (``[2, num_classes]``).  A model that fails, exits, or answers another
    width is a ``ModelSpecError`` naming it (``name``), the data set and what went wrong."""
    import torch

    where = f"{PROBE_SAMPLES} samples of dataset {dataset!r} (shape {','.join(map(str, shape))})"
    was_training = model.training
    try:
        params = next(model.parameters(), None)
        x = torch.zeros(PROBE_SAMPLES, *shape, device=params.device if params is not None else "cpu")
        model.eval()
        with torch.no_grad():
            y = model(x)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's forward failed (or exited): one line
        raise ModelSpecError(f"{name}: a forward pass on {where} failed ({code_failure(e, 200)})") from None
    finally:
        model.train(was_training)
    want = [PROBE_SAMPLES, num_classes]
    if not isinstance(y, torch.Tensor):
        raise ModelSpecError(f"{name}: the model's output is a {type(y).__name__}; allowed: a tensor of shape {want} "
                             f"on {where} (one score per class)")
    if list(y.shape) != want:
        raise ModelSpecError(f"{name}: the model's output has shape {list(y.shape)} on {PROBE_SAMPLES} samples; "
                             f"allowed: {want}, one score per class of dataset {dataset!r} ({num_classes} classes)")


def load_artifact_as(path, spec: str, input_shape: tuple[int, ...] | None = None):
    """An artifact of model ``spec`` (the user's): a zoo model from its name, otherwise rebuilt from ``spec``
    with the manifest's classes and the weights loaded (``pruning.artifact.load_artifact``)."""
    from .artifact import load_artifact, read_manifest

    if is_zoo(spec):
        return load_artifact(path)
    ref = read_manifest(path)["model"]
    model = resolve_model(spec, ref.get("num_classes"))
    model.input_shape = tuple(ref["input_shape"]) if input_shape is None else tuple(input_shape)
    if getattr(model, "num_classes", None) is None:
        model.num_classes = ref.get("num_classes")
    return load_artifact(path, model)
