"""chaos-gameday: chaos and resilience experiments for AWS serverless services."""

__version__ = "0.1.0"
