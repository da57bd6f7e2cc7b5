/*
 * show.c: how entities are printed: with -o json one JSON object per entity
 * and lists as an array (pbjson.c); otherwise "Key: value" details for one
 * entity and aligned tables for lists, with times relative to now.
 */
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

#define EXIT_SET	BATCHD__V1__JOB_RUN__EXIT_CODE_OPT_EXIT_CODE
#define ARGS_SET	BATCHD__V1__JOB_RUN__ARGS_OPT_ARGS
#define ATT_EXIT_SET	BATCHD__V1__JOB_RUN_ATTEMPT__EXIT_CODE_OPT_EXIT_CODE
#define EV_EXIT_SET	\
    BATCHD__V1__JOB_RUN_STATUS_EVENT__EXIT_CODE_OPT_EXIT_CODE
#define SCHED_ARGS	BATCHD__V1__SCHEDULE__ARGS_OPT_ARGS

/* "WORKSPACE jobs/etl.py", "GIT https://... @main", "S3 bucket/key". */
static const char *
source_text(const JobConfig *c, char *buf, size_t len)
{
	const Batchd__V1__JobSource	*s = c->source;
	const char			*type;

	if (s == NULL)
		return "-";
	type = fmt_enum(&batchd__v1__source_type__descriptor, s->type);
	switch (s->definition_case) {
	case BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE:
		snprintf(buf, len, "%s %s", type, s->workspace->path);
		break;
	case BATCHD__V1__JOB_SOURCE__DEFINITION_GIT:
		snprintf(buf, len, "%s %s%s%s", type, s->git->repo_url,
		    *s->git->reference != '\0' ? " @" : "",
		    s->git->reference);
		break;
	case BATCHD__V1__JOB_SOURCE__DEFINITION_S3:
		snprintf(buf, len, "%s %s (%s)", type, s->s3->bucket_path,
		    s->s3->region);
		break;
	case BATCHD__V1__JOB_SOURCE__DEFINITION_TEXT:
		snprintf(buf, len, "%s (%zu bytes)", type,
		    strlen(s->text->text));
		break;
	default:
		snprintf(buf, len, "%s", type);
		break;
	}
	return buf;
}

/* "A=1 B=two" of a map<string, string> field; owned by the caller. */
static char *
env_text(void *const *env, size_t n)
{
	const ProtobufCMessage			*m;
	const ProtobufCMessageDescriptor	*d;
	const char				*k, *v;
	char					*s = xstrdup(""), *t;
	size_t					 i;

	for (i = 0; i < n; i++) {
		m = env[i];
		d = m->descriptor;
		k = *(char *const *)(const void *)((const char *)m +
		    d->fields[0].offset);
		v = *(char *const *)(const void *)((const char *)m +
		    d->fields[1].offset);
		xasprintf(&t, "%s%s%s=%s", s, i == 0 ? "" : " ", k, v);
		free(s);
		s = t;
	}
	return s;
}

/* "m5.large x2, version 3.5". */
static const char *
cluster_text(const ClusterConfig *c, char *buf, size_t len)
{
	if (c == NULL)
		return "-";
	snprintf(buf, len, "%s x%u%s%s", c->instance_type,
	    c->workers_quantity, *c->version != '\0' ? ", version " : "",
	    c->version);
	return buf;
}

/* "exit 3,4 or TIMEOUT: RETRY; exit 9: EXIT" of a strategy's rules. */
static char *
rules_text(const Batchd__V1__RetryStrategy *r)
{
	const Batchd__V1__RetryRule	*u;
	char				*s = xstrdup(""), *t;
	size_t				 i, j;

	for (i = 0; i < r->n_rules; i++) {
		u = r->rules[i];
		xasprintf(&t, "%s%s%s", s, i == 0 ? "" : "; ",
		    u->n_on_exit_codes > 0 ? "exit " : "");
		free(s);
		s = t;
		for (j = 0; j < u->n_on_exit_codes; j++) {
			xasprintf(&t, "%s%s%d", s, j == 0 ? "" : ",",
			    u->on_exit_codes[j]);
			free(s);
			s = t;
		}
		for (j = 0; j < u->n_on_reasons; j++) {
			xasprintf(&t, "%s%s%s", s, j == 0 &&
			    u->n_on_exit_codes == 0 ? "" : " or ", fmt_enum(
			    &batchd__v1__status_reason__descriptor,
			    u->on_reasons[j]));
			free(s);
			s = t;
		}
		xasprintf(&t, "%s: %s", s, fmt_enum(
		    &batchd__v1__retry_action__descriptor, u->action));
		free(s);
		s = t;
	}
	return s;
}

/* The retry strategy's lines. */
static void
show_retry(const Batchd__V1__RetryStrategy *r)
{
	char	*rules, max[48] = "";

	fmt_kv("Retries", "%u, %us apart, on timeout: %s", r->num_retries,
	    r->retry_delay_seconds, r->auto_retry_on_timeout ? "yes" : "no");
	if (r->max_retry_delay_seconds_opt_case != 0)
		snprintf(max, sizeof max, ", at most %us",
		    r->max_retry_delay_seconds);
	if ((r->backoff_multiplier_opt_case != 0 &&
	    r->backoff_multiplier != 1) || max[0] != '\0')
		fmt_kv("Back-off", "x%g%s", r->backoff_multiplier_opt_case ?
		    r->backoff_multiplier : 1, max);
	if (r->n_rules > 0) {
		rules = rules_text(r);
		fmt_kv("Retry rules", "%s", rules);
		free(rules);
	}
}

/* The lines of a job configuration. */
static void
show_config(const JobConfig *c)
{
	const Batchd__V1__RetryStrategy	*r = c->retry_strategy;
	const Batchd__V1__GitSource	*g;
	char				 buf[1024], *env;

	fmt_kv("Type", "%s", fmt_enum(&batchd__v1__job_type__descriptor,
	    c->type));
	fmt_kv("Source", "%s", source_text(c, buf, sizeof buf));
	if (c->source != NULL && c->source->definition_case ==
	    BATCHD__V1__JOB_SOURCE__DEFINITION_GIT) {
		g = c->source->git;
		if (*g->username != '\0')
			fmt_kv("Git user", "%s%s", g->username,
			    *g->token != '\0' ? " (token ****)" : "");
	}
	fmt_kv("Location", "%s", c->source_location);
	fmt_kv("Args", "%s", *c->args != '\0' ? c->args : "-");
	if (r != NULL)
		show_retry(r);
	if (c->timeout_seconds_opt_case != 0)
		fmt_kv("Timeout", "%us", c->timeout_seconds);
	if (c->max_queue_seconds_opt_case != 0)
		fmt_kv("Max queue", "%us", c->max_queue_seconds);
	env = env_text((void *const *)c->env, c->n_env);
	fmt_kv("Env", "%s", *env != '\0' ? env : "-");
	free(env);
}

/* One job definition. */
void
show_jobdef(const JobDef *d)
{
	char	buf[256];

	if (ctl.out == OUT_JSON) {
		pbjson_print(d);
		return;
	}
	fmt_kv("Name", "%s", d->name);
	fmt_kv("UUID", "%s", d->uuid);
	fmt_kv("Workspace", "%s", d->workspace);
	fmt_kv("Description", "%s", *d->description != '\0' ?
	    d->description : "-");
	if (d->config != NULL)
		show_config(d->config);
	fmt_kv("Cluster", "%s", cluster_text(d->cluster_config, buf,
	    sizeof buf));
	fmt_kv("Created", "%s", fmt_time(d->created_at_ms, buf, sizeof buf));
	fmt_kv("Updated", "%s", fmt_time(d->updated_at_ms, buf, sizeof buf));
}

/* A list of job definitions. */
void
show_jobdefs(JobDef **d, size_t n)
{
	struct table	*t;
	char		 src[512], ago[32];
	size_t		 i;

	if (ctl.out == OUT_JSON) {
		pbjson_print_list((void **)d, n);
		return;
	}
	t = table_new("NAME", "UUID", "TYPE", "SOURCE", "LOCATION", "UPDATED",
	    NULL);
	for (i = 0; i < n; i++)
		table_add(t, d[i]->name, d[i]->uuid, d[i]->config == NULL ?
		    "-" : fmt_enum(&batchd__v1__job_type__descriptor,
		    d[i]->config->type), d[i]->config == NULL ? "-" :
		    source_text(d[i]->config, src, sizeof src),
		    d[i]->config == NULL ? "-" : d[i]->config->source_location,
		    fmt_ago(d[i]->updated_at_ms, ago, sizeof ago));
	table_print(t, stdout);
	table_free(t);
}

/* One cluster. */
void
show_cluster(const Cluster *c)
{
	char	buf[256];

	if (ctl.out == OUT_JSON) {
		pbjson_print(c);
		return;
	}
	fmt_kv("Name", "%s", c->name);
	fmt_kv("UUID", "%s", c->uuid);
	fmt_kv("Workspace", "%s", c->workspace);
	fmt_kv("State", "%s", fmt_enum(
	    &batchd__v1__cluster__cluster_state__descriptor, c->state));
	fmt_kv("Config", "%s", cluster_text(c->config, buf, sizeof buf));
	fmt_kv("Auto-resume", "%s", c->auto_resume ? "yes" : "no");
	fmt_kv("Ephemeral", "%s", c->ephemeral ? "yes" : "no");
	fmt_kv("Queued", "%u", c->queued);
	fmt_kv("Active run", "%s", *c->active_run_uuid != '\0' ?
	    c->active_run_uuid : "-");
	fmt_kv("Created", "%s", fmt_time(c->created_at_ms, buf, sizeof buf));
}

/* A list of clusters. */
void
show_clusters(Cluster **c, size_t n)
{
	struct table	*t;
	char		 workers[16], queued[16], ago[32];
	size_t		 i;

	if (ctl.out == OUT_JSON) {
		pbjson_print_list((void **)c, n);
		return;
	}
	t = table_new("NAME", "UUID", "STATE", "INSTANCE", "WORKERS", "QUEUED",
	    "ACTIVE RUN", "CREATED", NULL);
	for (i = 0; i < n; i++) {
		snprintf(workers, sizeof workers, "%u", c[i]->config == NULL ?
		    0 : c[i]->config->workers_quantity);
		snprintf(queued, sizeof queued, "%u", c[i]->queued);
		table_add(t, c[i]->name, c[i]->uuid, fmt_enum(
		    &batchd__v1__cluster__cluster_state__descriptor,
		    c[i]->state), c[i]->config == NULL ? "-" :
		    c[i]->config->instance_type, workers, queued,
		    c[i]->active_run_uuid, fmt_ago(c[i]->created_at_ms, ago,
		    sizeof ago));
	}
	table_print(t, stdout);
	table_free(t);
}

/* How long a run or attempt took (or has taken so far). */
static const char *
took(int64_t started, int64_t finished, char *buf, size_t len)
{
	if (started <= 0)
		return "-";
	return fmt_duration((finished > 0 ? finished : fmt_now_ms()) -
	    started, buf, len);
}

/* The attempts of a run, as a table. */
static void
show_attempts(const JobRun *r)
{
	const Batchd__V1__JobRunAttempt	*a;
	struct table			*t;
	char				 n[16], code[16], ago[32], dur[32];
	size_t				 i;

	t = table_new("  ATTEMPT", "STATUS", "REASON", "EXIT", "STARTED",
	    "DURATION", NULL);
	for (i = 0; i < r->n_attempts; i++) {
		a = r->attempts[i];
		snprintf(n, sizeof n, "  %u", a->attempt);
		if (a->exit_code_opt_case == ATT_EXIT_SET)
			snprintf(code, sizeof code, "%d", a->exit_code);
		else if (a->signal != 0)
			snprintf(code, sizeof code, "signal %d", a->signal);
		else
			code[0] = '\0';
		table_add(t, n, fmt_status(a->status), a->reason_text, code,
		    fmt_ago(a->started_at_ms, ago, sizeof ago),
		    took(a->started_at_ms, a->finished_at_ms, dur, sizeof dur));
	}
	table_print(t, stdout);
	table_free(t);
}

/* A run's place in a workflow: its upstream and downstream runs. */
static void
show_flow(const JobRun *r)
{
	const char	*cond;
	size_t		 i;

	if (*r->rerun_of != '\0')
		fmt_kv("Rerun of", "%s", r->rerun_of);
	for (i = 0; i < r->n_depends_on; i++) {
		cond = fmt_enum(&batchd__v1__dependency_condition__descriptor,
		    r->depends_on[i]->condition);
		if (i == 0)
			printf("Upstream:");
		printf("%*s%s %s%s\n", i == 0 ? 5 : 14, "",
		    r->depends_on[i]->run_uuid, cond,
		    r->depends_met & (uint64_t)1 << i ? " (met)" : "");
	}
	for (i = 0; i < r->n_dependents; i++) {
		if (i == 0)
			printf("Downstream:");
		printf("%*s%s\n", i == 0 ? 3 : 14, "", r->dependents[i]);
	}
}

/* One run. */
void
show_run(const JobRun *r)
{
	char	buf[256], *env;

	if (ctl.out == OUT_JSON) {
		pbjson_print(r);
		return;
	}
	fmt_kv("UUID", "%s", r->uuid);
	fmt_kv("Status", "%s%s%s%s", fmt_status(r->status),
	    *r->reason_text != '\0' ? " (" : "", r->reason_text,
	    *r->reason_text != '\0' ? ")" : "");
	fmt_kv("Type", "%s", fmt_enum(&batchd__v1__job_type__descriptor,
	    r->type));
	if (*r->job_definition_uuid != '\0')
		fmt_kv("Definition", "%s", r->job_definition_uuid);
	if (*r->sql_query != '\0')
		fmt_kv("SQL", "%s", r->sql_query);
	fmt_kv("Cluster", "%s%s", r->cluster_uuid, r->ephemeral_cluster ?
	    " (ephemeral)" : "");
	if (r->status == BATCHD__V1__JOB_RUN_STATUS__PENDING &&
	    r->queue_position > 0)
		fmt_kv("In queue", "position %u", r->queue_position);
	fmt_kv("Attempt", "%u", r->attempt);
	if (r->exit_code_opt_case == EXIT_SET)
		fmt_kv("Exit code", "%d", r->exit_code);
	if (r->args_opt_case == ARGS_SET)
		fmt_kv("Args", "%s", r->args);
	if (r->n_env > 0) {
		env = env_text((void *const *)r->env, r->n_env);
		fmt_kv("Env", "%s", env);
		free(env);
	}
	if (*r->idempotency_key != '\0')
		fmt_kv("Idempotency", "%s", r->idempotency_key);
	show_flow(r);
	fmt_kv("Submitted", "%s", fmt_time(r->submitted_at_ms, buf,
	    sizeof buf));
	fmt_kv("Started", "%s", fmt_time(r->started_at_ms, buf, sizeof buf));
	fmt_kv("Finished", "%s", fmt_time(r->finished_at_ms, buf,
	    sizeof buf));
	fmt_kv("Duration", "%s", took(r->started_at_ms, r->finished_at_ms,
	    buf, sizeof buf));
	if (r->n_attempts > 0) {
		printf("Attempts:\n");
		show_attempts(r);
	}
}

/* A list of runs. */
void
show_runs(JobRun **r, size_t n)
{
	struct table	*t;
	char		 att[16], code[16], ago[32], dur[32];
	size_t		 i;

	if (ctl.out == OUT_JSON) {
		pbjson_print_list((void **)r, n);
		return;
	}
	t = table_new("RUN", "STATUS", "REASON", "TYPE", "ATTEMPT", "EXIT",
	    "SUBMITTED", "DURATION", NULL);
	for (i = 0; i < n; i++) {
		snprintf(att, sizeof att, "%u", r[i]->attempt);
		if (r[i]->exit_code_opt_case == EXIT_SET)
			snprintf(code, sizeof code, "%d", r[i]->exit_code);
		else
			code[0] = '\0';
		table_add(t, r[i]->uuid, fmt_status(r[i]->status),
		    r[i]->reason_text, fmt_enum(
		    &batchd__v1__job_type__descriptor, r[i]->type), att, code,
		    fmt_ago(r[i]->submitted_at_ms, ago, sizeof ago),
		    took(r[i]->started_at_ms, r[i]->finished_at_ms, dur,
		    sizeof dur));
	}
	table_print(t, stdout);
	table_free(t);
}

/* "PENDING -> RUNNING", or "PENDING" for the first event. */
static const char *
transition(const RunEvent *e, char *buf, size_t len)
{
	if (e->previous_status == 0)
		snprintf(buf, len, "%s", fmt_status(e->status));
	else
		snprintf(buf, len, "%s -> %s", fmt_status(e->previous_status),
		    fmt_status(e->status));
	return buf;
}

/* The stored history of a run. */
void
show_events(RunEvent **e, size_t n)
{
	struct table	*t;
	char		 seq[24], att[16], code[16], at[64], tr[64];
	size_t		 i;

	if (ctl.out == OUT_JSON) {
		pbjson_print_list((void **)e, n);
		return;
	}
	t = table_new("SEQ", "TIME", "STATUS", "REASON", "ATTEMPT", "EXIT",
	    NULL);
	for (i = 0; i < n; i++) {
		snprintf(seq, sizeof seq, "%llu", (unsigned long long)e[i]->seq);
		snprintf(att, sizeof att, "%u", e[i]->attempt);
		if (e[i]->exit_code_opt_case == EV_EXIT_SET)
			snprintf(code, sizeof code, "%d", e[i]->exit_code);
		else
			code[0] = '\0';
		table_add(t, seq, fmt_time(e[i]->at_ms, at, sizeof at),
		    transition(e[i], tr, sizeof tr), e[i]->reason_text, att,
		    code);
	}
	table_print(t, stdout);
	table_free(t);
}

/* One live event (and/or the header) on a line of stdout, flushed. */
void
show_event_line(const RunEvent *e, int header)
{
	char	at[32], tr[64], code[32];

	if (ctl.out == OUT_JSON) {
		if (e != NULL)
			pbjson_print_line(e);
		return;
	}
	if (header)
		printf("%-12s  %-36s  %-22s  %-18s  %-7s  %s\n", "TIME", "RUN",
		    "STATUS", "REASON", "ATTEMPT", "EXIT");
	if (e == NULL) {
		fflush(stdout);
		return;
	}
	if (e->exit_code_opt_case == EV_EXIT_SET)
		snprintf(code, sizeof code, "%d", e->exit_code);
	else
		snprintf(code, sizeof code, "-");
	printf("%-12s  %-36s  %-22s  %-18s  %-7u  %s\n", fmt_clock(e->at_ms,
	    at, sizeof at), e->run_uuid, transition(e, tr, sizeof tr),
	    *e->reason_text != '\0' ? e->reason_text : "-", e->attempt, code);
	fflush(stdout);
}

/* Say that something was deleted, as a line or a JSON object. */
void
show_deleted(const char *what, const char *uuid)
{
	json_t	*j;

	if (ctl.out == OUT_JSON) {
		j = json_pack("{s:s, s:b}", "uuid", uuid, "deleted", 1);
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	} else
		printf("deleted %s %s\n", what, uuid);
}

/* "2026-12-08 02:00:00 CET (in 9h)", local; "-" for 0. */
static const char *
fire_text(int64_t ms, char *buf, size_t len)
{
	char	when[64], ago[32];

	if (ms <= 0)
		return "-";
	snprintf(buf, len, "%s (%s)", fmt_local(ms, NULL, when, sizeof when),
	    fmt_ago(ms, ago, sizeof ago));
	return buf;
}

/* One schedule: its fires in the user's local time and in its own zone. */
void
show_schedule(const Schedule *s)
{
	char	buf[256], zone[64], *env;

	if (ctl.out == OUT_JSON) {
		pbjson_print(s);
		return;
	}
	fmt_kv("Name", "%s", s->name);
	fmt_kv("UUID", "%s", s->uuid);
	fmt_kv("Workspace", "%s", s->workspace);
	fmt_kv("Description", "%s", *s->description != '\0' ?
	    s->description : "-");
	fmt_kv("Cron", "%s", s->cron);
	fmt_kv("Time zone", "%s", s->timezone);
	fmt_kv("State", "%s", s->paused ? "paused" : "active");
	if (s->next_fire_at_ms > 0)
		fmt_kv("Next fire", "%s = %s (%s)", fire_text(
		    s->next_fire_at_ms, buf, sizeof buf), fmt_local(
		    s->next_fire_at_ms, s->timezone, zone, sizeof zone),
		    s->timezone);
	else
		fmt_kv("Next fire", "-");
	fmt_kv("Last fire", "%s", fire_text(s->last_fire_at_ms, buf,
	    sizeof buf));
	fmt_kv("Last run", "%s", *s->last_run_uuid != '\0' ?
	    s->last_run_uuid : "-");
	fmt_kv("Fires", "%llu started a run, %llu skipped",
	    (unsigned long long)s->fires, (unsigned long long)s->skipped);
	fmt_kv("Job definition", "%s", s->job_definition_uuid);
	if (*s->cluster_uuid != '\0')
		fmt_kv("Cluster", "%s%s", s->cluster_uuid,
		    s->pause_cluster_when_finished ? " (paused when a run "
		    "finishes)" : "");
	else
		fmt_kv("Cluster", "a new one per run: %s", s->cluster_config !=
		    NULL ? cluster_text(s->cluster_config, buf, sizeof buf) :
		    "the definition's");
	fmt_kv("Args", "%s", s->args_opt_case == SCHED_ARGS ? s->args :
	    "the definition's");
	env = env_text((void *const *)s->env, s->n_env);
	fmt_kv("Env", "%s", *env != '\0' ? env : "-");
	free(env);
	if (s->max_concurrent_runs != 0)
		fmt_kv("Max concurrent", "%u", s->max_concurrent_runs);
	else
		fmt_kv("Max concurrent", "no limit");
	fmt_kv("Misfires", "%s", fmt_enum(
	    &batchd__v1__misfire_policy__descriptor, s->misfire_policy));
	fmt_kv("Created", "%s", fmt_time(s->created_at_ms, buf, sizeof buf));
	fmt_kv("Updated", "%s", fmt_time(s->updated_at_ms, buf, sizeof buf));
}

/* A list of schedules; NEXT FIRE in the user's local time. */
void
show_schedules(Schedule **s, size_t n)
{
	struct table	*t;
	char		 next[64], fires[24], skipped[24];
	size_t		 i;

	if (ctl.out == OUT_JSON) {
		pbjson_print_list((void **)s, n);
		return;
	}
	t = table_new("NAME", "UUID", "CRON", "TIME ZONE", "STATE",
	    "NEXT FIRE", "FIRES", "SKIPPED", "LAST RUN", NULL);
	for (i = 0; i < n; i++) {
		snprintf(fires, sizeof fires, "%llu",
		    (unsigned long long)s[i]->fires);
		snprintf(skipped, sizeof skipped, "%llu",
		    (unsigned long long)s[i]->skipped);
		table_add(t, s[i]->name, s[i]->uuid, s[i]->cron,
		    s[i]->timezone, s[i]->paused ? "paused" : "active",
		    fmt_local(s[i]->next_fire_at_ms, NULL, next, sizeof next),
		    fires, skipped, *s[i]->last_run_uuid != '\0' ?
		    s[i]->last_run_uuid : "-");
	}
	table_print(t, stdout);
	table_free(t);
}
