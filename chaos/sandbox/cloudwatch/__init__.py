"""Amazon CloudWatch: the data plane's metrics, published with CloudWatch's lag, and alarms.

:mod:`.metrics` aggregates per period and writes into moto's CloudWatch once a datum would
be visible on AWS (embedded metric format lines included); :mod:`.alarms` evaluates the
metric alarms moto only stores.
"""
