"""Alerts from the command line: ``nkdash alert test|check|list`` (:mod:`nkdash.alerts`)."""

from __future__ import annotations

import argparse

from nkdash.cli.main import command

ALERT_ACTIONS = ("test", "check", "list")


def _alert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        choices=ALERT_ACTIONS,
        help="test: send a test alert to every channel; check: evaluate the incidents now and send what is due "
        "(for cron without a worker); list: the open incidents and the last alerts",
    )


@command("alert", "alerts: send a test alert, check the incidents now, list them", _alert_args)
def alert_command(args: argparse.Namespace) -> int:
    from nkdash import alerts

    if args.action == "test":
        deliveries = alerts.send_test()
        print("\n".join(f"{channel}: {result}" for channel, result in deliveries.items()))
        return 0 if all(r == "sent" for r in deliveries.values()) else 1
    if args.action == "check":
        print(alerts.check().text())
        return 0
    print(alerts.listing())
    return 0
