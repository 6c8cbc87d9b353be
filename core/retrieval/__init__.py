"""One retrieval layer: a small interface (`base.Retriever`) and one module per backend.

- `dense.py`: exact cosine search over embeddings (torch blocks), a passage scored by its best
  window when it is longer than the model reads (`windows.py`);
- `faiss_index.py`: faiss indexes (exact, IVF, HNSW; GPUs with faiss-gpu) for large corpora;
- `bm25.py`: keyword search with `bm25s`;
- `fusion.py`: any two retrievers fused (min-max convex combination with a weight, or
  reciprocal rank fusion);
- `recipe.py`: a named retriever ("base", "bm25", "base+bm25", "RUN+bm25") and the recipe a
  run recommends (method, weight), stored with the run and shipped with its export.

Every search takes optional per-query groups: a query then sees only passages of its own group
(its syllabus, its document); the layer applies it, not the callers. Evaluation, the
Playground, mining and the round-trip filter all search through here.
"""
