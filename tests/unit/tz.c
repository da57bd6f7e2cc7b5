/*
 * tz.c's tests: offsets against glibc's localtime_r() over three
 * centuries of several zones, POSIX rules of TZif footers against glibc
 * reading the same TZ strings, wall times in gaps and overlaps, names
 * refused. The next-fire computation's oracle test is
 * tests/integration/test_cron.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batchd.h"
#include "unit.h"

/* glibc's offset of zone (a name or a POSIX TZ string) at t. */
static long
glibc_offset(const char *zone, int64_t t)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	setenv("TZ", zone, 1);
	tzset();
	if (localtime_r(&tt, &tm) == NULL)
		return -999999;
	return tm.tm_gmtoff;
}

/* Compare offsets from from to to, every step seconds; 0 or -1. */
static int
same_offsets(const struct tz *z, const char *zone, int64_t from, int64_t to,
    int64_t step)
{
	int64_t	t;

	for (t = from; t < to; t += step)
		if (tz_offset(z, t) != glibc_offset(zone, t)) {
			snprintf(why, sizeof why, "%s at %lld: %d, glibc %ld",
			    zone, (long long)t, tz_offset(z, t),
			    glibc_offset(zone, t));
			return -1;
		}
	return 0;
}

/* Offsets of real zones: 1970 to 2300 (the footers' rules past 2037). */
void
test_tz_offsets(void)
{
	static const char	*zones[] = { "America/New_York",
	    "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Apia",
	    "Asia/Kolkata", "Pacific/Chatham", "America/Sao_Paulo",
	    "Africa/Casablanca", "Europe/Dublin", "Etc/UTC" };
	const struct tz		*z;
	char			*cause;
	size_t			 i;

	for (i = 0; i < sizeof zones / sizeof zones[0]; i++) {
		z = tz_get(zones[i], &cause);
		CHECK(z != NULL && cause == NULL);
		CHECK(tz_get(zones[i], &cause) == z);	/* loaded once */
		CHECK(strcmp(tz_name(z), zones[i]) == 0);
		if (same_offsets(z, zones[i], 0, 10413792000LL,
		    6 * 86400 + 3 * 3600 + 17 * 60 + 13) == -1) {
			failed = 1;
			break;
		}
	}
	unsetenv("TZ");
	tzset();
	tz_free_all();
}

/*
 * A TZif file of one type (off) and the footer; with bad, one transition
 * whose type index is past the types.
 */
static void
write_tzif(const char *path, int32_t off, const char *footer, int bad)
{
	uint8_t	 h[44], type[6] = { off >> 24, off >> 16, off >> 8, off, 0, 0 };
	uint8_t	 when[8] = { 0, 0, 0, 0, 0x10, 0, 0, 0 }, idx = 7;
	FILE	*f = fopen(path, "wb");
	int	 v;

	for (v = 0; v < 2; v++) {
		memset(h, 0, sizeof h);
		memcpy(h, "TZif2", 5);
		h[35] = bad ? 1 : 0;	/* timecnt */
		h[39] = 1;		/* typecnt */
		h[43] = 4;		/* charcnt */
		fwrite(h, 1, sizeof h, f);
		if (bad) {
			fwrite(when, 1, v == 0 ? 4 : 8, f);
			fwrite(&idx, 1, 1, f);
		}
		fwrite(type, 1, sizeof type, f);
		fwrite("ABC", 1, 4, f);
	}
	fprintf(f, "\n%s\n", footer);
	fclose(f);
}

/* Footers' POSIX rules (M, J, plain days, odd times) against glibc. */
void
test_tz_posix_rules(void)
{
	static const char	*rules[] = { "EST5EDT,M3.2.0,M11.1.0",
	    "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
	    "CET-1CEST,M3.5.0,M10.5.0/3", "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",
	    "XST3XDT,J60/1:30,J300/25", "AAA-2BBB,70,300/0",
	    "<+13>-13", "IST-5:30", "NZST-12NZDT,M9.5.0,M4.1.0/3" };
	const struct tz		*z;
	char			*cause, name[32];
	size_t			 i;

	tz_dir = ".";
	for (i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		snprintf(name, sizeof name, "rule%zu", i);
		write_tzif(name, 3600, rules[i], 0);
		z = tz_get(name, &cause);
		CHECK(z != NULL);
		if (same_offsets(z, rules[i], 946684800, 4102444800LL,
		    86400 + 3600 + 61) == -1) {
			failed = 1;
			break;
		}
	}
	write_tzif("bad", 0, "EST5EDT,M13.1.0,M11.1.0", 0);
	CHECK(tz_get("bad", &cause) == NULL &&
	    strstr(cause, "rule batchd cannot read") != NULL);
	free(cause);
	unsetenv("TZ");
	tzset();
	tz_free_all();
	tz_dir = "/usr/share/zoneinfo";
}

/* Wall times in a gap resolve to its end, repeated ones to the first. */
void
test_tz_resolve(void)
{
	const struct tz	*ny, *lh, *apia;
	char		*cause;

	ny = tz_get("America/New_York", &cause);
	lh = tz_get("Australia/Lord_Howe", &cause);
	apia = tz_get("Pacific/Apia", &cause);
	CHECK(ny != NULL && lh != NULL && apia != NULL);
	/* 2024-03-10 02:30 does not exist: 03:00 EDT = 07:00 UTC */
	CHECK(tz_resolve(ny, 1710037800) == 1710054000);
	/* 2024-11-03 01:30 occurs twice: the first is EDT (05:30 UTC) */
	CHECK(tz_resolve(ny, 1730597400) == 1730611800);
	/* an ordinary time */
	CHECK(tz_resolve(ny, 1704067200) == 1704085200);
	/* Lord Howe 2024-10-06 02:15 is in its 30-minute gap (02:00 ->
	 * 02:30 +11 = 15:30 UTC on the 5th) */
	CHECK(tz_resolve(lh, 1728180900) == 1728142200);
	/* Apia skipped 2011-12-30: its noon is the gap's end, 10:00 UTC */
	CHECK(tz_resolve(apia, 1325246400) == 1325239200);
	tz_free_all();
}

/* Names that are no zone are refused, saying so. */
void
test_tz_names(void)
{
	static const struct {
		const char	*name;
		const char	*says;
	} bad[] = {
		{ "../etc/passwd", "is not a time zone name" },
		{ "/etc/localtime", "is not a time zone name" },
		{ "", "is not a time zone name" },
		{ "Europe/.hidden", "is not a time zone name" },
		{ "Europe/Ber lin", "is not a time zone name" },
		{ "Mars/Olympus", "is not a time zone of the system's tzdata" },
		{ "Europe", "is not a time zone of the system's tzdata" },
		{ "junk", "not a TZif file" },
		{ "short", "a corrupt TZif file" },
	};
	FILE		*f;
	char		*cause;
	size_t		 i;

	tz_dir = ".";
	mkdir_p("Europe", 0755);
	f = fopen("junk", "w");
	fputs("hello\n", f);
	fclose(f);
	write_tzif("short", 0, "UTC0", 1);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(tz_get(bad[i].name, &cause) == NULL);
		if (strstr(cause, bad[i].says) == NULL) {
			snprintf(why, sizeof why, "%s: %s", bad[i].name, cause);
			free(cause);
			failed = 1;
			break;
		}
		free(cause);
	}
	tz_free_all();
	tz_dir = "/usr/share/zoneinfo";
	/* a right/ zone counts leap seconds: refused */
	if (access("/usr/share/zoneinfo/right/UTC", R_OK) == 0) {
		CHECK(tz_get("right/UTC", &cause) == NULL &&
		    strstr(cause, "leap seconds") != NULL);
		free(cause);
	}
}
