"""Operations: what the operations, recovery, runbook and monitoring notebooks call.

The notebooks are callers: a control's value goes in, a :class:`Result` (or a DataFrame)
comes out. Everything here is a thin layer over the library (``etl``, ``jobs``, ``lake``, ``meta``,
``storage``, ``odoo``):

- refresh a dataset now (one day, under the partition lock) or queued (up to 31 days);
- freshness, task history and queue depth as tables;
- recovery: missing, failed, stale and vanished dates per dataset, repaired in one call;
  a lake scan whose damaged partitions are quarantined and rebuilt; an Odoo check;
- the huey consumer started, stopped and restarted from a page, and the logs tailed;
- :data:`RUNBOOK`: every procedure of the old runbook, where it is done and which
  library functions it calls (``tests/test_ops.py`` resolves every name).

"Today" is the business date of :func:`nkdash.jobs.backend.now` in ``NKDASH_TZ`` (UTC when unset:
pages never ask Odoo for a timezone just to draw a table); tests move it with
``NKDASH_CLOCK_FILE`` like the queue's.

Long work takes ``progress``: a callable that wraps an iterable, e.g.
``mo.status.progress_bar`` (called as ``progress(items, title=..., completion_title=...)``).
"""
