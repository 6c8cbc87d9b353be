"""Changes to a model's architecture, each applied in one place for training, loading and export.

- `moe.py`: the mixture-of-experts option (`MoESettings`, `apply_moe`, `convert_to_moe`).
- `bert_moe.py`: the MoE encoder class itself, self-contained (shipped inside every saved MoE
  model); importing it registers the `bert_moe` model type with transformers.
"""
