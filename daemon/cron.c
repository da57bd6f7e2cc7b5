/*
 * cron.c: cron expressions: parsing, and the next fire after an instant in
 * a time zone (tz.c).
 *
 * Five fields (minute hour day-of-month month day-of-week) or six with
 * seconds first. Each is a list of items separated by ','; an item is
 * '*', a value, or a range lo-hi, any of them with a step /n ("10/15" is
 * 10-max/15). Months and weekdays may be named by their first three
 * letters (jan, mon; any case); day-of-week 7 is Sunday, as 0. Macros:
 * @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
 * Day-of-month and day-of-week combine as in Vixie cron: when both are
 * restricted (neither field begins with '*') a day matching either
 * matches; otherwise both must.
 *
 * The next fire: the cron's wall times are walked forward in civil time
 * (no time zone), each resolved to its instant (tz_resolve(): a time in a
 * DST gap fires at the gap's end, a repeated time at its first
 * occurrence) until one lies after the given instant. The search gives up
 * after CRON_YEARS years: an expression that matches nothing (February
 * 30) never fires.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batchd.h"

#define CRON_YEARS	100
#define DAY		86400

static const struct field {
	const char	*name;
	int		 lo, hi;
	const char	*const *names;	/* names of lo.. */
} fields[] = {
	{ "second", 0, 59, NULL },
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day-of-month", 1, 31, NULL },
	{ "month", 1, 12, (const char *const[]){ "jan", "feb", "mar", "apr",
	    "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL } },
	{ "day-of-week", 0, 7, (const char *const[]){ "sun", "mon", "tue",
	    "wed", "thu", "fri", "sat", NULL } },
};
enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };

static const struct {
	const char	*name;
	const char	*expr;
} macros[] = {
	{ "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" }, { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

static int __attribute__((format(printf, 3, 4)))
cerr(char *err, size_t len, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * One value of field f at *pp: a number or a name; advances *pp. 0, or -1
 * with err set.
 */
static int
value(const struct field *f, const char **pp, int *v, char *err, size_t len)
{
	const char	*p = *pp;
	char		*end;
	long		 n;
	int		 i;

	if (isdigit((unsigned char)*p)) {
		n = strtol(p, &end, 10);
		if (end - p > 4 || n < f->lo || n > f->hi)
			return cerr(err, len, "%s: %.*s is out of range %d-%d",
			    f->name, (int)(end - p > 8 ? 8 : end - p), p,
			    f->lo, f->hi);
		*v = (int)n;
		*pp = end;
		return 0;
	}
	if (f->names != NULL && isalpha((unsigned char)*p)) {
		for (i = 0; f->names[i] != NULL; i++)
			if (strncasecmp(p, f->names[i], 3) == 0 &&
			    !isalpha((unsigned char)p[3])) {
				*v = f->lo + i;
				*pp = p + 3;
				return 0;
			}
	}
	for (end = (char *)p; *end != '\0' && strchr(",-/", *end) == NULL;
	    end++)
		;
	if (end == p)
		return cerr(err, len, "%s: a value is missing", f->name);
	return cerr(err, len, "%s: '%.*s' is not a number%s", f->name,
	    (int)(end - p > 16 ? 16 : end - p), p,
	    f->names == NULL ? "" : f == &fields[F_MON] ?
	    " or a month name (jan-dec)" : " or a weekday name (sun-sat)");
}

/* One item of field f (up to ',' or the end) into *bits. */
static int
item(const struct field *f, const char **pp, uint64_t *bits, char *err,
    size_t len)
{
	const char	*p = *pp;
	char		*end;
	long		 step = 1;
	int		 lo, hi, v;

	if (*p == '*') {
		lo = f->lo;
		hi = f->hi;
		p++;
	} else {
		if (value(f, &p, &lo, err, len) == -1)
			return -1;
		hi = lo;
		if (*p == '-') {
			p++;
			if (value(f, &p, &hi, err, len) == -1)
				return -1;
			if (hi < lo)
				return cerr(err, len, "%s: range %d-%d goes "
				    "backwards", f->name, lo, hi);
		} else if (*p == '/')
			hi = f->hi;	/* "10/15": 10-max/15 */
	}
	if (*p == '/') {
		p++;
		step = strtol(p, &end, 10);
		if (!isdigit((unsigned char)*p) || end - p > 4 || step < 1 ||
		    step > f->hi - f->lo + 1)
			return cerr(err, len, "%s: step '%.*s' is not from 1 "
			    "to %d", f->name, (int)(end - p > 8 ? 8 :
			    end - p > 0 ? end - p : (int)strcspn(p, ",")), p,
			    f->hi - f->lo + 1);
		p = end;
	}
	if (*p != '\0' && *p != ',')
		return cerr(err, len, "%s: unexpected '%c' in '%s'", f->name,
		    *p, *pp);
	for (v = lo; v <= hi; v += (int)step)
		*bits |= (uint64_t)1 << v;
	*pp = p;
	return 0;
}

/* Field f of text s into *bits; 0, or -1 with err set. */
static int
field(const struct field *f, const char *s, uint64_t *bits, char *err,
    size_t len)
{
	const char	*p = s;

	*bits = 0;
	for (;;) {
		if (*p == ',' || *p == '\0')
			return cerr(err, len, "%s: an item of '%s' is empty",
			    f->name, s);
		if (item(f, &p, bits, err, len) == -1)
			return -1;
		if (*p == '\0')
			return 0;
		p++;			/* ',' */
	}
}

/*
 * Parse expr into c. Returns 0, or -1 with err (len bytes) saying what is
 * wrong ("day-of-week: 8 is out of range 0-7").
 */
int
cron_parse(const char *expr, struct cron *c, char *err, size_t len)
{
	char		 buf[CRON_MAX + 1], *f[7], *p;
	uint64_t	 bits[6];
	size_t		 i;
	int		 n = 0, first;

	memset(c, 0, sizeof *c);
	while (isspace((unsigned char)*expr))
		expr++;
	if (strlen(expr) > CRON_MAX)
		return cerr(err, len, "longer than %d bytes", CRON_MAX);
	if (*expr == '@') {
		for (i = 0; i < sizeof macros / sizeof macros[0]; i++)
			if (strncasecmp(expr, macros[i].name,
			    strlen(macros[i].name)) == 0 &&
			    strspn(expr + strlen(macros[i].name), " \t") ==
			    strlen(expr + strlen(macros[i].name)))
				return cron_parse(macros[i].expr, c, err, len);
		return cerr(err, len, "'%.32s' is not one of @yearly, "
		    "@annually, @monthly, @weekly, @daily, @midnight, "
		    "@hourly", expr);
	}
	snprintf(buf, sizeof buf, "%s", expr);
	for (p = strtok(buf, " \t\n"); p != NULL; p = strtok(NULL, " \t\n"))
		if (n < 7)
			f[n++] = p;
	if (n != 5 && n != 6)
		return cerr(err, len, "%d field%s: expected 5 (minute hour "
		    "day-of-month month day-of-week) or 6 (second first)", n,
		    n == 1 ? "" : "s");
	first = n == 5 ? F_MIN : F_SEC;
	bits[F_SEC] = 1;		/* five fields: at second 0 */
	for (i = 0; i < (size_t)n; i++)
		if (field(&fields[first + i], f[i], &bits[first + i], err,
		    len) == -1)
			return -1;
	c->sec = bits[F_SEC];
	c->min = bits[F_MIN];
	c->hour = (uint32_t)bits[F_HOUR];
	c->dom = (uint32_t)bits[F_DOM];
	c->mon = (uint16_t)bits[F_MON];
	c->dow = (uint8_t)((bits[F_DOW] | bits[F_DOW] >> 7) & 0x7f);
	if (*f[n - 3] == '*')		/* day-of-month */
		c->flags |= CRON_DOM_STAR;
	if (*f[n - 1] == '*')
		c->flags |= CRON_DOW_STAR;
	return 0;
}

/* Does day (days since the epoch; y-m-d) match c's days? */
static int
day_match(const struct cron *c, int64_t days, unsigned d)
{
	int	dom = (c->dom >> d) & 1;
	int	dow = (c->dow >> tz_weekday(days)) & 1;

	if (c->flags & (CRON_DOM_STAR | CRON_DOW_STAR))
		return dom && dow;
	return dom || dow;
}

/* The lowest bit of mask at or above v, or -1. */
static int
next_bit(uint64_t mask, int v, int top)
{
	if (v > top)
		return -1;
	mask >>= v;
	return mask == 0 ? -1 : v + __builtin_ctzll(mask);
}

/*
 * The first wall time at or after w (wall seconds) that c matches; -1
 * past limit.
 */
static int64_t
next_wall(const struct cron *c, int64_t w, int64_t limit)
{
	int64_t		days = w / DAY - (w % DAY < 0), y;
	int		sod = (int)(w - days * DAY), h, m, s, v;
	unsigned	mon, d;

	h = sod / 3600;
	m = sod / 60 % 60;
	s = sod % 60;
	tz_civil_from_days(days, &y, &mon, &d);
	while (days * DAY <= limit) {
		if (!((c->mon >> mon) & 1)) {
			if ((v = next_bit(c->mon, (int)mon + 1, 12)) == -1) {
				y++;
				v = next_bit(c->mon, 1, 12);
			}
			mon = (unsigned)v;
			d = 1;
			days = tz_days_from_civil(y, mon, 1);
			h = m = s = 0;
			continue;
		}
		if (day_match(c, days, d) && (v = next_bit(c->hour, h, 23)) !=
		    -1) {
			if (v != h) {
				h = v;
				m = s = 0;
			}
			if ((v = next_bit(c->min, m, 59)) == -1) {
				h++;		/* the next hour */
				m = s = 0;
				continue;
			}
			if (v != m) {
				m = v;
				s = 0;
			}
			if ((v = next_bit(c->sec, s, 59)) != -1)
				return days * DAY + h * 3600 + m * 60 + v;
			m++;			/* the next minute */
			s = 0;
			continue;
		}
		days++;				/* the next day */
		h = m = s = 0;
		if (++d > tz_month_days(y, mon)) {
			d = 1;
			if (++mon > 12) {
				mon = 1;
				y++;
			}
		}
	}
	return -1;
}

/*
 * The first fire of c in zone z after the instant after_ms: its instant
 * in milliseconds (a whole second), or -1 if none within CRON_YEARS.
 */
int64_t
cron_next(const struct cron *c, const struct tz *z, int64_t after_ms)
{
	int64_t	s, w, i, limit, ws;

	s = after_ms / 1000 - (after_ms % 1000 < 0) + 1;	/* the first
								 * candidate */
	/* From just after the wall time of s - 1: a wall time before it
	 * resolves before s, and s may end a gap whose times fire at s. */
	w = s - 1 + tz_offset(z, s - 1) + 1;
	limit = w + (int64_t)CRON_YEARS * 366 * DAY;
	for (;;) {
		if ((w = next_wall(c, w, limit)) == -1)
			return -1;
		if ((i = tz_resolve(z, w)) >= s)
			return i * 1000;
		/* A repeated wall time: its first occurrence is past. */
		ws = s + tz_offset(z, s);
		w = w + 1 > ws ? w + 1 : ws;
	}
}
