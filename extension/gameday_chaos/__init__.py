"""The toolkit's side of the fault-injection extension: its config (stdlib only) and the
layer's packaged files (the Go binaries built from ``extension/*.go`` and the wrapper)."""
