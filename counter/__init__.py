"""qhall counter: the staff client at each window."""
