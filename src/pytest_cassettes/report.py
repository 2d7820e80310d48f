"""Counters of what the cassettes did, and the lines the terminal shows about them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields


@dataclass
class Stats:
    """What one process (or, merged, the whole run) did with cassettes."""

    cassettes_replayed: int = 0
    cassettes_recorded: int = 0
    interactions_played: int = 0
    interactions_recorded: int = 0
    interactions_unused: int = 0
    values_scrubbed: int = 0
    network_blocked: int = 0
    not_saved: int = 0  # recordings of failed tests, discarded

    def add(self, other: Stats) -> None:
        """Add another process's counts (xdist workers)."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def plural(count: int, word: str) -> str:
    """`1 cassette`, `2 cassettes`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def lines(stats: Stats) -> Iterator[str]:
    """The terminal summary: what happened, then what to do next. Nothing when nothing happened."""
    if not (stats.cassettes_replayed or stats.cassettes_recorded or stats.network_blocked):
        return
    yield (
        f"{plural(stats.cassettes_replayed, 'cassette')} replayed "
        f"({plural(stats.interactions_played, 'interaction')}), "
        f"{plural(stats.cassettes_recorded, 'cassette')} recorded "
        f"({plural(stats.interactions_recorded, 'new interaction')}), "
        f"{plural(stats.values_scrubbed, 'secret value')} scrubbed"
    )
    if stats.interactions_unused:
        yield (
            f"{plural(stats.interactions_unused, 'recorded interaction')} never played: "
            "re-record with --record-mode=rewrite to drop them, or use --cassette-strict to fail."
        )
    if stats.not_saved:
        yield (
            f"{plural(stats.not_saved, 'recorded interaction')} of failed tests not saved "
            "(record_on_exception=True keeps them)."
        )
    if stats.network_blocked:
        yield (
            f"{plural(stats.network_blocked, 'network connection')} blocked: "
            "allow a host with --cassette-allow-hosts=HOST."
        )
