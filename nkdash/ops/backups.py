"""Backups and restores as results for the operations pages."""

from __future__ import annotations

from pathlib import Path

from nkdash import storage
from nkdash.errors import InputError
from nkdash.lake import Lake
from nkdash.ops.common import Result, guarded
from nkdash.settings import Settings, get_settings


@guarded("Backup")
def backup(settings: Settings | None = None) -> Result:
    settings = settings or get_settings()
    info = storage.backup(Lake(settings.lake), dest=Path(settings.state_dir) / "backups")
    return Result(True, f"Backup {info.name} taken", info.text(), value=str(info.path))


def backup_choices(settings: Settings | None = None) -> dict[str, str | None]:
    """Dropdown options: the newest backup first, then every backup by name."""
    settings = settings or get_settings()
    found = storage.list_backups(Path(settings.state_dir) / "backups")
    return {"(the newest backup)": None, **{b.name: str(b.path) for b in found if not b.problem}}


@guarded("Backups")
def backups_result(settings: Settings | None = None) -> Result:
    settings = settings or get_settings()
    found = storage.list_backups(Path(settings.state_dir) / "backups")
    return Result(
        True,
        f"{len(found)} backup(s) in {Path(settings.state_dir) / 'backups'}",
        "\n".join(b.text() for b in found) or "no backups yet",
    )


@guarded("Restore")
def restore(path: str | None, settings: Settings | None = None, *, validate_days: int = 3) -> Result:
    """Replace the lake's data and metadata with a backup (default the newest), then verify,
    scan and validate the latest restored dates against Odoo."""
    settings = settings or get_settings()
    if path is None:
        found = [b for b in storage.list_backups(Path(settings.state_dir) / "backups") if not b.problem]
        if not found:
            raise InputError("there is no backup to restore: take one first")
        path = str(found[0].path)
    report = storage.restore(path, Lake(settings.lake), settings=settings, validate_days=validate_days)
    return Result(
        report.ok, f"Restored {Path(path).name}" + ("" if report.ok else " (with problems)"), report.text(), value=path
    )


@guarded("Verify backup")
def verify_backup(path: str | None, settings: Settings | None = None) -> Result:
    settings = settings or get_settings()
    if path is None:
        found = [b for b in storage.list_backups(Path(settings.state_dir) / "backups") if not b.problem]
        if not found:
            raise InputError("there is no backup to verify: take one first")
        path = str(found[0].path)
    report = storage.verify_backup(path)
    return Result(report.ok, f"Backup {Path(path).name}: {'intact' if report.ok else 'DAMAGED'}", report.text())
