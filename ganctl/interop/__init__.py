"""Readers for networks trained elsewhere."""
