"""Value classes written by hand, not as dataclasses.

Making a dataclass compiles each of its methods with `exec` at every start: 1 to 4 M
instructions a class (our 19 were about a third of what importing our modules cost), where a
class written by hand costs about 0.06 M.
"""

from __future__ import annotations

from typing import Any


class Value:
    """Equal, hashed and shown by the attributes `_compared` names, in that order, as a frozen
    dataclass is by its fields. A subclass sets `__slots__`, `_compared` and `__init__`, and
    is not changed once made (it may be a dictionary's key)."""

    __slots__ = ()
    _compared: tuple[str, ...] = ()

    def _key(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._compared])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Value) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._compared)
        return f"{type(self).__name__}({shown})"
