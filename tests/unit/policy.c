/*
 * policy.c's tests: what a retry strategy decides after a failed attempt,
 * the back-off's delays and their bounds, the checks of the new fields,
 * and the strategy's round trip through its message.
 */
#include <stdint.h>
#include <string.h>

#include "batchd.h"
#include "unit.h"

/* A rule of codes (0-terminated), reasons (bits) and an action. */
static void
rule(struct retry *r, const int *codes, uint32_t reasons,
    enum retryaction action)
{
	struct retryrule	*u = &r->rules[r->n_rules++];

	memset(u, 0, sizeof *u);
	for (; codes != NULL && *codes != 0; codes++)
		u->codes[*codes / 8] |= (uint8_t)(1u << (*codes % 8));
	u->reasons = reasons;
	u->action = action;
}

/* An attempt that exited with code. */
static struct attempt
exited(int code)
{
	struct attempt	a;

	memset(&a, 0, sizeof a);
	a.has_exit = 1;
	a.exit_code = code;
	return a;
}

/* Each path of the rules: code -> RETRY, code -> EXIT, reason, none. */
void
test_policy_rules(void)
{
	static const int	 retry_codes[] = { 3, 4, 0 }, exit_codes[] = {
	    1, 255, 0 };
	struct retry		 r;
	struct attempt		 a;
	int			 n;

	memset(&r, 0, sizeof r);
	r.num_retries = 2;
	/* No rules: today's behaviour. */
	a = exited(1);
	CHECK(policy_retries(&r, 1, &a, R_NON_ZERO_EXIT, &n) && n == -1);
	CHECK(!policy_retries(&r, 3, &a, R_NON_ZERO_EXIT, &n));
	CHECK(!policy_retries(&r, 1, NULL, R_TIMEOUT, &n));
	r.on_timeout = 1;
	CHECK(policy_retries(&r, 1, NULL, R_TIMEOUT, &n));
	r.on_timeout = 0;
	rule(&r, retry_codes, 0, RA_RETRY);
	rule(&r, exit_codes, 0, RA_EXIT);
	rule(&r, NULL, 1u << R_TIMEOUT | 1u << R_SIGNALED, RA_RETRY);
	rule(&r, NULL, 1u << R_FETCH_FAILED, RA_EXIT);
	/* A code of the first rule: RETRY, within num_retries only. */
	a = exited(4);
	CHECK(policy_retries(&r, 1, &a, R_NON_ZERO_EXIT, &n) && n == 0);
	CHECK(!policy_retries(&r, 3, &a, R_NON_ZERO_EXIT, &n) && n == 0);
	/* A code of the second: EXIT, retries left or not. */
	a = exited(255);
	CHECK(!policy_retries(&r, 1, &a, R_NON_ZERO_EXIT, &n) && n == 1);
	/* A reason: a timeout is retried by the rule, not the flag. */
	CHECK(policy_retries(&r, 1, NULL, R_TIMEOUT, &n) && n == 2);
	CHECK(policy_retries(&r, 2, NULL, R_SIGNALED, &n) && n == 2);
	CHECK(!policy_retries(&r, 1, NULL, R_FETCH_FAILED, &n) && n == 3);
	/* No rule matches: today's behaviour. */
	a = exited(7);
	CHECK(policy_retries(&r, 1, &a, R_NON_ZERO_EXIT, &n) && n == -1);
	CHECK(policy_retries(&r, 1, NULL, R_SPAWN_FAILED, &n) && n == -1);
	/* The first match decides: 4 also in a later EXIT rule. */
	r.rules[1].codes[0] |= 1u << 4;
	a = exited(4);
	CHECK(policy_retries(&r, 1, &a, R_NON_ZERO_EXIT, &n) && n == 0);
}

static uint32_t	fixed_random;

static uint32_t
random_fixed(void)
{
	return fixed_random;
}

/* Back-off: delay x multiplier^(k-1), capped, plus up to 10 % jitter. */
void
test_policy_backoff(void)
{
	uint32_t	(*saved)(void) = policy_random;
	struct retry	r;

	memset(&r, 0, sizeof r);
	policy_random = random_fixed;
	fixed_random = UINT32_MAX;
	r.delay_s = 2;
	/* The product's fixed delay: no jitter. */
	CHECK(policy_delay_ms(&r, 1) == 2000 && policy_delay_ms(&r, 5) == 2000);
	r.has_multiplier = 1;
	r.multiplier = 1;
	CHECK(policy_delay_ms(&r, 3) == 2000);
	r.multiplier = 3;
	fixed_random = 0;
	CHECK(policy_delay_ms(&r, 1) == 2000);
	CHECK(policy_delay_ms(&r, 2) == 6000);
	CHECK(policy_delay_ms(&r, 3) == 18000);
	fixed_random = UINT32_MAX;	/* just under 10 % more */
	CHECK(policy_delay_ms(&r, 2) >= 6599 && policy_delay_ms(&r, 2) < 6600);
	r.has_max_delay = 1;
	r.max_delay_s = 10;
	fixed_random = 0;
	CHECK(policy_delay_ms(&r, 3) == 10000 &&
	    policy_delay_ms(&r, 100) == 10000);
	fixed_random = UINT32_MAX;
	CHECK(policy_delay_ms(&r, 100) < 11000);
	/* Without a maximum, never more than DELAY_MAX. */
	r.has_max_delay = 0;
	r.multiplier = 100;
	fixed_random = 0;
	CHECK(policy_delay_ms(&r, 101) == (int64_t)DELAY_MAX * 1000);
	policy_random = saved;
}

/* The checks name the field at fault. */
void
test_policy_validate(void)
{
	static const int	 codes[] = { 2, 0 };
	struct retry		 r;
	struct request		 q;
	struct error		 e;

	memset(&r, 0, sizeof r);
	memset(&e, 0, sizeof e);
	CHECK(policy_validate_retry(&r, "config.retry_strategy", &e) == 0);
	r.has_multiplier = 1;
	r.multiplier = 0.5;
	CHECK(policy_validate_retry(&r, "config.retry_strategy", &e) == -1);
	CHECK(strcmp(e.field, "config.retry_strategy.backoff_multiplier") == 0);
	r.multiplier = 0.0 / 0.0;	/* NaN */
	CHECK(policy_validate_retry(&r, "p", &e) == -1);
	r.multiplier = 101;
	CHECK(policy_validate_retry(&r, "p", &e) == -1);
	r.multiplier = 1.5;
	r.has_max_delay = 1;
	CHECK(policy_validate_retry(&r, "p", &e) == -1);
	CHECK(strcmp(e.field, "p.max_retry_delay_seconds") == 0);
	r.max_delay_s = 30;
	rule(&r, NULL, 0, RA_RETRY);
	CHECK(policy_validate_retry(&r, "p", &e) == -1);
	CHECK(strcmp(e.field, "p.rules[0]") == 0);
	r.n_rules = 0;
	rule(&r, codes, 0, RA_NONE);
	CHECK(policy_validate_retry(&r, "p", &e) == -1);
	CHECK(strcmp(e.field, "p.rules[0].action") == 0);
	r.rules[0].action = RA_EXIT;
	r.rules[0].reasons = 1u << R_CANCELLED_BY_USER;
	CHECK(policy_validate_retry(&r, "p", &e) == -1);
	CHECK(strcmp(e.field, "p.rules[0].on_reasons") == 0);
	r.rules[0].reasons = 1u << R_SUPERVISOR_LOST;
	CHECK(policy_validate_retry(&r, "p", &e) == 0);
	memset(&q, 0, sizeof q);
	q.has_max_queue = 1;
	CHECK(policy_validate_overrides(&q, &e) == -1);
	CHECK(strcmp(e.field, "max_queue_seconds") == 0);
	q.max_queue_s = MAX_QUEUE_MAX + 1;
	CHECK(policy_validate_overrides(&q, &e) == -1);
	q.max_queue_s = 5;
	q.has_timeout = 1;
	CHECK(policy_validate_overrides(&q, &e) == -1);
	CHECK(strcmp(e.field, "timeout_seconds") == 0);
	q.timeout_s = 7;
	q.has_retry = 1;
	q.retry.has_num = 1;
	q.retry.num_retries = RETRIES_MAX + 1;
	CHECK(policy_validate_overrides(&q, &e) == -1);
	CHECK(strcmp(e.field, "retry_strategy.num_retries") == 0);
	q.retry.num_retries = 3;
	CHECK(policy_validate_overrides(&q, &e) == 0);
}

/* Overrides replace only what they set. */
void
test_policy_overrides(void)
{
	static const int	 codes[] = { 9, 0 };
	struct jobconfig	 c;
	struct request		 q;

	memset(&c, 0, sizeof c);
	memset(&q, 0, sizeof q);
	c.timeout_s = 3600;
	c.retry.num_retries = 1;
	c.retry.delay_s = 60;
	rule(&c.retry, codes, 0, RA_EXIT);
	q.has_retry = 1;
	q.retry.has_delay = 1;
	q.retry.delay_s = 5;
	policy_apply_overrides(&c, &q);
	CHECK(c.timeout_s == 3600 && c.retry.num_retries == 1 &&
	    c.retry.delay_s == 5 && c.retry.n_rules == 1 && !c.has_max_queue);
	q.has_timeout = 1;
	q.timeout_s = 9;
	q.has_max_queue = 1;
	q.max_queue_s = 30;
	rule(&q.retry, NULL, 1u << R_TIMEOUT, RA_RETRY);
	rule(&q.retry, NULL, 1u << R_SIGNALED, RA_RETRY);
	policy_apply_overrides(&c, &q);
	CHECK(c.timeout_s == 9 && c.has_max_queue && c.max_queue_s == 30);
	CHECK(c.retry.n_rules == 2 && c.retry.rules[0].reasons ==
	    1u << R_TIMEOUT);
}

/* A strategy and a TEXT source survive a snapshot's record. */
void
test_policy_record(void)
{
	static const int	 codes[] = { 1, 8, 200, 0 };
	struct jobconfig	 c, back;
	struct buf		 b = { 0 };

	memset(&c, 0, sizeof c);
	memset(&back, 0, sizeof back);
	c.source.type = c.source.oneof = SRC_TEXT;
	c.source.text = xstrdup("print(1)\n");
	c.type = JT_PYTHON;
	c.has_max_queue = 1;
	c.max_queue_s = 77;
	c.retry.has_multiplier = 1;
	c.retry.multiplier = 2.5;
	c.retry.has_max_delay = 1;
	c.retry.max_delay_s = 40;
	rule(&c.retry, codes, 1u << R_TIMEOUT, RA_EXIT);
	rule(&c.retry, NULL, 1u << R_SIGNALED, RA_RETRY);
	wire_encode_jobconfig(&b, &c);
	CHECK(wire_decode_jobconfig(b.p, b.len, &back) == 0);
	CHECK(back.source.type == SRC_TEXT && back.source.oneof == SRC_TEXT);
	CHECK(strcmp(back.source.text, "print(1)\n") == 0);
	CHECK(back.has_max_queue && back.max_queue_s == 77);
	CHECK(back.retry.has_multiplier && back.retry.multiplier == 2.5);
	CHECK(back.retry.has_max_delay && back.retry.max_delay_s == 40);
	CHECK(back.retry.n_rules == 2);
	CHECK(memcmp(back.retry.rules, c.retry.rules,
	    2 * sizeof c.retry.rules[0]) == 0);
	buf_free(&b);
	jobconfig_free(&c);
	jobconfig_free(&back);
}
