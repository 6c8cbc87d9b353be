"""Show failures as one plain sentence, never a Python traceback.

Pages wrap calls into `core/` with `with user_errors("Could not start training"):`; any
exception becomes an `st.error` with its message, and the traceback goes to the server log
(where a developer looks) instead of the browser (where a user would be confused by it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

log = logging.getLogger("embstudio.ui")


def error_text(exc: BaseException) -> str:
    """A one-line description of an exception for a user."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return message or type(exc).__name__


def show_error(what: str, exc: BaseException) -> None:
    """`what` says what failed ("Could not export"); the exception's message says why."""
    log.error("%s", what, exc_info=exc)
    st.error(f"{what}: {error_text(exc)}")


@contextmanager
def user_errors(what: str, stop: bool = False) -> Iterator[None]:
    """Turn any exception inside the block into an `st.error`; `stop=True` ends the page run."""
    try:
        yield
    except Exception as exc:  # st.stop/st.rerun are BaseExceptions and pass through
        show_error(what, exc)
        if stop:
            st.stop()
