"""A toy fault kind, registered only by the test that uses it: proves that a kind is one
folder plus one registry line (docs/writing-a-fault-kind.md)."""
