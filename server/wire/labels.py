"""Names shown to people for ids the wire carries: one place for server and clients.

A service's category id travels on the wire (``category`` of a service in the
welcome); the kiosk's home screen and the board's totals show it by these
labels, and the config accepts exactly these ids.
"""

from __future__ import annotations

__all__ = ["CATEGORIES", "CATEGORY_IDS"]

#: Category id -> (Chinese, English), in the order kiosk and board show them.
CATEGORIES: dict[str, tuple[str, str]] = {
    "approval": ("行政审批", "Approval"),
    "public": ("公共服务", "Public services"),
    "intermediary": ("中介服务", "Intermediary"),
}
#: The category ids a service may have.
CATEGORY_IDS: tuple[str, ...] = tuple(CATEGORIES)
