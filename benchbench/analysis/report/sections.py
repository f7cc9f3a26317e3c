"""A report as a list of sections, rendered both as report.md and as a self-contained report.html.

A section is a heading and blocks (text, table, image files of the run folder). Markdown links
the images; HTML inlines them as base64 PNGs, so the page opens offline, in CI artefacts, in mail.
Adding a section to the report is one more entry in ``report.build.SECTIONS``.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchbench.analysis.report.markdown import md_table, md_text

_ESCAPABLE = re.compile(r"[\\`*_\[\]<>|&!#~]")  # what md_text escapes


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    left: int = 1  # the first ``left`` columns are labels, aligned left in HTML


@dataclass(frozen=True)
class Image:
    path: Path  # relative to the run folder
    alt: str


Block = str | Table | Image  # a str is markdown: paragraphs, `code`, **bold**, "- " lists, "> " quotes, | tables


@dataclass
class Section:
    heading: str | None
    blocks: list[Block] = field(default_factory=list)


def to_markdown(title: str, sections: Sequence[Section]) -> str:
    out = [f"# {md_text(title)}", ""]
    for s in sections:
        if s.heading:
            out += [f"## {s.heading}", ""]
        for b in s.blocks:
            if isinstance(b, Table):
                out.append(md_table(b.headers, b.rows))
            elif isinstance(b, Image):
                # file names come from detector/generator names: quoted, each stays one link
                out.append(f"![{md_text(b.alt)}]({quote(b.path.as_posix())})\n")
            else:
                out += [b, ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#222;max-width:90rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0 1rem}
th,td{border-bottom:1px solid #ddd;padding:.2rem .5rem;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.l,th.l{text-align:left}tr:nth-child(even){background:#fafafa}
img{max-width:100%;height:auto;display:block;margin:.5rem 0 1rem}p{max-width:60rem}
.wide{overflow-x:auto}blockquote{border-left:3px solid #e69f00;margin:.5rem 0;padding:.2rem .8rem;background:#fff8e6}
"""


def _inline(text: str) -> str:
    """Escaped text with markdown `code` spans and **bold** as HTML; backslash escapes (md_text) are
    literal characters."""
    out, code, bold, i = [], False, False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and not code and i + 1 < len(text) and _ESCAPABLE.match(text[i + 1]):
            out.append(html.escape(text[i + 1]))
            i += 2
            continue
        if ch == "`":
            out.append("</code>" if code else "<code>")
            code = not code
        elif text.startswith("**", i) and not code:
            out.append("</strong>" if bold else "<strong>")
            bold, i = not bold, i + 1
        else:
            out.append(html.escape(ch))
        i += 1
    return "".join(out) + ("</code>" if code else "") + ("</strong>" if bold else "")


def _table_html(table: Table) -> str:
    def cls(j: int) -> str:
        return ' class="l"' if j < table.left else ""

    head = "".join(f"<th{cls(j)}>{_inline(str(h))}</th>" for j, h in enumerate(table.headers))
    rows = "".join("<tr>" + "".join(f"<td{cls(j)}>{_inline(str(v))}</td>" for j, v in enumerate(r)) + "</tr>"
                   for r in table.rows)
    # Wide tables scroll on their own instead of widening the page.
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def _md_cells(line: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in line.strip().strip("|").split(" | ")]


def markdown_html(text: str) -> str:
    """The markdown a section's text blocks use (see ``Block``) as HTML; other text stays a paragraph."""
    out: list[str] = []
    lines = text.strip("\n").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        run = [line]
        kind = "|" if line.startswith("|") else "-" if line.startswith("- ") else ">" if line.startswith(">") else ""
        while kind and i + 1 < len(lines) and lines[i + 1].startswith(kind if kind != "-" else "- "):
            i += 1
            run.append(lines[i])
        if kind == "|" and len(run) >= 2:
            out.append(_table_html(Table(_md_cells(run[0]), [_md_cells(r) for r in run[2:]])))
        elif kind == "-":
            out.append("<ul>" + "".join(f"<li>{_inline(r[2:])}</li>" for r in run) + "</ul>")
        elif kind == ">":
            out.append("<blockquote>" + " ".join(_inline(r.lstrip("> ")) for r in run) + "</blockquote>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def to_html(title: str, sections: Sequence[Section], root: Path) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for i, s in enumerate(sections):
        body.append(f'<section id="s{i}">')
        if s.heading:
            body.append(f"<h2>{html.escape(s.heading)}</h2>")
        for b in s.blocks:
            if isinstance(b, Table):
                body.append(_table_html(b))
            elif isinstance(b, Image):
                data = base64.b64encode((root / b.path).read_bytes()).decode("ascii")
                body.append(f'<img alt="{html.escape(b.alt)}" src="data:image/png;base64,{data}">')
            else:
                body.append(markdown_html(b))
        body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
