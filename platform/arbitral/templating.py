"""The Jinja2 environments for everything rendered from ``templates/``.

One loader for notices (plain text) and documents (HTML): a commission's own
version (``templates/tenants/<slug>/<folder>/…``) is found before the default
(``templates/<folder>/…``). Undefined variables are errors (StrictUndefined):
a template with a typo fails when rendered, never produces a blank.
Environments are cached per (root, tenant, folder), so templates are parsed
once per process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2


def search_path(root: Path, slug: str, folder: str) -> list[Path]:
    """Where a tenant's templates of ``folder`` are looked for, in order (no tenant: defaults)."""
    return [root / "tenants" / slug / folder, root / folder] if slug else [root / folder]


@lru_cache(maxsize=128)
def environment(root: str, slug: str, folder: str, *, html: bool = False) -> jinja2.Environment:
    """The environment for ``folder`` of ``root`` as seen by tenant ``slug``.

    ``html`` turns autoescaping on (documents); plain-text templates (SMS,
    email text, certificates) are not escaped.
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search_path(Path(root), slug, folder)]),
        undefined=jinja2.StrictUndefined,
        autoescape=html,  # noqa: S701 (plain text for notices: SMS, email text, certificates)
        keep_trailing_newline=False,
        trim_blocks=html,
        lstrip_blocks=html,
    )
