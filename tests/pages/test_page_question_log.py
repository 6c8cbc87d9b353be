"""AppTest of a question log on the Pairs page: the log's questions become pending pairs and a
line says what happened."""

from __future__ import annotations

from core.pairs import list_pairs
from tests.helpers import page_app
from tests.test_question_log import DATA_RACE, SLICE, write_log


def test_a_question_log_becomes_pending_pairs_with_a_line_saying_what_happened(sample_ws, tmp_path):
    path = write_log(tmp_path, DATA_RACE, SLICE, DATA_RACE)
    at = page_app(sample_ws, "2_Pairs.py").run()
    assert not at.exception
    at.text_input(key="log_path").set_value(str(path)).run()
    at.button(key="log_import").click().run()
    assert not at.exception
    assert [(p["query"], p["status"], p["kind"]) for p in list_pairs(sample_ws)] == [
        (DATA_RACE, "pending", "log")
    ]
    assert any(
        "support-questions.txt: 2 questions read, 1 kept as pending pairs, 1 dropped" in s.value
        and "skipped 1 repeated lines" in s.value
        for s in at.success
    )
