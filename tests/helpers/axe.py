"""Accessibility checks with axe-core in the page under test.

axe-core comes from the npm registry, pinned in tools/node/axe (installed by
scripts/system-deps.sh). Its script is read from that folder and evaluated in the page
through the browser's debugging protocol: nothing is fetched from another site, and the
app's Content-Security-Policy needs no exception. Without the package the check skips on a
developer's machine and fails under CI.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from playwright.async_api import Page

from tests.conftest import service_missing
from tests.helpers.paths import ROOT

AXE_SCRIPT = ROOT / "tools" / "node" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA (what the regional health service's pages must meet) and axe's own
# best practices (landmarks, headings, one main, ...).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


@cache
def _source() -> str | None:
    return AXE_SCRIPT.read_text(encoding="utf-8") if AXE_SCRIPT.exists() else None


async def violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (rule id, impact, help and the nodes)."""
    source = _source()
    if source is None:
        service_missing("axe-core (tools/node/axe: npm ci)")
        return []
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(source)
    found: list[dict[str, Any]] = await page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                                   resultTypes: ['violations']});
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
        }""", TAGS)
    return found


async def assert_accessible(page: Page) -> None:
    """No axe violation on the page; the failure names each rule and where it failed."""
    found = await violations(page)
    assert found == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"][:5])
        for v in found)
