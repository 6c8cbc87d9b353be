"""Loss maths beyond sentence-transformers' own (docs/ARCHITECTURE.md, "Losses and modeling"):
nn.Module losses and their pure tensor functions, one module each: dual (dual.py: a weighted
part), clp (clp.py), soft labels (soft.py), InfoNCE pieces shared by them (_contrastive.py,
own_candidates.py). A loss takes the model in __init__, as sentence-transformers' losses do.

Nothing here builds data, loads a model or knows the trainer (tests/test_architecture.py): the
objectives that build each loss's rows and the loss for a run, and register themselves, live in
core/training/objectives/.
"""
