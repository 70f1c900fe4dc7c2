"""Right to erasure: one patient's data out of every store that holds it, counted per store.

The stores: the patient's timeline events (the vector store), the conversation threads about
them (LangGraph's checkpointer, SQLite or Postgres) and the answers remembered for feedback with
the feedback given on them (``feedback.sqlite``). The audit log is append-only and hash-chained:
its records name the patient id but hold no clinical content (ids and hashes), and stay.
"""

from __future__ import annotations

from service.deps import Deps
from service.feedback import FeedbackStore

__all__ = ["erase_patient"]


def erase_patient(deps: Deps, patient_id: str) -> dict[str, int]:
    """Delete everything stored about ``patient_id``; running it again finds nothing more.

    Returns:
        ``events``, ``threads``, ``feedback_answers`` and ``feedback_records``: how many went.
    """
    from agent.checkpoints import forget_patient_threads, open_checkpointer
    from patient_index.indexer import delete_patient

    settings = deps.settings
    threads = 0
    if settings.checkpointer_url or settings.threads_db.exists():
        saver, close = open_checkpointer(settings)
        try:
            threads = forget_patient_threads(saver, patient_id)
        finally:
            close()
    feedback = {"answers": 0, "feedback": 0}
    feedback_db = settings.data_dir / "feedback.sqlite"
    if feedback_db.exists():
        store = FeedbackStore(feedback_db)
        try:
            feedback = store.forget_patient(patient_id)
        finally:
            store.close()
    events = delete_patient(deps.store, settings.patient_collection, patient_id)
    return {
        "events": events,
        "threads": threads,
        "feedback_answers": feedback["answers"],
        "feedback_records": feedback["feedback"],
    }
