"""Liaison store layer."""
