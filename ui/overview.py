"""Moved to `core.overview` (the Home page's queries live in the engine); kept for callers."""

from core.overview import NextStep, next_step, overview

__all__ = ["NextStep", "next_step", "overview"]
