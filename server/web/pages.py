"""Small server-rendered HTML pages: the index and "no such ticket".

The ticket's own page is server/web/status.py (live). Self-contained (inline
CSS, no external assets), mobile-friendly; everything interpolated is escaped.
"""

from __future__ import annotations

from html import escape

__all__ = ["not_found_page", "index_page"]

_STYLE = """
body{margin:0;font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;
background:#f4f6f9;color:#1b1b1b}
header{background:#0B4F9C;color:#fff;padding:14px 18px;font-size:18px}
main{max-width:480px;margin:0 auto;padding:18px}
.card{background:#fff;border-radius:10px;padding:20px;box-shadow:0 1px 4px #0002}
.num{font-size:64px;font-weight:700;text-align:center;font-variant-numeric:tabular-nums;
color:#0B4F9C;margin:4px 0}
.svc{text-align:center;font-size:20px}.en{color:#555;font-size:14px}
dl{display:grid;grid-template-columns:auto 1fr;gap:8px 14px;font-size:18px;margin:18px 0 0}
dt{color:#555}dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums}
.called{color:#2E7D32}.gone{color:#C62828}
footer{color:#777;font-size:13px;text-align:center;margin-top:14px}
"""


def _page(title: str, body: str, refresh: int | None = None) -> str:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"{meta}<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def not_found_page(hall_name: str) -> str:
    body = (f"<header>{escape(hall_name)}</header><main><div class='card'>"
            "<p>未找到该号票，可能已过期。<br><span class='en'>No such ticket; it may have "
            "expired.</span></p></div></main>")
    return _page("未找到 Not found", body)


def index_page(hall_name: str) -> str:
    body = (f"<header>{escape(hall_name)} · qhall</header><main><div class='card'><ul>"
            "<li><a href='/board'>/board</a> 大厅屏 lobby board</li>"
            "<li><a href='/metrics'>/metrics</a> Prometheus</li>"
            "<li><a href='/healthz'>/healthz</a></li>"
            "<li>ws /ws 协议 protocol v1</li></ul></div></main>")
    return _page(hall_name, body)
