"""The `label(group, value)` global of the templates. The table of labels is
telemed/i18n/labels.py (one table for the pages, the scripts and the documents' text)."""

from __future__ import annotations

import jinja2

from telemed.i18n.labels import LABELS, Label, label, msgids

__all__ = ["LABELS", "Label", "label", "label_global", "msgids"]


@jinja2.pass_context
def label_global(context: jinja2.runtime.Context, group: str, value: str) -> str:
    """`label(group, value)` in templates, in the page's language."""
    return label(context["lang"], group, value)
