"""Computable guideline logic over one patient's record: scores and recommendations.

Each assessment is a small pure function of one patient's timeline events that returns an
:class:`Assessment`: a verdict, the record entries it read (with their dates), what is missing
when it cannot decide, and the guideline passage it implements. Entry point: :func:`assess`.
"""

from assessments.engine import ASSESSMENT_IDS, UnknownAssessmentError, assess
from assessments.model import INSUFFICIENT, Assessment, Input, Source
from assessments.record import ASSESSMENT_TYPES

__all__ = [
    "ASSESSMENT_IDS",
    "ASSESSMENT_TYPES",
    "INSUFFICIENT",
    "Assessment",
    "Input",
    "Source",
    "UnknownAssessmentError",
    "assess",
]
