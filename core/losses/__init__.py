"""Loss maths beyond sentence-transformers' own (docs/ARCHITECTURE.md, "Losses and modeling"),
one module each: dual (dual.py: weighted parts and its two datasets), clp (clp.py), soft labels
(soft.py, with the expert scoring), InfoNCE pieces shared by them (_contrastive.py,
own_candidates.py).

Nothing here knows the trainer: the objectives that build datasets and losses for a run, and
register themselves, live in core/training/objectives/.
"""
