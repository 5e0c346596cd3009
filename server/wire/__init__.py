"""The wire vocabulary shared by server and clients: protocol codec, errors, lifecycle, readers, clock, labels."""
