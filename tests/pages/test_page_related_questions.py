"""AppTests of related questions: the Pairs page imports them, the Train page shows the mix."""

from __future__ import annotations

from core.related_questions import import_questions, imported_by_source
from tests.helpers import page_app, seed_two_documents
from tests.test_related_questions import seed_workspace_pairs, write_beir


def test_a_beir_folder_of_related_questions_is_imported_without_a_skipped_group(ws, tmp_path):
    seed_two_documents(ws)
    beir = write_beir(tmp_path / "courses")
    at = page_app(ws, "2_Pairs.py").run()
    assert not at.exception
    at.text_input(key="rq_path").set_value(str(beir))
    at.text_input(key="rq_group").set_value("course")
    at.text_area(key="rq_skip").set_value("B\n")
    at.run()
    at.button(key="rq_import").click().run()
    assert not at.exception
    assert imported_by_source(ws) == {"courses": {"pairs": 3, "questions": 2}}
    assert any("left out 1 by group" in s.value for s in at.success)
    assert any("3 imported pairs (2 real questions) from courses" in c.value for c in at.caption)


def test_train_page_shows_the_mix_before_training(ws, tmp_path):
    seed_workspace_pairs(ws)
    import_questions(ws, write_beir(tmp_path / "courses"))
    at = page_app(ws, "4_Train.py").run()
    assert not at.exception
    shown = [c.value for c in [*at.caption, *at.warning]]
    assert any(
        "2 workspace pairs + 4 imported pairs (3 real questions) from courses" in v for v in shown
    )
