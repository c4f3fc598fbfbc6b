"""Notices and certificates rendered from the templates in ``templates/`` (Jinja2, text).

A commission's own version (``templates/tenants/<slug>/notices/…``) is used in
place of the default (``templates/notices/…``). Undefined variables are
errors: a template with a typo fails when rendered, never sends a blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from arbitral.templating import environment


class TemplateMissing(LookupError):
    """No template, default or the commission's own, for a notice and channel."""


def _environment(root: str, slug: str) -> jinja2.Environment:
    return environment(root, slug, "notices")


def render(root: Path, slug: str, names: tuple[str, ...], context: Mapping[str, Any]) -> str:
    """The first of ``names`` that exists, rendered with ``context``."""
    env = _environment(str(root), slug)
    try:
        template = env.select_template(list(names))
    except jinja2.TemplatesNotFound:
        raise TemplateMissing(f"no template among {', '.join(names)} under {root}") from None
    return template.render(**context).strip() + "\n"


def notice_text(
    root: Path, slug: str, notice: str, channel: str, lang: str, context: Mapping[str, Any]
) -> str:
    """A notice's text for a channel (the portal shows the email text)."""
    channels = [channel] if channel == "sms" else [channel, "email"]
    names = tuple(f"{notice}.{c}.{lang}.txt" for c in channels)
    text = render(root, slug, names, context)
    if channel != "sms" and context.get("document_code"):
        # Where the notice's signed PDF is, and how anyone checks it (a commission's own
        # notice template gets the paragraph too).
        text += "\n" + render(root, slug, (f"formal-document.{lang}.txt",), context)
    return text


def certificate_text(root: Path, slug: str, lang: str, context: Mapping[str, Any]) -> str:
    return render(root, slug, (f"certificate-of-service.{lang}.txt",), context)
