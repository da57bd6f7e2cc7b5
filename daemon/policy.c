/*
 * policy.c: run policies.
 *
 * - Retries: after a failed attempt the run's retry strategy decides
 *   (policy_retries(), asked by run_finish() in run.c): the first rule
 *   matching the attempt's exit code or reason (RETRY still within
 *   num_retries; EXIT ends the run), else auto_retry_on_timeout for a
 *   TIMEOUT, else num_retries. The wait before retry k is
 *   retry_delay_seconds * backoff_multiplier^(k-1), at most
 *   max_retry_delay_seconds (and DELAY_MAX), plus up to 10 % jitter when
 *   the multiplier is above 1 (policy_delay_ms()).
 * - The checks of those fields (for definitions and for a submission's
 *   overrides), and the overrides applied to the run's configuration.
 *
 * Pure decisions and checks: the queue deadline's timer is queuetime.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

/* 32 random bits for the jitter; replaced by tests. */
uint32_t	(*policy_random)(void) = arc4random;

/* The reasons an attempt fails with: the ones a rule may name. */
#define FAIL_REASONS	(1u << R_NON_ZERO_EXIT | 1u << R_TIMEOUT |	\
	    1u << R_FETCH_FAILED | 1u << R_SPAWN_FAILED | 1u << R_SIGNALED |\
	    1u << R_SUPERVISOR_LOST)

/* ------------------------------------------------------------ checks */

/* Does rule u name no exit code? */
static int
codes_empty(const struct retryrule *u)
{
	size_t	i;

	for (i = 0; i < sizeof u->codes; i++)
		if (u->codes[i] != 0)
			return 0;
	return 1;
}

/* Check the rules of r; fields are named under prefix p. */
static int
rules_valid(const struct retry *r, const char *p, struct error *e)
{
	const struct retryrule	*u;
	char			 f[96];
	size_t			 i;

	for (i = 0; i < r->n_rules; i++) {
		u = &r->rules[i];
		if (u->action == RA_NONE) {
			snprintf(f, sizeof f, "%s.rules[%zu].action", p, i);
			error_set(e, E_INVALID, f, "%s is required: RETRY or "
			    "EXIT", f);
			return -1;
		}
		if ((u->reasons & ~FAIL_REASONS) != 0) {
			snprintf(f, sizeof f, "%s.rules[%zu].on_reasons", p, i);
			error_set(e, E_INVALID, f, "%s may hold only reasons an "
			    "attempt fails with: NON_ZERO_EXIT_CODE, TIMEOUT, "
			    "SOURCE_FETCH_FAILED, SPAWN_FAILED, "
			    "KILLED_BY_SIGNAL, SUPERVISOR_LOST", f);
			return -1;
		}
		if (u->reasons == 0 && codes_empty(u)) {
			snprintf(f, sizeof f, "%s.rules[%zu]", p, i);
			error_set(e, E_INVALID, f, "%s matches nothing: give "
			    "on_exit_codes or on_reasons", f);
			return -1;
		}
	}
	return 0;
}

/* Check a retry strategy; fields are named under prefix p. 0 or -1. */
int
policy_validate_retry(const struct retry *r, const char *p, struct error *e)
{
	char	f[96];

#define F(name)	(snprintf(f, sizeof f, "%s.%s", p, name), f)
	if (r->has_num && r->num_retries > RETRIES_MAX) {
		error_set(e, E_INVALID, F("num_retries"), "%s may be at most "
		    "%d", f, RETRIES_MAX);
		return -1;
	}
	if (r->has_delay && r->delay_s > DELAY_MAX) {
		error_set(e, E_INVALID, F("retry_delay_seconds"), "%s may be "
		    "at most %d", f, DELAY_MAX);
		return -1;
	}
	/* Written so that a NaN fails too. */
	if (r->has_multiplier && !(r->multiplier >= 1 &&
	    r->multiplier <= BACKOFF_MAX)) {
		error_set(e, E_INVALID, F("backoff_multiplier"), "%s must be "
		    "from 1 to %d", f, BACKOFF_MAX);
		return -1;
	}
	if (r->has_max_delay && (r->max_delay_s == 0 ||
	    r->max_delay_s > DELAY_MAX)) {
		error_set(e, E_INVALID, F("max_retry_delay_seconds"), "%s must "
		    "be from 1 to %d", f, DELAY_MAX);
		return -1;
	}
	return rules_valid(r, p, e);
#undef F
}

/* Check max_queue_seconds (if has) named field. 0 or -1. */
int
policy_validate_max_queue(int has, uint32_t v, const char *field,
    struct error *e)
{
	if (has && (v == 0 || v > MAX_QUEUE_MAX)) {
		error_set(e, E_INVALID, field, "%s must be from 1 to %d", field,
		    MAX_QUEUE_MAX);
		return -1;
	}
	return 0;
}

/* Check run.submit's overrides of its definition's configuration. */
int
policy_validate_overrides(const struct request *q, struct error *e)
{
	if (q->has_timeout && (q->timeout_s == 0 ||
	    q->timeout_s > TIMEOUT_MAX)) {
		error_set(e, E_INVALID, "timeout_seconds", "timeout_seconds "
		    "must be from 1 to %d", TIMEOUT_MAX);
		return -1;
	}
	if (q->has_retry && policy_validate_retry(&q->retry, "retry_strategy",
	    e) == -1)
		return -1;
	return policy_validate_max_queue(q->has_max_queue, q->max_queue_s,
	    "max_queue_seconds", e);
}

/* Apply run.submit's overrides (checked) to the run's configuration c. */
void
policy_apply_overrides(struct jobconfig *c, const struct request *q)
{
	const struct retry	*o = &q->retry;
	struct retry		*r = &c->retry;

	if (q->has_timeout) {
		c->timeout_s = q->timeout_s;
		c->has_timeout = 1;
	}
	if (q->has_max_queue) {
		c->max_queue_s = q->max_queue_s;
		c->has_max_queue = 1;
	}
	if (!q->has_retry)
		return;
	if (o->has_num) {
		r->num_retries = o->num_retries;
		r->has_num = 1;
	}
	if (o->has_delay) {
		r->delay_s = o->delay_s;
		r->has_delay = 1;
	}
	if (o->has_on_timeout) {
		r->on_timeout = o->on_timeout;
		r->has_on_timeout = 1;
	}
	if (o->has_multiplier) {
		r->multiplier = o->multiplier;
		r->has_multiplier = 1;
	}
	if (o->has_max_delay) {
		r->max_delay_s = o->max_delay_s;
		r->has_max_delay = 1;
	}
	if (o->n_rules > 0) {
		memcpy(r->rules, o->rules, sizeof r->rules);
		r->n_rules = o->n_rules;
	}
}

/* ------------------------------------------------------------ retries */

/* Does rule u match an attempt (a: its record) that failed with why? */
static int
rule_match(const struct retryrule *u, const struct attempt *a,
    enum reason why)
{
	if (a != NULL && a->has_exit && a->exit_code > 0 &&
	    a->exit_code < 256 &&
	    (u->codes[a->exit_code / 8] & 1u << (a->exit_code % 8)) != 0)
		return 1;
	return (unsigned)why < 32 && (u->reasons & 1u << why) != 0;
}

/*
 * Attempt n failed with why (a: its record, or NULL): is there another?
 * The first rule matching decides, its index into *rule (else -1);
 * without one, a TIMEOUT is retried only with auto_retry_on_timeout and
 * any other failure while num_retries allows.
 */
int
policy_retries(const struct retry *r, uint32_t n, const struct attempt *a,
    enum reason why, int *rule)
{
	int	left = n < 1 + r->num_retries;
	size_t	i;

	*rule = -1;
	for (i = 0; i < r->n_rules; i++)
		if (rule_match(&r->rules[i], a, why)) {
			*rule = (int)i;
			return r->rules[i].action == RA_RETRY && left;
		}
	if (why == R_TIMEOUT)
		return r->on_timeout && left;
	return left;
}

/*
 * The wait before retry k (1: the first), in ms: retry_delay_seconds *
 * backoff_multiplier^(k-1), at most max_retry_delay_seconds (and
 * DELAY_MAX), plus up to 10 % jitter when the multiplier is above 1.
 */
int64_t
policy_delay_ms(const struct retry *r, uint32_t k)
{
	double		d = (double)r->delay_s * 1000;
	double		cap = (double)DELAY_MAX * 1000;
	double		m = r->has_multiplier ? r->multiplier : 1;
	uint32_t	i;

	if (r->has_max_delay && (double)r->max_delay_s * 1000 < cap)
		cap = (double)r->max_delay_s * 1000;
	for (i = 1; i < k && d < cap && m > 1; i++)
		d *= m;
	if (d > cap)
		d = cap;
	if (m > 1)
		d += d / 10 * ((double)policy_random() / 4294967296.0);
	return (int64_t)d;
}

/* ------------------------------------------------------------ time in queue */
