"""Running the shop: the going-live preflight, webhook registration, backups."""
