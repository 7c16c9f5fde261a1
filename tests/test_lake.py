"""nkdash.lake: layout, atomic replacement (also under kill -9), schema rules, scan/quarantine."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import random
import signal
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from nkdash.errors import LakeError
from nkdash.lake import PARTITIONED, TABLES, WHOLE, Lake, Problem
from tests.support.lake import D1, D2, KILL_TRIALS, Writers, assert_old_or_new, checksums, dim, fact, staged


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """An empty, writable lake."""
    return Lake(tmp_path / "lake")


# ---- roundtrip and replacement -------------------------------------------------------------


def test_write_read_roundtrip(lake):
    info = lake.write_partition("fact_pos_sales", D1, fact(D1))
    assert info.rows == 100 and info.bytes == info.path.stat().st_size
    assert info.path.parent == lake.star / "fact_pos_sales/year=2024/month=03/day=01"
    assert info.path.name == f"part-{info.checksum[:16]}.parquet"
    assert lake.read_partition("fact_pos_sales", D1).equals(fact(D1))
    assert lake.partitions("fact_pos_sales") == [D1]
    assert lake.has_partition("fact_pos_sales", D1) and not lake.has_partition("fact_pos_sales", D2)
    assert list(lake.partition_files("fact_pos_sales")) == [("fact_pos_sales", D1, info.path, info.bytes)]
    assert lake.info("fact_pos_sales", D1) == info


def test_file_layout_settings(lake):
    info = lake.write_partition("fact_pos_sales", D1, fact(D1, n=200_000))
    meta = pq.read_metadata(info.path)
    assert meta.num_row_groups == 2  # 128k-row groups
    column = meta.row_group(0).column(0)
    assert column.compression == "ZSTD" and column.statistics.has_min_max
    assert pq.read_schema(info.path).names == ["date", "line_id", "revenue", "ref"]  # no year/month/day


def test_rewrite_replaces_and_checksum_follows_content(lake):
    first = lake.write_partition("fact_pos_sales", D1, fact(D1))
    same = lake.write_partition("fact_pos_sales", D1, fact(D1))
    other = lake.write_partition("fact_pos_sales", D1, fact(D1, seed=2))
    assert first.checksum == same.checksum != other.checksum
    assert [f for *_, f, _ in lake.partition_files()] == [other.path]
    assert lake.read_partition("fact_pos_sales", D1).num_rows == 100
    assert staged(lake) == []


def test_checksum_ignores_chunking_and_table_metadata(lake):
    data = fact(D1, n=1000)
    rechunked = pa.Table.from_batches(data.to_batches(max_chunksize=77))
    with_meta = data.replace_schema_metadata({"pandas": "{}"})
    checksums = {lake.write_partition("fact_pos_sales", D1, t).checksum for t in (data, rechunked, with_meta)}
    assert len(checksums) == 1


def test_whole_table_roundtrip(lake):
    first = lake.write_whole("dim_product", dim())
    second = lake.write_whole("dim_product", dim(20))
    assert first.date is None and first.path.parent == lake.star / "dim_product"
    assert lake.read_whole("dim_product").num_rows == 20
    assert [f.name for f in (lake.star / "dim_product").iterdir()] == [second.path.name]
    assert lake.schema("dim_product") == dim().schema


def test_locate_finds_the_dates_holding_ids_in_daily_and_compacted_files(lake):
    second = fact(D2, 50).set_column(1, "line_id", pa.array(range(100, 150), pa.int64()))
    lake.write_partition("fact_pos_sales", D1, fact(D1, 100))
    lake.write_partition("fact_pos_sales", D2, second)
    for _ in ("daily", "compacted"):
        assert lake.locate("fact_pos_sales", "line_id", [5]) == {D1}
        assert lake.locate("fact_pos_sales", "line_id", [120, 7, 999]) == {D1, D2}
        assert lake.locate("fact_pos_sales", "line_id", [999, 100_000]) == set()
        assert lake.locate("fact_pos_sales", "line_id", []) == set()
        assert lake.locate("fact_pos_sales", "no_such_column", [5]) == set()
        lake.compact_month("fact_pos_sales", 2024, 3)
    assert [m.compacted for m in lake.months("fact_pos_sales")] == [True]


def test_delete_partition(lake):
    lake.write_partition("fact_pos_sales", D1, fact(D1))
    lake.delete_partition("fact_pos_sales", D1)
    lake.delete_partition("fact_pos_sales", D1)  # idempotent
    assert lake.partitions("fact_pos_sales") == [] and staged(lake) == []
    assert lake.schema("fact_pos_sales") is not None  # empty tables keep their schema


# ---- refusals ------------------------------------------------------------------------------


def test_schema_mismatch_refused_and_leaves_nothing_behind(lake):
    lake.write_partition("fact_pos_sales", D1, fact(D1))
    changed = fact(D2).append_column("extra", pa.array([1] * 100))
    with pytest.raises(LakeError, match=r"schema differs(.|\n)*\+ extra: int64"):
        lake.write_partition("fact_pos_sales", D2, changed)
    assert lake.partitions("fact_pos_sales") == [D1] and staged(lake) == []
    lake.write_partition("fact_pos_sales", D2, changed, allow_schema_change=True)
    assert "extra" in lake.schema("fact_pos_sales").names


def test_a_column_added_to_the_contract_widens_the_table_and_old_partitions_stay_sound(lake):
    """``allow_schema_change="widen"`` (what the ETL passes): nullable columns added at the end
    become the table's schema; partitions written before keep theirs, the scan accepts them,
    readers see nulls, and compaction merges both schemas."""
    days = [dt.date(2024, 3, d) for d in (1, 2, 3)]
    lake.write_partition("fact_pos_sales", days[0], fact(days[0]))
    wider = fact(days[1]).append_column("local_hour", pa.array([7] * 100, pa.int8()))
    with pytest.raises(LakeError, match="schema differs"):
        lake.write_partition("fact_pos_sales", days[1], wider.drop_columns(["ref"]), allow_schema_change="widen")
    lake.write_partition("fact_pos_sales", days[1], wider, allow_schema_change="widen")
    assert lake.schema("fact_pos_sales").names[-1] == "local_hour"
    assert lake.scan() == []
    whole = ds.dataset(lake.star / "fact_pos_sales", schema=lake.schema("fact_pos_sales"), partitioning="hive")
    hours = whole.to_table(columns=["date", "local_hour"]).group_by("date").aggregate([("local_hour", "count")])
    assert dict(zip(hours["date"].to_pylist(), hours["local_hour_count"].to_pylist())) == {days[0]: 0, days[1]: 100}
    lake.write_partition("fact_pos_sales", days[2], fact(days[2]), allow_schema_change="widen")  # an older writer
    assert lake.compact_month("fact_pos_sales", 2024, 3) is not None
    assert lake.read_partition("fact_pos_sales", days[0])["local_hour"].null_count == 100
    assert lake.read_partition("fact_pos_sales", days[1])["local_hour"].to_pylist() == [7] * 100
    assert lake.scan(deep=True) == []


def test_whole_table_schema_change_refused(lake):
    lake.write_whole("dim_store", dim())
    with pytest.raises(LakeError, match="schema differs"):
        lake.write_whole("dim_store", dim().drop_columns(["name"]))
    assert lake.read_whole("dim_store").equals(dim())


@pytest.mark.parametrize(
    "call",
    [
        lambda lk: lk.write_partition("fact_nope", D1, fact(D1)),
        lambda lk: lk.read_partition("../etc", D1),
        lambda lk: lk.partitions("dim_product"),
        lambda lk: lk.write_whole("fact_sales", dim()),
        lambda lk: lk.read_whole("fact_sales"),
        lambda lk: lk.write_partition("fact_sales", dt.datetime(2024, 3, 1), fact(D1)),
        lambda lk: lk.write_partition("fact_sales", D1, fact(D2)),
        lambda lk: lk.write_partition("fact_sales", D1, fact(D1).drop_columns(["date"])),
        lambda lk: lk.write_partition("fact_sales", D1, fact(D1).append_column("year", pa.array([2024] * 100))),
        lambda lk: lk.write_partition("fact_sales", D1, fact(D1).to_pandas()),
        lambda lk: lk.scan(["star-schema"]),
    ],
    ids=[
        "unknown-table",
        "path-table",
        "dim-as-fact",
        "fact-as-dim",
        "read-fact-as-dim",
        "datetime",
        "date-values",
        "no-date",
        "hive-column",
        "not-arrow",
        "scan-unknown",
    ],
)
def test_bad_input_refused(lake, call):
    with pytest.raises(LakeError):
        call(lake)


@pytest.mark.parametrize(
    "call",
    [
        lambda lk: lk.write_partition("fact_sales", D1, fact(D1)),
        lambda lk: lk.write_whole("dim_store", dim()),
        lambda lk: lk.delete_partition("fact_sales", D1),
        lambda lk: lk.quarantine(lk.partition_dir("fact_sales", D1)),
        lambda lk: lk.clean_temp(),
    ],
    ids=["write", "write-whole", "delete", "quarantine", "clean-temp"],
)
def test_read_only_refuses_writes(tmp_path, call):
    Lake(tmp_path).write_partition("fact_sales", D1, fact(D1))
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(LakeError, match="read-only"):
        call(Lake(tmp_path, read_only=True))
    assert sorted(tmp_path.rglob("*")) == before


def test_read_only_lake_creates_nothing(tmp_path):
    lake = Lake(tmp_path / "absent", read_only=True)
    assert lake.partitions("fact_sales") == [] and lake.scan() == [] and lake.schema("fact_sales") is None
    assert not (tmp_path / "absent").exists()


# ---- interoperability ----------------------------------------------------------------------


def leave_debris(lake: Lake, table: str = "fact_pos_sales") -> None:
    """What a killed writer leaves: complete new and old copies in staging."""
    source = Lake(lake.root.with_name("debris-source"))
    for kind, date in (("new", D1), ("old", D2)):
        written = source.write_partition(table, date, fact(date, 7)).path.parent
        os.rename(written, lake.staging_dir / table / f"{date}.{kind}-{time.time_ns():020d}-1-deadbeef")


def test_hive_layout_readable_without_nkdash(lake):
    for date in (D1, D2):
        lake.write_partition("fact_pos_sales", date, fact(date))
    leave_debris(lake)
    table_dir = lake.table_dir("fact_pos_sales")
    rows = duckdb.sql(f"""select year, month, day, count(*) from read_parquet('{lake.star}/**/*.parquet',
                          hive_partitioning=true) group by all order by all""").fetchall()
    assert rows == [(2024, "03", "01", 100), (2024, "03", "02", 100)]  # DuckDB keeps zero-padded keys as text
    dataset = ds.dataset(table_dir, format="parquet", partitioning="hive")
    assert dataset.count_rows() == 200 and {"year", "month", "day", "date"} <= set(dataset.schema.names)


# ---- atomicity under kill -9 ----------------------------------------------------------------


@pytest.fixture
def writers(tmp_path):
    helper = Writers(tmp_path)
    yield helper
    helper.close()


@pytest.mark.parametrize("mode,start", [("exchange", "present"), ("fallback", "present"), ("exchange", "absent")])
def test_kill_before_every_filesystem_call_of_a_write(tmp_path, writers, mode, start):
    """Deterministic: SIGKILL the writer just before its 1st, 2nd, ... filesystem call."""
    rows = 1000
    known = checksums(tmp_path, rows)

    def fresh_root(name: str) -> Path:
        if start == "present":
            Lake(tmp_path / name).write_partition("fact_pos_sales", D1, fact(D1, rows, 1))
        return tmp_path / name

    writers.start(fresh_root("probe"), mode, rows, crash_at=10**6)
    total = int(writers.expect("calls"))
    assert not writers.killed() and total >= 6
    for crash_at in range(1, total + 1):
        root = fresh_root(f"crash{crash_at}")
        writers.start(root, mode, rows, crash_at)
        assert writers.killed(), f"call {crash_at} of {total}"
        assert_old_or_new(root, known, may_be_missing=start == "absent", rows=rows)


def test_random_kills_during_rewrites(tmp_path, writers):
    """A writer alternating two versions is SIGKILLed at random moments (NKDASH_KILL_TRIALS)."""
    rows = 20_000
    known = checksums(tmp_path, rows)
    root = tmp_path / "lake"
    Lake(root).write_partition("fact_pos_sales", D1, fact(D1, rows, 2))
    started = time.perf_counter()
    Lake(root).write_partition("fact_pos_sales", D1, fact(D1, rows, 1))
    one_write = time.perf_counter() - started
    rng = random.Random(os.environ.get("NKDASH_KILL_SEED", "7"))
    for trial in range(KILL_TRIALS):
        pid = writers.start(root, "exchange" if trial % 2 else "fallback", rows)
        writers.expect("ready")
        time.sleep(rng.uniform(0, 4 * one_write))
        os.kill(pid, signal.SIGKILL)
        assert writers.killed()
        assert_old_or_new(root, known, may_be_missing=False, rows=rows)


# ---- recovery, scan, quarantine, clean-up -----------------------------------------------------


def test_killed_swap_is_rolled_back(lake):
    """State between the two renames of the fallback swap: final missing, .old and .new staged."""
    good = lake.write_partition("fact_pos_sales", D1, fact(D1))
    staging = lake.staging_dir / "fact_pos_sales"
    os.rename(good.path.parent, staging / f"{D1}.old-{time.time_ns():020d}-1-0000abcd")
    leave_debris(lake)  # a complete .new for D1 and an older .old for D2
    assert lake.scan() == []
    assert lake.partitions("fact_pos_sales") == [D1, D2]
    assert lake.info("fact_pos_sales", D1).checksum == good.checksum
    assert staged(lake) == []


def corrupt(lake: Lake) -> dict[str, Path]:
    """One healthy partition and one per kind of damage; returns the damaged files/dirs."""
    days = {
        name: dt.date(2024, 4, i)
        for i, name in enumerate(["ok", "truncated", "zeroed", "flipped", "deleted", "schema", "doubled"], start=1)
    }
    paths = {name: lake.write_partition("fact_sales", day, fact(day)).path for name, day in days.items()}
    paths["truncated"].write_bytes(paths["truncated"].read_bytes()[:-100])
    paths["zeroed"].write_bytes(bytes(paths["zeroed"].stat().st_size))
    data = bytearray(paths["flipped"].read_bytes())
    data[200] ^= 0xFF
    paths["flipped"].write_bytes(bytes(data))
    paths["deleted"].unlink()
    paths["deleted"] = paths["deleted"].parent
    wrong = fact(days["schema"]).drop_columns(["revenue"])  # (without the last column it would be an older, sound file)
    paths["schema"] = lake.write_partition("fact_sales", days["schema"], wrong, allow_schema_change=True).path
    # back to the real schema
    lake.write_partition("fact_sales", days["ok"], fact(days["ok"]), allow_schema_change=True)
    pq.write_table(fact(days["doubled"]), paths["doubled"].parent / "part-copy.parquet")
    paths["doubled"] = paths["doubled"].parent
    (lake.table_dir("fact_sales") / "year=2024" / ".month=04.tmp").mkdir()
    paths["temp"] = lake.table_dir("fact_sales") / "year=2024" / ".month=04.tmp"
    return paths


def test_scan_finds_each_kind_of_damage(lake):
    paths = corrupt(lake)
    found = {(p.kind, p.path) for p in lake.scan(["fact_sales"])}
    assert found == {
        ("unreadable", paths["truncated"]),
        ("unreadable", paths["zeroed"]),
        ("checksum", paths["flipped"]),
        ("empty", paths["deleted"]),
        ("schema", paths["schema"]),
        ("stray", paths["doubled"]),
        ("temp", paths["temp"]),
    }
    shallow = {p.kind for p in lake.scan(["fact_sales"], deep=False)}
    assert "checksum" not in shallow and "unreadable" in shallow


def test_quarantine_moves_bad_partitions_out(lake):
    paths = corrupt(lake)
    for problem in lake.scan(["fact_sales"]):
        if problem.kind != "temp":
            moved = lake.quarantine(problem)
            assert moved.is_relative_to(lake.quarantine_dir / "fact_sales") and moved.exists()
    assert lake.partitions("fact_sales") == [dt.date(2024, 4, 1)]
    assert {p.kind for p in lake.scan(["fact_sales"])} == {"temp"}
    assert not paths["truncated"].parent.exists()
    with pytest.raises(LakeError):
        lake.quarantine(lake.root / "elsewhere")


def test_quarantine_whole_table(lake):
    lake.write_whole("dim_partner", dim())
    (lake.table_dir("dim_partner") / "junk.txt").write_text("x")
    [problem] = lake.scan(["dim_partner"])
    assert problem == Problem("dim_partner", None, lake.table_dir("dim_partner") / "junk.txt", "stray", problem.detail)
    lake.quarantine(problem)
    assert not lake.table_dir("dim_partner").exists()


def test_read_only_scan_reports_debris_and_writable_scan_recovers(lake):
    lake.write_partition("fact_pos_sales", D1, fact(D1))
    leave_debris(lake)
    reported = Lake(lake.root, read_only=True).scan(["fact_pos_sales"])
    assert [p.kind for p in reported] == ["temp", "temp"]
    assert lake.scan(["fact_pos_sales"]) == [] and staged(lake) == []
    assert lake.partitions("fact_pos_sales") == [D1, D2]  # the .old of D2 was the last committed copy


def test_read_only_scan_ignores_a_write_in_progress(lake):
    lake.write_partition("fact_pos_sales", D1, fact(D1))
    leave_debris(lake)
    lock = os.open(lake.staging_dir / "fact_pos_sales" / ".lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a writer in another process would
        assert Lake(lake.root, read_only=True).scan(["fact_pos_sales"]) == []
        assert lake.clean_temp() == [] and len(staged(lake)) == 2  # recovery waits for the writer
    finally:
        os.close(lock)
    assert len(Lake(lake.root, read_only=True).scan(["fact_pos_sales"])) == 2


def test_scan_can_be_limited_to_dates(lake):
    paths = corrupt(lake)
    assert lake.scan(["fact_sales"], dates=[dt.date(2024, 4, 1)]) == [
        p for p in lake.scan(["fact_sales"]) if p.kind == "temp"
    ]  # table-level debris always reported
    [problem] = [p for p in lake.scan(["fact_sales"], dates=[dt.date(2024, 4, 3)]) if p.kind != "temp"]
    assert problem.path == paths["zeroed"]


def test_clean_temp_respects_age_for_foreign_temp_files(lake):
    lake.write_partition("fact_pos_sales", D1, fact(D1))
    leave_debris(lake)
    partition = lake.partition_dir("fact_pos_sales", D1)
    old, young = partition / "tmp_part.parquet", partition / ".part.parquet.crc"
    old.write_bytes(b"x")
    young.write_bytes(b"x")
    os.utime(old, (time.time() - 7200,) * 2)
    removed = lake.clean_temp(older_than_s=3600)
    assert old in removed and young not in removed and young.exists()
    assert staged(lake) == []


def test_tables_constant():
    assert set(TABLES) == set(PARTITIONED) | set(WHOLE) and len(TABLES) == 18
