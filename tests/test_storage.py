"""nkdash.storage and the lake's compacted months: compaction, archive, temp clean-up, sizes,
backup and restore, the CLI; and (printed, not asserted) daily vs compacted query times."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from nkdash import settings as settings_module
from nkdash import storage
from nkdash.cli.main import main
from nkdash.errors import InputError
from nkdash.lake import Lake, warehouse
from nkdash.lake.layout import COMPACT_DIR, ROW_GROUP_ROWS
from nkdash.lake.months import month_index
from nkdash.meta import MetaStore
from nkdash.settings import Settings
from nkdash.storage import BackupError, archiving, backups, housekeeping

FEB = [dt.date(2024, 2, 1) + dt.timedelta(days=i) for i in range(29)]
MAR = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(31)]
APR = [dt.date(2024, 4, 1) + dt.timedelta(days=i) for i in range(10)]
DAYS = FEB + MAR + APR
TODAY = dt.date(2024, 4, 11)  # with older_than_days=10: February and March qualify, April does not
POS = "fact_pos_sales"


def fact(date: dt.date, n: int, seed: int = 1) -> pa.Table:
    """Rows of one date; ``seed`` marks the write (every row of one write carries it)."""
    return pa.table(
        {
            "date": pa.array([date] * n, pa.date32()),
            "line_id": pa.array(range(n), pa.int64()),
            "revenue": pa.array([(i * seed) % 97 / 4 for i in range(n)], pa.float64()),
            "seed": pa.array([seed] * n, pa.int64()),
            "stamp": pa.array([dt.datetime(2024, 1, 1, 12)] * n, pa.timestamp("s")),  # stored as [ms]
            "ref": pa.array([f"POS/{seed}/{i}" if i % 7 else None for i in range(n)], pa.string()),
        }
    )


def size_of(date: dt.date) -> int:
    return 0 if date.day == 4 else 40 + date.toordinal() % 60  # a day without sales too


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    lake = Lake(tmp_path_factory.mktemp("template") / "lake")
    for day in DAYS:
        lake.write_partition(POS, day, fact(day, size_of(day)))
    for day in (FEB[0], MAR[0], APR[0]):
        lake.write_partition("fact_sales", day, fact(day, 3, seed=2))
    return lake.root


@pytest.fixture
def days_lake(template: Path, tmp_path: Path) -> Lake:
    """A lake of :data:`DAYS` (a private copy: tests change it)."""
    shutil.copytree(template, tmp_path / "lake")
    return Lake(tmp_path / "lake")


def snapshot(lake: Lake, table: str = POS) -> dict:
    """Per date: (rows, checksum, content) — what must survive compaction unchanged."""
    return {
        d: (lake.info(table, d).rows, lake.info(table, d).checksum, lake.read_partition(table, d))
        for d in lake.partitions(table)
    }


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[d][:2] == b[d][:2] and a[d][2].equals(b[d][2]) for d in a)


def duckdb_counts(root: Path, table: str = POS) -> dict:
    glob = f"{root}/star-schema/{table}/**/*.parquet"
    return dict(
        duckdb.sql(
            f"select date, count(*) from read_parquet('{glob}', hive_partitioning=true) group by date"
        ).fetchall()
    )


def expected_counts(lake: Lake, table: str = POS) -> dict:
    return {d: lake.info(table, d).rows for d in lake.partitions(table) if lake.info(table, d).rows}


# ---- compaction ---------------------------------------------------------------------------------


def test_compaction_preserves_every_row_and_checksum(days_lake):
    before, files_before = snapshot(days_lake), len(days_lake.data_files(POS))
    report = storage.compact(days_lake, older_than_days=10, today=TODAY)
    assert [c.month for c in report.done if c.table == POS] == ["2024-02", "2024-03"]
    assert report.files_before == 29 + 31 + 2 and report.files_after == 4  # fact_sales: one date a month
    assert len(days_lake.data_files(POS)) == files_before - 60 + 2
    assert same(before, snapshot(days_lake))  # rows, per-date checksums, content
    assert days_lake.partitions(POS) == DAYS and days_lake.has_partition(POS, FEB[3])  # the empty day stays a partition
    assert [(f.compacted, f.first, f.last) for f in days_lake.data_files(POS, MAR[10], APR[1])] == [
        (True, MAR[0], MAR[-1]),
        (False, APR[0], APR[0]),
        (False, APR[1], APR[1]),
    ]
    month_file = days_lake.info(POS, FEB[0]).path
    assert month_file.parent.name == COMPACT_DIR and month_file.parent.parent == days_lake.month_dir(POS, 2024, 2)
    assert days_lake.scan(deep=True) == []


def test_month_file_row_groups_hold_whole_dates(tmp_path):
    lake = Lake(tmp_path / "lake")
    big = ROW_GROUP_ROWS + 5  # a date bigger than a row group: split, alone
    sizes = {FEB[0]: 9_000, FEB[1]: 9_000, FEB[2]: 20_000, FEB[3]: big, FEB[4]: 10}
    for day, n in sizes.items():
        lake.write_partition(POS, day, fact(day, n))
    [done] = storage.compact(lake, older_than_days=0, today=TODAY).done
    meta = pq.read_metadata(done.path)
    spans = [
        (g.column(0).statistics.min, g.column(0).statistics.max, g.num_rows)
        for g in (meta.row_group(i) for i in range(meta.num_row_groups))
    ]
    assert spans == [
        (FEB[0], FEB[1], 18_000),
        (FEB[2], FEB[2], 20_000),
        (FEB[3], FEB[3], ROW_GROUP_ROWS),
        (FEB[3], FEB[3], 5),
        (FEB[4], FEB[4], 10),
    ]
    fragment = ds.ParquetFileFormat().make_fragment(str(done.path), pafs.LocalFileSystem())  # stats prune
    assert [f.row_groups[0].id for f in fragment.split_by_row_group(ds.field("date") == FEB[2])] == [1]
    assert lake.read_partition(POS, FEB[3]).num_rows == big


def test_compaction_is_idempotent_and_deterministic(days_lake):
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    files = [f.path for f in days_lake.data_files(POS)]
    again = storage.compact(days_lake, older_than_days=10, today=TODAY)
    assert again.done == [] and again.planned == [] and [f.path for f in days_lake.data_files(POS)] == files
    original = fact(MAR[5], size_of(MAR[5]))
    days_lake.write_partition(POS, MAR[5], fact(MAR[5], 5, seed=9))  # out of the month file, into day=06
    days_lake.write_partition(POS, MAR[5], original)  # back as it was
    assert storage.compact(days_lake, older_than_days=10, today=TODAY).done[0].month == "2024-03"
    assert [f.path for f in days_lake.data_files(POS)] == files  # same rows -> the same month file


def test_dry_run_changes_nothing(days_lake):
    listing = sorted(days_lake.root.rglob("*"))
    report = storage.compact(days_lake.root, older_than_days=10, today=TODAY, dry_run=True)
    assert {m.name for m in report.planned} == {"2024-02", "2024-03"} and report.done == []
    assert "would compact 4 month(s)" in report.text()
    assert sorted(days_lake.root.rglob("*")) == listing


def test_write_into_a_compacted_month_replaces_exactly_that_date(days_lake):
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    before = snapshot(days_lake)
    day, other = FEB[10], FEB[11]
    info = days_lake.write_partition(POS, day, fact(day, 7, seed=5))
    assert info.path.parent == days_lake.partition_dir(POS, day)  # the new rows: a fresh daily partition
    assert days_lake.info(POS, day).checksum == info.checksum
    assert days_lake.read_partition(POS, day).equals(pq.read_table(info.path))
    assert days_lake.partitions(POS) == DAYS
    after = snapshot(days_lake)
    assert same({d: v for d, v in before.items() if d != day}, {d: v for d, v in after.items() if d != day})
    assert duckdb_counts(days_lake.root) == expected_counts(days_lake)  # no date twice, none missing
    assert days_lake.scan(deep=True) == []

    rewritten = days_lake.write_partition(POS, other, fact(other, size_of(other)))  # same rows again
    assert rewritten.checksum == before[other][1]  # the ETL's idempotency check holds
    days_lake.delete_partition(POS, FEB[12])
    assert not days_lake.has_partition(POS, FEB[12]) and days_lake.has_partition(POS, FEB[13])
    assert FEB[12] not in duckdb_counts(days_lake.root) and days_lake.scan(deep=True) == []


def test_killed_month_rewrite_is_rolled_back(days_lake, monkeypatch):
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    before = snapshot(days_lake)
    import nkdash.lake as lake_module

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if killed just before the swap

    monkeypatch.setattr(lake_module.Lake, "_swap_in", crash)
    with pytest.raises(KeyboardInterrupt):
        days_lake.write_partition(POS, FEB[2], fact(FEB[2], 3, seed=4))
    monkeypatch.undo()
    assert same(before, snapshot(days_lake)) and days_lake.scan() == []
    assert [p.name for p in (days_lake.staging_dir / POS).iterdir()] == [".lock"]


def test_month_swap_killed_between_renames_is_rolled_back(days_lake):
    """Filesystems without RENAME_EXCHANGE: killed after moving the old month aside."""
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    before = snapshot(days_lake)
    month = days_lake.month_dir(POS, 2024, 2)
    os.rename(month, days_lake.staging_dir / POS / f"2024-02.old-{time.time_ns():020d}-1-0123abcd")
    assert days_lake.scan() == [] and same(before, snapshot(days_lake))  # recovery put it back


def test_deleting_a_month_directory_by_hand_leaves_its_dates_missing(days_lake):
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    shutil.rmtree(days_lake.month_dir(POS, 2024, 3) / COMPACT_DIR)
    assert days_lake.partitions(POS) == FEB + APR and days_lake.scan() == []
    days_lake.write_partition(POS, MAR[0], fact(MAR[0], 3))  # the refresh rebuilds them, daily
    assert days_lake.read_partition(POS, MAR[0]).num_rows == 3


def test_mixed_lake_reads_the_same_everywhere(days_lake):
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    days_lake.write_partition(POS, MAR[1], fact(MAR[1], 11, seed=3))  # a daily partition in a compacted month
    expected = expected_counts(days_lake)
    assert duckdb_counts(days_lake.root) == expected
    glob = f"{days_lake.star}/{POS}/**/*.parquet"
    dup = duckdb.sql(
        f"select count(*) - count(distinct (date, line_id)), count(*) filter (where day is null), "
        f"count(*) filter (where day = 2 and month = 3) "
        f"from read_parquet('{glob}', hive_partitioning=true)"
    ).fetchall()[0]
    assert dup == (0, sum(expected.values()) - 11 - sum(v for d, v in expected.items() if d.month == 4), 11)
    table = ds.dataset(days_lake.star / POS, partitioning="hive", format="parquet").to_table()
    assert table.schema.names[-3:] == ["year", "month", "day"] and table.schema.field("day").type == pa.int32()
    counts = {r["values"]: r["counts"] for r in table["date"].value_counts().to_pylist()}
    assert counts == expected


def test_warehouse_sees_everything_and_prunes_by_date(days_lake):
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    con = warehouse.open_warehouse(days_lake)
    rows = dict(con.sql(f"select date, count(*) from {POS} group by date").fetchall())
    assert rows == expected_counts(days_lake)
    assert con.sql(f"select count(*) from {POS} where year = 2024 and month = 2 and day is null").fetchall()[0][
        0
    ] == sum(v for d, v in rows.items() if d.month == 2)
    # pruning proof: a zeroed February month file breaks only the queries that would read it
    february = days_lake.info(POS, FEB[0]).path
    february.write_bytes(bytes(february.stat().st_size))
    con = warehouse.open_warehouse(days_lake)
    assert con.execute(f"select count(*) from {POS} where date = ?", [MAR[9]]).fetchall()[0][0] == rows[MAR[9]]
    assert con.execute(f"select count(*) from {POS} where date >= ?", [APR[0]]).fetchall()[0][0] == sum(
        v for d, v in rows.items() if d >= APR[0]
    )
    with pytest.raises(duckdb.Error):
        con.execute(f"select count(*) from {POS} where date = ?", [FEB[5]]).fetchall()
    problems = days_lake.scan(deep=False)
    assert [(p.kind, p.path, p.date, p.dates) for p in problems] == [("unreadable", february, None, tuple(FEB))]
    moved = days_lake.quarantine(problems[0])  # the whole month goes; refresh rebuilds it
    assert moved.name == COMPACT_DIR and not any(days_lake.has_partition(POS, d) for d in FEB)
    assert days_lake.scan() == []


def test_doubled_date_is_reported(days_lake):
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    stray = days_lake.partition_dir(POS, FEB[6])  # a hand-made copy of a compacted date
    stray.mkdir()
    pq.write_table(fact(FEB[6], 2), stray / "part-0123456789abcdef.parquet")
    assert [(p.kind, p.date) for p in days_lake.scan(tables=[POS], deep=False)] == [("stray", FEB[6])]


def test_nightly_compaction_follows_the_setting_and_is_recorded_as_a_run(days_lake):
    settings = Settings(lake=days_lake.root, compact_after_days=10)
    report = storage.compact_old_months(settings, today=TODAY, task_id="task-1")
    assert [c.month for c in report.done if c.table == POS] == ["2024-02", "2024-03"]
    [run] = MetaStore.for_lake(days_lake).runs(dataset=storage.COMPACT_JOB)
    assert (run["trigger"], run["status"], run["task_id"], run["date"]) == ("schedule", "success", "task-1", None)
    assert run["rows"] == sum(c.rows for c in report.done) and run["bytes"] == sum(c.bytes_after for c in report.done)
    days_lake.write_partition(POS, MAR[0], fact(MAR[0], 4, seed=9))  # a late edit: daily again
    later = storage.compact_old_months(settings.with_(compact_after_days=40), today=TODAY)
    assert later.done == []  # March ended 11 days ago, not 40
    assert [c.month for c in storage.compact_old_months(settings, today=TODAY).done] == ["2024-03"]


@pytest.mark.parametrize("value, expected", [("45", 45), ("0", 0), ("-1", None), ("soon", None)])
def test_compact_after_days_setting(value, expected):
    if expected is None:
        with pytest.raises(settings_module.ConfigError, match="NKDASH_COMPACT_AFTER_DAYS"):
            settings_module.load_settings({"NKDASH_COMPACT_AFTER_DAYS": value}, env_file=None)
    else:
        assert (
            settings_module.load_settings({"NKDASH_COMPACT_AFTER_DAYS": value}, env_file=None).compact_after_days
            == expected
        )
    assert storage.DEFAULT_COMPACT_AFTER_DAYS == Settings().compact_after_days == 30


def test_compaction_beside_a_writer_rewriting_a_date_of_that_month(days_lake):
    """An ETL run reloads a February date while the nightly compaction merges February."""
    day, before = FEB[10], snapshot(days_lake)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for seed in range(2, 14):
                Lake(days_lake.root).write_partition(POS, day, fact(day, 5, seed=seed))
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    while thread.is_alive():
        storage.compact(Lake(days_lake.root), older_than_days=10, today=TODAY, tables=[POS])
    thread.join()
    assert errors == []
    assert days_lake.read_partition(POS, day)["seed"].to_pylist() == [13] * 5  # the last write won, whole
    after = snapshot(days_lake)
    assert same({d: v for d, v in before.items() if d != day}, {d: v for d, v in after.items() if d != day})
    assert duckdb_counts(days_lake.root) == expected_counts(days_lake) and days_lake.scan(deep=True) == []
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    assert [m.daily for m in days_lake.months(POS)][:2] == [0, 0]  # merged back by the next night


# ---- archive --------------------------------------------------------------------------------


def loaded_meta(lake: Lake, dates=DAYS) -> MetaStore:
    meta = MetaStore.for_lake(lake)
    for day in dates:
        meta.set_partition(
            "pos", day, status="loaded", rows=lake.info(POS, day).rows, checksum=lake.info(POS, day).checksum
        )
    return meta


def test_archive_moves_old_dates_and_freshness_does_not_flag_them(days_lake):
    meta = loaded_meta(days_lake)
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    before = snapshot(days_lake)
    cutoff = MAR[15]
    report = storage.archive(cutoff, lake=days_lake, today=TODAY, force=True)
    archived = [d for d in DAYS if d < cutoff]
    assert report.dates[POS] == archived and report.bytes_freed > 0
    assert days_lake.partitions(POS) == [d for d in DAYS if d >= cutoff]
    store = Lake(days_lake.root / archiving.ARCHIVE_DIR, read_only=True)  # an archive is a lake of months
    assert store.partitions(POS) == archived and len(store.data_files(POS)) == 2
    assert same({d: before[d] for d in archived}, snapshot(store))
    assert duckdb_counts(store.root) == dict(expected_counts(store).items())
    assert sum(duckdb_counts(store.root).values()) + sum(duckdb_counts(days_lake.root).values()) == sum(
        v[0] for v in before.values()
    )
    [fresh] = meta.freshness(["pos"], TODAY)
    assert fresh.missing == [] and fresh.last_loaded == APR[-1]
    assert meta.archived_before("pos") == cutoff
    catalog = json.loads((store.meta_dir / archiving.ARCHIVE_CATALOG).read_text())
    assert len(catalog[0]["partitions"]["pos"]) == len(archived) and catalog[0]["before"] == str(cutoff)
    # the ETL plans no reload of archived dates
    from nkdash.etl.changes import due_dates
    from nkdash.etl.datasets import Context, get

    ctx = Context(client=None, lake=days_lake, meta=meta, tz=dt.UTC)
    assert due_dates(ctx, get("pos"), APR[-1], None) == []
    assert days_lake.scan(deep=True) == [] and store.scan(deep=True) == []


def test_archive_in_two_steps_merges_the_month(days_lake):
    loaded_meta(days_lake)
    storage.archive(FEB[10], lake=days_lake, today=TODAY, force=True)
    storage.archive(MAR[1], lake=days_lake, today=TODAY, force=True)
    store = Lake(days_lake.root / archiving.ARCHIVE_DIR, read_only=True)
    assert store.partitions(POS) == FEB + MAR[:1] and len(store.data_files(POS)) == 2
    assert len(json.loads((store.meta_dir / archiving.ARCHIVE_CATALOG).read_text())) == 2


def test_archive_refuses_gaps_and_bad_destinations(days_lake, tmp_path):
    meta = loaded_meta(days_lake)
    meta.set_partition("pos", FEB[3], status="failed", error="boom")
    listing = sorted(days_lake.root.rglob("*"))
    with pytest.raises(InputError, match=r"failed or stale|missing, failed"):
        storage.archive(MAR[0], lake=days_lake, today=TODAY, force=True)
    with pytest.raises(InputError, match="inside the lake's star-schema"):
        storage.archive(
            MAR[0], lake=days_lake, dest=days_lake.star / "x", today=TODAY, allow_incomplete=True, force=True
        )
    with pytest.raises(InputError, match="future"):
        storage.archive(TODAY + dt.timedelta(days=1), lake=days_lake, today=TODAY)
    with pytest.raises(archiving.InsideRetention, match="keeps every date from 2022-01-01"):
        storage.archive(MAR[0], lake=days_lake, today=TODAY, dry_run=True, retention_years=2)
    assert sorted(days_lake.root.rglob("*")) == listing
    report = storage.archive(
        MAR[0], lake=days_lake, dest=tmp_path / "elsewhere", today=TODAY, allow_incomplete=True, force=True
    )
    assert report.dest == tmp_path / "elsewhere" and Lake(report.dest, read_only=True).partitions(POS) == FEB


# ---- temp files and sizes -------------------------------------------------------------------


def test_clean_temp_reports_what_it_removed(days_lake):
    leftover = days_lake.staging_dir / POS / f"{FEB[0]}.new-{time.time_ns():020d}-999-0123abcd"
    leftover.mkdir()
    (leftover / "part.tmp").write_bytes(b"x" * 1000)
    work = days_lake.staging_dir / "_work-999999999-0123abcd"  # a work dir whose process is gone
    work.mkdir()
    (work / "f").write_bytes(b"y" * 500)
    junk = days_lake.partition_dir(POS, MAR[0]) / ".tmp_duckdb"
    junk.write_bytes(b"z" * 10)
    os.utime(junk, (0, 0))
    report = storage.clean_temp(days_lake)
    assert sorted(report.removed) == sorted([(leftover, 1000), (work, 500), (junk, 10)])
    assert report.bytes == 1510 and "3 entries" in report.text()
    assert storage.clean_temp(days_lake).removed == []


def test_sizes_per_table(days_lake):
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    days_lake.write_whole("dim_store", pa.table({"id": [1, 2]}))
    frame = storage.sizes(days_lake).set_index("table")
    pos = frame.loc[POS]
    assert (pos.files, pos.partitions, pos.compacted_months) == (12, 70, 2)
    assert pos.rows == sum(size_of(d) for d in DAYS) and pos.oldest == FEB[0] and pos.newest == APR[-1]
    assert pos.bytes == sum(f.bytes for f in days_lake.data_files(POS)) and pos.smallest_file <= pos.largest_file
    assert frame.loc["dim_store"].rows == 2 and frame.loc["dim_store"].oldest is None
    text = housekeeping.sizes_text(storage.sizes(days_lake), housekeeping.disk_usage(days_lake))
    assert POS in text and "total" in text and "star-schema" in text


# ---- backup and restore ---------------------------------------------------------------------


def test_backup_then_restore_brings_back_a_deleted_partition(days_lake, tmp_path):
    meta = loaded_meta(days_lake)
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    before = snapshot(days_lake)
    info = storage.backup(days_lake, tmp_path / "backups")
    assert info.path.parent == tmp_path / "backups" and info.tables[POS]["dates"] == len(DAYS)
    assert [b.path for b in storage.list_backups(tmp_path / "backups")] == [info.path]
    assert storage.verify_backup(info.path).ok
    assert Lake(info.path, read_only=True).partitions(POS) == DAYS  # a backup is a readable lake
    days_lake.delete_partition(POS, APR[2])  # a daily partition
    days_lake.delete_partition(POS, FEB[20])  # a date in a month file
    meta.set_partition("pos", APR[2], status="quarantined")
    report = storage.restore(info.path, days_lake, odoo=False)
    assert report.ok, report.text()
    assert same(before, snapshot(days_lake)) and days_lake.has_partition(POS, APR[2])
    assert meta.partition("pos", APR[2])["status"] == "loaded"  # the metadata is the backup's
    assert report.previous.is_dir() and not (report.previous / POS / "year=2024/month=04/day=03").exists()
    assert "offline checks only" in report.text()


@pytest.mark.parametrize("version", [17], ids=["odoo17"])
def test_restore_validates_the_latest_dates_against_odoo(lake_copy, tmp_path):
    """The whole path on a lake loaded from the demo Odoo: backup, lose a partition and a
    compacted month, restore, verify, scan and validate against Odoo."""
    lake = Lake(lake_copy.lake)
    day = lake.partitions(POS)[-1]
    storage.compact(lake, older_than_days=0, today=day + dt.timedelta(days=1), tables=["fact_sales"])
    info = storage.backup(lake, tmp_path / "backups")
    lake.delete_partition(POS, day)
    shutil.rmtree(lake.month_dir("fact_sales", day.year, day.month))
    report = storage.restore(info.path, lake, settings=lake_copy, validate_days=4)  # 2 in a month file
    assert report.ok, report.text()
    assert [v.date for v in report.validations] == lake.partitions(POS)[-4:]
    assert all(v.ok and len(v.datasets) >= 5 for v in report.validations)
    assert lake.has_partition(POS, day) and lake.has_partition("fact_sales", day)


def test_damaged_backup_is_refused_and_nothing_is_written(days_lake, tmp_path):
    loaded_meta(days_lake)
    info = storage.backup(days_lake, tmp_path / "backups")
    days_lake.delete_partition(POS, APR[0])
    state = sorted((p, p.stat().st_size) for p in days_lake.root.rglob("*") if p.is_file())
    victim = next(info.path.rglob("part-*.parquet"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    os.unlink(victim)  # a hard link: damage the backup's copy only
    victim.write_bytes(bytes(data))
    assert not storage.verify_backup(info.path).ok
    with pytest.raises(BackupError, match="damaged, nothing restored"):
        storage.restore(info.path, days_lake, odoo=False)
    (info.path / backups.MANIFEST).write_text('{"format": "nkdash-backup/1", "files": ')
    with pytest.raises(BackupError, match="manifest is damaged"):
        storage.restore(info.path, days_lake, odoo=False)
    with pytest.raises(BackupError, match="no backup at"):
        storage.restore(tmp_path / "nope", days_lake, odoo=False)
    with pytest.raises(BackupError, match="inside the lake"):
        storage.backup(days_lake, days_lake.root / "backups")
    assert sorted((p, p.stat().st_size) for p in days_lake.root.rglob("*") if p.is_file()) == state
    assert storage.list_backups(tmp_path / "backups")[0].problem is not None


def test_backup_during_concurrent_writes_is_consistent(days_lake, tmp_path):
    """A writer rewrites partitions (every row of one write carries its seed) while backups
    are taken: each backup verifies, scans clean and holds whole writes only."""
    loaded_meta(days_lake)
    storage.compact(days_lake, older_than_days=10, today=TODAY)
    stop, errors = threading.Event(), []

    def writer():
        other, seed = Lake(days_lake.root), 100
        try:
            while not stop.is_set():
                for day in (FEB[7], MAR[4], APR[5]):  # month files and a daily partition
                    seed += 1
                    other.write_partition(POS, day, fact(day, 30 + seed % 20, seed=seed))
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        backups = [storage.backup(days_lake, tmp_path / "backups") for _ in range(3)]
    finally:
        stop.set()
        thread.join()
    assert errors == []
    for info in backups:
        assert storage.verify_backup(info.path).ok
        snap = Lake(info.path, read_only=True)
        assert snap.scan(deep=True) == [] and snap.partitions(POS) == DAYS
        for day in (FEB[7], MAR[4], APR[5]):
            assert len(set(snap.read_partition(POS, day)["seed"].to_pylist())) == 1


# ---- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def storage_cli(monkeypatch, capsys, days_lake, tmp_path):
    """``storage_cli(*argv) -> (exit code, stdout, stderr)``: the nkdash command against ``days_lake``."""
    settings = Settings(lake=days_lake.root, state_dir=tmp_path / "state")
    monkeypatch.setattr(settings_module, "_cached", settings)

    def invoke(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.mark.parametrize(
    "argv, message",
    [
        (["storage", "archive", "--before", "2024-13-01"], "--before"),
        (["storage", "archive"], "--before"),
        (["storage", "compact", "--older-than-days", "-1"], "older-than-days"),
        (["backfill", "--end-date", "2024-13-01"], "--end-date"),
        (["storage", "compact", "--table", "dim_store"], "invalid choice"),
        (["storage", "shrink"], "invalid choice"),
        (["restore", "/no/such/backup", "--yes"], "no backup at"),
        (["restore", "{lake}", "--yes"], "not an nkdash backup"),
        (["backup", "--dest", "{lake}/backups"], "inside the lake"),
        (["storage", "archive", "--before", "2024-03-01", "--dest", "{lake}/star-schema/x"], "inside the lake"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(storage_cli, days_lake, argv, message):
    listing = sorted(days_lake.root.rglob("*"))
    code, _out, err = storage_cli(*(a.format(lake=days_lake.root) for a in argv))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(days_lake.root.rglob("*")) == listing


def test_cli_storage_backup_restore(storage_cli, days_lake, tmp_path):
    loaded_meta(days_lake)
    code, out, _ = storage_cli("storage", "compact", "--older-than-days", "10", "--dry-run")
    assert code == 0 and "would compact" in out
    code, out, err = storage_cli("storage", "compact", "--older-than-days", "0", "--table", POS)
    assert code == 2 and "would compact 3 month(s)" in out and "--yes" in err  # no terminal: asked, refused
    code, out, _ = storage_cli("storage", "compact", "--older-than-days", "0", "--table", POS, "--yes")
    assert code == 0 and "compacted" in out and len(days_lake.data_files(POS)) == 3
    code, out, _ = storage_cli("storage", "sizes")
    assert code == 0 and POS in out and "fact_sales" in out
    code, out, _ = storage_cli("storage", "clean-temp")
    assert code == 0 and "up to 0 entries to remove" in out
    code, out, _ = storage_cli("backup")
    assert code == 0 and out.startswith(backups.BACKUP_PREFIX)
    code, listed, _ = storage_cli("backups")
    assert code == 0 and listed.split(":")[0] == out.split(":")[0]
    path = tmp_path / "state" / "backups" / out.split(":")[0]
    days_lake.delete_partition(POS, APR[1])
    code, out, err = storage_cli("restore", str(path))  # not confirmed (no terminal): nothing done
    assert code == 2 and "--yes" in err and not days_lake.has_partition(POS, APR[1])
    assert out.startswith(f"replace the lake's data and metadata with backup {path.name}")
    code, out, _ = storage_cli("restore", str(path), "--yes", "--validate-days", "0")
    assert code == 0 and "OK" in out and days_lake.has_partition(POS, APR[1])
    code, out, err = storage_cli("storage", "archive", "--before", str(MAR[0]))
    assert code == 2 and "refused: NKDASH_RETENTION_YEARS=2 keeps every date from" in err and out == ""
    code, out, err = storage_cli("storage", "archive", "--before", str(MAR[0]), "--force")
    assert code == 2 and "not on a terminal" in err and days_lake.partitions(POS)[0] == FEB[0]
    assert out.startswith(f"archive 30 partitions of 2 tables, {FEB[0]} … {FEB[-1]} (2,002 rows)")
    assert "INSIDE the retention" in out
    code, out, _ = storage_cli("storage", "archive", "--before", str(MAR[0]), "--force", "--yes")
    assert code == 0 and ": moved 30 partition(s)" in out


# ---- measurement (printed, not asserted) ----------------------------------------------------


@pytest.mark.slow
def test_measure_daily_vs_compacted(tmp_path):
    """Three years of a 20k-rows/day table, daily partitions then compacted: files, and the
    warehouse's 30-day and 3-year aggregates (first query in a new connection, then warm)."""
    days = int(os.environ.get("NKDASH_MEASURE_DAYS", "1096"))
    rows = int(os.environ.get("NKDASH_MEASURE_ROWS", "20000"))
    lake = Lake(tmp_path / "lake")
    first = dt.date(2022, 1, 1)
    dates = [first + dt.timedelta(days=i) for i in range(days)]
    rng = np.random.default_rng(7)
    schema = pa.schema(
        [
            ("date", pa.date32()),
            ("store_id", pa.int32()),
            ("product_id", pa.int32()),
            ("qty", pa.float64()),
            ("revenue", pa.float64()),
        ]
    )
    variants = [
        [
            pa.array(rng.integers(1, 21, rows, dtype=np.int32)),
            pa.array(rng.integers(1, 5001, rows, dtype=np.int32)),
            pa.array(rng.integers(1, 4, rows).astype(float)),
            pa.array(rng.random(rows) * 40),
        ]
        for _ in range(7)
    ]
    started = time.perf_counter()
    for i, day in enumerate(dates):  # written straight into the daily layout, as the benchmark generator does
        part = lake.partition_dir("fact_sales", day)
        part.mkdir(parents=True)
        pq.write_table(
            pa.table(
                [pa.array(np.full(rows, np.datetime64(day, "D"))).cast(pa.date32()), *variants[i % 7]], schema=schema
            ),
            part / "part-0000000000000000.parquet",
            compression="zstd",
        )
    pq.write_metadata(schema, lake.table_dir("fact_sales") / "_common_metadata")
    generated = time.perf_counter() - started
    queries = {
        "30-day by store": (
            "select store_id, sum(revenue), sum(qty) from fact_sales where date between ? and ? group by 1",
            [dates[-30], dates[-1]],
        ),
        "3-year by month": ("select date_trunc('month', date), sum(revenue) from fact_sales group by 1", None),
    }

    def timed(con: duckdb.DuckDBPyConnection, sql: str, params: list | None) -> str:
        runs = []
        for _ in range(2):
            t = time.perf_counter()
            con.execute(sql, params).fetchall()
            runs.append(time.perf_counter() - t)
        return f"first {runs[0] * 1000:.0f} ms, warm {runs[1] * 1000:.0f} ms"

    def measure(label: str) -> None:
        t = time.perf_counter()
        warehouse.open_warehouse(lake)
        listing = (time.perf_counter() - t) * 1000
        print(f"\n  {label}: {len(lake.data_files('fact_sales'))} files; warehouse views built in {listing:.0f} ms")
        glob = f"read_parquet('{lake.star}/fact_sales/**/*.parquet', hive_partitioning=true)"
        for name, (sql, params) in queries.items():
            print(
                f"    {name:<16} warehouse: {timed(warehouse.open_warehouse(lake), sql, params):<30} plain DuckDB glob: "
                f"{timed(duckdb.connect(), sql.replace('from fact_sales', f'from {glob}'), params)}"
            )

    print(f"\n[measure] {days} days x {rows} rows (generated in {generated:.1f}s)", end="")
    measure("daily    ")
    started = time.perf_counter()
    report = storage.compact(lake, older_than_days=30, today=dates[-1] + dt.timedelta(days=1))
    print(f"\n  compaction: {len(report.done)} months in {time.perf_counter() - started:.1f}s", end="")
    measure("compacted")
    day = dates[40]
    started = time.perf_counter()
    lake.write_partition("fact_sales", day, lake.read_partition("fact_sales", day))
    print(f"\n  rewrite of one date inside a compacted month: {time.perf_counter() - started:.2f}s")
    assert sum(len(month_index(f.path)) for f in lake.data_files("fact_sales") if f.compacted) > 0
