"""The discrete-event hall day behind ``qhall simulate`` (the real core, virtual time)."""
