"""The wire vocabulary shared by server and clients (codec, errors, lifecycle, readers)."""
