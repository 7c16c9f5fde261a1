"""The design's huey entry point, ``huey_consumer tasks.huey``: the instance and its tasks
live in :mod:`nkdash.jobs.tasks`; this module only re-exports them."""

from nkdash.jobs.tasks import compact, daily, huey, reconcile, refresh_partition, tick

__all__ = ["compact", "daily", "huey", "reconcile", "refresh_partition", "tick"]
