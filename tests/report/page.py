"""Read a report back: images, table rows (attributes and cells with their ``data-value``), ids, text."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path


@dataclass
class Row:
    attrs: dict[str, str]
    cells: list[tuple[dict[str, str], str]] = field(default_factory=list)

    def values(self) -> list[str | None]:
        return [a.get("data-value") for a, _ in self.cells]

    def texts(self) -> list[str]:
        return [t.strip() for _, t in self.cells]


class Page(HTMLParser):
    """Parsed report."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.rows: list[Row] = []
        self.ids: set[str] = set()
        self.body: dict[str, str] = {}
        self.scripts: list[dict[str, str]] = []
        self.links: list[str] = []
        self._text: list[str] = []
        self._cell: tuple[dict[str, str], list[str]] | None = None
        self.feed(text)
        self.text = " ".join("".join(self._text).split())

    @classmethod
    def read(cls, path: Path) -> Page:
        return cls(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "body":
            self.body = a
        elif tag == "script":
            self.scripts.append(a)
        elif tag in ("a", "link") and "href" in a:
            self.links.append(a["href"])
        elif tag == "tr":
            self.rows.append(Row(a))
        elif tag in ("td", "th") and self.rows:
            self._cell = (a, [])
        elif tag == "br":
            self._text.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].cells.append((self._cell[0], "".join(self._cell[1])))
            self._cell = None
        if tag in ("p", "li", "td", "th", "div", "h2", "h3", "h4", "dd", "dt", "figcaption"):
            self._text.append(" ")

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        if self._cell is not None:
            self._cell[1].append(data)

    def rows_where(self, **attrs: str) -> list[Row]:
        """Rows whose ``data-*`` attributes match (``condition="x"`` matches ``data-condition="x"``)."""
        return [r for r in self.rows if all(r.attrs.get(f"data-{k}") == str(v) for k, v in attrs.items())]
