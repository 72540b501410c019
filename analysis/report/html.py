"""HTML building blocks and the page: escaped text, tables, figures as data URIs, notes, the shell.

Rules:
- Everything is escaped with ``html.escape`` at the point where text meets markup; functions
  that take ``*_html`` arguments take markup that was built here.
- The page is self-contained: images are ``data:`` URIs, the CSS is inline, fonts are the
  system's; nothing is fetched. The one script, inline, only counts the images that loaded
  (``data-images-total`` / ``data-images-loaded`` on ``<body>``), for the headless-browser test.
- Numeric table cells carry their exact value in ``data-value`` beside the formatted text, so
  a reader (or a test) can recover the number the text rounds.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

CSS = """
:root { --ink: #1d232b; --muted: #5b6673; --line: #d9dee4; --soft: #f5f7f9; --accent: #1f5fa8; --sig: #fff1c7; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 28px; margin: 8px 0 4px; }
h2 { font-size: 22px; margin: 40px 0 8px; padding-top: 12px; border-top: 2px solid var(--line); }
h3 { font-size: 17px; margin: 28px 0 6px; }
h4 { font-size: 15px; margin: 18px 0 4px; color: var(--muted); }
p { margin: 6px 0 10px; max-width: 80ch; }
a { color: var(--accent); }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--soft); border: 1px solid var(--line); padding: 10px 12px;
  overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
.subtitle { color: var(--muted); margin: 0 0 12px; }
nav.toc { background: var(--soft); border: 1px solid var(--line); padding: 10px 18px; margin: 18px 0; columns: 2 260px; }
nav.toc ol { margin: 0; padding-left: 20px; }
nav.toc li { margin: 2px 0; break-inside: avoid; }
.table-wrap { overflow-x: auto; margin: 8px 0 14px; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.wrap { min-width: 22ch; max-width: 70ch; }
tr.sig td, td.sig { background: var(--sig); }
p.caption { color: var(--muted); font-size: 12.5px; margin: -8px 0 16px; max-width: 90ch; }
div.key { background: #eef4fb; border: 1px solid #cfe0f3; padding: 10px 16px; margin: 14px 0; }
div.key ul { margin: 4px 0 0; padding-left: 18px; }
div.key li { margin: 3px 0; }
figure { margin: 14px 0 20px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figure img.pixel { image-rendering: pixelated; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 5px; max-width: 90ch; }
.gallery { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.gallery figure { margin: 6px 0; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 18px; align-items: start; }
.pair figure { margin: 6px 0; }
.note { border-left: 4px solid #c9a227; background: #fbf7ea; padding: 8px 12px; margin: 10px 0; }
.note.error { border-color: #b3261e; background: #fbeceb; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; font-weight: 600; background: #e4e8ed; }
.badge.yes, .badge.done { background: #d6eedb; color: #14532d; }
.badge.failed { background: #f6d5d2; color: #7f1d1d; }
.badge.skipped { background: #ece7d5; color: #6b5a16; }
ul.findings { padding-left: 18px; }
ul.findings li { margin: 6px 0; max-width: 95ch; }
.bar { display: inline-block; height: 10px; background: var(--accent); vertical-align: middle; }
details { margin: 8px 0 14px; }
summary { cursor: pointer; color: var(--accent); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 10px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
"""

LOAD_CHECK = (
    "<script>window.addEventListener('load',function(){var im=document.images,ok=0;"
    "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}"
    "document.body.setAttribute('data-images-total',String(im.length));"
    "document.body.setAttribute('data-images-loaded',String(ok));});</script>"
)


@dataclass(frozen=True)
class Section:
    """One top-level section: its anchor, title, body markup and sub-headings for the contents."""

    anchor: str
    title: str
    body: str
    children: tuple[tuple[str, str], ...] = ()


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def slug(*parts: Any) -> str:
    """An anchor id from names: ``("subject", "cbp_seed0")`` → ``subject-cbp_seed0``."""
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "-", str(p)).strip("-").lower() for p in parts if str(p))


def data_uri(source: Path | bytes, mime: str | None = None) -> str:
    """A file (type from its suffix) or bytes (``mime`` required) as a base64 ``data:`` URI."""
    if isinstance(source, Path):
        mime = mime or MIME.get(source.suffix.lower())
        if mime is None:
            raise ValueError(f"{source}: cannot embed a {source.suffix!r} file; allowed: {', '.join(MIME)}")
        source = source.read_bytes()
    if mime is None:
        raise ValueError("data_uri needs a MIME type for bytes")
    return f"data:{mime};base64,{base64.b64encode(source).decode('ascii')}"


def figure(source: Path | bytes, caption: str, alt: str, *, width: int | None = None, pixelated: bool = False) -> str:
    """``<figure>`` with an embedded image (PNG bytes when ``source`` is bytes) and its caption."""
    uri = data_uri(source, None if isinstance(source, Path) else "image/png")
    attrs = f' width="{int(width)}"' if width else ""
    cls = ' class="pixel"' if pixelated else ""
    return f'<figure><img src="{uri}" alt="{esc(alt)}"{attrs}{cls}><figcaption>{esc(caption)}</figcaption></figure>'


def cell(text: Any, cls: str = "") -> str:
    """A text cell."""
    return f'<td class="{cls}">{esc(text)}</td>' if cls else f"<td>{esc(text)}</td>"


def ncell(value: Any, text: str, cls: str = "") -> str:
    """A numeric cell: formatted ``text`` shown, exact ``value`` in ``data-value`` (``cls``: extra classes)."""
    klass = f"num {cls}".strip()
    if value is None:
        return f'<td class="{klass}">{esc(text)}</td>'
    return f'<td class="{klass}" data-value="{esc(value)}">{esc(text)}</td>'


def table(
    head: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    caption: str = "",
    row_attrs: Sequence[dict[str, Any]] | None = None,
    cls: str = "",
) -> str:
    """A table from header labels and rows of cells built by ``cell`` / ``ncell`` (or raw ``<td>`` markup)."""
    rows = list(rows)
    attrs = row_attrs or [{}] * len(rows)
    body = []
    for cells, extra in zip(rows, attrs, strict=True):
        attr = "".join(f' {k}="{esc(v)}"' for k, v in extra.items() if v is not None)
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    cap = f'<p class="caption">{esc(caption)}</p>' if caption else ""
    klass = f' class="{cls}"' if cls else ""
    heads = "".join(f"<th>{esc(h)}</th>" for h in head)
    return f'<div class="table-wrap"><table{klass}><thead><tr>{heads}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{cap}'


def note(text: str, *, error: bool = False) -> str:
    """A call-out: something missing (or, with ``error``, something unreadable)."""
    return f'<div class="note{" error" if error else ""}">{esc(text)}</div>'


def details(summary: str, body_html: str) -> str:
    return f"<details><summary>{esc(summary)}</summary>{body_html}</details>"


def facts(items: Iterable[tuple[str, str]]) -> str:
    """A two-column list of (label, text)."""
    return '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items) + "</dl>"


def badge(text: str, kind: str = "") -> str:
    return f'<span class="badge {esc(kind)}">{esc(text)}</span>'


def _toc(sections: Sequence[Section]) -> str:
    items = []
    for s in sections:
        sub = "".join(f'<li><a href="#{esc(a)}">{esc(t)}</a></li>' for a, t in s.children)
        items.append(f'<li><a href="#{esc(s.anchor)}">{esc(s.title)}</a>' + (f"<ol>{sub}</ol>" if sub else "") + "</li>")
    return f'<nav class="toc"><strong>Contents</strong><ol>{"".join(items)}</ol></nav>'


def page(title: str, subtitle: str, intro_html: str, sections: Sequence[Section]) -> str:
    """The whole document: title, contents, sections."""
    body = "".join(f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f'<body><main><h1>{esc(title)}</h1><p class="subtitle">{esc(subtitle)}</p>{intro_html}'
        f"{_toc(sections)}{body}</main>{LOAD_CHECK}</body></html>\n"
    )
