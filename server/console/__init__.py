"""The supervisor console (``/console``): the hall manager's browser screen.

Modules, by what they hold:

* ``web.py``: :class:`Console`, the HTTP routes and the console websocket
  that ``server/serve.py`` hands ``/console...`` to;
* ``sessions.py``: login grants, the session cookie, CSRF, idle timeout;
* ``actions.py``: pause/resume/close a counter, cancel a ticket, close a
  follow-up, acknowledge an alert, each audited in the store;
* ``floor.py``: the live floor model (pure); ``alerts.py``: the alert rules (pure);
* ``console.html``: the page (inline CSS and JS, no build step).

docs/CONSOLE.md describes it for users.
"""

from __future__ import annotations

from server.console.web import Console

__all__ = ["Console"]
