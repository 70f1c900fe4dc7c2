"""``assess``: every assessment of one patient at one date, in a fixed order, each computed once.

Rules that build on others (the statin rule on the PCE, the BP treatment rule on the BP
category, the PCE and the G category) ask for them through :class:`_Run`, which computes each
id at most once per call; ``only`` restricts what is returned, not what a rule may read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import date
from typing import Any

from assessments.blood_pressure import assess_bp_category, assess_bp_treatment
from assessments.bmi import assess_bmi
from assessments.cha2ds2_vasc import assess_cha2ds2_vasc
from assessments.egfr import assess_egfr
from assessments.fib4 import assess_fib4
from assessments.glycemic import assess_glycemic
from assessments.kfre import assess_kfre
from assessments.kidney import assess_albuminuria, assess_ckd_referral, assess_ckd_stage
from assessments.model import Assessment
from assessments.news2 import assess_news2
from assessments.pce import assess_pce
from assessments.prevent import assess_prevent
from assessments.record import Record, build_record
from assessments.statin import assess_statin, clinical_ascvd
from patient_index.model import Event

__all__ = ["ASSESSMENT_IDS", "UnknownAssessmentError", "assess"]

log = logging.getLogger(__name__)


class UnknownAssessmentError(ValueError):
    """``only`` named an id that is not an assessment."""

    def __init__(self, unknown: Collection[str]) -> None:
        self.unknown = sorted(unknown)
        super().__init__(
            f"unknown assessment id(s): {', '.join(self.unknown)}; known: {', '.join(ASSESSMENT_IDS)}"
        )


class _Run:
    """One call's cache of computed assessments."""

    def __init__(self, rec: Record) -> None:
        self.rec = rec
        self.done: dict[str, Assessment] = {}

    def get(self, assessment_id: str) -> Assessment:
        if assessment_id not in self.done:
            self.done[assessment_id] = _RULES[assessment_id](self)
        return self.done[assessment_id]


_RULES: dict[str, Callable[[_Run], Assessment]] = {
    "egfr_ckd_epi_2021": lambda r: assess_egfr(r.rec),
    "ckd_stage": lambda r: assess_ckd_stage(r.rec),
    "albuminuria": lambda r: assess_albuminuria(r.rec),
    "kfre": lambda r: assess_kfre(r.rec),
    "ckd_referral": lambda r: assess_ckd_referral(r.rec),
    "ascvd_pce_10y": lambda r: assess_pce(r.rec),
    "prevent_10y": lambda r: assess_prevent(r.rec),
    "statin": lambda r: assess_statin(r.rec, r.get("ascvd_pce_10y")),
    "bp_category": lambda r: assess_bp_category(r.rec),
    "bp_treatment": lambda r: assess_bp_treatment(
        r.rec, r.get("bp_category"), r.get("ascvd_pce_10y"), r.get("ckd_stage"), clinical_ascvd(r.rec)
    ),
    "glycemic_status": lambda r: assess_glycemic(r.rec),
    "bmi_class": lambda r: assess_bmi(r.rec),
    "fib4": lambda r: assess_fib4(r.rec),
    "cha2ds2_vasc": lambda r: assess_cha2ds2_vasc(r.rec),
    "news2": lambda r: assess_news2(r.rec),
}
ASSESSMENT_IDS: tuple[str, ...] = tuple(_RULES)


def assess(
    events: Sequence[Event],
    *,
    as_of: date | None = None,
    summary: dict[str, Any] | None = None,
    only: Collection[str] | None = None,
    strict: bool = False,
) -> list[Assessment]:
    """Compute the assessments of one patient as the record stood on ``as_of``.

    Args:
        events: All timeline events of one patient (a mix of patients raises ``MixedPatientsError``).
        as_of: The day assessed; later data is ignored. Defaults to the day of the latest event.
        summary: ``patient_index.summary.build_summary`` of the same events at the same ``as_of``,
            when the caller has it; computed otherwise.
        only: Assessment ids to return (any order); all of :data:`ASSESSMENT_IDS` by default.
        strict: Refuse unknown ids in ``only`` instead of skipping them.

    Returns:
        The assessments in :data:`ASSESSMENT_IDS` order.

    Raises:
        UnknownAssessmentError: when ``only`` names an unknown id and ``strict`` is true (otherwise
            unknown ids are skipped with a warning, so a caller asking for an assessment this
            version lacks still gets the rest).
    """
    wanted = ASSESSMENT_IDS if only is None else tuple(i for i in ASSESSMENT_IDS if i in set(only))
    if only is not None and (unknown := set(only) - set(ASSESSMENT_IDS)):
        if strict:
            raise UnknownAssessmentError(unknown)
        log.warning("unknown assessment id(s) skipped: %s", ", ".join(sorted(unknown)))
    run = _Run(build_record(events, as_of=as_of, summary=summary))
    return [run.get(i) for i in wanted]
