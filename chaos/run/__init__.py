"""The run lifecycle: context, preflight, start, lifecycle (phases), apply, restore, stop
conditions, events, progress, record.

Start a run with `chaos.run.start.start_run`. This package re-exports nothing: the
janitor ships `chaos.run.restore` (and what it imports) in its Lambda package, which must
not load the rest of the lifecycle.
"""
