"""The one error of speech making."""

from __future__ import annotations

__all__ = ["VoiceError"]


class VoiceError(RuntimeError):
    """Speech could not be made; the message says why and what to do."""
