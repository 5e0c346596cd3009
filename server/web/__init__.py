"""The server's HTTP pages: the web lobby board, the ticket status page, security headers."""
