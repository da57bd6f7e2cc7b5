/*
 * wire-retry.c: the RetryStrategy message <-> struct retry, for a
 * definition's configuration, a run's snapshot and run.submit's override
 * alike. A request's (e set) is checked for shape on the way in: counts,
 * exit codes (1..255), enum ranges; what the values mean is policy.c's to
 * check. A rule's codes and reasons become bit sets, so they come back out
 * in order, each once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "wire.h"

#define NUM_SET		BATCHD__V1__RETRY_STRATEGY__NUM_RETRIES_OPT_NUM_RETRIES
#define DELAY_SET	\
    BATCHD__V1__RETRY_STRATEGY__RETRY_DELAY_SECONDS_OPT_RETRY_DELAY_SECONDS
#define ON_TIMEOUT_SET	\
    BATCHD__V1__RETRY_STRATEGY__AUTO_RETRY_ON_TIMEOUT_OPT_AUTO_RETRY_ON_TIMEOUT
#define MULT_SET	\
    BATCHD__V1__RETRY_STRATEGY__BACKOFF_MULTIPLIER_OPT_BACKOFF_MULTIPLIER
#define MAX_DELAY_SET	\
    BATCHD__V1__RETRY_STRATEGY__MAX_RETRY_DELAY_SECONDS_OPT_MAX_RETRY_DELAY_SECONDS

/* A RetryRule into u (zeroed); p names it in a request ("...rules[0]"). */
static int
rule_in(struct retryrule *u, const Batchd__V1__RetryRule *m, const char *p,
    struct error *e)
{
	char	f[192] = "";
	size_t	i;
	int	c, v;

	if (e != NULL && m->n_on_exit_codes > RULE_CODES_MAX) {
		snprintf(f, sizeof f, "%s.on_exit_codes", p);
		error_set(e, E_INVALID, f, "%s has more than %d entries", f,
		    RULE_CODES_MAX);
		return -1;
	}
	for (i = 0; i < m->n_on_exit_codes; i++) {
		if ((c = m->on_exit_codes[i]) >= 1 && c <= 255) {
			u->codes[c / 8] |= (uint8_t)(1u << (c % 8));
			continue;
		}
		if (e == NULL)
			continue;
		snprintf(f, sizeof f, "%s.on_exit_codes[%zu]", p, i);
		error_set(e, E_INVALID, f, "%s: %d is not the exit code of a "
		    "failed attempt (1 to 255)", f, c);
		return -1;
	}
	if (e != NULL && m->n_on_reasons > 32) {
		snprintf(f, sizeof f, "%s.on_reasons", p);
		error_set(e, E_INVALID, f, "%s has more than 32 entries", f);
		return -1;
	}
	for (i = 0; i < m->n_on_reasons; i++) {
		if (e != NULL)
			snprintf(f, sizeof f, "%s.on_reasons", p);
		if (wire_enum_in(&v, m->on_reasons[i], R__COUNT - 1, f, e) ==
		    -1)
			return -1;
		if (v >= 0 && v < 32)
			u->reasons |= 1u << v;
	}
	if (e != NULL)
		snprintf(f, sizeof f, "%s.action", p);
	if (wire_enum_in(&v, m->action, RA_EXIT, f, e) == -1)
		return -1;
	u->action = v;
	return 0;
}

/* A RetryStrategy into r (zeroed); p names it in a request. 0 or -1. */
int
wire_retry_in(struct retry *r, const Batchd__V1__RetryStrategy *m,
    const char *p, struct error *e)
{
	char	f[128];
	size_t	i;

	if ((r->has_num = m->num_retries_opt_case == NUM_SET))
		r->num_retries = m->num_retries;
	if ((r->has_delay = m->retry_delay_seconds_opt_case == DELAY_SET))
		r->delay_s = m->retry_delay_seconds;
	if ((r->has_on_timeout = m->auto_retry_on_timeout_opt_case ==
	    ON_TIMEOUT_SET))
		r->on_timeout = m->auto_retry_on_timeout;
	if ((r->has_multiplier = m->backoff_multiplier_opt_case == MULT_SET))
		r->multiplier = m->backoff_multiplier;
	if ((r->has_max_delay = m->max_retry_delay_seconds_opt_case ==
	    MAX_DELAY_SET))
		r->max_delay_s = m->max_retry_delay_seconds;
	if (e != NULL && m->n_rules > RULES_MAX) {
		snprintf(f, sizeof f, "%s.rules", p);
		error_set(e, E_INVALID, f, "%s has more than %d rules", f,
		    RULES_MAX);
		return -1;
	}
	for (i = 0; i < m->n_rules && i < RULES_MAX; i++) {
		if (e != NULL)
			snprintf(f, sizeof f, "%s.rules[%zu]", p, i);
		if (rule_in(&r->rules[i], m->rules[i], f, e) == -1)
			return -1;
	}
	r->n_rules = i;
	return 0;
}

/* The messages of a strategy's rules, made only when it has some. */
struct pb_rules {
	Batchd__V1__RetryRule		 rules[RULES_MAX];
	Batchd__V1__RetryRule		*rulep[RULES_MAX];
	int32_t				 codes[RULES_MAX][255];
	Batchd__V1__StatusReason	 reasons[RULES_MAX][32];
};

/* The RetryRule of u into o's rule i. */
static void
rule_out(struct pb_rules *o, size_t i, const struct retryrule *u)
{
	Batchd__V1__RetryRule	*m = &o->rules[i];
	int			 c;

	batchd__v1__retry_rule__init(m);
	m->on_exit_codes = o->codes[i];
	for (c = 1; c <= 255; c++)
		if (u->codes[c / 8] & 1u << (c % 8))
			m->on_exit_codes[m->n_on_exit_codes++] = c;
	m->on_reasons = o->reasons[i];
	for (c = 0; c < 32; c++)
		if (u->reasons & 1u << c)
			m->on_reasons[m->n_on_reasons++] =
			    (Batchd__V1__StatusReason)c;
	m->action = (Batchd__V1__RetryAction)u->action;
	o->rulep[i] = m;
}

/*
 * The RetryStrategy of r into o (o->r); free with wire_retry_out_free().
 * num_retries, retry_delay_seconds and auto_retry_on_timeout are always
 * set (their defaults are filled in), the others when they are.
 */
void
wire_retry_out(struct pb_retry *o, const struct retry *r)
{
	size_t	i;

	batchd__v1__retry_strategy__init(&o->r);
	o->r.num_retries_opt_case = NUM_SET;
	o->r.num_retries = r->num_retries;
	o->r.retry_delay_seconds_opt_case = DELAY_SET;
	o->r.retry_delay_seconds = r->delay_s;
	o->r.auto_retry_on_timeout_opt_case = ON_TIMEOUT_SET;
	o->r.auto_retry_on_timeout = r->on_timeout;
	if (r->has_multiplier) {
		o->r.backoff_multiplier_opt_case = MULT_SET;
		o->r.backoff_multiplier = r->multiplier;
	}
	if (r->has_max_delay) {
		o->r.max_retry_delay_seconds_opt_case = MAX_DELAY_SET;
		o->r.max_retry_delay_seconds = r->max_delay_s;
	}
	o->rules = NULL;
	if (r->n_rules == 0)
		return;
	o->rules = xmalloc(sizeof *o->rules);
	for (i = 0; i < r->n_rules && i < RULES_MAX; i++)
		rule_out(o->rules, i, &r->rules[i]);
	o->r.n_rules = i;
	o->r.rules = o->rules->rulep;
}

/* Free what wire_retry_out() made. */
void
wire_retry_out_free(struct pb_retry *o)
{
	free(o->rules);
	o->rules = NULL;
}
