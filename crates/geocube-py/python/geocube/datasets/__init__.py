"""Predefined datasets."""
