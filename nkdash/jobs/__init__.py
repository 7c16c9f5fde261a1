"""Background work on huey: the queue, the daily schedule, partition locks, task history.

The tasks (:mod:`nkdash.jobs.tasks`) are calls into :mod:`nkdash.jobs.work`; the rest of the
package is what they need around huey.

What huey 3.5 does, and how nkdash copes:

- ``crontab`` matches UTC, and local-time crontabs skip or double runs on DST days. Here one
  periodic task, ``tick``, runs every minute; the schedule is data (:data:`~nkdash.jobs.schedule.SCHEDULE`, local
  ``HH:MM`` per dataset) and :func:`~nkdash.jobs.schedule.due_slots` decides what is due at a UTC instant. A slot's
  instant is its wall time on that local date with ``fold=0``: a time skipped by the spring
  change fires as if the clock had not jumped yet (02:30 -> 03:30 summer time, same elapsed
  time after midnight, the order and spacing of the slots kept); a repeated autumn time
  fires at its first occurrence.
- Missed periodic runs are never caught up, and a restart within a minute can run one twice.
  A slot is due from its instant for 24 hours and fires once per local date: the
  ``(dataset, local date)`` claim is taken in the queue storage (``put_if_empty``), so
  downtime, restarts and several consumers fire it exactly once. The job itself loads every
  date the ETL plans (missing, failed or stale up to yesterday), so one run repairs an outage.
  Lake maintenance (:data:`~nkdash.jobs.schedule.MAINTENANCE`: the compaction of old months) has slots too, after
  the loads, fired the same way as its own task (``tick(..., jobs=...)``).
- Several consumers without ``-n`` each enqueue the periodic tasks. Every consumer here runs
  the scheduler (a lost machine loses nothing), and :meth:`~nkdash.jobs.app.Queue.read_periodic` claims each
  UTC minute in the shared storage first: one consumer enqueues the tick.
- Delivery is at most once and a killed consumer's locks stay. Every task records its owner
  (host, pid) in the task history (the metadata store's ``tasks`` table); :func:`~nkdash.jobs.history.recover`
  (run when a consumer starts) marks the tasks of dead processes ``failed`` (lost) and frees
  their locks; the partition they were writing is missing or failed, so the next daily run
  reloads it. ``huey_consumer -f`` is not used: it would free the locks of live consumers.
- One lock per dataset x date (:func:`~nkdash.jobs.locks.lock_name`) in the queue storage, holding its owner.
  A request for a partition that is being loaded is a no-op: the task finishes ``done``,
  its outcome says ``duplicate of <task>``, and a ``skipped`` run is recorded for the date.
- Profit waits for its inputs: dates whose POS or invoice partitions are not loaded yet are
  re-scheduled (:data:`~nkdash.jobs.work.INPUT_WAIT`, at most :data:`~nkdash.jobs.work.INPUT_ATTEMPTS` times), then loaded anyway
  (the ETL loads the missing inputs first, under their locks).
- SIGTERM stops a consumer at once unless ``graceful_signal="TERM"`` (``-g TERM``): then the
  tasks in hand finish first. :func:`~nkdash.jobs.worker.run_worker` and :func:`~nkdash.jobs.worker.stop_worker` use that.
- ``SqliteHuey.enqueue`` can raise ``database is locked``: :func:`~nkdash.jobs.backend.submit` waits and retries,
  then raises :class:`~nkdash.jobs.backend.QueueError`.

Tests move time with ``NKDASH_CLOCK_FILE`` (a file holding the current UTC instant) and make
the scheduler look every ``NKDASH_PERIODIC_SECONDS`` instead of 60.
"""
