"""What the features' commands (``qhall book``, ``qhall report``) share: the
hall they run against, from ``--config``/``--database``."""

from __future__ import annotations

import argparse
import dataclasses

from server.config import HallConfig, load
from server.reference import demo_config

__all__ = ["hall_config"]


def hall_config(args: argparse.Namespace) -> HallConfig:
    """The ``--config`` hall (default: the built-in demo hall), on ``--database``.

    Raises:
        ConfigError, OSError: the configuration cannot be read.
    """
    cfg = load(args.config) if args.config else demo_config()
    if args.database:
        cfg = dataclasses.replace(cfg, database=args.database)
    return cfg
