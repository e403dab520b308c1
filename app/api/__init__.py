"""The HTTP layer: thin routers, one per resource, under ``/api/v1``."""
