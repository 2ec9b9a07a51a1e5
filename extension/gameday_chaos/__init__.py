"""Fault-injection Lambda extension (stdlib only)."""
