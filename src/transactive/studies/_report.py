"""Small helpers shared by the studies' reports: CSV files, HTML tables and pages, matplotlib figures.

Example:
    >>> html_table(("a", "b"), [("1", "<2>")])
    '<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>&lt;2&gt;</td></tr></table>'
"""

from __future__ import annotations

import csv
import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:auto;line-height:1.4}"
         "td,th{border:1px solid #ccc;padding:2px 8px;vertical-align:top}table{border-collapse:collapse;"
         "margin-bottom:1em}img{max-width:100%}.fig{display:flex;gap:1em;align-items:flex-start}"
         ".fig img{flex:3}.fig div{flex:2}.no{color:#b00}.yes{color:#070}")


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims or numbers: what it says, ours, ``holds`` (a "k of n" count or None where it
    is a number) and why."""

    key: str
    paper: str
    ours: str
    holds: str | None
    why: str


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write ``rows`` under ``header``; floats with 9 significant digits (stable across runs)."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow([f"{v:.9g}" if isinstance(v, float) else v for v in row])


def html_table(head: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw``."""
    cell = (lambda s: s) if raw else html.escape
    top = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{top}</tr>{body}</table>"


def page(title: str, body: str) -> str:
    """A whole HTML page."""
    return (f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


def pyplot() -> Any:
    """matplotlib's pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> None:
    """Save and close a figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    fig.clf()
    pyplot().close(fig)


def write_files(out: Path, writers: Sequence[Callable[[Path], None]], index_html: Callable[[], str]) -> Path:
    """Create ``out``, run each writer on it (CSVs, figures), then write ``index.html`` from ``index_html()``
    (called after the writers, so the page may read what they wrote); returns the index path."""
    out.mkdir(parents=True, exist_ok=True)
    for write in writers:
        write(out)
    index = out / "index.html"
    index.write_text(index_html())
    return index

