"""A throwaway PostgreSQL cluster for tests (the class lives in server/tools/pgcluster.py,
which ``qhall chaos`` uses too)."""

from __future__ import annotations

from server.tools.pgcluster import PgCluster, find_bin_dir, unavailable

__all__ = ["PgCluster", "find_bin_dir", "unavailable"]
