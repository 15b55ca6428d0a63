"""Every module with background jobs, imported in one place for the worker."""
