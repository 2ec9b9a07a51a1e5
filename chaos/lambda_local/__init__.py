"""Local emulation of the Lambda Runtime and Extensions APIs."""
