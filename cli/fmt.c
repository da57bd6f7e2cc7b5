/*
 * fmt.c: small formatting helpers for people: enum names, absolute and
 * relative times, durations and "Key:  value" lines.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "batchctl.h"

/* The proto name of an enum value, or "?" if it has none. */
const char *
fmt_enum(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue	*ev;

	ev = protobuf_c_enum_descriptor_get_value(d, v);
	return ev != NULL ? ev->name : "?";
}

/* The name of a run status. */
const char *
fmt_status(Batchd__V1__JobRunStatus s)
{
	if (s == BATCHD__V1__JOB_RUN_STATUS__JOB_RUN_STATUS_UNSPECIFIED)
		return "-";
	return fmt_enum(&batchd__v1__job_run_status__descriptor, (int)s);
}

/* Parse a status name, in any case: 0, or -1 if it is not one. */
int
fmt_parse_status(const char *s, Batchd__V1__JobRunStatus *out)
{
	const ProtobufCEnumDescriptor	*d =
	    &batchd__v1__job_run_status__descriptor;
	unsigned			 i;

	for (i = 0; i < d->n_values; i++)
		if (d->values[i].value != 0 &&
		    strcasecmp(d->values[i].name, s) == 0) {
			*out = (Batchd__V1__JobRunStatus)d->values[i].value;
			return 0;
		}
	return -1;
}

/* Milliseconds since the epoch. */
int64_t
fmt_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "3m ago" for a time in ms since the epoch; "-" for 0. */
const char *
fmt_ago(int64_t ms, char *buf, size_t len)
{
	int64_t	s;

	if (ms <= 0)
		return "-";
	s = (fmt_now_ms() - ms) / 1000;
	if (s < 0)
		snprintf(buf, len, "in %llds", (long long)-s);
	else if (s < 1)
		snprintf(buf, len, "just now");
	else if (s < 60)
		snprintf(buf, len, "%llds ago", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm ago", (long long)s / 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh ago", (long long)s / 3600);
	else
		snprintf(buf, len, "%lldd ago", (long long)s / 86400);
	return buf;
}

/* "2026-11-24 10:02:03 (3m ago)" in local time; "-" for 0. */
const char *
fmt_time(int64_t ms, char *buf, size_t len)
{
	struct tm	tm;
	time_t		t;
	char		ago[32], day[32];

	if (ms <= 0)
		return "-";
	t = (time_t)(ms / 1000);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(day, sizeof day, "%lld", (long long)ms);
	snprintf(buf, len, "%s (%s)", day, fmt_ago(ms, ago, sizeof ago));
	return buf;
}

/*
 * "2026-12-08 02:00:00 CET": ms in zone tz (an IANA name; NULL: the local
 * time of the user, $TZ); "-" for 0.
 */
const char *
fmt_local(int64_t ms, const char *tz, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 t = (time_t)(ms / 1000);
	const char	*env;
	char		*old = NULL;

	if (ms <= 0)
		return "-";
	if (tz != NULL) {	/* batchctl is one thread: TZ may change */
		if ((env = getenv("TZ")) != NULL)
			old = xstrdup(env);
		setenv("TZ", tz, 1);
		tzset();
	}
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)ms);
	if (tz != NULL) {
		if (old != NULL)
			setenv("TZ", old, 1);
		else
			unsetenv("TZ");
		free(old);
		tzset();
	}
	return buf;
}

/* "10:02:03.123" in local time, for live events. */
const char *
fmt_clock(int64_t ms, char *buf, size_t len)
{
	struct tm	tm;
	time_t		t = (time_t)(ms / 1000);
	char		hms[16];

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(hms, sizeof hms, "%H:%M:%S", &tm) == 0)
		snprintf(hms, sizeof hms, "?");
	snprintf(buf, len, "%s.%03lld", hms, (long long)(ms % 1000));
	return buf;
}

/* "850ms", "42s", "3m05s", "2h01m" for a duration in ms. */
const char *
fmt_duration(int64_t ms, char *buf, size_t len)
{
	long long	s = ms / 1000;

	if (ms < 0)
		return "-";
	if (ms < 1000)
		snprintf(buf, len, "%lldms", (long long)ms);
	else if (s < 60)
		snprintf(buf, len, "%llds", s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(buf, len, "%lldh%02lldm", s / 3600, s / 60 % 60);
	return buf;
}

/* Print "Key:" padded to a column, then the value, on stdout. */
void
fmt_kv(const char *key, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	n = printf("%s:", key);
	printf("%*s", n < 14 ? 14 - n : 1, "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}
