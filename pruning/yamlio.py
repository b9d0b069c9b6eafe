"""YAML loading that rejects duplicate keys (a duplicate silently overwriting is a classic config bug)."""

from __future__ import annotations

from pathlib import Path

import yaml


class DuplicateKeyError(ValueError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _no_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise DuplicateKeyError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load_unique_yaml(path: str | Path):
    with open(path) as f:
        return yaml.load(f, Loader=_UniqueKeyLoader)
