import datetime as dt

import pytest

from nkdash import dates as cal
from nkdash.errors import InputError

UTC = dt.UTC
BRUSSELS = cal.timezone("Europe/Brussels")


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "zone, day, start, hours",
    [
        ("Europe/Brussels", dt.date(2024, 3, 30), utc(2024, 3, 29, 23), 24),
        ("Europe/Brussels", dt.date(2024, 3, 31), utc(2024, 3, 30, 23), 23),  # spring forward
        ("Europe/Brussels", dt.date(2024, 10, 27), utc(2024, 10, 26, 22), 25),  # fall back
        ("America/Havana", dt.date(2024, 3, 10), utc(2024, 3, 10, 5), 23),  # midnight does not exist
        ("America/Havana", dt.date(2024, 11, 3), utc(2024, 11, 3, 4), 25),  # midnight happens twice
        ("UTC", dt.date(2024, 1, 1), utc(2024, 1, 1), 24),
    ],
)
def test_day_bounds_follow_daylight_saving(zone, day, start, hours):
    begin, end = cal.day_bounds(day, cal.timezone(zone))
    assert begin == start
    assert end - begin == dt.timedelta(hours=hours)


@pytest.mark.parametrize(
    "instant, expected",
    [
        (utc(2024, 3, 30, 22, 59, 59), dt.date(2024, 3, 30)),  # 23:59:59 local
        (utc(2024, 3, 30, 23, 0, 0), dt.date(2024, 3, 31)),  # local midnight: the next day
        (utc(2024, 3, 31, 21, 59, 59), dt.date(2024, 3, 31)),
        (utc(2024, 3, 31, 22, 0, 0), dt.date(2024, 4, 1)),  # after the change: UTC+2
        (dt.datetime(2024, 3, 31, 22, 0, 0), dt.date(2024, 4, 1)),  # naive = UTC
    ],
)
def test_business_date_is_the_local_date(instant, expected):
    assert cal.business_date(instant, BRUSSELS) == expected


def test_latest_complete_is_yesterday_in_business_tz():
    just_after_local_midnight = utc(2024, 6, 30, 22, 30)  # 00:30 on 1 July in Brussels
    assert cal.today(BRUSSELS, just_after_local_midnight) == dt.date(2024, 7, 1)
    assert cal.latest_complete(BRUSSELS, just_after_local_midnight) == dt.date(2024, 6, 30)
    assert cal.latest_complete(cal.timezone(None), just_after_local_midnight) == dt.date(2024, 6, 29)


@pytest.mark.parametrize("text", ["2024-13-01", "2024-02-30", "yesterday", "2024/01/01", "20240101", "", "2024-1-1"])
def test_parse_date_rejects_malformed(text):
    with pytest.raises(InputError, match="malformed date"):
        cal.parse_date(text)


def test_parse_date():
    assert cal.parse_date("2024-02-29") == dt.date(2024, 2, 29)


def test_check_range():
    latest = dt.date(2024, 3, 31)
    assert cal.check_range(dt.date(2024, 3, 29), latest, latest=latest) == [
        dt.date(2024, 3, 29),
        dt.date(2024, 3, 30),
        dt.date(2024, 3, 31),
    ]
    with pytest.raises(InputError, match="before start"):
        cal.check_range(dt.date(2024, 3, 2), dt.date(2024, 3, 1), latest=latest)
    with pytest.raises(InputError, match="not a complete business day"):
        cal.check_range(dt.date(2024, 3, 2), dt.date(2024, 4, 1), latest=latest)
    with pytest.raises(InputError, match="at most 31"):
        cal.check_range(dt.date(2024, 1, 1), dt.date(2024, 2, 1), latest=latest, limit=cal.MAX_ASYNC_DAYS)
    assert len(cal.check_range(dt.date(2023, 4, 1), latest, latest=latest)) == cal.MAX_SYNC_DAYS


def test_format_spans():
    days = [dt.date(2024, 3, d) for d in (7, 1, 2, 3)]
    assert cal.format_spans(days) == "2024-03-01..2024-03-03, 2024-03-07"
    assert cal.format_spans([]) == "-"
