"""Helpers the test modules share (importable as ``_support``: ``tests`` is on pytest's path)."""
