"""The `gameday` commands, one module per command group (see chaos.cli.parser)."""
