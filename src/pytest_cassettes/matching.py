"""The `body` matcher: vcrpy's, with multipart bodies compared whatever their boundary.

A client draws a new random boundary for every multipart request (requests, httpx, aiohttp's
`FormData`), in the Content-Type and between the parts: under `match_on` with `body`, a file
upload recorded once never matched again (vcrpy issues #28 and #647). Two multipart bodies that
differ only in their boundaries match; anything else is vcrpy's comparison, its diff included.
"""

from __future__ import annotations

from typing import Any

from pytest_cassettes.libraries import vcr_matchers
from pytest_cassettes.scrub import multipart_boundary

# What each boundary is replaced by before the bodies are compared again.
_SAME = b"pytest-cassettes-boundary"


def body(r1: Any, r2: Any) -> None:
    """vcrpy's `body` matcher, passing two multipart bodies that differ only in boundary."""
    try:
        vcr_matchers.body(r1, r2)
    except AssertionError:
        first, second = _unbounded(r1), _unbounded(r2)
        if first is None or second is None or first != second:
            raise


def _unbounded(request: Any) -> bytes | None:
    """A multipart request's body with its boundary replaced by one fixed token, or None."""
    data = request.body
    content_type = request.headers.get("Content-Type") or ""
    if not isinstance(data, bytes) or not isinstance(content_type, str) or _SAME in data:
        return None
    boundary = multipart_boundary(content_type, data) if content_type else None
    return None if boundary is None else data.replace(b"--" + boundary, b"--" + _SAME)
