"""YAML input, bounded and strict, and the small helpers every config loader shares.

``load_unique_yaml`` reads a YAML file the way every loader here needs it:

* safe tags only (``yaml.SafeLoader``: no Python objects are ever built);
* at most ``MAX_YAML_BYTES`` (1 MiB) of UTF-8 text from a regular file;
* duplicate keys are errors (a duplicate silently overwriting is a classic
  config bug); merge keys (``<<: *base``) work, and keys written in the mapping
  itself override merged ones, as YAML 1.1 says;
* aliases may expand the document to at most ``MAX_YAML_NODES`` nodes (a
  538-byte "billion laughs" file expands to 10^9) and may not be recursive;
* ``1e-3`` and ``1e9`` are numbers (YAML 1.2), not strings;
* every failure is one ``YamlError`` line naming the file, the line and column
  and what is wrong.

``short(value)`` is how a value appears in an error message (bounded, one line);
``as_tuple(value)`` is how a list field reads a scalar (as a one-element list).
"""

from __future__ import annotations

import re
import reprlib
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, SequenceNode

from .bounded_io import ReadRefused, read_regular

MAX_YAML_BYTES = 1 << 20     # input files are configs, not data
MAX_YAML_NODES = 100_000     # nodes after alias expansion


class YamlError(ValueError):
    """A YAML file that cannot be read or parsed; the message names the file (and line)."""


class DuplicateKeyError(YamlError):
    pass


# ------------------------------------------------------------- messages
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 8
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlong = 40


def short(value, n: int = 80) -> str:
    """``repr(value)`` for a message: one line, at most ``n`` characters, cheap for any size of value."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr fails must not hide the message it belongs in
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= n else text[: max(n - 3, 1)] + "..."


def clip(text: str, n: int = 160) -> str:
    """Free text for a message: one line, at most ``n`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: max(n - 3, 1)] + "..."


def as_tuple(value) -> tuple:
    """A list field's value as a tuple: a list or tuple as is, any other value as a one-element list
    (``structures: filter`` means ``[filter]``, never ``[f, i, l, t, e, r]``)."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


# --------------------------------------------------------------- loader
class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _no_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: construct_mapping says so
            continue
        if duplicate:
            raise DuplicateKeyError(f"duplicate key {short(key)} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    loader.flatten_mapping(node)  # merge keys: merged pairs first, so the mapping's own keys win
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
# YAML 1.2 floats without a dot (1e-3, 2E9): PyYAML (YAML 1.1) reads them as strings
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+|[-+]?\.[0-9_]+[eE][-+]?[0-9]+)$"),
    list("-+0123456789."))


def _children(node) -> list:
    if isinstance(node, SequenceNode):
        return node.value
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root, source: str, limit: int) -> None:
    """Refuse a document whose aliases expand it beyond ``limit`` nodes, or refer to themselves."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            open_ids.discard(nid)
            total = 1 + sum(sizes[id(k)] for k in _children(node))
            if total > limit:
                raise YamlError(f"{source}: line {node.start_mark.line + 1}: aliases expand the document beyond "
                                f"{limit:,} nodes; allowed: at most {limit:,} (is it an alias bomb?)")
            sizes[nid] = total
            continue
        if nid in sizes:
            continue
        if nid in open_ids:
            raise YamlError(f"{source}: line {node.start_mark.line + 1}: a recursive alias (a value containing "
                            "itself); allowed: aliases to finished values only")
        open_ids.add(nid)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in sizes)


def _describe(source: str, e: yaml.YAMLError) -> str:
    if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:
        mark = e.problem_mark
        problem = e.problem or "invalid YAML"
        if "'\\t'" in problem:
            problem = "a tab character; YAML indents with spaces only"
        context = f" ({e.context})" if e.context else ""
        return f"{source}: line {mark.line + 1}, column {mark.column + 1}: {clip(problem + context, 200)}"
    first = (str(e).splitlines() or ["invalid YAML"])[0]
    return f"{source}: {clip(first, 200)}"


def loads_unique_yaml(text: str, source: str = "<string>", max_nodes: int = MAX_YAML_NODES):
    """Parse YAML text (see the module docstring); ``source`` names it in messages."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, source, max_nodes)
        return loader.construct_document(node)
    except DuplicateKeyError as e:
        raise DuplicateKeyError(f"{source}: {e}") from None
    except yaml.YAMLError as e:
        raise YamlError(_describe(source, e)) from None
    except RecursionError:
        raise YamlError(f"{source}: nested too deeply; allowed: ordinary config nesting") from None
    finally:
        loader.dispose()


def read_bounded_text(path: str | Path, max_bytes: int = MAX_YAML_BYTES, what: str = "file") -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``; one ``YamlError`` line otherwise."""
    try:
        data = read_regular(path, max_bytes, what)
    except ReadRefused as e:
        raise YamlError(str(e)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise YamlError(f"{path}: byte {e.start}: not UTF-8 text; expected a {what}") from None


def load_unique_yaml(path: str | Path, max_bytes: int = MAX_YAML_BYTES):
    """The YAML document in ``path`` (None when empty); see the module docstring for what is refused."""
    return loads_unique_yaml(read_bounded_text(path, max_bytes, "YAML file"), str(path))
