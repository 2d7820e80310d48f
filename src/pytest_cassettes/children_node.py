"""The network guard, carried into Node.js children by a preload that refuses at the socket.

Node before 24 ignores the proxy variables naming children_proxy's trap, and no version sends
raw TCP (a database driver's) through it. So every child ``subprocess`` starts while a guard is
carried also gets ``NODE_OPTIONS`` beginning with ``--require <node_guard.cjs>`` (the options
the child's environment had follow it: its own preloads run after the guard is on) and
``PYTEST_CASSETTES_NODE_GUARD``: the guards' allowed hosts in a form JavaScript reads (names,
address ranges, regular expressions' sources), each with its report file, and the trap's port.
Any Node a child runs (``node``, ``npm``, ``npx``, a ``#!/usr/bin/env node`` script, and the
Node children they start with the environment they have) then refuses a connection some guard
does not allow and tells it as the trap does. Other programs ignore both variables; a Python
child guarded at the socket puts them back at its start (children.restore_proxies).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

GUARD = "PYTEST_CASSETTES_NODE_GUARD"
OPTIONS = "NODE_OPTIONS"
PRELOAD = os.path.join(os.path.dirname(__file__), "node_guard.cjs")


def _quoted(value: str) -> str:
    """A value as NODE_OPTIONS reads it: spaces separate values, a double quote opens and closes
    a string, in which a backslash escapes the next character."""
    if " " not in value and '"' not in value:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_REQUIRE = f"--require {_quoted(PRELOAD)}"


def variables(
    env: Mapping[str, str], wires: Sequence[Mapping[str, Any]], trap: int
) -> dict[str, str]:
    """NODE_OPTIONS and the guard's variable, for a child whose environment is ``env`` started
    under ``wires``' guards (children.ChildSpec.wire, with their report file)."""
    if not wires:
        return {}
    given = env.get(OPTIONS, "")
    options = given if _REQUIRE in given else f"{_REQUIRE} {given}".rstrip()
    return {OPTIONS: options, GUARD: _described(wires, trap)}


# id(wires), trap -> (wires, the guard's variable): the same wires come with each child
# (children._wires); making the variable cost more than the rest of a child's start.
_DESCRIBED: dict[tuple[int, int], tuple[Sequence[Mapping[str, Any]], str]] = {}


def _described(wires: Sequence[Mapping[str, Any]], trap: int) -> str:
    key = (id(wires), trap)
    cached = _DESCRIBED.get(key)
    if cached is None or cached[0] is not wires:
        if len(_DESCRIBED) > 8:
            _DESCRIBED.clear()
        text = json.dumps({"trap": trap, "guards": [_guard(wire) for wire in wires]})
        cached = _DESCRIBED[key] = (wires, text)
    return cached[1]


def _guard(wire: Mapping[str, Any]) -> dict[str, Any]:
    from pytest_cassettes.network import AllowList

    allow = AllowList.parse(str(entry) for entry in wire.get("allow", ()))
    return {
        "key": wire.get("key"),
        "report": wire.get("report"),
        "test": wire.get("test"),
        "names": [[name, port] for name, port in allow.names],
        "nets": [
            [str(network.network_address), network.prefixlen, f"ipv{network.version}", port]
            for network, port in allow.networks
        ],
        "patterns": [pattern.pattern for pattern in allow.patterns],
    }
