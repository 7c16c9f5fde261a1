"""Checking the incidents and sending the alerts: one when an incident opens (or gets
critical), one when it clears, again only after ``NKDASH_ALERT_REPEAT_HOURS``."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nkdash.alerts.channels import configured, deliver
from nkdash.alerts.incidents import CHECKED, WHAT_TO_DO, Incident, Kind, current
from nkdash.errors import ConfigError
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.meta.alerts import AlertStore, Event
from nkdash.settings import Settings, get_settings

log = logging.getLogger(__name__)


LABELS: dict[str, str] = {
    "open": "{severity}",
    "escalated": "{severity}",
    "repeat": "STILL {severity}",
    "resolved": "RESOLVED",
    "test": "TEST",
}


@dataclass
class CheckReport:
    """What :func:`check` found and sent."""

    incidents: list[Incident]
    evaluated: list[Kind]
    sent: list[tuple[str, Event, dict[str, str]]] = field(default_factory=list)  # (incident, event, deliveries)

    def text(self) -> str:
        lines = [f"{len(self.incidents)} open incident(s) ({', '.join(self.evaluated) or 'nothing'} checked)"]
        lines += [f"  {i.severity:<8} {i.summary}" for i in self.incidents]
        lines += [
            f"  sent {event} {key}: " + (", ".join(f"{c} {r}" for c, r in d.items()) or "no channel configured")
            for key, event, d in self.sent
        ]
        return "\n".join(lines)


def _store(settings: Settings) -> AlertStore:
    return AlertStore(MetaStore.for_lake(Lake(settings.lake)))


def _now() -> dt.datetime:
    from nkdash.jobs import backend

    return backend.now()


def check(
    settings: Settings | None = None, *, kinds: Sequence[Kind] = CHECKED, now: dt.datetime | None = None
) -> CheckReport:
    """Evaluate the incidents of ``kinds``; send an alert for each that opened, got critical
    or is due again, and a 'resolved' one for each open incident of those kinds that cleared."""
    settings = settings or get_settings()
    now = now or _now()
    found, evaluated = current(settings, now, kinds)
    report = CheckReport(found, evaluated)
    store = _store(settings)
    repeat = dt.timedelta(hours=settings.alert_repeat_hours)
    for incident in found:
        event = store.claim(
            incident.key,
            kind=incident.kind,
            severity=incident.severity,
            summary=incident.summary,
            detail=incident.detail,
            repeat_after=repeat,
            now=now,
        )
        if event is not None:
            report.sent.append((incident.key, event, _send(settings, store, incident, event, now)))
    keys = {i.key for i in found}
    for row in store.open_incidents():
        if row["kind"] in evaluated and row["key"] not in keys and store.resolve(row["key"], now):
            cleared = Incident(row["key"], row["kind"], row["severity"], row["summary"], row["detail"] or "")
            report.sent.append((row["key"], "resolved", _send(settings, store, cleared, "resolved", now)))
    return report


def repair_finished(ok: bool, text: str, settings: Settings | None = None) -> None:
    """The repair's hook: a repair that did not converge opens the ``repair`` incident, one
    that did resolves it."""
    settings = settings or get_settings()
    store, now = _store(settings), _now()
    if ok:
        row = store.resolve("repair:lake", now)
        if row:
            cleared = Incident(row["key"], "repair", row["severity"], row["summary"], row["detail"] or "")
            _send(settings, store, cleared, "resolved", now)
        return
    first = text.strip().splitlines()
    incident = Incident("repair:lake", "repair", "warning", "A repair did not converge", "\n".join(first[-12:]))
    event = store.claim(
        incident.key,
        kind="repair",
        severity="warning",
        summary=incident.summary,
        detail=incident.detail,
        repeat_after=dt.timedelta(hours=settings.alert_repeat_hours),
        now=now,
    )
    if event is not None:
        _send(settings, store, incident, event, now)


def send_test(settings: Settings | None = None) -> dict[str, str]:
    """A test alert to every configured channel (recorded too): channel -> ``sent`` or why not.
    :class:`ConfigError` when no channel is set up."""
    settings = settings or get_settings()
    if not configured(settings):
        raise ConfigError(
            "NKDASH_ALERT_EMAIL_TO/NKDASH_ALERT_WEBHOOK_URL",
            "no alert channel is configured: set an e-mail address and NKDASH_SMTP_HOST, or a webhook URL",
        )
    subject = "[nkdash] TEST: alerts reach you"
    body = "\n".join(
        [
            "This is a test alert from nkdash: if you read it, alerts about stale data and failures reach you.",
            _footer(settings, _now()),
        ]
    )
    deliveries = deliver(settings, subject, body)
    _store(settings).record("test", "test", "warning", subject, body, deliveries)
    return deliveries


def channels(settings: Settings | None = None) -> dict[str, str]:
    """The alert channels set up (name -> where, no secret)."""
    return configured(settings or get_settings())


def message(incident: Incident, event: Event, at: dt.datetime, settings: Settings) -> tuple[str, str]:
    """The subject and the text of an alert."""
    label = LABELS[event].format(severity=incident.severity.upper())
    subject = f"[nkdash] {label}: {incident.summary}"
    lines = [incident.summary]
    if event == "resolved":
        lines = [f"Resolved: {incident.summary}", "This incident has cleared."]
    elif incident.detail:
        lines.append(incident.detail)
    if event != "resolved":
        lines.append(f"What to do: {WHAT_TO_DO[incident.kind]}")
    lines.append(_footer(settings, at))
    return subject, "\n".join(lines)


def _footer(settings: Settings, at: dt.datetime) -> str:
    return f"-- nkdash on {socket.gethostname()}, lake {Path(settings.lake).absolute()}, {at:%Y-%m-%d %H:%M} UTC"


def _send(settings: Settings, store: AlertStore, incident: Incident, event: Event, at: dt.datetime) -> dict[str, str]:
    subject, body = message(incident, event, at.astimezone(dt.UTC), settings)
    deliveries = deliver(settings, subject, body)
    store.record(incident.key, event, incident.severity, subject, body, deliveries)
    failed = {c: r for c, r in deliveries.items() if r != "sent"}
    if failed:
        log.warning("alert %s %s not delivered: %s", event, incident.key, failed)
    return deliveries


def listing(settings: Settings | None = None, limit: int = 20) -> str:
    """The open incidents and the last ``limit`` alerts, as text (``nkdash alert list``)."""
    settings = settings or get_settings()
    store = AlertStore(MetaStore.for_lake(Lake(settings.lake, read_only=True), read_only=True))
    incidents = store.open_incidents()
    lines = [f"{len(incidents)} open incident(s); channels: {', '.join(configured(settings)) or 'none configured'}"]
    lines += [f"  {i['severity']:<8} since {i['opened_at']:%Y-%m-%d %H:%M} UTC  {i['summary']}" for i in incidents]
    lines.append(f"last {limit} alert(s):")
    lines += [
        f"  {a['created_at']:%Y-%m-%d %H:%M} {a['event']:<9} {a['subject']}  "
        + ", ".join(f"{c} {r}" for c, r in (a["deliveries"] or {}).items())
        for a in store.alerts(limit=limit)
    ]
    return "\n".join(lines)
