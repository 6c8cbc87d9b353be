"""Synthetic pairs: question writers (OpenAI-compatible or local), kinds, pseudo-queries,
filters, splits and the resumable generation pipeline (DESIGN.md section 5)."""
