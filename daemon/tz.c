/*
 * tz.c: IANA time zones, read from the system's tzdata (TZif files, RFC
 * 8536), for schedules: the UTC offset at an instant, and the instant of
 * a wall-clock time.
 *
 * A zone is its transitions (instant, offset from then on) from the
 * file's 64-bit block, then those its footer's POSIX TZ rule makes for
 * each year up to TZ_LAST_YEAR, and the offset before the first. Both
 * lookups are binary searches; nothing here depends on the process's TZ
 * or on localtime(3), which are process-global and slow.
 *
 * A wall time that does not exist (in a gap, as 02:30 on the day clocks
 * go from 02:00 to 03:00) resolves to the first instant after the gap;
 * one that occurs twice (as 01:30 on the day clocks go back from 02:00 to
 * 01:00) to its first occurrence: the first instant whose wall time is at
 * or past it (tz_resolve()).
 *
 * Zones are loaded once and kept (tz_get()); there are a few hundred at
 * most. Times are seconds since the epoch; "wall" seconds are a wall time
 * read as if it were UTC. Loop thread only (and the cronnext test tool).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

#define TZ_NAME_MAX	128
#define TZ_FILE_MAX	(256 * 1024)
#define TZ_LAST_YEAR	2400	/* the footer's rule is applied up to it */
#define OFF_MAX		(26 * 3600)	/* |offset| at most (RFC 8536: <25h) */
#define DAY		86400

struct tz {
	char		*name;
	int64_t		*at;		/* transitions, ascending */
	int32_t		*off;		/* offset from at[i] on */
	size_t		 n, cap;
	int32_t		 off0;		/* before at[0] */
	struct tz	*next;
};

/* Where the zones are; replaced by tests. */
const char	*tz_dir = "/usr/share/zoneinfo";

static struct tz	*zones;

/* ------------------------------------------------------------ calendar */

/* Days since 1970-01-01 of y-m-d (proleptic Gregorian; H. Hinnant). */
int64_t
tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t		era;
	unsigned	yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* y-m-d of days since 1970-01-01. */
void
tz_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t		era;
	unsigned	doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* 0 (Sunday) to 6 of days since 1970-01-01 (a Thursday). */
int
tz_weekday(int64_t days)
{
	int64_t	w = (days + 4) % 7;

	return (int)(w < 0 ? w + 7 : w);
}

static int
leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days of month m of year y. */
unsigned
tz_month_days(int64_t y, unsigned m)
{
	static const unsigned	n[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
				    31, 30, 31 };

	return m == 2 && leap(y) ? 29 : n[m - 1];
}

/* ------------------------------------------------------------ POSIX rules */

/* One change of a POSIX TZ rule: its day (J, plain or M) and time. */
struct rule {
	char		 kind;		/* 'J', 'D' (plain n), 'M' */
	int		 a, b, c;	/* J: day; D: day; M: month, week, wday */
	int32_t		 secs;		/* local time of day, may be < 0 or > 24h */
};

/* A POSIX TZ string: std offset [dst [offset] [,start[/time],end[/time]]]. */
struct posix {
	int32_t		 std, dst;	/* seconds east of UTC */
	int		 has_dst;
	struct rule	 start, end;
};

/* A zone name: alphabetic, or quoted in <>. */
static const char *
p_name(const char *p)
{
	const char	*s = p;

	if (*p == '<') {
		while (*++p != '>')
			if (*p == '\0')
				return NULL;
		return p + 1;
	}
	while (isalpha((unsigned char)*p))
		p++;
	return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]], hh at most maxh, into *secs; the end, or NULL. */
static const char *
p_time(const char *p, int maxh, int32_t *secs)
{
	long	h, m = 0, s = 0;
	int	sign = 1;
	char	*end;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!isdigit((unsigned char)*p))
		return NULL;
	h = strtol(p, &end, 10);
	p = end;
	if (*p == ':') {
		if (!isdigit((unsigned char)*++p))
			return NULL;
		m = strtol(p, &end, 10);
		p = end;
		if (*p == ':') {
			if (!isdigit((unsigned char)*++p))
				return NULL;
			s = strtol(p, &end, 10);
			p = end;
		}
	}
	if (h > maxh || m > 59 || s > 59)
		return NULL;
	*secs = (int32_t)(sign * (h * 3600 + m * 60 + s));
	return p;
}

/* A rule's date and optional /time. */
static const char *
p_rule(const char *p, struct rule *r)
{
	char	*end;

	r->secs = 7200;
	if (*p == 'J' || isdigit((unsigned char)*p)) {
		r->kind = *p == 'J' ? 'J' : 'D';
		if (*p == 'J')
			p++;
		if (!isdigit((unsigned char)*p))
			return NULL;
		r->a = (int)strtol(p, &end, 10);
		p = end;
		if ((r->kind == 'J' && (r->a < 1 || r->a > 365)) || r->a > 365)
			return NULL;
	} else if (*p == 'M') {
		r->kind = 'M';
		r->a = (int)strtol(p + 1, &end, 10);
		if (end == p + 1 || *end != '.')
			return NULL;
		p = end + 1;
		r->b = (int)strtol(p, &end, 10);
		if (end == p || *end != '.')
			return NULL;
		p = end + 1;
		r->c = (int)strtol(p, &end, 10);
		if (end == p)
			return NULL;
		p = end;
		if (r->a < 1 || r->a > 12 || r->b < 1 || r->b > 5 ||
		    r->c < 0 || r->c > 6)
			return NULL;
	} else
		return NULL;
	if (*p == '/')
		p = p_time(p + 1, 167, &r->secs);
	return p;
}

/* Parse a TZ string (a TZif footer); 0 or -1. */
static int
posix_parse(const char *p, struct posix *z)
{
	memset(z, 0, sizeof *z);
	if ((p = p_name(p)) == NULL || (p = p_time(p, 24, &z->std)) == NULL)
		return -1;
	z->std = -z->std;	/* POSIX offsets are west of UTC */
	if (*p == '\0')
		return 0;
	if ((p = p_name(p)) == NULL)
		return -1;
	z->has_dst = 1;
	z->dst = z->std + 3600;
	if (*p != ',' && *p != '\0') {
		if ((p = p_time(p, 24, &z->dst)) == NULL)
			return -1;
		z->dst = -z->dst;
	}
	if (*p == '\0') {		/* POSIX's default: US rules */
		p = ",M3.2.0,M11.1.0";
	}
	if (*p++ != ',' || (p = p_rule(p, &z->start)) == NULL ||
	    *p++ != ',' || (p = p_rule(p, &z->end)) == NULL || *p != '\0')
		return -1;
	return 0;
}

/* The instant of rule r in year y, its time read with offset off. */
static int64_t
rule_at(const struct rule *r, int64_t y, int32_t off)
{
	int64_t		days;
	unsigned	n;
	int		wd;

	switch (r->kind) {
	case 'J':		/* 1..365, February 29 never counted */
		days = tz_days_from_civil(y, 1, 1) + r->a - 1 +
		    (leap(y) && r->a >= 60);
		break;
	case 'D':		/* 0..365 */
		days = tz_days_from_civil(y, 1, 1) + r->a;
		break;
	default:		/* week b (5: the last) of month a, weekday c */
		days = tz_days_from_civil(y, (unsigned)r->a, 1);
		wd = tz_weekday(days);
		days += (r->c - wd + 7) % 7 + 7 * (r->b - 1);
		n = tz_month_days(y, (unsigned)r->a);
		while (days >= tz_days_from_civil(y, (unsigned)r->a, 1) + n)
			days -= 7;
		break;
	}
	return days * DAY + r->secs - off;
}

/* ------------------------------------------------------------ loading */

static void
tz_add(struct tz *z, int64_t at, int32_t off)
{
	if (z->n == z->cap) {
		z->cap = z->cap == 0 ? 64 : z->cap * 2;
		z->at = xreallocarray(z->at, z->cap, sizeof *z->at);
		z->off = xreallocarray(z->off, z->cap, sizeof *z->off);
	}
	z->at[z->n] = at;
	z->off[z->n] = off;
	z->n++;
}

/* The offset in effect at t. */
int32_t
tz_offset(const struct tz *z, int64_t t)
{
	size_t	lo = 0, hi = z->n, mid;

	if (z->n == 0 || t < z->at[0])
		return z->off0;
	while (hi - lo > 1) {		/* at[lo] <= t < at[hi] */
		mid = lo + (hi - lo) / 2;
		if (z->at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->off[lo];
}

/*
 * After the file's last transition, the transitions of the footer's rule
 * p, year by year up to TZ_LAST_YEAR; a change that changes nothing is
 * left out.
 */
static void
tz_extend(struct tz *z, const struct posix *p)
{
	int64_t	y, a, b, last;
	int32_t	cur;

	last = z->n > 0 ? z->at[z->n - 1] : INT64_MIN;
	if (!p->has_dst) {
		if (z->n == 0 ? z->off0 != p->std : z->off[z->n - 1] != p->std)
			tz_add(z, last == INT64_MIN ? INT64_MIN / 2 : last + 1,
			    p->std);
		return;
	}
	if (last == INT64_MIN)
		y = 1900;
	else {
		int64_t		yy;
		unsigned	m, d;

		tz_civil_from_days(last / DAY - (last % DAY < 0), &yy, &m, &d);
		y = yy;
	}
	for (; y <= TZ_LAST_YEAR; y++) {
		a = rule_at(&p->start, y, p->std);	/* to DST */
		b = rule_at(&p->end, y, p->dst);	/* back to standard */
		if (a < b) {
			if (a > last)
				tz_add(z, a, p->dst);
			if (b > last)
				tz_add(z, b, p->std);
		} else {		/* southern: DST across the new year */
			if (b > last)
				tz_add(z, b, p->std);
			if (a > last)
				tz_add(z, a, p->dst);
		}
	}
	/* Drop changes to the offset already in effect (a year's end and
	 * the next's start at one instant, as permanent DST rules make). */
	cur = z->off0;
	for (a = 0, b = 0; (size_t)a < z->n; a++) {
		if ((size_t)a + 1 < z->n && z->at[a + 1] == z->at[a])
			continue;
		if (z->off[a] == cur)
			continue;
		cur = z->off[a];
		z->at[b] = z->at[a];
		z->off[b++] = z->off[a];
	}
	z->n = (size_t)b;
}

static int64_t
be(const uint8_t *p, int n)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	if (n == 4)
		return (int32_t)(uint32_t)v;
	return (int64_t)v;
}

/* The counts of a TZif header at p. */
struct tzhead {
	int64_t	isut, isstd, leap, time, type, chars;
};

static void
tz_head(const uint8_t *p, struct tzhead *h)
{
	h->isut = be(p + 20, 4);
	h->isstd = be(p + 24, 4);
	h->leap = be(p + 28, 4);
	h->time = be(p + 32, 4);
	h->type = be(p + 36, 4);
	h->chars = be(p + 40, 4);
}

/* Bytes of a data block of h with times of tsz bytes. */
static int64_t
tz_block(const struct tzhead *h, int tsz)
{
	return h->time * tsz + h->time + h->type * 6 + h->chars +
	    h->leap * (tsz + 4) + h->isstd + h->isut;
}

/*
 * Parse a TZif file's bytes into z: the 64-bit block of version 2 and
 * later (else version 1's), and the footer. 0, or -1 with *what set.
 */
static int
tz_parse(struct tz *z, const uint8_t *p, size_t len, const char **what)
{
	struct tzhead	 h;
	struct posix	 px;
	const uint8_t	*d, *types, *idx, *end = p + len;
	char		 foot[256];
	int		 tsz = 4, i, k;
	int32_t		 off;

	*what = "not a TZif file";
	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return -1;
	tz_head(p, &h);
	if (h.time < 0 || h.type < 1 || h.type > 256 || h.chars < 0 ||
	    h.leap < 0 || h.isstd < 0 || h.isut < 0 || h.time > 100000 ||
	    44 + tz_block(&h, 4) > (int64_t)len)
		return -1;
	d = p + 44;
	if (p[4] >= '2') {
		d += tz_block(&h, 4);
		if (d + 44 > end || memcmp(d, "TZif", 4) != 0)
			return -1;
		tz_head(d, &h);
		tsz = 8;
		d += 44;
		if (h.time < 0 || h.type < 1 || h.type > 256 || h.chars < 0 ||
		    h.leap < 0 || h.isstd < 0 || h.isut < 0 ||
		    h.time > 100000 || d + tz_block(&h, 8) > end)
			return -1;
	}
	if (h.leap > 0) {
		*what = "counts leap seconds (a right/ zone): use the zone "
		    "without them";
		return -1;
	}
	idx = d + h.time * tsz;
	types = idx + h.time;
	*what = "a corrupt TZif file";
	for (i = 0; i < h.type; i++) {
		off = (int32_t)be(types + 6 * i, 4);
		if (off < -OFF_MAX || off > OFF_MAX)
			return -1;
	}
	z->off0 = (int32_t)be(types, 4);
	for (i = 0; i < h.time; i++) {
		if ((k = idx[i]) >= h.type)
			return -1;
		if (z->n > 0 && be(d + i * tsz, tsz) <= z->at[z->n - 1])
			return -1;
		tz_add(z, be(d + i * tsz, tsz), (int32_t)be(types + 6 * k, 4));
	}
	d += tz_block(&h, tsz);
	if (tsz == 8 && d < end && *d == '\n') {
		for (i = 0, d++; d < end && *d != '\n' && i + 1 <
		    (int)sizeof foot; d++)
			foot[i++] = (char)*d;
		foot[i] = '\0';
		if (d >= end)
			return -1;
		if (foot[0] != '\0') {
			if (posix_parse(foot, &px) == -1) {
				*what = "a TZif file whose rule batchd cannot "
				    "read";
				return -1;
			}
			tz_extend(z, &px);
		}
	}
	return 0;
}

/* Is name a plausible zone name: no "..", not absolute, tame bytes? */
static int
tz_name_ok(const char *name)
{
	const char	*p;

	if (*name == '\0' || *name == '/' || strlen(name) > TZ_NAME_MAX)
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("/_+-.", *p) == NULL)
			return 0;
	for (p = name; p != NULL; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (p[0] == '.')
			return 0;	/* "..", ".", hidden files */
	}
	return 1;
}

/* Read the zone file of name into z; 0, or -1 with *cause. */
static int
tz_read(struct tz *z, const char *name, char **cause)
{
	struct stat	 st;
	const char	*what;
	uint8_t		*buf;
	char		*path;
	FILE		*f;
	size_t		 n;
	int		 rc;

	xasprintf(&path, "%s/%s", tz_dir, name);
	f = fopen(path, "rb");
	free(path);
	if (f == NULL || fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > TZ_FILE_MAX) {
		if (f != NULL)
			fclose(f);
		xasprintf(cause, "'%s' is not a time zone of the system's "
		    "tzdata (%s)", name, tz_dir);
		return -1;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	rc = tz_parse(z, buf, n, &what);
	free(buf);
	if (rc == -1 && strcmp(what, "not a TZif file") == 0)
		xasprintf(cause, "'%s' is not a time zone of the system's "
		    "tzdata (%s): not a TZif file", name, tz_dir);
	else if (rc == -1)
		xasprintf(cause, "'%s': %s", name, what);
	return rc;
}

/*
 * The zone named name (an IANA name, "Etc/UTC"), loaded once and kept:
 * NULL with *cause (owned by the caller) if there is no such zone.
 */
const struct tz *
tz_get(const char *name, char **cause)
{
	struct tz	*z;

	*cause = NULL;
	for (z = zones; z != NULL; z = z->next)
		if (strcmp(z->name, name) == 0)
			return z;
	if (!tz_name_ok(name)) {
		xasprintf(cause, "'%.*s' is not a time zone name (Area/City, "
		    "as Europe/Berlin)", TZ_NAME_MAX, name);
		return NULL;
	}
	z = xcalloc(1, sizeof *z);
	if (tz_read(z, name, cause) == -1) {
		free(z->at);
		free(z->off);
		free(z);
		return NULL;
	}
	z->name = xstrdup(name);
	z->next = zones;
	zones = z;
	return z;
}

/* The name a zone was loaded by. */
const char *
tz_name(const struct tz *z)
{
	return z->name;
}

/*
 * The instant of wall time w: the first instant whose wall time is w or
 * later (its first occurrence; the end of the gap it falls in).
 */
int64_t
tz_resolve(const struct tz *z, int64_t w)
{
	size_t		lo = 0, hi = z->n, mid, j;
	int64_t		start, end, i;
	int32_t		o;

	/* The first piece of time that may hold it: the one at w - 2 days. */
	if (z->n == 0 || w - 2 * DAY < z->at[0])
		j = 0;			/* the piece before at[0] */
	else {
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (z->at[mid] <= w - 2 * DAY)
				lo = mid;
			else
				hi = mid;
		}
		j = lo + 1;
	}
	/* Piece j: [at[j-1], at[j]) with the offset of at[j-1] (off0 for
	 * j == 0). The first candidate found is the earliest. */
	for (; j <= z->n; j++) {
		start = j == 0 ? INT64_MIN : z->at[j - 1];
		end = j == z->n ? INT64_MAX : z->at[j];
		o = j == 0 ? z->off0 : z->off[j - 1];
		i = w - o;
		if (i >= start && i < end)
			return i;
		if (end != INT64_MAX && w >= end + o && w < end + z->off[j])
			return end;	/* in the gap at end */
		if (start != INT64_MIN && start > w + 2 * DAY)
			break;
	}
	return w - tz_offset(z, w);
}

/* Forget every zone loaded (shutdown, tests). */
void
tz_free_all(void)
{
	struct tz	*z;

	while ((z = zones) != NULL) {
		zones = z->next;
		free(z->name);
		free(z->at);
		free(z->off);
		free(z);
	}
}
