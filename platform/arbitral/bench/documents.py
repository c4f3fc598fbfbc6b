"""``arbitral bench documents``: rendering a Chinese award to PDF, beside WeasyPrint alone.

On one core (the process is pinned to the first CPU it may use):

* the award (2-3 pages, Chinese, PDF/A-3b): median of ``--runs`` renders
  through ``render_pdf`` (template, QR code, WeasyPrint with the cached
  fonts and stylesheets), beside WeasyPrint alone on the same HTML, called as
  one would call it (``HTML(string).write_pdf(stylesheets=[document.css])``);
* schedules of ``--rows`` instalments (default 500 and 2,000) in the annex
  (preformatted blocks), beside the same rows as one table, the layout the
  annex replaces (``--no-table`` skips that slow baseline).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import click


def _median_ms(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@click.command("documents")
@click.option("--templates", "templates_dir", type=click.Path(path_type=Path), default="templates")
@click.option("--runs", default=20, show_default=True)
@click.option("--rows", "row_counts", multiple=True, type=int, default=(500, 2000))
@click.option("--table/--no-table", default=True, help="Also time the rows as one table.")
def command(templates_dir: Path, runs: int, row_counts: tuple[int, ...], table: bool) -> None:
    """Median ms to render an award, beside WeasyPrint alone; annex against one table."""
    from weasyprint import CSS, HTML

    from arbitral.documents import render
    from arbitral.documents.samples import sample

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    root = templates_dir.resolve()
    renderer = render.renderer(root)
    award = sample("award", dissent=True, schedule_rows=12)
    html = renderer.html(award)
    base_url = (root / render.FOLDER).as_uri() + "/"
    stylesheet = str(root / render.FOLDER / render.STYLESHEET)

    def alone() -> bytes:
        return bytes(
            HTML(string=html, base_url=base_url).write_pdf(
                stylesheets=[CSS(filename=stylesheet)], pdf_variant=render.PDF_VARIANT
            )
        )

    pages = len(
        HTML(string=html, base_url=base_url).render(stylesheets=[CSS(filename=stylesheet)]).pages
    )
    alone()
    ours = _median_ms(lambda: render.render_pdf(award, root), runs)
    theirs = _median_ms(alone, runs)
    click.echo(
        f"award ({pages} pages, zh, PDF/A-3b), one core, median of {runs}: "
        f"render_pdf {ours:.0f} ms, WeasyPrint alone {theirs:.0f} ms, "
        f"ratio {ours / theirs:.2f}"
    )
    for rows in row_counts:
        document = sample("award", schedule_rows=rows)
        annex = _median_ms(lambda document=document: renderer.pdf(document), 3)  # type: ignore[misc]
        line = f"schedule of {rows} rows: annex {annex:.0f} ms"
        if table:
            threshold = render.ANNEX_THRESHOLD
            render.ANNEX_THRESHOLD = rows  # the whole schedule inline, as one table
            try:
                one_table = renderer.html(document)
            finally:
                render.ANNEX_THRESHOLD = threshold
            started = time.perf_counter()
            renderer.pdf_from_html(one_table)
            line += f", one table {(time.perf_counter() - started) * 1000:.0f} ms"
        click.echo(line)
