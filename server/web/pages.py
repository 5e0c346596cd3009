"""Small server-rendered HTML pages: the public ticket status page and the index.

Self-contained (inline CSS, no external assets), mobile-friendly, and with no
personal data: a ticket page shows only number, service, status, position and
estimate. Everything interpolated is escaped.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from server.wire.estimate import estimate

__all__ = ["ticket_page", "not_found_page", "index_page"]

_STATUS = {
    "waiting": ("等候中", "Waiting"),
    "called": ("请前往窗口", "Called: please go to the counter"),
    "serving": ("办理中", "Being served"),
    "done": ("已办结", "Done"),
    "no_show": ("已过号", "Missed (no-show)"),
    "cancelled": ("已取消", "Cancelled"),
}

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


def ticket_page(hall_name: str, ticket: dict[str, Any], service: dict[str, Any],
                counter_name: str | None = None, queue: dict[str, Any] | None = None,
                tz: dt.tzinfo | None = None) -> str:
    """The public status page of one ticket (refreshes itself every 15 s).

    The wait reads as on the kiosk and the printed ticket (server/wire/estimate.py);
    ``queue`` is the ticket's service queue object (its ``open_counters``).
    """
    zh, en = _STATUS.get(ticket.get("status", ""), ("", ""))
    status_cls = {"called": "called", "no_show": "gone", "cancelled": "gone"}.get(
        ticket.get("status", ""), "")
    rows = [f'<dt>状态 Status</dt><dd class="{status_cls}">{escape(zh)} '
            f'<span class="en">{escape(en)}</span></dd>']
    if ticket.get("status") == "waiting":
        ahead = ticket.get("ahead")
        if ahead is not None:
            rows.append(f"<dt>前面 Ahead</dt><dd>{int(ahead)} 人 people</dd>")
        wait = estimate(ticket, queue, tz)
        if wait is not None:
            rows.append(f"<dt>预计 Wait</dt><dd>{escape(wait.text('zh'))} "
                        f"<span class='en'>{escape(wait.text('en'))}</span></dd>")
    if ticket.get("status") in ("called", "serving") and counter_name:
        rows.append(f"<dt>窗口 Counter</dt><dd class='called'>{escape(counter_name)}</dd>")
    body = (
        f"<header>{escape(hall_name)}</header><main><div class='card'>"
        f"<div class='num' id='number'>{escape(ticket.get('number', ''))}</div>"
        f"<div class='svc'>{escape(service.get('name', ''))}"
        f"<div class='en'>{escape(service.get('name_en', ''))}</div></div>"
        f"<dl>{''.join(rows)}</dl></div>"
        "<footer>本页每 15 秒自动刷新 · This page refreshes every 15 s</footer></main>"
    )
    return _page(f"{ticket.get('number', '')} · {hall_name}", body, refresh=15)


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
