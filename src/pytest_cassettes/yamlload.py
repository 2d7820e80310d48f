"""`yaml.load`, with the plain parts of the document built here instead of by PyYAML.

libyaml (PyYAML's C loader) parses and composes the document into nodes in C, then PyYAML's
constructor builds the Python objects in Python: half the time of a load, one method call and
several checks per node. A cassette is mostly mappings, sequences and strings, which need none
of that. So we compose with the same loader and build those three kinds ourselves; every other
node (null, numbers, booleans, timestamps, `!!binary`, the Python tags a loader registers) is
built by the loader's own constructor. Anything unusual (merge keys, a key that cannot be
hashed, a structure that contains itself) sends the whole document back to the loader, so the
result, or the error, is always PyYAML's. About twice as fast on a large cassette.
"""

from __future__ import annotations

from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"  # a plain `=` key, which PyYAML turns into the string


class _Unusual(Exception):
    """A node this module leaves to PyYAML's constructor for the whole document."""


_BUILDING = object()  # in the memo while a collection's items are built


def load(stream: Any, loader_class: Any) -> Any:
    """What `yaml.load(stream, Loader=loader_class)` returns (or raises)."""
    loader = loader_class(stream)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            return _build(node, loader, {})
        except _Unusual:
            return loader.construct_document(node)
    finally:
        loader.dispose()


def _build(node: Node, loader: Any, memo: dict[int, Any]) -> Any:
    tag = node.tag
    if tag == _STR and type(node) is ScalarNode:
        return node.value
    built = memo.get(id(node))
    if built is _BUILDING:
        raise _Unusual  # a collection that contains itself
    if built is not None or id(node) in memo:
        return built  # an alias: the same object, as PyYAML gives
    if tag == _MAP and type(node) is MappingNode:
        memo[id(node)] = _BUILDING
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag in (_MERGE, _VALUE):
                raise _Unusual
            key = _build(key_node, loader, memo)
            value = _build(value_node, loader, memo)
            try:
                mapping[key] = value
            except TypeError:
                raise _Unusual from None  # an unhashable key: PyYAML says so
        memo[id(node)] = mapping
        return mapping
    if tag == _SEQ and type(node) is SequenceNode:
        memo[id(node)] = _BUILDING
        sequence = [_build(item, loader, memo) for item in node.value]
        memo[id(node)] = sequence
        return sequence
    value = loader.construct_object(node, deep=True)
    memo[id(node)] = value
    return value
