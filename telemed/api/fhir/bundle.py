"""Bundle of type searchset, with self/next links and absolute fullUrls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode


def search_url(
    base: str, kind: str, used: Sequence[tuple[str, str]], count: int, cursor: str | None = None
) -> str:
    """The URL of a search page: the parameters the server used, ``_count`` and ``_cursor``."""
    params = [*used, ("_count", str(count))]
    if cursor:
        params.append(("_cursor", cursor))
    return f"{base}/{kind}?{urlencode(params)}"


def searchset(
    base: str,
    resources: Sequence[dict[str, Any]],
    *,
    total: int | None,
    self_url: str,
    next_url: str | None = None,
) -> dict[str, Any]:
    """A searchset Bundle of matches."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:  # optional in FHIR: left out when not counted
        bundle["total"] = total
    bundle["link"] = links
    if resources:
        bundle["entry"] = [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
             "search": {"mode": "match"}}
            for r in resources
        ]
    return bundle
