"""Chimes and cached announcement audio, all made by us (see sounds/README.md)."""

from pathlib import Path

DIR = Path(__file__).resolve().parent
