"""Cut the demo chapters into the question set's fixed passages and mark each question's answers.

The questions are hand-written (`queries.jsonl`: text, and in `metadata` the chapter file and
an `answer`, a span copied from the chapter). This script only does the mechanical part:

- corpus.jsonl: each chapter (`assets/samples/<document>`) cut into windows of WINDOW words
  starting every STRIDE words, the last one ending with the chapter (so consecutive passages
  share at least WINDOW - STRIDE words, and any answer of at most that many words lies whole
  in at least one passage); markdown heading marks and list bullets are dropped, whitespace
  is collapsed.
- qrels/test.tsv: for each question, every passage of its chapter that contains its answer
  span, with score 1.

Run from anywhere: `python assets/samples/questions/build.py` (writes the two files) or
`--check` (exits 1 when they differ from what the script builds, or an answer is not found).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent
WINDOW = 180
STRIDE = 140
_DROP = re.compile(r"^(#+|-)$")  # markdown heading marks and list bullets


def words(text: str) -> list[str]:
    return [w for w in text.split() if not _DROP.match(w)]


def passages(document: str) -> list[dict]:
    """The passages of one chapter, in order."""
    tokens = words((SAMPLES / document).read_text(encoding="utf-8"))
    stem = Path(document).stem
    out = []
    start = 0
    while True:
        out.append(
            {
                "_id": f"{stem}-p{len(out) + 1:02d}",
                "title": "",
                "text": " ".join(tokens[start : start + WINDOW]),
                "document": document,
            }
        )
        if start + WINDOW >= len(tokens):
            return out
        start = min(start + STRIDE, len(tokens) - WINDOW)  # the last one ends with the chapter


def load_queries(folder: Path = HERE) -> list[dict]:
    lines = (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def build(folder: Path = HERE) -> tuple[list[dict], list[tuple[str, str, int]]]:
    """(corpus rows, qrels rows) for the questions in `folder`; raises when an answer is
    found in no passage of its chapter."""
    queries = load_queries(folder)
    documents = list(dict.fromkeys(q["metadata"]["document"] for q in queries))
    corpus = [p for d in documents for p in passages(d)]
    qrels = []
    for q in queries:
        meta = q["metadata"]
        hits = [
            p["_id"]
            for p in corpus
            if p["document"] == meta["document"] and meta["answer"] in p["text"]
        ]
        if not hits:
            raise ValueError(f"{q['_id']}: answer not found in {meta['document']}")
        qrels += [(q["_id"], pid, 1) for pid in hits]
    return corpus, qrels


def render(corpus: list[dict], qrels: list[tuple[str, str, int]]) -> tuple[str, str]:
    corpus_text = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in corpus)
    qrels_text = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels)
    return corpus_text, qrels_text


def main(argv: list[str]) -> int:
    corpus_text, qrels_text = render(*build())
    corpus_path, qrels_path = HERE / "corpus.jsonl", HERE / "qrels" / "test.tsv"
    if "--check" in argv:
        same = (
            corpus_path.read_text(encoding="utf-8") == corpus_text
            and qrels_path.read_text(encoding="utf-8") == qrels_text
        )
        print("up to date" if same else "out of date: run build.py")
        return 0 if same else 1
    qrels_path.parent.mkdir(exist_ok=True)
    corpus_path.write_text(corpus_text, encoding="utf-8")
    qrels_path.write_text(qrels_text, encoding="utf-8")
    print(f"{corpus_text.count(chr(10))} passages, {qrels_text.count(chr(10)) - 1} qrels")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
