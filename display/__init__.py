"""qhall display: lobby board, counter display, rating pad and voice announcer."""
