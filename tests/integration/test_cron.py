"""The next-fire computation of schedules (daemon/cron.c, daemon/tz.c)
against an oracle nobody here wrote: python3-croniter walks the wall-clock
times an expression matches (no time zone), and zoneinfo turns each into
its instant by the rules batchd states: a wall time in a DST gap fires at
the gap's end, a repeated one at its first occurrence.

build/san/cronnext (tests/cron/cronnext.c, beside batchd) prints batchd's
fires. Thousands of random expressions (5 and 6 fields, lists, ranges,
steps, names, macros) at random instants, then instants around the DST
transitions of America/New_York, Europe/Berlin, Australia/Lord_Howe (30
minutes) and the day Pacific/Apia skipped (2011-12-30), with expressions
that fire inside the gaps and overlaps.

Vixie's day rule is batchd's: day-of-month and day-of-week combine with OR
when neither field begins with '*', else with AND. croniter decides by
whether a field covers all its values, so the oracle passes it day_or (and,
for an OR with a field that covers all, '*' for both: every day).
"""

import datetime
import os
import random
import subprocess

import pytest

croniter_mod = pytest.importorskip("croniter")
from croniter import croniter  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

UTC = datetime.timezone.utc
ZONES = ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
         "Pacific/Apia", "Etc/UTC", "Asia/Kolkata", "America/Sao_Paulo",
         "Europe/London", "Pacific/Chatham")
SEED = int(os.environ.get("CRON_SEED", "20241110"))
N_RANDOM = int(os.environ.get("CRON_CASES", "3000"))
FIRES = 5


def cronnext_path():
    b = os.environ.get("BATCHD_BIN")
    if not b:
        pytest.skip("BATCHD_BIN not set")
    p = os.path.join(os.path.dirname(b), "cronnext")
    if not os.access(p, os.X_OK):
        pytest.fail("%s missing: make %s" % (p, os.path.relpath(p)))
    return p


def batchd_fires(cases):
    """[(expr, zone, after_ms)] -> [list of FIRES ms or ('error', text)]."""
    inp = "".join("%s\t%s\t%d\t%d\n" % (e, z, t, FIRES)
                  for e, z, t in cases)
    out = subprocess.run([cronnext_path()], input=inp.encode(),
                         stdout=subprocess.PIPE, check=True,
                         timeout=600).stdout.decode().splitlines()
    assert len(out) == len(cases)
    res = []
    for line in out:
        if line.startswith("ok"):
            res.append([int(x) for x in line.split()[1:]])
        else:
            res.append(("error", line))
    return res


# ---------------------------------------------------------------- oracle

def wall(t, z):
    """The wall time (naive) of instant t (seconds) in z."""
    return datetime.datetime.fromtimestamp(t, z).replace(tzinfo=None)


def resolve(w, z):
    """The instant of wall time w: its first occurrence, or the end of the
    gap it falls in."""
    i0 = int(w.replace(tzinfo=z, fold=0).timestamp())
    if wall(i0, z) == w:
        return i0
    # In a gap: fold=0 read it with the offset before, past the gap. The
    # gap's end is the first instant whose wall time is w or later.
    lo, hi = i0 - 3 * 86400, i0
    assert wall(lo, z) < w <= wall(hi, z), (w, z)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if wall(mid, z) >= w:
            hi = mid
        else:
            lo = mid
    return hi


def croniter_args(expr):
    """(croniter expression, day_or) standing for batchd's expr."""
    if expr.startswith("@"):
        return expr, True
    f = expr.split()
    sec = f.pop(0) if len(f) == 6 else None
    both = not f[2].startswith("*") and not f[4].startswith("*")
    expanded = croniter.expand(" ".join(f))[0]  # five: 7 is Sunday
    if both and (expanded[2] == ["*"] or expanded[4] == ["*"]):
        f[2] = f[4] = "*"               # OR with all days: every day
    elif sec is not None and expanded[4] != ["*"]:
        # croniter folds day-of-week 7 into 0 only with five fields
        f[4] = ",".join(str(x) for x in expanded[4])
    if sec is not None:
        f.append(sec)                   # croniter has seconds last
    return " ".join(f), both


def month_end(t):
    """The last second of t's month."""
    first = (t.replace(day=28) + datetime.timedelta(days=4)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0)
    return first - datetime.timedelta(seconds=1)


def wall_next(cexpr, day_or, start):
    """The first wall time after start that the expression matches.

    croniter is asked a month at a time: from a day past the last valid
    value of a short month it jumps by the distance to a value the month
    lacks (from February 27 with 31 in the list, 4 days to March 3) and
    skips the first days of the next; a result past the month the search
    began in is asked again from that month's last second."""
    t = start
    for _ in range(12 * 120):
        w = croniter(cexpr, t, ret_type=datetime.datetime,
                     day_or=day_or).get_next(datetime.datetime)
        end = month_end(t + datetime.timedelta(seconds=1))
        if w <= end:
            return w
        t = end
    raise AssertionError("oracle: no fire within 120 years")


def oracle_fires(expr, zone, after_ms, n=FIRES):
    z = ZoneInfo(zone)
    cexpr, day_or = croniter_args(expr)
    out = []
    t = after_ms
    for _ in range(n):
        s = t // 1000 + 1
        w = wall(s - 1, z)              # walls after it: see cron_next()
        for _ in range(100000):
            w = wall_next(cexpr, day_or, w)
            i = resolve(w, z)
            if i >= s:
                break
        else:
            raise AssertionError("oracle found no fire")
        t = i * 1000
        out.append(t)
    return out


# ---------------------------------------------------------------- expressions

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
          "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def rand_case(rng, s):
    return "".join(c.upper() if rng.random() < 0.3 else c for c in s)


def rand_value(rng, lo, hi, names, base):
    """A value of lo..hi, named (names[v - base]) now and then."""
    v = rng.randint(lo, hi)
    if names and rng.random() < 0.3 and v - base < len(names):
        return v, rand_case(rng, names[v - base])
    return v, str(v)


def rand_item(rng, lo, hi, names, dense):
    k = rng.random()
    if k < 0.2 and dense:
        return "*"
    if k < 0.35:
        return "*/%d" % rng.randint(1, max(1, (hi - lo) // 2))
    if k < 0.6:
        return rand_value(rng, lo, hi, names, lo)[1]
    a, sa = rand_value(rng, lo, hi, names, lo)
    b, sb = rand_value(rng, a, hi, names if rng.random() < 0.5 else None,
                       lo)
    if k < 0.75:
        return "%s-%s" % (sa, sb)
    if k < 0.9:
        return "%s-%s/%d" % (sa, sb, rng.randint(1, max(1, hi - lo)))
    return "%s/%d" % (sa, rng.randint(1, max(1, hi - lo)))


def rand_field(rng, lo, hi, names=None, dense=True):
    if rng.random() < 0.35 and dense:
        return "*"
    if rng.random() < 0.7:
        return rand_item(rng, lo, hi, names, dense)
    # no bare "*" in a list: croniter counts it as a value of its own
    return ",".join(rand_item(rng, lo, hi, names, False)
                    for _ in range(rng.randint(2, 3)))


def rand_expr(rng):
    if rng.random() < 0.03:
        return rng.choice(["@yearly", "@annually", "@monthly", "@weekly",
                           "@daily", "@midnight", "@hourly"])
    f = [rand_field(rng, 0, 59), rand_field(rng, 0, 23),
         rand_field(rng, 1, 31), rand_field(rng, 1, 12, MONTHS),
         rand_field(rng, 0, 7 if rng.random() < 0.2 else 6, DAYS)]
    if rng.random() < 0.4:
        # seconds first; sparse enough that a repeated hour walks quickly
        f.insert(0, rand_field(rng, 0, 59, dense=rng.random() < 0.3))
    return " ".join(f)


def rand_instant(rng):
    # 1975-2070: zoneinfo and batchd read the same files (and footers)
    return rng.randint(157766400, 3155760000) * 1000 + rng.randint(0, 999)


def transitions(zone, y0, y1):
    """Instants (s) where zone's offset changes in years y0..y1."""
    z = ZoneInfo(zone)
    t = int(datetime.datetime(y0, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime.datetime(y1 + 1, 1, 1, tzinfo=UTC).timestamp())
    off = lambda x: datetime.datetime.fromtimestamp(x, z).utcoffset()  # noqa
    out = []
    step = 6 * 3600
    while t < end:
        if off(t) != off(t + step):
            lo, hi = t, t + step
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if off(mid) == off(t):
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
        t += step
    return out


# ---------------------------------------------------------------- tests

def compare(cases):
    got = batchd_fires(cases)
    bad = []
    for (e, z, t), g in zip(cases, got):
        try:
            want = oracle_fires(e, z, t)
        except Exception as exc:  # croniter's own limits
            if "CroniterBadDateError" in type(exc).__name__:
                continue
            raise
        if g != want:
            bad.append("%r in %s after %d: batchd %s, oracle %s" % (
                e, z, t, g, want))
    assert not bad, "%d of %d differ:\n%s" % (len(bad), len(cases),
                                              "\n".join(bad[:20]))
    return len(cases)


def test_random_expressions_and_instants():
    rng = random.Random(SEED)
    cases = [(rand_expr(rng), rng.choice(ZONES), rand_instant(rng))
             for _ in range(N_RANDOM)]
    assert compare(cases) == N_RANDOM


# Expressions that fire in and around the hours clocks change.
DST_EXPRS = ("*/15 * * * *", "30 2 * * *", "0 2 * * *", "0,30 1-3 * * *",
             "45 1 * * *", "*/20 * * * * *", "0 */30 * * * *", "0 0 * * *",
             "15 2,3 * * *", "0 1 * * sun", "59 23 * * *", "0 12 * * *",
             "*/10 0-4 * * *", "30 * * * * *", "0 0,30 2 * * *")


@pytest.mark.parametrize("zone,years", [
    ("America/New_York", (2006, 2009)),
    ("America/New_York", (2023, 2026)),
    ("Europe/Berlin", (2022, 2025)),
    ("Australia/Lord_Howe", (2021, 2024)),
    ("Pacific/Apia", (2010, 2013)),
    ("Pacific/Chatham", (2023, 2024)),
])
def test_dst_transitions(zone, years):
    rng = random.Random(SEED ^ hash(zone) & 0xffff)
    cases = []
    for tr in transitions(zone, *years):
        for e in DST_EXPRS:
            for _ in range(2):
                t = (tr + rng.randint(-4 * 3600, 2 * 3600)) * 1000
                cases.append((e, zone, t + rng.choice((0, 1, 999))))
            cases.append((e, zone, (tr - 1) * 1000))
            cases.append((e, zone, tr * 1000 - 1))
            cases.append((e, zone, tr * 1000))
    assert compare(cases) > 0


def test_apia_skipped_day():
    """Pacific/Apia went from 2011-12-29 23:59:59 -10 to 2011-12-31 00:00
    +14: the times of the 30th fire once, at the gap's end."""
    z = ZoneInfo("Pacific/Apia")
    after = int(datetime.datetime(2011, 12, 29, 13, tzinfo=z).timestamp())
    got = batchd_fires([("0 12 * * *", "Pacific/Apia", after * 1000)])[0]
    want = [datetime.datetime(2011, 12, 31, 0, tzinfo=z),    # the 30th
            datetime.datetime(2011, 12, 31, 12, tzinfo=z),
            datetime.datetime(2012, 1, 1, 12, tzinfo=z),
            datetime.datetime(2012, 1, 2, 12, tzinfo=z),
            datetime.datetime(2012, 1, 3, 12, tzinfo=z)]
    assert got == [int(w.timestamp()) * 1000 for w in want]


def test_gap_and_repeat_fire_once():
    z = ZoneInfo("America/New_York")
    # 2024-03-10: 02:00 EST -> 03:00 EDT; 02:00, 02:15, ... fire once, 03:00
    after = int(datetime.datetime(2024, 3, 10, 1, 50, tzinfo=z).timestamp())
    got = batchd_fires([("*/15 2,3 * * *", "America/New_York",
                         after * 1000)])[0]
    three = int(datetime.datetime(2024, 3, 10, 3, 0, tzinfo=z).timestamp())
    assert got[:3] == [three * 1000, (three + 900) * 1000,
                       (three + 1800) * 1000]
    # 2024-11-03: 01:30 occurs twice; it fires at the first (EDT) only
    after = int(datetime.datetime(2024, 11, 3, 0, 0, tzinfo=z).timestamp())
    got = batchd_fires([("30 1 * * *", "America/New_York",
                         after * 1000)])[0]
    first = int(datetime.datetime(2024, 11, 3, 1, 30, fold=0,
                                  tzinfo=z).timestamp())
    assert got[0] == first * 1000 and got[1] - got[0] == 86400 * 1000 + \
        3600 * 1000


@pytest.mark.parametrize("expr,message", [
    ("0 0 * * 8", "day-of-week: 8 is out of range 0-7"),
    ("60 * * * *", "minute: 60 is out of range 0-59"),
    ("* 24 * * *", "hour: 24 is out of range 0-23"),
    ("* * 0 * *", "day-of-month: 0 is out of range 1-31"),
    ("* * * 13 *", "month: 13 is out of range 1-12"),
    ("61 * * * * *", "second: 61 is out of range 0-59"),
    ("* * * foo *", "month: 'foo' is not a number or a month name"),
    ("* * * * funday", "day-of-week: 'funday' is not a number or a "
     "weekday name"),
    ("5-1 * * * *", "minute: range 5-1 goes backwards"),
    ("*/0 * * * *", "minute: step '0' is not from 1 to 60"),
    ("* * * *", "4 fields: expected 5"),
    ("1,,2 * * * *", "minute: an item of '1,,2' is empty"),
    ("@reboot", "is not one of @yearly"),
])
def test_bad_expressions(expr, message):
    got = batchd_fires([(expr, "Etc/UTC", 0)])[0]
    assert got[0] == "error" and message in got[1], got


def test_bad_zones():
    for zone, message in (("Mars/Olympus", "is not a time zone"),
                          ("../../etc/passwd", "is not a time zone name"),
                          ("right/UTC", "leap seconds"),
                          ("zone.tab", "is not a time zone")):
        got = batchd_fires([("* * * * *", zone, 0)])[0]
        if zone == "right/UTC" and not os.path.exists(
                "/usr/share/zoneinfo/right/UTC"):
            continue
        assert got[0] == "error" and message in got[1], (zone, got)
