"""Evaluation: BEIR-style retrieval metrics, base vs tuned comparison, significance, reports.

Data contracts follow BEIR (plain dicts): corpus {doc_id: {"title", "text"}}, queries
{query_id: text}, qrels {query_id: {doc_id: relevance}}, results {query_id: {doc_id: score}}.
"""
