"""Alerts: tell people when the data goes stale or something breaks (issue 17).

Incidents (:mod:`nkdash.alerts.incidents`): a dataset late or critical, failed loads, a failed
validation, a repair that did not converge, damage found by the lake scan, a worker that
stopped checking the schedule. Each incident sends one alert when it opens (and one if it
gets critical), one when it clears, and is re-sent only after ``NKDASH_ALERT_REPEAT_HOURS``
while it lasts; every alert is recorded in the metadata store (:mod:`nkdash.meta.alerts`) and
goes by e-mail and/or a webhook (:mod:`nkdash.alerts.channels`).

When incidents are evaluated (:func:`check`):

- every :data:`CHECK_MINUTES` minutes by a worker (the minute tick queues one ``alerts``
  task per interval, claimed so that several consumers check once);
- every :data:`CHECK_MINUTES` minutes by the web server (``nkdash serve``), because a worker
  that stopped cannot report itself;
- at once when a queued load fails (:mod:`nkdash.jobs.work`) and when a repair ends
  (:mod:`nkdash.ops.recovery`);
- by hand: ``nkdash alert check`` (for cron, without a worker), ``nkdash alert test``.

Evaluating reads the metadata store and a shallow lake scan (parquet footers); no Odoo call.
"""

from nkdash.alerts.incidents import CHECK_MINUTES, Incident, current
from nkdash.alerts.notify import CheckReport, channels, check, listing, repair_finished, send_test

__all__ = [
    "CHECK_MINUTES",
    "CheckReport",
    "Incident",
    "channels",
    "check",
    "current",
    "listing",
    "repair_finished",
    "send_test",
]
