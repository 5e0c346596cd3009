"""qhall dispatch server: core, store, wire protocol, I/O, configuration and CLI."""
