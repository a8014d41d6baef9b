"""Liaison client layer."""
