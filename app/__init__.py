"""copmatch: needs-and-offers matchmaking for Communities of Practice on the heat transition."""

__version__ = "1.0.0"
