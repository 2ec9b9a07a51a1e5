"""cloudwatch."""
