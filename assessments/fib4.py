"""FIB-4 index of liver fibrosis: age x AST / (platelets x sqrt(ALT)) (AASLD 2023, step 1).

Computed when AST (LOINC 1920-8), ALT (1742-6) and platelets (777-3, in 10^3/uL = 10^9/L) are
all on record within 12 months of ``as_of`` (and within 30 days of each other, one draw in
practice). Categories: < 1.3 low risk; >= 1.3 and <= 2.67 indeterminate (age >= 65: the
indeterminate range starts above 2.0); > 2.67 high risk (refer to hepatology).
"""

from __future__ import annotations

import math

from assessments.model import Assessment
from assessments.record import Record, point_input
from assessments.results import fmt, insufficient
from assessments.sources import SOURCES

__all__ = ["assess_fib4", "fib4", "fib4_category"]

_ID, _NAME = "fib4", "FIB-4 (AASLD 2023)"
AST_CODES, ALT_CODES, PLATELET_CODES = ("1920-8", "30239-8"), ("1742-6", "1743-4"), ("777-3", "26515-7")


def fib4(age: float, ast: float, alt: float, platelets_10e9_l: float) -> float:
    """FIB-4 from age (years), AST and ALT (U/L) and platelets (10^9/L).

    Raises:
        ValueError: when ALT or platelets are not positive.
    """
    if alt <= 0 or platelets_10e9_l <= 0:
        raise ValueError("ALT and platelets must be positive")
    return age * ast / (platelets_10e9_l * math.sqrt(alt))


def fib4_category(value: float, age: int) -> str:
    """AASLD category: low, indeterminate or high (the low cut-off is 2.0 at age >= 65)."""
    if value > 2.67:
        return "high risk"
    low_cut = 2.0 if age >= 65 else 1.3
    return "indeterminate" if value >= low_cut else "low risk"


def assess_fib4(rec: Record) -> Assessment:
    """FIB-4 from the latest AST, ALT and platelet count."""
    source = SOURCES[_ID]
    ast, alt, plt = (rec.latest(c, "liver") for c in (AST_CODES, ALT_CODES, PLATELET_CODES))
    missing = [n for n, p in (("AST", ast), ("ALT", alt), ("platelet count", plt)) if p is None]
    if missing:
        return insufficient(_ID, _NAME, source, [f"{m} (none in the last 12 months)" for m in missing])
    assert ast is not None and alt is not None and plt is not None
    days = [p.day for p in (ast, alt, plt)]
    inputs = (
        point_input("AST", ast),
        point_input("ALT", alt),
        point_input("platelets", plt),
        rec.age_input(),
    )
    if (max(days) - min(days)).days > 30:
        return insufficient(
            _ID,
            _NAME,
            source,
            ["AST, ALT and platelets drawn together"],
            inputs,
            "AST, ALT and platelets are more than 30 days apart; measure them together",
        )
    age = rec.age_at(max(days))
    if age is None or age < 18 or alt.value <= 0 or plt.value <= 0:
        return insufficient(_ID, _NAME, source, ["adult age, positive ALT and platelet count"], inputs)
    value = round(fib4(age, ast.value, alt.value, plt.value), 2)
    cat = fib4_category(value, age)
    statement = (
        f"FIB-4 {fmt(value, 2)} ({cat}): age {age}, AST {fmt(ast.value, 0)}, ALT {fmt(alt.value, 0)} U/L, "
        f"platelets {fmt(plt.value, 0)} x10^9/L on {max(days)}."
    )
    return Assessment(_ID, _NAME, cat, statement, source, inputs, (), value, "")
