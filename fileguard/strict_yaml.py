"""Strict YAML: ``load_unique_yaml`` / ``loads_unique_yaml`` read safe tags only (no Python objects), at most
``MAX_YAML_BYTES`` of UTF-8; duplicate keys are errors (merge keys ``<<: *base`` work, the mapping's own keys win),
aliases expand to at most ``MAX_YAML_NODES`` nodes and never recursively, ``1e-3`` is a number (YAML 1.2); every
failure is one ``YamlError`` line naming the file, line and column.  ``yaml_line(text, keys)`` is the line of a
field (``("workload", "ratios", 1)``) in a YAML text, for messages about a value that parsed but is not allowed."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .messages import clip, short
from .reading import ReadRefused, read_regular

MAX_YAML_BYTES = 1 << 20     # input files are configs, not data
MAX_YAML_NODES = 100_000     # nodes after alias expansion


class YamlError(ValueError):
    """A YAML file that cannot be read or parsed; the message names the file (and line)."""


class DuplicateKeyError(YamlError):
    pass


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


def yaml_line(text: str, keys: tuple) -> int:
    """The 1-based line of the entry at ``keys`` (mapping keys, then list indices) in YAML ``text``: of its key in
    a mapping, of the item in a list; of the deepest entry found where the path stops early (a field that is
    missing, a scalar where a list was expected); 1 when nothing matches or the text does not parse."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 1
    line = 1
    for key in keys:
        if isinstance(node, MappingNode):
            hit = next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == str(key)), None)
            if hit is None:
                return line
            line = next(k for k, v in node.value if v is hit).start_mark.line + 1
            node = hit
        elif isinstance(node, SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


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
