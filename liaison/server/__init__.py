"""Liaison server layer."""
