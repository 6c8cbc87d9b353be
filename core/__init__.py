"""Domain Embedding Studio engine: plain-data functions for every pipeline step (no Streamlit)."""

__version__ = "0.1.0"
