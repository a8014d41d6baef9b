"""Liaison domain layer."""
