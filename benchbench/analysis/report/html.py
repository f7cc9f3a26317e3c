"""One self-contained HTML page for the leaderboard: inline CSS, the table, plots as base64 PNGs.

No script, no external resource: the page opens offline, in CI artefacts and in mail.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#222;max-width:80rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem}
th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:right;white-space:nowrap}
th{background:#f4f4f4;position:sticky;top:0}td.l,th.l{text-align:left}
tr:nth-child(even){background:#fafafa}img{max-width:100%;height:auto}
.meta{color:#666;font-size:.8rem}
"""


def page(title: str, sections: Sequence[dict[str, Any]], note: str = "") -> str:
    """``sections``: dicts with ``heading``, ``headers``, ``rows``, ``left`` (left-aligned column indices),
    optional ``png`` (bytes) and ``alt``."""
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">generated {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}'
            f"{' · ' + html.escape(note) if note else ''}</p>"]
    for i, s in enumerate(sections):
        body.append(f"<h2>{html.escape(s['heading'])}</h2>")
        left = set(s.get("left", ()))
        head = "".join(f'<th{" class=l" if j in left else ""}>{html.escape(str(h))}</th>'
                       for j, h in enumerate(s["headers"]))
        rows = "".join("<tr>" + "".join(f'<td{" class=l" if j in left else ""}>{html.escape(str(v))}</td>'
                                        for j, v in enumerate(r)) + "</tr>" for r in s["rows"])
        body.append(f'<table id="leaderboard-{i}" class="leaderboard"><thead><tr>{head}</tr></thead>'
                    f"<tbody>{rows}</tbody></table>")
        if s.get("png"):
            data = base64.b64encode(s["png"]).decode("ascii")
            body.append(f'<img alt="{html.escape(s.get("alt", s["heading"]))}" src="data:image/png;base64,{data}">')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
