"""Use cases as plain functions taking a session. They flush, never commit."""
