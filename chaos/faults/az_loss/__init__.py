"""az_loss."""
