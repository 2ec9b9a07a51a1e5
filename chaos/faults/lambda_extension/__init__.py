"""lambda_extension."""
