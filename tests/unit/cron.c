/*
 * cron.c's tests: bad expressions and what they say, a few next fires. The
 * next-fire computation against an oracle (python3-croniter and zoneinfo)
 * is tests/integration/test_cron.py.
 */
#include <stdio.h>
#include <string.h>

#include "batchd.h"
#include "unit.h"

/* Bad expressions say what is wrong, in the words of the field. */
void
test_cron_errors(void)
{
	static const struct {
		const char	*expr;
		const char	*says;
	} bad[] = {
		{ "0 0 * * 8", "day-of-week: 8 is out of range 0-7" },
		{ "60 * * * *", "minute: 60 is out of range 0-59" },
		{ "* * 32 * *", "day-of-month: 32 is out of range 1-31" },
		{ "* * * 0 *", "month: 0 is out of range 1-12" },
		{ "* * * * * * *", "7 fields: expected 5" },
		{ "", "0 fields: expected 5" },
		{ "* * * jam *", "month: 'jam' is not a number or a month name" },
		{ "* * * * mon-", "day-of-week: a value is missing" },
		{ "10-5 * * * *", "minute: range 10-5 goes backwards" },
		{ "*/x * * * *", "minute: step 'x' is not from 1 to 60" },
		{ "5, * * * *", "minute: an item of '5,' is empty" },
		{ "5# * * * *", "minute: unexpected '#' in '5#'" },
		{ "@reboot", "'@reboot' is not one of @yearly" },
	};
	struct cron	c;
	char		err[256];
	size_t		i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(cron_parse(bad[i].expr, &c, err, sizeof err) == -1);
		if (strstr(err, bad[i].says) == NULL) {
			snprintf(why, sizeof why, "'%s': %s", bad[i].expr, err);
			failed = 1;
			return;
		}
	}
	CHECK(cron_parse("  @Daily ", &c, err, sizeof err) == 0);
	CHECK(c.sec == 1 && c.min == 1 && c.hour == 1 && c.dow == 0x7f);
	CHECK(cron_parse("0 0 * * 7", &c, err, sizeof err) == 0 &&
	    c.dow == 1);		/* 7 is Sunday */
	CHECK(cron_parse("0 0 * JAN-mar sat-sun", &c, err, sizeof err) ==
	    -1);			/* 6-0 backwards, as in Vixie */
}

/* A few next fires in UTC: steps, leap days, Vixie's day rule. */
void
test_cron_next(void)
{
	static const struct {
		const char	*expr;
		int64_t		 after, next;
	} cases[] = {
		{ "*/15 * * * *", 1704067200000, 1704068100000 },
		{ "*/15 * * * *", 1704067200001, 1704068100000 },
		{ "*/15 * * * *", 1704068099999, 1704068100000 },
		{ "30 */2 * * * *", 1704067200000, 1704067230000 },
		{ "@hourly", 1704067200000, 1704070800000 },
		/* leap day: 2024-02-29 after 2024-03-01 is 2028-02-29 */
		{ "0 0 29 2 *", 1709251200000, 1835395200000 },
		/* 13th OR a Friday: after Mon 2024-01-01, Fri 01-05 */
		{ "0 0 13 * 5", 1704067200000, 1704412800000 },
		/* '*' first: AND: odd days that are Mondays: 2024-01-01 is
		 * Mon and odd: the next is Mon 2024-01-15 */
		{ "0 0 */2 * 1", 1704067200000, 1705276800000 },
		/* never */
		{ "0 0 30 2 *", 0, -1 },
	};
	const struct tz	*utc;
	struct cron	 c;
	char		 err[256], *cause;
	size_t		 i;

	utc = tz_get("Etc/UTC", &cause);
	CHECK(utc != NULL);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(cron_parse(cases[i].expr, &c, err, sizeof err) == 0);
		if (cron_next(&c, utc, cases[i].after) != cases[i].next) {
			snprintf(why, sizeof why, "'%s' after %lld: %lld, not "
			    "%lld", cases[i].expr, (long long)cases[i].after,
			    (long long)cron_next(&c, utc, cases[i].after),
			    (long long)cases[i].next);
			failed = 1;
			break;
		}
	}
	tz_free_all();
}
