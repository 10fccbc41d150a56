"""A self-contained HTML report: tables and figures embedded, no external files.

Pages open offline in any browser (figures are base64 PNG data URIs, CSS inline, no
JavaScript), so a report can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from halidelab import __version__

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;
margin-top:2.2rem}table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem}
th,td{border:1px solid #ccc;padding:.25rem .55rem;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}.warn{color:#9a5b00}.note{color:#245}.muted{color:#777;font-size:.9rem}
figure{margin:1rem 0}figcaption{font-size:.9rem;color:#555}img{max-width:100%}
.ok{color:#176b2c}.bad{color:#a11}.scroll{overflow-x:auto}
table{font-size:.85rem}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:.4rem 1rem;
align-items:start}
.figs figure{margin:.4rem 0}.figs figure[data-kind="bvse-map"]{grid-column:1/-1}
p.missing{color:#777;font-size:.88rem;margin:.25rem 0}
"""


def esc(text: Any) -> str:
    """HTML-escape any value."""
    return html.escape(str(text))


def figure_html(fig: Any, caption: str = "", dpi: int = 130, kind: str = "") -> str:
    """A matplotlib figure as an embedded PNG with a caption; the figure is closed.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    caption : str
        Shown under the figure and used as the image's alt text.
    dpi : int
        Resolution of the PNG.
    kind : str
        Short name of the figure type (``"xrd"``, ``"bvse-map"`` ...), written as the
        ``data-kind`` attribute so that readers and tests can find it.
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    attr = f' data-kind="{esc(kind)}"' if kind else ""
    return (
        f'<figure{attr}><img alt="{esc(caption)}" src="data:image/png;base64,{data}">{cap}</figure>'
    )


def missing_html(what: str, tier: str, kind: str = "", why: str = "") -> str:
    """One line saying a figure is absent and which tier would compute it.

    ``why`` replaces the default reason (``not computed: run tier <tier>``).
    """
    attr = f' data-missing="{esc(kind)}"' if kind else ""
    reason = why or f"not computed: run tier {tier}"
    return f"<p class='missing'{attr}>{esc(what)}: {esc(reason)}</p>"


def table_html(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, Callable[[Any], str] | None]]
) -> str:
    """A table; ``columns`` are (key, header, formatter or None)."""
    head = "".join(
        f'<th class="{"l" if i == 0 else ""}">{esc(h)}</th>' for i, (_, h, _f) in enumerate(columns)
    )
    body = []
    for r in rows:
        cells = []
        for i, (k, _h, f) in enumerate(columns):
            v = r.get(k)
            text = "–" if v is None else (f(v) if f else str(v))
            cells.append(f'<td class="{"l" if i == 0 else ""}">{esc(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>"


def write_report(
    path: str | Path, title: str, sections: Sequence[tuple[str, str]], subtitle: str = ""
) -> Path:
    """Write ``sections`` ((heading, html body) pairs) as one HTML file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1><p class='muted'>{esc(subtitle)} halidelab {esc(__version__)}, "
        f"{stamp}</p>",
    ]
    for heading, body in sections:
        anchor = "".join(c if c.isalnum() else "-" for c in heading.lower())
        parts.append(f"<h2 id='{anchor}'>{esc(heading)}</h2>{body}")
    parts.append("</body></html>")
    from halidelab.outputs import write_text

    write_text(path, "\n".join(parts))  # atomically: a crash never leaves half a report
    return path
