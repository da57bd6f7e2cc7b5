/*
 * policy.c: the options of run policies that "jobdef create", "jobdef
 * update" and "run submit" share: the attempt's timeout, the retry
 * strategy (--retries, --retry-delay, --backoff, --max-retry-delay,
 * --retry-on, --exit-on) and the limit on time in queue; and, for
 * definitions, the job's code inline (--text FILE, --code CODE, --type).
 * Options are taken as given (numbers must be numbers); batchd checks
 * their ranges and names the field at fault.
 *
 * What is built here is malloc'd field by field, freed with
 * protobuf_c_message_free_unpacked(m, NULL) as conf.c's messages are.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batchctl.h"

#define TIMEOUT_SET	BATCHD__V1__JOB_CONFIG__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS
#define QUEUE_SET	\
    BATCHD__V1__JOB_CONFIG__MAX_QUEUE_SECONDS_OPT_MAX_QUEUE_SECONDS
#define RUN_TIMEOUT_SET	\
    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS
#define RUN_QUEUE_SET	\
    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__MAX_QUEUE_SECONDS_OPT_MAX_QUEUE_SECONDS
#define NUM_SET		BATCHD__V1__RETRY_STRATEGY__NUM_RETRIES_OPT_NUM_RETRIES
#define DELAY_SET	\
    BATCHD__V1__RETRY_STRATEGY__RETRY_DELAY_SECONDS_OPT_RETRY_DELAY_SECONDS
#define MULT_SET	\
    BATCHD__V1__RETRY_STRATEGY__BACKOFF_MULTIPLIER_OPT_BACKOFF_MULTIPLIER
#define MAX_DELAY_SET	\
    BATCHD__V1__RETRY_STRATEGY__MAX_RETRY_DELAY_SECONDS_OPT_MAX_RETRY_DELAY_SECONDS

/* What was given: bits of policy.set. */
#define P_TIMEOUT	0x01
#define P_RETRIES	0x02
#define P_DELAY		0x04
#define P_BACKOFF	0x08
#define P_MAX_DELAY	0x10
#define P_MAX_QUEUE	0x20

/*
 * One rule of --retry-on or --exit-on: "3,4,TIMEOUT" (exit codes and
 * StatusReason names, any case). 0, or an exit code (said).
 */
static int
rule_parse(const struct cmd *cmd, const char *opt, const char *arg,
    Batchd__V1__RetryAction action, Batchd__V1__RetryRule **out)
{
	const ProtobufCEnumValue	*ev;
	Batchd__V1__RetryRule		*r;
	char				*s, *tok, *save = NULL, *end, *up;
	long				 n;
	size_t				 i;

	r = xmalloc(sizeof *r);
	batchd__v1__retry_rule__init(r);
	r->action = action;
	*out = r;
	s = xstrdup(arg);
	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		errno = 0;
		n = strtol(tok, &end, 10);
		if (end != tok && *end == '\0' && errno == 0 &&
		    n >= INT32_MIN && n <= INT32_MAX) {
			r->on_exit_codes = xreallocarray(r->on_exit_codes,
			    r->n_on_exit_codes + 1, sizeof *r->on_exit_codes);
			r->on_exit_codes[r->n_on_exit_codes++] = (int32_t)n;
			continue;
		}
		up = xstrdup(tok);
		for (i = 0; up[i] != '\0'; i++)
			up[i] = (char)toupper((unsigned char)up[i]);
		ev = protobuf_c_enum_descriptor_get_value_by_name(
		    &batchd__v1__status_reason__descriptor, up);
		free(up);
		if (ev == NULL || ev->value == 0) {
			n = usage_error(cmd, "%s: '%s' is neither an exit code "
			    "nor a reason (NON_ZERO_EXIT_CODE, TIMEOUT, "
			    "KILLED_BY_SIGNAL, ...)", opt, tok);
			free(s);
			return (int)n;
		}
		r->on_reasons = xreallocarray(r->on_reasons,
		    r->n_on_reasons + 1, sizeof *r->on_reasons);
		r->on_reasons[r->n_on_reasons++] = ev->value;
	}
	free(s);
	if (r->n_on_exit_codes == 0 && r->n_on_reasons == 0)
		return usage_error(cmd, "%s: give exit codes or reasons", opt);
	return 0;
}

/* A number of seconds or a count for option opt. */
static int
number(const struct cmd *cmd, const char *opt, const char *arg,
    uint32_t *dst, struct policy *p, unsigned bit)
{
	int	rc;

	if ((rc = opt_uint(cmd, opt, arg, dst)) == 0)
		p->set |= bit;
	return rc;
}

/* --text FILE: the file's contents, and its name (the job's file). */
static int
text_file(const struct cmd *cmd, struct policy *p, const char *file)
{
	FILE		*fp = stdin;
	const char	*slash;
	char		 buf[8192];
	size_t		 n, len = 0;

	if (strcmp(file, "-") != 0 && (fp = fopen(file, "r")) == NULL)
		return usage_error(cmd, "--text: %s: %s", file, strerror(errno));
	free(p->text);
	p->text = xstrdup("");
	while ((n = fread(buf, 1, sizeof buf, fp)) > 0) {
		if (memchr(buf, '\0', n) != NULL) {
			if (fp != stdin)
				fclose(fp);
			return usage_error(cmd, "--text: %s holds a NUL byte",
			    file);
		}
		p->text = xreallocarray(p->text, len + n + 1, 1);
		memcpy(p->text + len, buf, n);
		p->text[len += n] = '\0';
	}
	if (fp != stdin)
		fclose(fp);
	if (strcmp(file, "-") != 0)
		p->text_name = (slash = strrchr(file, '/')) != NULL ?
		    slash + 1 : file;
	return 0;
}

/*
 * Take option c (arg) if it is one of the policies': 0, -1 if it is not
 * one of them, or an exit code (said).
 */
int
policy_opt(const struct cmd *cmd, struct policy *p, int c, const char *arg)
{
	Batchd__V1__RetryRule	*r = NULL;
	char			*end;
	int			 rc;

	switch (c) {
	case OPT_P_TIMEOUT:
		return number(cmd, "--timeout", arg, &p->timeout, p, P_TIMEOUT);
	case OPT_P_RETRIES:
		return number(cmd, "--retries", arg, &p->retries, p, P_RETRIES);
	case OPT_P_DELAY:
		return number(cmd, "--retry-delay", arg, &p->delay, p,
		    P_DELAY);
	case OPT_P_MAX_DELAY:
		return number(cmd, "--max-retry-delay", arg, &p->max_delay, p,
		    P_MAX_DELAY);
	case OPT_P_MAX_QUEUE:
		return number(cmd, "--max-queue", arg, &p->max_queue, p,
		    P_MAX_QUEUE);
	case OPT_P_BACKOFF:
		errno = 0;
		p->backoff = strtod(arg, &end);
		if (errno != 0 || end == arg || *end != '\0')
			return usage_error(cmd, "--backoff: '%s' is not a "
			    "number", arg);
		p->set |= P_BACKOFF;
		return 0;
	case OPT_P_RETRY_ON:
	case OPT_P_EXIT_ON:
		rc = rule_parse(cmd, c == OPT_P_RETRY_ON ? "--retry-on" :
		    "--exit-on", arg, c == OPT_P_RETRY_ON ?
		    BATCHD__V1__RETRY_ACTION__RETRY :
		    BATCHD__V1__RETRY_ACTION__EXIT, &r);
		p->rules = xreallocarray(p->rules, p->n_rules + 1,
		    sizeof *p->rules);
		p->rules[p->n_rules++] = r;
		return rc;
	case OPT_P_TEXT:
		return text_file(cmd, p, arg);
	case OPT_P_CODE:
		free(p->text);
		p->text = xstrdup(arg);
		p->text_name = NULL;
		return 0;
	case OPT_P_TYPE:
		if (strcasecmp(arg, "PYTHON") == 0)
			p->type = BATCHD__V1__JOB_TYPE__PYTHON;
		else if (strcasecmp(arg, "SQL") == 0)
			p->type = BATCHD__V1__JOB_TYPE__SQL;
		else
			return usage_error(cmd, "--type: '%s' is not PYTHON or "
			    "SQL", arg);
		return 0;
	}
	return -1;
}

/* Was any option of a definition given? */
int
policy_any(const struct policy *p)
{
	return p->set != 0 || p->n_rules > 0 || p->text != NULL ||
	    p->type != 0;
}

/* The retry options into r (rules moved there). */
static void
retry_apply(struct policy *p, Batchd__V1__RetryStrategy *r)
{
	size_t	i;

	if (p->set & P_RETRIES) {
		r->num_retries_opt_case = NUM_SET;
		r->num_retries = p->retries;
	}
	if (p->set & P_DELAY) {
		r->retry_delay_seconds_opt_case = DELAY_SET;
		r->retry_delay_seconds = p->delay;
	}
	if (p->set & P_BACKOFF) {
		r->backoff_multiplier_opt_case = MULT_SET;
		r->backoff_multiplier = p->backoff;
	}
	if (p->set & P_MAX_DELAY) {
		r->max_retry_delay_seconds_opt_case = MAX_DELAY_SET;
		r->max_retry_delay_seconds = p->max_delay;
	}
	if (p->n_rules == 0)
		return;
	for (i = 0; i < r->n_rules; i++)
		protobuf_c_message_free_unpacked(&r->rules[i]->base, NULL);
	free(r->rules);
	r->rules = p->rules;
	r->n_rules = p->n_rules;
	p->rules = NULL;
	p->n_rules = 0;
}

/* Does p set anything of a retry strategy? */
static int
retry_given(const struct policy *p)
{
	return (p->set & (P_RETRIES | P_DELAY | P_BACKOFF | P_MAX_DELAY)) != 0 ||
	    p->n_rules > 0;
}

/* A new retry strategy, empty. */
static Batchd__V1__RetryStrategy *
retry_new(void)
{
	Batchd__V1__RetryStrategy	*r;

	r = xmalloc(sizeof *r);
	batchd__v1__retry_strategy__init(r);
	return r;
}

/* --text or --code: c's source becomes a TEXT source of it. */
static void
text_apply(struct policy *p, JobConfig *c)
{
	Batchd__V1__JobSource	*s;

	if (c->source != NULL)
		protobuf_c_message_free_unpacked(&c->source->base, NULL);
	s = c->source = xmalloc(sizeof *s);
	batchd__v1__job_source__init(s);
	s->type = BATCHD__V1__SOURCE_TYPE__TEXT;
	s->definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_TEXT;
	s->text = xmalloc(sizeof *s->text);
	batchd__v1__text_source__init(s->text);
	s->text->text = p->text;
	p->text = NULL;
	if (p->text_name != NULL && *c->source_location == '\0') {
		if (c->source_location != protobuf_c_empty_string)
			free(c->source_location);
		c->source_location = xstrdup(p->text_name);
		if (p->type == 0 && c->type == 0) {
			size_t	n = strlen(p->text_name);

			if (n > 4 && strcmp(p->text_name + n - 4, ".sql") == 0)
				c->type = BATCHD__V1__JOB_TYPE__SQL;
		}
	}
}

/*
 * Apply the options of a definition to *cfg (a new empty configuration
 * if NULL). The job type defaults to PYTHON (SQL for --text FILE.sql).
 */
void
policy_job(struct policy *p, JobConfig **cfg)
{
	JobConfig	*c;

	if ((c = *cfg) == NULL) {
		c = *cfg = xmalloc(sizeof *c);
		batchd__v1__job_config__init(c);
	}
	if (p->text != NULL)
		text_apply(p, c);
	if (p->type != 0)
		c->type = p->type;
	else if (c->type == 0)
		c->type = BATCHD__V1__JOB_TYPE__PYTHON;
	if (p->set & P_TIMEOUT) {
		c->timeout_seconds_opt_case = TIMEOUT_SET;
		c->timeout_seconds = p->timeout;
	}
	if (p->set & P_MAX_QUEUE) {
		c->max_queue_seconds_opt_case = QUEUE_SET;
		c->max_queue_seconds = p->max_queue;
	}
	if (retry_given(p)) {
		if (c->retry_strategy == NULL)
			c->retry_strategy = retry_new();
		retry_apply(p, c->retry_strategy);
	}
}

/* Apply the options of one run to run.submit's request. */
void
policy_submit(struct policy *p, Batchd__V1__SubmitJobRunRequest *req)
{
	if (p->set & P_TIMEOUT) {
		req->timeout_seconds_opt_case = RUN_TIMEOUT_SET;
		req->timeout_seconds = p->timeout;
	}
	if (p->set & P_MAX_QUEUE) {
		req->max_queue_seconds_opt_case = RUN_QUEUE_SET;
		req->max_queue_seconds = p->max_queue;
	}
	if (retry_given(p)) {
		req->retry_strategy = retry_new();
		retry_apply(p, req->retry_strategy);
	}
}

/* Free what the options hold (not what they were applied to). */
void
policy_free(struct policy *p)
{
	size_t	i;

	for (i = 0; i < p->n_rules; i++)
		protobuf_c_message_free_unpacked(&p->rules[i]->base, NULL);
	free(p->rules);
	free(p->text);
	memset(p, 0, sizeof *p);
}
