"""Simulator outputs: CSV, JSON and a self-contained HTML page with charts.

The CSV holds one row per (service, issue hour) — the grain a planner pivots
on; the JSON holds everything (inputs, summary, staffing search); the HTML
embeds its charts as base64 PNGs (matplotlib, Agg backend), so it is one
file that opens anywhere.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from server.tools.sim.engine import TicketRecord
from server.tools.sim.search import StaffingResult
from server.tools.sim.stats import DaySummary

__all__ = ["CSV_COLUMNS", "write_csv", "write_json", "write_html", "report_dict"]

CSV_COLUMNS = ("service", "hour", "issued", "called", "served", "mean_wait_s", "p90_wait_s",
               "max_wait_s", "service_level", "on_time", "eta_mae_s", "eta_bias_s")


def write_csv(summary: DaySummary, path: str | Path) -> None:
    """Waits per service and issue hour, one row each."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for (sid, hour), ws in summary.by_service_hour.items():
            d = ws.as_dict()
            w.writerow([sid, hour, *("" if d[c] is None else d[c] for c in CSV_COLUMNS[2:])])


def report_dict(summary: DaySummary, inputs: dict[str, Any],
                staffing: StaffingResult | None, eta: dict[str, Any] | None = None,
                eta_by_service: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything as JSON-ready data.

    ``eta`` (``server.core.accuracy.compare``) gives the top-level ``"eta":
    {"qhall", "les", "previous"}`` and ``"mean_wait_min"``; per service under
    ``"eta_by_service"``.
    """
    out: dict[str, Any] = {"inputs": inputs, "summary": summary.as_dict()}
    if eta:
        out["eta"] = eta["eta"]
        out["mean_wait_min"] = eta["mean_wait_min"]
        out["eta_tickets"] = eta["n"]
    if eta_by_service:
        out["eta_by_service"] = eta_by_service
    if staffing is not None:
        out["staffing"] = {
            "counters": {str(h): n for h, n in staffing.counts.items()},
            "full": {str(h): n for h, n in staffing.full.items()},
            "reached": {str(h): ok for h, ok in staffing.reached.items()},
            "plan": {str(h): sorted(s) for h, s in sorted(staffing.plan.hours.items())},
            "trials": staffing.trials,
        }
    return out


def write_json(data: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _charts(summary: DaySummary, records: Sequence[TicketRecord],
            staffing: StaffingResult | None) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: list[tuple[str, str]] = []
    hours = list(summary.by_hour)
    labels = [f"{h:02d}" for h in hours]
    mins = [_m(summary.by_hour[h].mean_wait_s) for h in hours]
    p90 = [_m(summary.by_hour[h].p90_wait_s) for h in hours]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(labels, p90, color="#f3c27a", label="p90")
    ax.bar(labels, mins, color="#2d6cb5", label="mean")
    ax.axhline(summary.threshold_s / 60, color="#c0392b", ls="--", lw=1,
               label=f"threshold {summary.threshold_s / 60:g} min")
    ax.set_xlabel("hour of issue")
    ax.set_ylabel("wait (min)")
    ax.legend(loc="upper right")
    charts.append(("Waits by hour of issue", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(labels, [summary.by_hour[h].issued for h in hours], color="#7fb07f",
           label="tickets issued")
    ax.set_ylabel("tickets")
    ax2 = ax.twinx()
    ax2.plot(labels, [summary.hour_counters.get(h, 0) for h in hours], "o-", color="#333",
             label="counters open (mean)")
    ax2.plot(labels, [100 * summary.hour_utilisation.get(h, 0) for h in hours], "s--",
             color="#c0392b", label="utilisation %")
    if staffing is not None:
        ax2.plot(labels, [staffing.counts.get(h, 0) for h in hours], "^:", color="#8e44ad",
                 label="counters needed")
    ax2.set_ylim(bottom=0)
    ax.legend(loc="upper left")
    ax2.legend(loc="upper right")
    charts.append(("Load, counters and utilisation", _png(fig)))
    plt.close(fig)

    called = [r for r in records if r.wait is not None and r.eta_s is not None]
    if called:
        fig, ax = plt.subplots(figsize=(5, 4.5))
        xs = [r.eta_s / 60 for r in called]  # type: ignore[operator]
        ys = [r.wait / 60 for r in called]  # type: ignore[operator]
        ax.scatter(xs, ys, s=3, alpha=0.3, color="#2d6cb5")
        top = max(max(xs), max(ys), 1)
        ax.plot([0, top], [0, top], color="#c0392b", lw=1)
        ax.set_xlabel("ETA on the ticket (min)")
        ax.set_ylabel("real wait (min)")
        charts.append(("ETA printed vs real wait", _png(fig)))
        plt.close(fig)
    return charts


def _m(seconds: float) -> float:
    return 0.0 if math.isnan(seconds) else seconds / 60.0


def _fmt_min(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    return f"{seconds / 60:.1f}"


def _fmt_pct(share: float | None) -> str:
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "–"
    return f"{100 * share:.1f}%"


def write_html(summary: DaySummary, records: Sequence[TicketRecord], inputs: dict[str, Any],
               staffing: StaffingResult | None, path: str | Path, title: str) -> None:
    """One self-contained page: headline figures, charts, tables."""
    e = html.escape
    o = summary.overall
    head = [
        ("visitors", str(summary.visitors)),
        ("served", str(summary.outcomes.get("done", 0))),
        ("no-shows", str(summary.outcomes.get("no_show", 0))),
        ("unserved at closing", str(summary.outcomes.get("cancelled", 0))),
        ("mean wait", _fmt_min(o.mean_wait_s) + " min"),
        ("p90 wait", _fmt_min(o.p90_wait_s) + " min"),
        (f"service level (≤ {summary.threshold_s / 60:g} min)", _fmt_pct(o.service_level)),
        ("ETA mean abs. error", _fmt_min(o.eta_mae_s) + " min"),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>",
        "body{font:14px system-ui,'Noto Sans CJK SC',sans-serif;margin:24px;color:#222}",
        "table{border-collapse:collapse;margin:8px 0 24px}td,th{padding:3px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child"
        "{text-align:left}.kpi{display:inline-block;margin:0 18px 12px 0}.kpi b"
        "{display:block;font-size:22px;font-variant-numeric:tabular-nums}",
        "</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<p>" + e(", ".join(f"{k} {v}" for k, v in inputs.items() if k != "config")) + "</p>",
        "<div>" + "".join(f"<div class='kpi'>{e(k)}<b>{e(v)}</b></div>" for k, v in head)
        + "</div>",
    ]
    for caption, png in _charts(summary, records, staffing):
        parts.append(f"<h2>{e(caption)}</h2><img alt='{e(caption)}' "
                     f"src='data:image/png;base64,{png}'>")
    parts.append("<h2>By service</h2><table><tr><th>service</th><th>issued</th><th>served</th>"
                 "<th>mean wait (min)</th><th>p90 (min)</th><th>service level</th>"
                 "<th>ETA MAE (min)</th></tr>")
    for sid, ws in summary.by_service.items():
        parts.append(f"<tr><td>{e(sid)}</td><td>{ws.issued}</td><td>{ws.served}</td>"
                     f"<td>{_fmt_min(ws.mean_wait_s)}</td><td>{_fmt_min(ws.p90_wait_s)}</td>"
                     f"<td>{_fmt_pct(ws.service_level)}</td><td>{_fmt_min(ws.eta_mae_s)}</td></tr>")
    parts.append("</table>")
    if staffing is not None:
        parts.append("<h2>Fewest counters per hour</h2><table><tr><th>hour</th>"
                     "<th>counters</th><th>of</th><th>target reached</th></tr>")
        for h, n in staffing.counts.items():
            parts.append(f"<tr><td>{h:02d}:00</td><td>{n}</td><td>{staffing.full[h]}</td>"
                         f"<td>{'yes' if staffing.reached.get(h) else 'no (full staff)'}</td>"
                         "</tr>")
        parts.append("</table>")
    parts.append("<h2>Counter utilisation</h2><table><tr><th>counter</th><th>utilisation</th>"
                 "</tr>")
    for n, u in summary.utilisation.items():
        parts.append(f"<tr><td>{n}</td><td>{_fmt_pct(u)}</td></tr>")
    parts.append("</table></body></html>")
    Path(path).write_text("\n".join(parts), encoding="utf-8")
