"""Files in and out, the same way on every floor: the ground floor of the house.

``pruning``, ``accel_models``, ``sparsesim``, ``analysis`` and the ``sparsecodesign`` API all import it; it imports
nothing of theirs (tests/test_layering.py), so data flows one way and no floor reaches up for its I/O.
One module per job:

* ``reading``: ``read_regular`` reads a regular file of at most ``cap`` bytes or refuses in one line
  (``ReadRefused``); ``check_regular`` checks the same without opening.
* ``strict_yaml``: ``load_unique_yaml`` / ``loads_unique_yaml`` (safe tags, bounded size and alias expansion,
  duplicate keys refused, YAML 1.2 floats; ``YamlError``), ``yaml_line``, ``read_bounded_text``.
* ``writing``: ``atomic_write_bytes/_text/_json`` (temporary file, fsync, umask mode, rename).
* ``locking``: ``OutputLock`` (one job per output directory, ``OUT/.lock`` under ``fcntl.flock``),
  ``ensure_writable`` / ``check_writable``, ``OutputError``.
* ``messages``: ``short(value)`` and ``clip(text)`` (how a value or free text appears in a one-line message),
  ``unknown_fields`` (did you mean), ``as_tuple`` (how a list field reads a scalar).
"""

from .locking import LOCK_NAME, OutputError, OutputLock, check_writable, ensure_writable
from .messages import as_tuple, clip, short, unknown_fields
from .reading import ReadRefused, check_regular, read_regular
from .strict_yaml import (MAX_YAML_BYTES, MAX_YAML_NODES, DuplicateKeyError, YamlError, load_unique_yaml,
                          loads_unique_yaml, read_bounded_text, yaml_line)
from .writing import atomic_write_bytes, atomic_write_json, atomic_write_text, current_umask, file_mode

__all__ = ["LOCK_NAME", "MAX_YAML_BYTES", "MAX_YAML_NODES", "DuplicateKeyError", "OutputError", "OutputLock",
           "ReadRefused", "YamlError", "as_tuple", "atomic_write_bytes", "atomic_write_json", "atomic_write_text",
           "check_regular", "check_writable", "clip", "current_umask", "ensure_writable", "file_mode",
           "load_unique_yaml", "loads_unique_yaml", "read_bounded_text", "read_regular", "short",
           "unknown_fields", "yaml_line"]
