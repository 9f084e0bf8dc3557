"""A drill's schedule (pure): when its runs are due, and the window of the one in force
(core/drills.py decides the rest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import CroniterError, croniter

from zonal_operator.api.zoneshift import ZoneShift, parse_duration

# How late after its scheduled time a run may still start.
START_DEADLINE = timedelta(seconds=60)


def schedule_error(schedule: str) -> str | None:
    """Why the operator cannot run on `schedule`; None if it can (five cron fields)."""
    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        return f"spec.schedule {schedule!r} is not a cron schedule of five fields"
    return None


def last_time(schedule: str, now: datetime) -> datetime | None:
    """The latest scheduled time at or before `now` (None: none, or not a schedule)."""
    try:
        prev: datetime = croniter(schedule, now + timedelta(microseconds=1)).get_prev(datetime)
    except (CroniterError, ValueError):
        return None
    return prev.astimezone(UTC)


def next_time(schedule: str, now: datetime) -> datetime | None:
    """The first scheduled time after `now` (None: it never comes, or not a schedule)."""
    try:
        nxt: datetime = croniter(schedule, now).get_next(datetime)
    except (CroniterError, ValueError):
        return None
    return nxt.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    scheduled: datetime
    ends: datetime


def open_window(shift: ZoneShift, now: datetime) -> Window | None:
    """The window of the drill's latest scheduled time, if `now` is in it."""
    if schedule_error(shift.schedule) is not None:
        return None
    scheduled = last_time(shift.schedule, now)
    if scheduled is None:
        return None
    ends = scheduled + parse_duration(shift.duration)
    return Window(scheduled, ends) if now < ends else None
