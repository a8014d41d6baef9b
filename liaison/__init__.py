"""Liaison: end-to-end encrypted cross-border liaison on the return of trafficking victims."""

__version__ = "0.1.0"
