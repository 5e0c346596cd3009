"""The discrete-event hall day behind ``qhall simulate``: arrivals, staffing, the real core in virtual time."""
