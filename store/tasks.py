"""Every module with background jobs, imported in one place for the worker."""

from store.registry import domain_modules

TASK_MODULES = domain_modules("tasks")
