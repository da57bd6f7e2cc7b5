/*
 * wire-request.c: each verb's request decoder, and page tokens.
 *
 * A decoder unpacks its message and copies it into a struct request,
 * checking its shape on the way in (wire.c's converters with e set:
 * sizes, UTF-8, enum ranges, UUID syntax); meaning is the handler's to
 * check. Each verb's entry (verb.c lists them) points at its decoder; a
 * few verbs whose messages are alike share one. wire_request_decode()
 * bounds the payload first. Page tokens are made and checked here (one
 * decoder for the three lists).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "wire.h"

/*
 * Decode the payload of verb v into r (zeroed by the caller). Returns 0, or
 * -1 with e set; r is to be freed with request_free() either way.
 */
int
wire_request_decode(const struct verb_entry *v, const void *data, size_t len,
    struct request *r, struct error *e)
{
	r->verb = v;
	if (len > cfg->max_message_bytes) {
		error_set(e, E_INVALID, "payload", "payload of %zu bytes is "
		    "over the limit of %u", len, cfg->max_message_bytes);
		return -1;
	}
	return v->decode(data, len, r, e);
}

/* page_size and page_token of a request for list (r->ws set). */
static int
page_in(struct request *r, enum pagelist list, uint32_t size,
    const char *token, struct error *e)
{
	char	*tok = NULL;
	int	 rc;

	if (size > PAGE_MAX) {
		error_set(e, E_INVALID, "page_size", "page_size %u is more than "
		    "%d", size, PAGE_MAX);
		return -1;
	}
	r->page_size = size == 0 ? PAGE_DEFAULT : size;
	if (wire_str_in(&tok, token, WIRE_PAGE_TOKEN_MAX, "page_token",
	    e) == -1)
		return -1;
	rc = wire_page_token_decode(list, r->ws, tok, &r->page, e);
	free(tok);
	return rc;
}

/* A message of type d from the payload; NULL with e set if it is not one. */
static void *
unpack(const ProtobufCMessageDescriptor *d, const void *data, size_t len,
    struct error *e)
{
	ProtobufCMessage	*m;

	if ((m = protobuf_c_message_unpack(d, &wire_allocator, len,
	    data)) == NULL)
		error_set(e, E_INVALID, "payload", "payload is not a valid %s",
		    d->short_name);
	return m;
}

/* Free what unpack() made. */
static void
unpacked_free(void *m)
{
	protobuf_c_message_free_unpacked(m, &wire_allocator);
}

/*
 * Where the field name of m is: a string or uint32 field that the
 * Get*Request and List*Request messages of every kind have alike.
 */
static const void *
field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor	*f;

	if ((f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
	    name)) == NULL)
		abort();	/* a type without it: a mistake of this file */
	return (const char *)m + f->offset;
}

/* A Get*Request of type d (a uuid or a name) into r. */
static int
named_in(const ProtobufCMessageDescriptor *d, const void *data, size_t len,
    struct request *r, struct error *e)
{
	ProtobufCMessage	*m;
	int			 rc = -1;

	if ((m = unpack(d, data, len, e)) == NULL)
		return -1;
	if (wire_uuid_in(&r->uuid, *(char *const *)field(m, "uuid"), "uuid",
	    e) == 0 && wire_str_in(&r->name, *(char *const *)field(m, "name"),
	    NAME_MAX_LEN, "name", e) == 0)
		rc = 0;
	unpacked_free(m);
	return rc;
}

/* A List*Request of type d (a page of list) into r. */
static int
listing_in(const ProtobufCMessageDescriptor *d, enum pagelist list,
    const void *data, size_t len, struct request *r, struct error *e)
{
	ProtobufCMessage	*m;
	int			 rc;

	if ((m = unpack(d, data, len, e)) == NULL)
		return -1;
	rc = page_in(r, list, *(const uint32_t *)field(m, "page_size"),
	    *(char *const *)field(m, "page_token"), e);
	unpacked_free(m);
	return rc;
}

/* ------------------------------------------------------------ jobdef */

/* jobdef.create: CreateJobDefinitionRequest. */
int
wire_request_jobdef_create(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__CreateJobDefinitionRequest	*m;
	int					 rc = -1;

	if ((m = unpack(&batchd__v1__create_job_definition_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	if (wire_str_in(&r->name, m->name, NAME_MAX_LEN, "name", e) == -1 ||
	    wire_str_in(&r->description, m->description, DESC_MAX,
	    "description", e) == -1)
		goto out;
	if ((r->has_config = m->config != NULL) &&
	    wire_jobconfig_in(&r->config, m->config, "config", e) == -1)
		goto out;
	if ((r->has_cluster = m->cluster_config != NULL) &&
	    wire_clusterconfig_in(&r->cluster, m->cluster_config,
	    "cluster_config", e) == -1)
		goto out;
	rc = 0;
out:
	unpacked_free(m);
	return rc;
}

/* jobdef.get: GetJobDefinitionRequest. */
int
wire_request_jobdef_get(const void *data, size_t len, struct request *r,
    struct error *e)
{
	return named_in(&batchd__v1__get_job_definition_request__descriptor, data, len, r, e);
}

/* jobdef.list: ListJobDefinitionsRequest. */
int
wire_request_jobdef_list(const void *data, size_t len, struct request *r,
    struct error *e)
{
	return listing_in(&batchd__v1__list_job_definitions_request__descriptor, PAGE_JOBDEFS, data, len, r, e);
}

/* jobdef.update: UpdateJobDefinitionRequest. */
int
wire_request_jobdef_update(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__UpdateJobDefinitionRequest	*m;
	int					 rc = -1;

	if ((m = unpack(&batchd__v1__update_job_definition_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	if (wire_uuid_in(&r->uuid, m->uuid, "uuid", e) == -1)
		goto out;
	if ((r->has_description = m->description_opt_case ==
	    BATCHD__V1__UPDATE_JOB_DEFINITION_REQUEST__DESCRIPTION_OPT_DESCRIPTION) &&
	    wire_str_in(&r->description, m->description, DESC_MAX,
	    "description", e) == -1)
		goto out;
	if ((r->has_config = m->config != NULL) &&
	    wire_jobconfig_in(&r->config, m->config, "config", e) == -1)
		goto out;
	if ((r->has_cluster = m->cluster_config != NULL) &&
	    wire_clusterconfig_in(&r->cluster, m->cluster_config,
	    "cluster_config", e) == -1)
		goto out;
	r->clear_cluster = m->clear_cluster_config;
	rc = 0;
out:
	unpacked_free(m);
	return rc;
}

/* jobdef.delete: DeleteJobDefinitionRequest. */
int
wire_request_jobdef_delete(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__DeleteJobDefinitionRequest	*m;
	int					 rc;

	if ((m = unpack(&batchd__v1__delete_job_definition_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	rc = wire_uuid_in(&r->uuid, m->uuid, "uuid", e);
	unpacked_free(m);
	return rc;
}

/* ------------------------------------------------------------ cluster */

/* cluster.create: CreateClusterRequest. */
int
wire_request_cluster_create(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__CreateClusterRequest	*m;
	int					 rc = -1;

	if ((m = unpack(&batchd__v1__create_cluster_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	if (wire_str_in(&r->name, m->name, NAME_MAX_LEN, "name", e) == -1)
		goto out;
	if ((r->has_cluster = m->config != NULL) &&
	    wire_clusterconfig_in(&r->cluster, m->config, "config", e) == -1)
		goto out;
	if ((r->has_auto_resume = m->auto_resume_opt_case ==
	    BATCHD__V1__CREATE_CLUSTER_REQUEST__AUTO_RESUME_OPT_AUTO_RESUME))
		r->auto_resume = m->auto_resume;
	rc = 0;
out:
	unpacked_free(m);
	return rc;
}

/*
 * cluster.get, cluster.pause, cluster.resume, cluster.delete: a
 * GetClusterRequest (a uuid or a name).
 */
int
wire_request_cluster_get(const void *data, size_t len, struct request *r,
    struct error *e)
{
	return named_in(&batchd__v1__get_cluster_request__descriptor, data, len, r, e);
}

/* cluster.list: ListClustersRequest. */
int
wire_request_cluster_list(const void *data, size_t len, struct request *r,
    struct error *e)
{
	return listing_in(&batchd__v1__list_clusters_request__descriptor, PAGE_CLUSTERS, data, len, r, e);
}

/* ------------------------------------------------------------ run */

/* args with its presence (args_opt): "" is args of its own, not absent. */
static int
args_in(struct request *r, int present, const char *args, struct error *e)
{
	if (!(r->has_args = present))
		return 0;
	if (wire_str_in(&r->args, args, ARGS_MAX, "args", e) == -1)
		return -1;
	if (r->args == NULL)
		r->args = xstrdup("");
	return 0;
}

/* A SubmitJobRunRequest into r: run.submit's, or an item of a batch. */
static int
submit_in(const Batchd__V1__SubmitJobRunRequest *m, struct request *r,
    struct error *e)
{
	if (wire_uuid_in(&r->def_uuid, m->job_definition_uuid,
	    "job_definition_uuid", e) == -1 ||
	    wire_uuid_in(&r->cluster_uuid, m->cluster_uuid, "cluster_uuid",
	    e) == -1 ||
	    wire_str_in(&r->idem_key, m->idempotency_key, IDEM_MAX,
	    "idempotency_key", e) == -1 ||
	    wire_env_in(&r->env, (void **)m->env, m->n_env, "env", e) == -1)
		return -1;
	if (args_in(r, m->args_opt_case ==
	    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__ARGS_OPT_ARGS, m->args, e) == -1)
		return -1;
	if ((r->has_timeout = m->timeout_seconds_opt_case ==
	    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS))
		r->timeout_s = m->timeout_seconds;
	if ((r->has_max_queue = m->max_queue_seconds_opt_case ==
	    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__MAX_QUEUE_SECONDS_OPT_MAX_QUEUE_SECONDS))
		r->max_queue_s = m->max_queue_seconds;
	if ((r->has_retry = m->retry_strategy != NULL) &&
	    wire_retry_in(&r->retry, m->retry_strategy, "retry_strategy",
	    e) == -1)
		return -1;
	return wire_deps_in(&r->deps, &r->n_deps, m->depends_on,
	    m->n_depends_on, "depends_on", e);
}

/* run.submit: SubmitJobRunRequest. */
int
wire_request_run_submit(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__SubmitJobRunRequest	*m;
	int				 rc;

	if ((m = unpack(&batchd__v1__submit_job_run_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	rc = submit_in(m, r, e);
	unpacked_free(m);
	return rc;
}

/* run.submit_batch: SubmitJobRunsRequest, each item a run.submit's. */
int
wire_request_run_submit_batch(const void *data, size_t len,
    struct request *r, struct error *e)
{
	Batchd__V1__SubmitJobRunsRequest	*m;
	size_t					 i;
	int					 rc = -1;

	if ((m = unpack(&batchd__v1__submit_job_runs_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	if (m->n_runs == 0 || m->n_runs > BATCH_MAX) {
		error_set(e, E_INVALID, "runs", "runs has %zu items: from 1 "
		    "to %d", m->n_runs, BATCH_MAX);
		goto out;
	}
	r->items = xcalloc(m->n_runs, sizeof *r->items);
	for (i = 0; i < m->n_runs; i++) {
		memcpy(r->items[i].ws, r->ws, sizeof r->ws);
		r->items[i].verb = &run_submit_entry;
		r->n_items = i + 1;
		if (submit_in(m->runs[i], &r->items[i], e) == -1) {
			error_within(e, "runs", i);
			goto out;
		}
	}
	rc = 0;
out:
	unpacked_free(m);
	return rc;
}

/* run.rerun: RerunJobRunRequest. */
int
wire_request_run_rerun(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__RerunJobRunRequest	*m;
	int				 rc;

	if ((m = unpack(&batchd__v1__rerun_job_run_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	rc = wire_uuid_in(&r->uuid, m->uuid, "uuid", e);
	r->repair = m->repair_downstream;
	unpacked_free(m);
	return rc;
}

/* run.submit_sql: SubmitSqlJobRunRequest. */
int
wire_request_run_submit_sql(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__SubmitSqlJobRunRequest	*m;
	int					 rc = -1;

	if ((m = unpack(&batchd__v1__submit_sql_job_run_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	if (wire_str_in(&r->sql, m->sql_query, cfg->max_message_bytes,
	    "sql_query", e) == -1 ||
	    wire_uuid_in(&r->cluster_uuid, m->cluster_uuid, "cluster_uuid",
	    e) == -1 ||
	    wire_str_in(&r->idem_key, m->idempotency_key, IDEM_MAX,
	    "idempotency_key", e) == -1 ||
	    wire_env_in(&r->env, (void **)m->env, m->n_env, "env", e) == -1 ||
	    wire_deps_in(&r->deps, &r->n_deps, m->depends_on,
	    m->n_depends_on, "depends_on", e) == -1)
		goto out;
	if ((r->has_cluster = m->cluster_config != NULL) &&
	    wire_clusterconfig_in(&r->cluster, m->cluster_config,
	    "cluster_config", e) == -1)
		goto out;
	rc = 0;
out:
	unpacked_free(m);
	return rc;
}

/*
 * run.get, run.cancel, run.events: a GetJobRunRequest (CancelJobRunRequest
 * is alike).
 */
int
wire_request_run_get(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__GetJobRunRequest	*m;
	int				 rc;

	if ((m = unpack(&batchd__v1__get_job_run_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	rc = wire_uuid_in(&r->uuid, m->uuid, "uuid", e);
	unpacked_free(m);
	return rc;
}

/* run.cancel_all: CancelJobRunsRequest. */
int
wire_request_run_cancel_all(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__CancelJobRunsRequest	*m;
	size_t					 i;
	int					 rc = -1;

	if ((m = unpack(&batchd__v1__cancel_job_runs_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	if (m->n_cluster_uuids > 1000) {
		error_set(e, E_INVALID, "cluster_uuids", "cluster_uuids "
		    "has more than 1000 entries");
		goto out;
	}
	if (wire_uuid_in(&r->def_uuid, m->job_definition_uuid,
	    "job_definition_uuid", e) == -1)
		goto out;
	r->cluster_uuids = xcalloc(m->n_cluster_uuids,
	    sizeof *r->cluster_uuids);
	for (i = 0; i < m->n_cluster_uuids; i++) {
		if (wire_uuid_in(&r->cluster_uuids[i], m->cluster_uuids[i],
		    "cluster_uuids", e) == -1 ||
		    r->cluster_uuids[i] == NULL) {
			if (e->code == E_OK)
				error_set(e, E_INVALID, "cluster_uuids",
				    "cluster_uuids has an empty entry");
			r->n_cluster_uuids = i + 1;
			goto out;
		}
	}
	r->n_cluster_uuids = m->n_cluster_uuids;
	rc = 0;
out:
	unpacked_free(m);
	return rc;
}

/* run.list: ListJobRunsRequest. */
int
wire_request_run_list(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__ListJobRunsRequest	*m;
	int				 rc = -1, st;

	if ((m = unpack(&batchd__v1__list_job_runs_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	if (wire_uuid_in(&r->def_uuid, m->job_definition_uuid,
	    "job_definition_uuid", e) == -1 ||
	    wire_uuid_in(&r->cluster_uuid, m->cluster_uuid, "cluster_uuid",
	    e) == -1 ||
	    wire_uuid_in(&r->sched_uuid, m->schedule_uuid, "schedule_uuid",
	    e) == -1 ||
	    wire_uuid_in(&r->rerun_of, m->rerun_of, "rerun_of", e) == -1 ||
	    wire_enum_in(&st, m->status, RS_CANCELLED, "status", e) == -1 ||
	    page_in(r, PAGE_RUNS, m->page_size, m->page_token, e) == -1)
		goto out;
	r->status = st;
	if (m->submitted_after_ms < 0 || m->submitted_before_ms < 0) {
		error_set(e, E_INVALID, m->submitted_after_ms < 0 ?
		    "submitted_after_ms" : "submitted_before_ms",
		    "time bounds may not be negative");
		goto out;
	}
	r->after_ms = m->submitted_after_ms;
	r->before_ms = m->submitted_before_ms;
	rc = 0;
out:
	unpacked_free(m);
	return rc;
}

/* run.logs: GetJobRunLogsRequest. */
int
wire_request_run_logs(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__GetJobRunLogsRequest	*m;
	int					 rc = -1, st;

	if ((m = unpack(&batchd__v1__get_job_run_logs_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	if (wire_uuid_in(&r->uuid, m->uuid, "uuid", e) == -1 ||
	    wire_enum_in(&st, m->stream, LS_STDERR, "stream", e) == -1)
		goto out;
	r->stream = st == LS_NONE ? LS_STDOUT : st;
	if (m->max_bytes > (1 << 20)) {
		error_set(e, E_INVALID, "max_bytes", "max_bytes %u is "
		    "more than 1048576", m->max_bytes);
		goto out;
	}
	r->max_bytes = m->max_bytes == 0 ? 65536 : m->max_bytes;
	r->attempt = m->attempt;
	r->offset = m->offset;
	rc = 0;
out:
	unpacked_free(m);
	return rc;
}

/* ------------------------------------------------------------ schedule */

/* A schedule's overrides of its runs' timeout and retry strategy. */
static int
sched_overrides_in(struct request *r, int has_timeout, uint32_t timeout,
    const Batchd__V1__RetryStrategy *retry, struct error *e)
{
	if ((r->has_timeout = has_timeout))
		r->timeout_s = timeout;
	if ((r->has_retry = retry != NULL) &&
	    wire_retry_in(&r->retry, retry, "retry_strategy", e) == -1)
		return -1;
	return 0;
}

/* schedule.create: CreateScheduleRequest. */
int
wire_request_schedule_create(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__CreateScheduleRequest	*m;
	int					 rc = -1, v;

	if ((m = unpack(&batchd__v1__create_schedule_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	if (wire_str_in(&r->name, m->name, NAME_MAX_LEN, "name", e) == -1 ||
	    wire_str_in(&r->description, m->description, DESC_MAX,
	    "description", e) == -1 ||
	    wire_str_in(&r->cron, m->cron, CRON_MAX, "cron", e) == -1 ||
	    wire_str_in(&r->tz, m->timezone, NAME_MAX_LEN, "timezone",
	    e) == -1 ||
	    wire_uuid_in(&r->def_uuid, m->job_definition_uuid,
	    "job_definition_uuid", e) == -1 ||
	    wire_uuid_in(&r->cluster_uuid, m->cluster_uuid, "cluster_uuid",
	    e) == -1 ||
	    wire_env_in(&r->env, (void **)m->env, m->n_env, "env", e) == -1 ||
	    wire_enum_in(&v, m->misfire_policy, MF_RUN_ONCE, "misfire_policy",
	    e) == -1 ||
	    args_in(r, m->args_opt_case ==
	    BATCHD__V1__CREATE_SCHEDULE_REQUEST__ARGS_OPT_ARGS, m->args,
	    e) == -1)
		goto out;
	r->misfire = v;
	if ((r->has_cluster = m->cluster_config != NULL) &&
	    wire_clusterconfig_in(&r->cluster, m->cluster_config,
	    "cluster_config", e) == -1)
		goto out;
	if ((r->has_max_concurrent = m->max_concurrent_runs_opt_case ==
	    BATCHD__V1__CREATE_SCHEDULE_REQUEST__MAX_CONCURRENT_RUNS_OPT_MAX_CONCURRENT_RUNS))
		r->max_concurrent = m->max_concurrent_runs;
	r->has_pause_when = 1;
	r->pause_when = m->pause_cluster_when_finished;
	r->paused = m->paused;
	if (sched_overrides_in(r, m->timeout_seconds_opt_case ==
	    BATCHD__V1__CREATE_SCHEDULE_REQUEST__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS,
	    m->timeout_seconds, m->retry_strategy, e) == -1)
		goto out;
	rc = 0;
out:
	unpacked_free(m);
	return rc;
}

/*
 * schedule.get, schedule.pause, schedule.resume, schedule.trigger,
 * schedule.delete: a GetScheduleRequest (a uuid or a name).
 */
int
wire_request_schedule_get(const void *data, size_t len, struct request *r,
    struct error *e)
{
	return named_in(&batchd__v1__get_schedule_request__descriptor, data, len, r, e);
}

/* schedule.list: ListSchedulesRequest. */
int
wire_request_schedule_list(const void *data, size_t len, struct request *r,
    struct error *e)
{
	return listing_in(&batchd__v1__list_schedules_request__descriptor, PAGE_SCHEDULES, data, len, r, e);
}

/* The presence fields of an UpdateScheduleRequest, into r. */
static int
schedule_update_opts(const Batchd__V1__UpdateScheduleRequest *m,
    struct request *r, struct error *e)
{
	if ((r->has_description = m->description_opt_case ==
	    BATCHD__V1__UPDATE_SCHEDULE_REQUEST__DESCRIPTION_OPT_DESCRIPTION) &&
	    wire_str_in(&r->description, m->description, DESC_MAX,
	    "description", e) == -1)
		return -1;
	if ((r->has_cluster_uuid = m->cluster_uuid_opt_case ==
	    BATCHD__V1__UPDATE_SCHEDULE_REQUEST__CLUSTER_UUID_OPT_CLUSTER_UUID) &&
	    wire_uuid_in(&r->cluster_uuid, m->cluster_uuid, "cluster_uuid",
	    e) == -1)
		return -1;
	if (args_in(r, m->args_opt_case ==
	    BATCHD__V1__UPDATE_SCHEDULE_REQUEST__ARGS_OPT_ARGS, m->args,
	    e) == -1)
		return -1;
	if ((r->has_max_concurrent = m->max_concurrent_runs_opt_case ==
	    BATCHD__V1__UPDATE_SCHEDULE_REQUEST__MAX_CONCURRENT_RUNS_OPT_MAX_CONCURRENT_RUNS))
		r->max_concurrent = m->max_concurrent_runs;
	if ((r->has_pause_when = m->pause_cluster_when_finished_opt_case ==
	    BATCHD__V1__UPDATE_SCHEDULE_REQUEST__PAUSE_CLUSTER_WHEN_FINISHED_OPT_PAUSE_CLUSTER_WHEN_FINISHED))
		r->pause_when = m->pause_cluster_when_finished;
	return 0;
}

/* schedule.update: UpdateScheduleRequest. */
int
wire_request_schedule_update(const void *data, size_t len, struct request *r,
    struct error *e)
{
	Batchd__V1__UpdateScheduleRequest	*m;
	int					 rc = -1, v;

	if ((m = unpack(&batchd__v1__update_schedule_request__descriptor,
	    data, len, e)) == NULL)
		return -1;
	if (wire_uuid_in(&r->uuid, m->uuid, "uuid", e) == -1 ||
	    wire_str_in(&r->cron, m->cron, CRON_MAX, "cron", e) == -1 ||
	    wire_str_in(&r->tz, m->timezone, NAME_MAX_LEN, "timezone",
	    e) == -1 ||
	    wire_uuid_in(&r->def_uuid, m->job_definition_uuid,
	    "job_definition_uuid", e) == -1 ||
	    wire_env_in(&r->env, (void **)m->env, m->n_env, "env", e) == -1 ||
	    wire_enum_in(&v, m->misfire_policy, MF_RUN_ONCE, "misfire_policy",
	    e) == -1 || schedule_update_opts(m, r, e) == -1)
		goto out;
	r->misfire = v;
	if ((r->has_cluster = m->cluster_config != NULL) &&
	    wire_clusterconfig_in(&r->cluster, m->cluster_config,
	    "cluster_config", e) == -1)
		goto out;
	r->clear_cluster = m->clear_cluster_config;
	r->clear_args = m->clear_args;
	r->clear_env = m->clear_env;
	r->clear_timeout = m->clear_timeout_seconds;
	r->clear_retry = m->clear_retry_strategy;
	if (sched_overrides_in(r, m->timeout_seconds_opt_case ==
	    BATCHD__V1__UPDATE_SCHEDULE_REQUEST__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS,
	    m->timeout_seconds, m->retry_strategy, e) == -1)
		goto out;
	rc = 0;
out:
	unpacked_free(m);
	return rc;
}

/* ------------------------------------------------------------ page tokens */

/*
 * A page token is where the next page of a list starts, as
 *	{list}{position in hex}.{checksum in hex}
 * list: 'd' jobdef.list, 'c' cluster.list, 'r' run.list, 's'
 * schedule.list. Position: the name listed last (jobdef, cluster,
 * schedule), or the index entry of the run listed
 * last (run: submitted_ms as 8 big-endian bytes, then its UUID). Checksum:
 * CRC-32 of the list letter, the workspace, a NUL and the position. It is
 * no secret (a client may make a token of any position in its own
 * workspace, which a list would reach anyway); it lets the one decoder
 * below refuse garbage and a token of another list or workspace.
 */

/* The verb that lists list, for errors. */
static const char *
page_verb(enum pagelist list)
{
	switch (list) {
	case PAGE_JOBDEFS:
		return "jobdef.list";
	case PAGE_CLUSTERS:
		return "cluster.list";
	case PAGE_RUNS:
		return "run.list";
	case PAGE_SCHEDULES:
		return "schedule.list";
	default:
		return "?";
	}
}

/* The position of pos in list, as bytes into p; its length. */
static size_t
page_bytes(enum pagelist list, const struct pagepos *pos, uint8_t *p)
{
	size_t	n;

	if (list == PAGE_RUNS) {
		be64_put(p, pos->ts);
		memcpy(p + 8, pos->uuid, UUID_LEN);
		return 8 + UUID_LEN;
	}
	n = strlen(pos->name);
	memcpy(p, pos->name, n);
	return n;
}

/* The checksum of a token's position p (n bytes). */
static uint32_t
page_crc(int letter, const char *ws, const uint8_t *p, size_t n)
{
	uint8_t		l = (uint8_t)letter;
	uint32_t	crc;

	crc = crc32_ieee(0, &l, 1);
	crc = crc32_ieee(crc, ws, strlen(ws) + 1);
	return crc32_ieee(crc, p, n);
}

/* Lower-case hex digits to n / 2 bytes; 0, or -1 on another character. */
static int
unhex(uint8_t *dst, const char *src, size_t n)
{
	size_t	i;
	int	hi, lo;

	for (i = 0; i < n; i += 2) {
		hi = src[i] >= '0' && src[i] <= '9' ? src[i] - '0' :
		    src[i] >= 'a' && src[i] <= 'f' ? src[i] - 'a' + 10 : -1;
		lo = src[i + 1] >= '0' && src[i + 1] <= '9' ? src[i + 1] - '0' :
		    src[i + 1] >= 'a' && src[i + 1] <= 'f' ?
		    src[i + 1] - 'a' + 10 : -1;
		if (hi == -1 || lo == -1)
			return -1;
		dst[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The token of position pos in list of workspace ws; owned by the caller. */
char *
wire_page_token(enum pagelist list, const char *ws, const struct pagepos *pos)
{
	uint8_t	 p[NAME_MAX_LEN + 8 + UUID_LEN];
	char	*tok;
	size_t	 n, i;

	n = page_bytes(list, pos, p);
	tok = xmalloc(1 + 2 * n + 1 + 8 + 1);
	tok[0] = (char)list;
	for (i = 0; i < n; i++)
		snprintf(tok + 1 + 2 * i, 3, "%02x", p[i]);
	snprintf(tok + 1 + 2 * n, 10, ".%08x",
	    page_crc(tok[0], ws, p, n));
	return tok;
}

/*
 * Decode the page token tok (NULL or "": from the start) of list in
 * workspace ws into pos. Returns 0, or -1 with e set (INVALID_ARGUMENT,
 * page_token) for anything wire_page_token() did not make.
 */
int
wire_page_token_decode(enum pagelist list, const char *ws, const char *tok,
    struct pagepos *pos, struct error *e)
{
	uint8_t		 p[NAME_MAX_LEN + 8 + UUID_LEN], c[4];
	const char	*dot;
	size_t		 len, n;

	memset(pos, 0, sizeof *pos);
	if (tok == NULL || *tok == '\0')
		return 0;
	len = strlen(tok);
	if (len > WIRE_PAGE_TOKEN_MAX || (list != PAGE_JOBDEFS &&
	    list != PAGE_CLUSTERS && list != PAGE_RUNS &&
	    list != PAGE_SCHEDULES) ||
	    tok[0] != (char)list || (dot = strchr(tok, '.')) == NULL ||
	    (n = (size_t)(dot - tok - 1)) % 2 != 0 || n / 2 > sizeof p ||
	    strlen(dot + 1) != 8 || unhex(p, tok + 1, n) == -1 ||
	    unhex(c, dot + 1, 8) == -1)
		goto bad;
	n /= 2;
	if (((uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 |
	    (uint32_t)c[2] << 8 | c[3]) != page_crc(tok[0], ws, p, n))
		goto bad;
	if (list == PAGE_RUNS) {
		if (n != 8 + UUID_LEN)
			goto bad;
		pos->ts = be64_get(p);
		memcpy(pos->uuid, p + 8, UUID_LEN);
		if (!uuid_valid(pos->uuid))
			goto bad;
	} else {
		if (n == 0 || n > NAME_MAX_LEN || memchr(p, '\0', n) != NULL ||
		    !utf8_valid((const char *)p, n))
			goto bad;
		memcpy(pos->name, p, n);
	}
	pos->set = 1;
	return 0;
bad:
	memset(pos, 0, sizeof *pos);
	error_set(e, E_INVALID, "page_token", "page_token is not a "
	    "next_page_token this server returned for %s in workspace '%s'",
	    page_verb(list), ws);
	return -1;
}

