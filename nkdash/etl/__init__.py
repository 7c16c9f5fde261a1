"""Extract, transform, load: dataset specs, the runner, change detection, validation, derived tables."""

from nkdash.etl.runner import RunReport, UnitResult, catch_up, plan, profit, refresh, session

__all__ = [
    "RunReport",
    "UnitResult",
    "catch_up",
    "plan",
    "profit",
    "refresh",
    "session",
]
