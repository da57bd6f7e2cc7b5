/*
 * wire.c: protobuf <-> the daemon's structs. The only file that includes the
 * generated batchd.pb-c.h.
 *
 * Requests are decoded and checked for shape here (sizes, UTF-8, enum
 * ranges, UUID syntax); meaning (names taken, states) is checked by the
 * verb's handler. Replies and LMDB records are encoded here too: records are
 * the same messages the API returns, so a record is readable with protoc.
 * Page tokens are made and checked here (one decoder for the three lists),
 * and replies measured against the server's max_payload ("reply size").
 *
 * Encoding borrows the structs' strings (the pb structs point into them);
 * nothing encoded here outlives the call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"

static const struct {
	const char	*kind;
	const char	*verb;
} verbs[V__COUNT] = {
	[V_JOBDEF_CREATE] = { "jobdef", "create" },
	[V_JOBDEF_GET] = { "jobdef", "get" },
	[V_JOBDEF_LIST] = { "jobdef", "list" },
	[V_JOBDEF_UPDATE] = { "jobdef", "update" },
	[V_JOBDEF_DELETE] = { "jobdef", "delete" },
	[V_CLUSTER_CREATE] = { "cluster", "create" },
	[V_CLUSTER_GET] = { "cluster", "get" },
	[V_CLUSTER_LIST] = { "cluster", "list" },
	[V_CLUSTER_PAUSE] = { "cluster", "pause" },
	[V_CLUSTER_RESUME] = { "cluster", "resume" },
	[V_CLUSTER_DELETE] = { "cluster", "delete" },
	[V_RUN_SUBMIT] = { "run", "submit" },
	[V_RUN_SUBMIT_SQL] = { "run", "submit_sql" },
	[V_RUN_GET] = { "run", "get" },
	[V_RUN_CANCEL] = { "run", "cancel" },
	[V_RUN_CANCEL_ALL] = { "run", "cancel_all" },
	[V_RUN_LIST] = { "run", "list" },
	[V_RUN_LOGS] = { "run", "logs" },
	[V_RUN_EVENTS] = { "run", "events" },
};

/* The verb of subject tokens "{kind}.{verb}", or V_NONE. */
enum verb
wire_verb(const char *kind, const char *verb)
{
	int	i;

	for (i = 1; i < V__COUNT; i++)
		if (strcmp(verbs[i].kind, kind) == 0 &&
		    strcmp(verbs[i].verb, verb) == 0)
			return (enum verb)i;
	return V_NONE;
}

const char *
wire_verb_name(enum verb v)
{
	static char	name[32];

	if (v <= V_NONE || v >= V__COUNT)
		return "?";
	snprintf(name, sizeof name, "%s.%s", verbs[v].kind, verbs[v].verb);
	return name;
}

/* ------------------------------------------------------------ decoding */

/*
 * Requests are unpacked with an allocator that keeps each block's size in
 * front of it, so str_in() can tell a string cut short by a NUL byte (C
 * strings end there; protobuf strings do not) from a whole one.
 */
#define WIRE_HDR	16

static void *
wire_alloc(void *ud, size_t n)
{
	size_t	*p;

	(void)ud;
	if ((p = malloc(n + WIRE_HDR)) == NULL)
		return NULL;
	*p = n;
	return (char *)p + WIRE_HDR;
}

static void
wire_free(void *ud, void *p)
{
	(void)ud;
	if (p != NULL)
		free((char *)p - WIRE_HDR);
}

static ProtobufCAllocator walloc = { wire_alloc, wire_free, NULL };

/* The size of a block from wire_alloc(). */
static size_t
wire_size(const void *p)
{
	return *(const size_t *)(const void *)((const char *)p - WIRE_HDR);
}


/*
 * Copy a wire string into *dst after checking its size and encoding.
 * Empty strings become NULL. Returns 0, or -1 with e set.
 */
static int
str_in(char **dst, const char *src, size_t max, const char *field,
    struct error *e)
{
	size_t	len;

	free(*dst);
	*dst = NULL;
	/* Absent strings are protobuf-c's static "", not ours. */
	if (src == NULL || src == protobuf_c_empty_string)
		return 0;
	len = strlen(src);
	if (len + 1 != wire_size(src)) {
		error_set(e, E_INVALID, field, "%s holds a NUL byte", field);
		return -1;
	}
	if (len == 0)
		return 0;
	if (len > max) {
		error_set(e, E_INVALID, field, "%s is longer than %zu bytes",
		    field, max);
		return -1;
	}
	if (!utf8_valid(src, len)) {
		error_set(e, E_INVALID, field, "%s is not valid UTF-8", field);
		return -1;
	}
	*dst = xstrndup(src, len);
	return 0;
}

/* A UUID field: empty (NULL) or canonical lower-case. */
static int
uuid_in(char **dst, const char *src, const char *field, struct error *e)
{
	if (str_in(dst, src, UUID_LEN + 8, field, e) == -1)
		return -1;
	if (*dst != NULL && !uuid_valid(*dst)) {
		error_set(e, E_INVALID, field, "%s '%.40s' is not a lower-case "
		    "UUID", field, *dst);
		return -1;
	}
	return 0;
}

/*
 * An env map: at most ENV_MAX entries, each name and value bounded, and
 * ENV_TOTAL_MAX bytes of names and values in all (what a definition's
 * snapshot and a run's record carry). 0, or -1 with e set.
 */
static int
env_in(struct kvlist *dst, void **entries, size_t n, const char *field,
    struct error *e)
{
	Batchd__V1__JobConfig__EnvEntry	*kv;
	char				*k = NULL, *v = NULL;
	char				 f[96];
	size_t				 i, total = 0;

	if (n > ENV_MAX) {
		error_set(e, E_INVALID, field, "%s has more than %d entries",
		    field, ENV_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		kv = entries[i];
		total += (kv->key != NULL ? strlen(kv->key) : 0) +
		    (kv->value != NULL ? strlen(kv->value) : 0);
	}
	if (total > ENV_TOTAL_MAX) {
		error_set(e, E_INVALID, field, "%s holds %zu bytes of names "
		    "and values, more than the limit of %d", field, total,
		    ENV_TOTAL_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		/* All env entry types share this layout. */
		kv = entries[i];
		snprintf(f, sizeof f, "%s.key", field);
		if (str_in(&k, kv->key, ENV_KEY_MAX, f, e) == -1)
			goto fail;
		if (k == NULL || strchr(k, '=') != NULL) {
			error_set(e, E_INVALID, f, "%s: an environment variable "
			    "name must be non-empty and without '='", f);
			goto fail;
		}
		snprintf(f, sizeof f, "%s[%s]", field, k);
		if (str_in(&v, kv->value, ENV_VAL_MAX, f, e) == -1)
			goto fail;
		kvlist_set(dst, k, v == NULL ? "" : v);
		free(k);
		free(v);
		k = v = NULL;
	}
	return 0;
fail:
	free(k);
	free(v);
	return -1;
}

static int
enum_in(int *dst, int v, int max, const char *field, struct error *e)
{
	if (v < 0 || v > max) {
		error_set(e, E_INVALID, field, "%s: unknown value %d", field, v);
		return -1;
	}
	*dst = v;
	return 0;
}

static int
jobconfig_in(struct jobconfig *c, const Batchd__V1__JobConfig *m,
    const char *p, struct error *e)
{
	const Batchd__V1__JobSource	*s = m->source;
	const Batchd__V1__RetryStrategy	*r = m->retry_strategy;
	char				 f[96];
	int				 v;

#define F(name)	(snprintf(f, sizeof f, "%s.%s", p, name), f)
	if (s != NULL) {
		if (enum_in(&v, s->type, SRC_S3, F("source.type"), e) == -1)
			return -1;
		c->source.type = v;
		switch (s->definition_case) {
		case BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE:
			c->source.oneof = SRC_WORKSPACE;
			if (str_in(&c->source.path, s->workspace->path,
			    PATH_MAX_LEN, F("source.workspace.path"), e) == -1)
				return -1;
			break;
		case BATCHD__V1__JOB_SOURCE__DEFINITION_GIT:
			c->source.oneof = SRC_GIT;
			if (str_in(&c->source.repo_url, s->git->repo_url,
			    PATH_MAX_LEN, F("source.git.repo_url"), e) == -1 ||
			    str_in(&c->source.username, s->git->username,
			    NAME_MAX_LEN, F("source.git.username"), e) == -1 ||
			    str_in(&c->source.token, s->git->token,
			    PATH_MAX_LEN, F("source.git.token"), e) == -1 ||
			    str_in(&c->source.reference, s->git->reference,
			    NAME_MAX_LEN, F("source.git.reference"), e) == -1)
				return -1;
			break;
		case BATCHD__V1__JOB_SOURCE__DEFINITION_S3:
			c->source.oneof = SRC_S3;
			if (str_in(&c->source.bucket_path, s->s3->bucket_path,
			    PATH_MAX_LEN, F("source.s3.bucket_path"), e) == -1 ||
			    str_in(&c->source.region, s->s3->region,
			    NAME_MAX_LEN, F("source.s3.region"), e) == -1)
				return -1;
			break;
		default:
			c->source.oneof = SRC_NONE;
			break;
		}
	}
	if (enum_in(&v, m->type, JT_SQL, F("type"), e) == -1)
		return -1;
	c->type = v;
	if (str_in(&c->source_location, m->source_location, PATH_MAX_LEN,
	    F("source_location"), e) == -1 ||
	    str_in(&c->args, m->args, ARGS_MAX, F("args"), e) == -1)
		return -1;
	if (r != NULL) {
		if ((c->retry.has_num = r->num_retries_opt_case ==
		    BATCHD__V1__RETRY_STRATEGY__NUM_RETRIES_OPT_NUM_RETRIES))
			c->retry.num_retries = r->num_retries;
		if ((c->retry.has_delay = r->retry_delay_seconds_opt_case ==
		    BATCHD__V1__RETRY_STRATEGY__RETRY_DELAY_SECONDS_OPT_RETRY_DELAY_SECONDS))
			c->retry.delay_s = r->retry_delay_seconds;
		if ((c->retry.has_on_timeout = r->auto_retry_on_timeout_opt_case ==
		    BATCHD__V1__RETRY_STRATEGY__AUTO_RETRY_ON_TIMEOUT_OPT_AUTO_RETRY_ON_TIMEOUT))
			c->retry.on_timeout = r->auto_retry_on_timeout;
	}
	if ((c->has_timeout = m->timeout_seconds_opt_case ==
	    BATCHD__V1__JOB_CONFIG__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS))
		c->timeout_s = m->timeout_seconds;
	return env_in(&c->env, (void **)m->env, m->n_env, F("env"), e);
#undef F
}

static int
clusterconfig_in(struct clusterconfig *c, const Batchd__V1__ClusterConfig *m,
    const char *p, struct error *e)
{
	char	f[96];

	snprintf(f, sizeof f, "%s.instance_type", p);
	if (str_in(&c->instance_type, m->instance_type, NAME_MAX_LEN, f, e) == -1)
		return -1;
	snprintf(f, sizeof f, "%s.version", p);
	if (str_in(&c->version, m->version, NAME_MAX_LEN, f, e) == -1)
		return -1;
	c->workers = m->workers_quantity;
	return 0;
}

/* page_size and page_token of a list verb (r->verb, r->ws set). */
static int
page_in(struct request *r, uint32_t size, const char *token, struct error *e)
{
	char	*tok = NULL;
	int	 rc;

	if (size > PAGE_MAX) {
		error_set(e, E_INVALID, "page_size", "page_size %u is more than "
		    "%d", size, PAGE_MAX);
		return -1;
	}
	r->page_size = size == 0 ? PAGE_DEFAULT : size;
	if (str_in(&tok, token, WIRE_PAGE_TOKEN_MAX, "page_token", e) == -1)
		return -1;
	rc = wire_page_token_decode(r->verb, r->ws, tok, &r->page, e);
	free(tok);
	return rc;
}

#define UNPACK(type, fn, name)						\
	type *m = fn(&walloc, len, data);				\
	if (m == NULL) {						\
		error_set(e, E_INVALID, "payload", "payload is not a "	\
		    "valid %s", name);					\
		return -1;						\
	}

static int
decode_jobdef(enum verb v, const void *data, size_t len, struct request *r,
    struct error *e)
{
	int	rc = -1;

	switch (v) {
	case V_JOBDEF_CREATE: {
		UNPACK(Batchd__V1__CreateJobDefinitionRequest,
		    batchd__v1__create_job_definition_request__unpack, "CreateJobDefinitionRequest");
		if (str_in(&r->name, m->name, NAME_MAX_LEN, "name", e) == -1 ||
		    str_in(&r->description, m->description, DESC_MAX,
		    "description", e) == -1)
			goto c_out;
		if ((r->has_config = m->config != NULL) &&
		    jobconfig_in(&r->config, m->config, "config", e) == -1)
			goto c_out;
		if ((r->has_cluster = m->cluster_config != NULL) &&
		    clusterconfig_in(&r->cluster, m->cluster_config,
		    "cluster_config", e) == -1)
			goto c_out;
		rc = 0;
c_out:
		batchd__v1__create_job_definition_request__free_unpacked(m, &walloc);
		return rc;
	}
	case V_JOBDEF_GET: {
		UNPACK(Batchd__V1__GetJobDefinitionRequest,
		    batchd__v1__get_job_definition_request__unpack, "GetJobDefinitionRequest");
		if (uuid_in(&r->uuid, m->uuid, "uuid", e) == 0 &&
		    str_in(&r->name, m->name, NAME_MAX_LEN, "name", e) == 0)
			rc = 0;
		batchd__v1__get_job_definition_request__free_unpacked(m, &walloc);
		return rc;
	}
	case V_JOBDEF_LIST: {
		UNPACK(Batchd__V1__ListJobDefinitionsRequest,
		    batchd__v1__list_job_definitions_request__unpack, "ListJobDefinitionsRequest");
		rc = page_in(r, m->page_size, m->page_token, e);
		batchd__v1__list_job_definitions_request__free_unpacked(m, &walloc);
		return rc;
	}
	case V_JOBDEF_UPDATE: {
		UNPACK(Batchd__V1__UpdateJobDefinitionRequest,
		    batchd__v1__update_job_definition_request__unpack, "UpdateJobDefinitionRequest");
		if (uuid_in(&r->uuid, m->uuid, "uuid", e) == -1)
			goto u_out;
		if ((r->has_description = m->description_opt_case ==
		    BATCHD__V1__UPDATE_JOB_DEFINITION_REQUEST__DESCRIPTION_OPT_DESCRIPTION) &&
		    str_in(&r->description, m->description, DESC_MAX,
		    "description", e) == -1)
			goto u_out;
		if ((r->has_config = m->config != NULL) &&
		    jobconfig_in(&r->config, m->config, "config", e) == -1)
			goto u_out;
		if ((r->has_cluster = m->cluster_config != NULL) &&
		    clusterconfig_in(&r->cluster, m->cluster_config,
		    "cluster_config", e) == -1)
			goto u_out;
		r->clear_cluster = m->clear_cluster_config;
		rc = 0;
u_out:
		batchd__v1__update_job_definition_request__free_unpacked(m, &walloc);
		return rc;
	}
	case V_JOBDEF_DELETE: {
		UNPACK(Batchd__V1__DeleteJobDefinitionRequest,
		    batchd__v1__delete_job_definition_request__unpack, "DeleteJobDefinitionRequest");
		rc = uuid_in(&r->uuid, m->uuid, "uuid", e);
		batchd__v1__delete_job_definition_request__free_unpacked(m, &walloc);
		return rc;
	}
	default:
		return -1;
	}
}

static int
decode_cluster(enum verb v, const void *data, size_t len, struct request *r,
    struct error *e)
{
	int	rc = -1;

	switch (v) {
	case V_CLUSTER_CREATE: {
		UNPACK(Batchd__V1__CreateClusterRequest,
		    batchd__v1__create_cluster_request__unpack, "CreateClusterRequest");
		if (str_in(&r->name, m->name, NAME_MAX_LEN, "name", e) == -1)
			goto c_out;
		if ((r->has_cluster = m->config != NULL) &&
		    clusterconfig_in(&r->cluster, m->config, "config", e) == -1)
			goto c_out;
		if ((r->has_auto_resume = m->auto_resume_opt_case ==
		    BATCHD__V1__CREATE_CLUSTER_REQUEST__AUTO_RESUME_OPT_AUTO_RESUME))
			r->auto_resume = m->auto_resume;
		rc = 0;
c_out:
		batchd__v1__create_cluster_request__free_unpacked(m, &walloc);
		return rc;
	}
	case V_CLUSTER_LIST: {
		UNPACK(Batchd__V1__ListClustersRequest,
		    batchd__v1__list_clusters_request__unpack, "ListClustersRequest");
		rc = page_in(r, m->page_size, m->page_token, e);
		batchd__v1__list_clusters_request__free_unpacked(m, &walloc);
		return rc;
	}
	default: {
		UNPACK(Batchd__V1__GetClusterRequest,
		    batchd__v1__get_cluster_request__unpack, "GetClusterRequest");
		if (uuid_in(&r->uuid, m->uuid, "uuid", e) == 0 &&
		    str_in(&r->name, m->name, NAME_MAX_LEN, "name", e) == 0)
			rc = 0;
		batchd__v1__get_cluster_request__free_unpacked(m, &walloc);
		return rc;
	}
	}
}

static int
decode_run(enum verb v, const void *data, size_t len, struct request *r,
    struct error *e)
{
	int	rc = -1, st;
	size_t	i;

	switch (v) {
	case V_RUN_SUBMIT: {
		UNPACK(Batchd__V1__SubmitJobRunRequest,
		    batchd__v1__submit_job_run_request__unpack, "SubmitJobRunRequest");
		if (uuid_in(&r->def_uuid, m->job_definition_uuid,
		    "job_definition_uuid", e) == -1 ||
		    uuid_in(&r->cluster_uuid, m->cluster_uuid, "cluster_uuid",
		    e) == -1 ||
		    str_in(&r->idem_key, m->idempotency_key, IDEM_MAX,
		    "idempotency_key", e) == -1 ||
		    env_in(&r->env, (void **)m->env, m->n_env, "env", e) == -1)
			goto s_out;
		if ((r->has_args = m->args_opt_case ==
		    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__ARGS_OPT_ARGS)) {
			if (str_in(&r->args, m->args, ARGS_MAX, "args", e) == -1)
				goto s_out;
			if (r->args == NULL)
				r->args = xstrdup("");
		}
		rc = 0;
s_out:
		batchd__v1__submit_job_run_request__free_unpacked(m, &walloc);
		return rc;
	}
	case V_RUN_SUBMIT_SQL: {
		UNPACK(Batchd__V1__SubmitSqlJobRunRequest,
		    batchd__v1__submit_sql_job_run_request__unpack, "SubmitSqlJobRunRequest");
		if (str_in(&r->sql, m->sql_query, cfg->max_message_bytes,
		    "sql_query", e) == -1 ||
		    uuid_in(&r->cluster_uuid, m->cluster_uuid, "cluster_uuid",
		    e) == -1 ||
		    str_in(&r->idem_key, m->idempotency_key, IDEM_MAX,
		    "idempotency_key", e) == -1 ||
		    env_in(&r->env, (void **)m->env, m->n_env, "env", e) == -1)
			goto q_out;
		if ((r->has_cluster = m->cluster_config != NULL) &&
		    clusterconfig_in(&r->cluster, m->cluster_config,
		    "cluster_config", e) == -1)
			goto q_out;
		rc = 0;
q_out:
		batchd__v1__submit_sql_job_run_request__free_unpacked(m, &walloc);
		return rc;
	}
	case V_RUN_GET:
	case V_RUN_EVENTS:
	case V_RUN_CANCEL: {
		/* GetJobRunRequest and CancelJobRunRequest are alike. */
		UNPACK(Batchd__V1__GetJobRunRequest,
		    batchd__v1__get_job_run_request__unpack, "GetJobRunRequest");
		rc = uuid_in(&r->uuid, m->uuid, "uuid", e);
		batchd__v1__get_job_run_request__free_unpacked(m, &walloc);
		return rc;
	}
	case V_RUN_CANCEL_ALL: {
		UNPACK(Batchd__V1__CancelJobRunsRequest,
		    batchd__v1__cancel_job_runs_request__unpack, "CancelJobRunsRequest");
		if (m->n_cluster_uuids > 1000) {
			error_set(e, E_INVALID, "cluster_uuids", "cluster_uuids "
			    "has more than 1000 entries");
			goto a_out;
		}
		if (uuid_in(&r->def_uuid, m->job_definition_uuid,
		    "job_definition_uuid", e) == -1)
			goto a_out;
		r->cluster_uuids = xcalloc(m->n_cluster_uuids,
		    sizeof *r->cluster_uuids);
		for (i = 0; i < m->n_cluster_uuids; i++) {
			if (uuid_in(&r->cluster_uuids[i], m->cluster_uuids[i],
			    "cluster_uuids", e) == -1 ||
			    r->cluster_uuids[i] == NULL) {
				if (e->code == E_OK)
					error_set(e, E_INVALID, "cluster_uuids",
					    "cluster_uuids has an empty entry");
				r->n_cluster_uuids = i + 1;
				goto a_out;
			}
		}
		r->n_cluster_uuids = m->n_cluster_uuids;
		rc = 0;
a_out:
		batchd__v1__cancel_job_runs_request__free_unpacked(m, &walloc);
		return rc;
	}
	case V_RUN_LIST: {
		UNPACK(Batchd__V1__ListJobRunsRequest,
		    batchd__v1__list_job_runs_request__unpack, "ListJobRunsRequest");
		if (uuid_in(&r->def_uuid, m->job_definition_uuid,
		    "job_definition_uuid", e) == -1 ||
		    uuid_in(&r->cluster_uuid, m->cluster_uuid, "cluster_uuid",
		    e) == -1 ||
		    enum_in(&st, m->status, RS_CANCELLED, "status", e) == -1 ||
		    page_in(r, m->page_size, m->page_token, e) == -1)
			goto l_out;
		r->status = st;
		if (m->submitted_after_ms < 0 || m->submitted_before_ms < 0) {
			error_set(e, E_INVALID, m->submitted_after_ms < 0 ?
			    "submitted_after_ms" : "submitted_before_ms",
			    "time bounds may not be negative");
			goto l_out;
		}
		r->after_ms = m->submitted_after_ms;
		r->before_ms = m->submitted_before_ms;
		rc = 0;
l_out:
		batchd__v1__list_job_runs_request__free_unpacked(m, &walloc);
		return rc;
	}
	case V_RUN_LOGS: {
		UNPACK(Batchd__V1__GetJobRunLogsRequest,
		    batchd__v1__get_job_run_logs_request__unpack, "GetJobRunLogsRequest");
		if (uuid_in(&r->uuid, m->uuid, "uuid", e) == -1 ||
		    enum_in(&st, m->stream, LS_STDERR, "stream", e) == -1)
			goto g_out;
		r->stream = st == LS_NONE ? LS_STDOUT : st;
		if (m->max_bytes > (1 << 20)) {
			error_set(e, E_INVALID, "max_bytes", "max_bytes %u is "
			    "more than 1048576", m->max_bytes);
			goto g_out;
		}
		r->max_bytes = m->max_bytes == 0 ? 65536 : m->max_bytes;
		r->attempt = m->attempt;
		r->offset = m->offset;
		rc = 0;
g_out:
		batchd__v1__get_job_run_logs_request__free_unpacked(m, &walloc);
		return rc;
	}
	default:
		return -1;
	}
}

/*
 * Decode the payload of verb v into r (zeroed by the caller). Returns 0, or
 * -1 with e set; r is to be freed with request_free() either way.
 */
int
wire_decode_request(enum verb v, const void *data, size_t len,
    struct request *r, struct error *e)
{
	r->verb = v;
	if (len > cfg->max_message_bytes) {
		error_set(e, E_INVALID, "payload", "payload of %zu bytes is "
		    "over the limit of %u", len, cfg->max_message_bytes);
		return -1;
	}
	if (v >= V_JOBDEF_CREATE && v <= V_JOBDEF_DELETE)
		return decode_jobdef(v, data, len, r, e);
	if (v >= V_CLUSTER_CREATE && v <= V_CLUSTER_DELETE)
		return decode_cluster(v, data, len, r, e);
	return decode_run(v, data, len, r, e);
}

/* ------------------------------------------------------------ page tokens */

/*
 * A page token is where the next page of a list starts, as
 *	{list}{position in hex}.{checksum in hex}
 * list: 'd' jobdef.list, 'c' cluster.list, 'r' run.list. Position: the
 * name listed last (jobdef, cluster), or the index entry of the run listed
 * last (run: submitted_ms as 8 big-endian bytes, then its UUID). Checksum:
 * CRC-32 of the list letter, the workspace, a NUL and the position. It is
 * no secret (a client may make a token of any position in its own
 * workspace, which a list would reach anyway); it lets the one decoder
 * below refuse garbage and a token of another list or workspace.
 */

static int
page_letter(enum verb list)
{
	switch (list) {
	case V_JOBDEF_LIST:
		return 'd';
	case V_CLUSTER_LIST:
		return 'c';
	case V_RUN_LIST:
		return 'r';
	default:
		return 0;
	}
}

/* The position of pos in list, as bytes into p; its length. */
static size_t
page_bytes(enum verb list, const struct pagepos *pos, uint8_t *p)
{
	size_t	n;

	if (list == V_RUN_LIST) {
		be64_put(p, pos->ts);
		memcpy(p + 8, pos->uuid, UUID_LEN);
		return 8 + UUID_LEN;
	}
	n = strlen(pos->name);
	memcpy(p, pos->name, n);
	return n;
}

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
wire_page_token(enum verb list, const char *ws, const struct pagepos *pos)
{
	uint8_t	 p[NAME_MAX_LEN + 8 + UUID_LEN];
	char	*tok;
	size_t	 n, i;

	n = page_bytes(list, pos, p);
	tok = xmalloc(1 + 2 * n + 1 + 8 + 1);
	tok[0] = (char)page_letter(list);
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
wire_page_token_decode(enum verb list, const char *ws, const char *tok,
    struct pagepos *pos, struct error *e)
{
	uint8_t		 p[NAME_MAX_LEN + 8 + UUID_LEN], c[4];
	const char	*dot;
	size_t		 len, n;

	memset(pos, 0, sizeof *pos);
	if (tok == NULL || *tok == '\0')
		return 0;
	len = strlen(tok);
	if (len > WIRE_PAGE_TOKEN_MAX || page_letter(list) == 0 ||
	    tok[0] != page_letter(list) || (dot = strchr(tok, '.')) == NULL ||
	    (n = (size_t)(dot - tok - 1)) % 2 != 0 || n / 2 > sizeof p ||
	    strlen(dot + 1) != 8 || unhex(p, tok + 1, n) == -1 ||
	    unhex(c, dot + 1, 8) == -1)
		goto bad;
	n /= 2;
	if (((uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 |
	    (uint32_t)c[2] << 8 | c[3]) != page_crc(tok[0], ws, p, n))
		goto bad;
	if (list == V_RUN_LIST) {
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
	    wire_verb_name(list), ws);
	return -1;
}

/* ------------------------------------------------------------ encoding */

/* Pack any message into b (replacing its contents). */
static void
pack(struct buf *b, const ProtobufCMessage *m)
{
	size_t	n;

	b->len = 0;
	n = protobuf_c_message_get_packed_size(m);
	buf_add(b, NULL, n);
	protobuf_c_message_pack(m, b->p);
}

static char *
s_out(const char *s)
{
	return (char *)(s == NULL ? "" : s);
}

/*
 * Env entries of every map type share one layout; out holds n entries and
 * n pointers to them, all freed by env_out_free(). In replies (redact) the
 * values of secret names (secret_env) are masked.
 */
static void **
env_out(const struct kvlist *l, const ProtobufCMessageDescriptor *d,
    int redact)
{
	Batchd__V1__JobConfig__EnvEntry	*ents, **ptrs;
	size_t				 i;

	ptrs = xcalloc(l->n + 1, sizeof *ptrs);
	ents = xcalloc(l->n + 1, sizeof *ents);
	for (i = 0; i < l->n; i++) {
		protobuf_c_message_init(d, &ents[i]);
		ents[i].key = l->v[i].key;
		ents[i].value = redact && config_env_secret(l->v[i].key) ?
		    SECRET_MASK : l->v[i].value;
		ptrs[i] = &ents[i];
	}
	ptrs[l->n] = ents;	/* kept to free the block */
	return (void **)ptrs;
}

static void
env_out_free(void **ptrs, size_t n)
{
	if (ptrs == NULL)
		return;
	free(ptrs[n]);
	free(ptrs);
}

/* Storage for the pb structs of one JobConfig, filled by jobconfig_out. */
struct pb_jobconfig {
	Batchd__V1__JobConfig		 c;
	Batchd__V1__JobSource		 s;
	Batchd__V1__WorkspaceSource	 ws;
	Batchd__V1__GitSource		 git;
	Batchd__V1__S3Source		 s3;
	Batchd__V1__RetryStrategy	 r;
	void				**env;
	size_t				 n_env;
};

static void
jobconfig_out(struct pb_jobconfig *p, const struct jobconfig *c, int redact)
{
	batchd__v1__job_config__init(&p->c);
	batchd__v1__job_source__init(&p->s);
	batchd__v1__workspace_source__init(&p->ws);
	batchd__v1__git_source__init(&p->git);
	batchd__v1__s3_source__init(&p->s3);
	batchd__v1__retry_strategy__init(&p->r);

	p->s.type = (Batchd__V1__SourceType)c->source.type;
	switch (c->source.type) {
	case SRC_WORKSPACE:
		p->s.definition_case =
		    BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE;
		p->s.workspace = &p->ws;
		p->ws.path = s_out(c->source.path);
		break;
	case SRC_GIT:
		p->s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_GIT;
		p->s.git = &p->git;
		p->git.repo_url = s_out(c->source.repo_url);
		p->git.username = s_out(c->source.username);
		p->git.token = redact && c->source.token != NULL ? SECRET_MASK :
		    s_out(c->source.token);
		p->git.reference = s_out(c->source.reference);
		break;
	case SRC_S3:
		p->s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_S3;
		p->s.s3 = &p->s3;
		p->s3.bucket_path = s_out(c->source.bucket_path);
		p->s3.region = s_out(c->source.region);
		break;
	default:
		break;
	}
	if (c->source.type != SRC_NONE)
		p->c.source = &p->s;
	p->c.type = (Batchd__V1__JobType)c->type;
	p->c.source_location = s_out(c->source_location);
	p->c.args = s_out(c->args);
	p->r.num_retries_opt_case =
	    BATCHD__V1__RETRY_STRATEGY__NUM_RETRIES_OPT_NUM_RETRIES;
	p->r.num_retries = c->retry.num_retries;
	p->r.retry_delay_seconds_opt_case =
	    BATCHD__V1__RETRY_STRATEGY__RETRY_DELAY_SECONDS_OPT_RETRY_DELAY_SECONDS;
	p->r.retry_delay_seconds = c->retry.delay_s;
	p->r.auto_retry_on_timeout_opt_case =
	    BATCHD__V1__RETRY_STRATEGY__AUTO_RETRY_ON_TIMEOUT_OPT_AUTO_RETRY_ON_TIMEOUT;
	p->r.auto_retry_on_timeout = c->retry.on_timeout;
	p->c.retry_strategy = &p->r;
	p->c.timeout_seconds_opt_case =
	    BATCHD__V1__JOB_CONFIG__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS;
	p->c.timeout_seconds = c->timeout_s;
	p->env = env_out(&c->env, &batchd__v1__job_config__env_entry__descriptor,
	    redact);
	p->n_env = c->env.n;
	p->c.n_env = c->env.n;
	p->c.env = (Batchd__V1__JobConfig__EnvEntry **)p->env;
}

static void
clusterconfig_out(Batchd__V1__ClusterConfig *m, const struct clusterconfig *c)
{
	batchd__v1__cluster_config__init(m);
	m->instance_type = s_out(c->instance_type);
	m->workers_quantity = c->workers;
	m->version = s_out(c->version);
}

struct pb_jobdef {
	Batchd__V1__JobDefinition	 d;
	struct pb_jobconfig		 c;
	Batchd__V1__ClusterConfig	 cc;
};

static void
jobdef_out(struct pb_jobdef *p, const struct jobdef *d, int redact)
{
	batchd__v1__job_definition__init(&p->d);
	p->d.uuid = (char *)d->uuid;
	p->d.name = s_out(d->name);
	p->d.description = s_out(d->description);
	p->d.workspace = s_out(d->ws);
	jobconfig_out(&p->c, &d->config, redact);
	p->d.config = &p->c.c;
	if (d->has_cluster) {
		clusterconfig_out(&p->cc, &d->cluster);
		p->d.cluster_config = &p->cc;
	}
	p->d.created_at_ms = d->created_ms;
	p->d.updated_at_ms = d->updated_ms;
}

static void
jobdef_out_free(struct pb_jobdef *p)
{
	env_out_free(p->c.env, p->c.n_env);
}

static void
cluster_out(Batchd__V1__Cluster *m, Batchd__V1__ClusterConfig *cc,
    const struct cluster *c)
{
	batchd__v1__cluster__init(m);
	m->uuid = (char *)c->uuid;
	m->name = s_out(c->name);
	m->workspace = s_out(c->ws);
	clusterconfig_out(cc, &c->config);
	m->config = cc;
	m->state = (Batchd__V1__Cluster__ClusterState)c->state;
	m->auto_resume = c->auto_resume;
	m->ephemeral = c->ephemeral;
	m->queued = c->queued;
	m->active_run_uuid = (char *)c->active_run;
	m->created_at_ms = c->created_ms;
	m->queue_next = c->queue_next;
}

static void
usage_out(Batchd__V1__ResourceUsage *m, const struct usage *u)
{
	batchd__v1__resource_usage__init(m);
	m->user_cpu_us = u->user_us;
	m->system_cpu_us = u->sys_us;
	m->max_rss_kb = u->maxrss_kb;
	m->wall_ms = u->wall_ms;
}

struct pb_run {
	Batchd__V1__JobRun		  r;
	Batchd__V1__ResourceUsage	  u;
	struct pb_jobconfig		  c;
	Batchd__V1__JobRunAttempt	 *a;
	Batchd__V1__JobRunAttempt	**ap;
	Batchd__V1__ResourceUsage	 *au;
	void				**env;
	size_t				  n_env;
};

static void
run_out(struct pb_run *p, const struct run *r, int redact)
{
	size_t	i;

	batchd__v1__job_run__init(&p->r);
	p->r.uuid = (char *)r->uuid;
	p->r.job_definition_uuid = (char *)r->def_uuid;
	p->r.cluster_uuid = (char *)r->cluster_uuid;
	p->r.workspace = s_out(r->ws);
	p->r.type = (Batchd__V1__JobType)r->type;
	p->r.status = (Batchd__V1__JobRunStatus)r->status;
	p->r.reason = (Batchd__V1__StatusReason)r->reason;
	p->r.reason_text = s_out(r->reason_text);
	p->r.attempt = r->attempt;
	if (r->has_exit) {
		p->r.exit_code_opt_case =
		    BATCHD__V1__JOB_RUN__EXIT_CODE_OPT_EXIT_CODE;
		p->r.exit_code = r->exit_code;
	}
	p->r.submitted_at_ms = r->submitted_ms;
	p->r.started_at_ms = r->started_ms;
	p->r.finished_at_ms = r->finished_ms;
	if (r->has_args) {
		p->r.args_opt_case = BATCHD__V1__JOB_RUN__ARGS_OPT_ARGS;
		p->r.args = s_out(r->args);
	}
	p->env = env_out(&r->env, &batchd__v1__job_run__env_entry__descriptor,
	    redact);
	p->n_env = r->env.n;
	p->r.n_env = r->env.n;
	p->r.env = (Batchd__V1__JobRun__EnvEntry **)p->env;
	p->r.sql_query = s_out(r->sql);
	p->r.idempotency_key = s_out(r->idem_key);
	p->r.queue_position = r->queue_position;
	p->a = xcalloc(r->n_attempts, sizeof *p->a);
	p->ap = xcalloc(r->n_attempts, sizeof *p->ap);
	p->au = xcalloc(r->n_attempts, sizeof *p->au);
	for (i = 0; i < r->n_attempts; i++) {
		const struct attempt *a = &r->attempts[i];

		batchd__v1__job_run_attempt__init(&p->a[i]);
		p->a[i].attempt = a->n;
		p->a[i].status = (Batchd__V1__JobRunStatus)a->status;
		p->a[i].reason = (Batchd__V1__StatusReason)a->reason;
		p->a[i].reason_text = s_out(a->reason_text);
		if (a->has_exit) {
			p->a[i].exit_code_opt_case =
			    BATCHD__V1__JOB_RUN_ATTEMPT__EXIT_CODE_OPT_EXIT_CODE;
			p->a[i].exit_code = a->exit_code;
		}
		p->a[i].signal = a->sig;
		p->a[i].started_at_ms = a->started_ms;
		p->a[i].finished_at_ms = a->finished_ms;
		usage_out(&p->au[i], &a->usage);
		p->a[i].usage = &p->au[i];
		p->ap[i] = &p->a[i];
	}
	p->r.n_attempts = r->n_attempts;
	p->r.attempts = p->ap;
	usage_out(&p->u, &r->usage);
	p->r.usage = &p->u;
	jobconfig_out(&p->c, &r->config, redact);
	p->r.config = &p->c.c;
	p->r.ephemeral_cluster = r->ephemeral;
	p->r.workers = r->workers;
	p->r.version = s_out(r->version);
	p->r.instance_type = s_out(r->instance_type);
	p->r.event_seq = r->event_seq;
	p->r.retry_at_ms = r->retry_at_ms;
	p->r.queue_seq = r->queue_seq;
	p->r.deadline_ms = r->deadline_ms;
	p->r.log_bytes = r->log_bytes;
}

static void
run_out_free(struct pb_run *p)
{
	free(p->a);
	free(p->ap);
	free(p->au);
	env_out_free(p->env, p->n_env);
	env_out_free(p->c.env, p->c.n_env);
}

static void
event_out(Batchd__V1__JobRunStatusEvent *m, Batchd__V1__ResourceUsage *u,
    const struct runevent *e)
{
	batchd__v1__job_run_status_event__init(m);
	m->run_uuid = (char *)e->run_uuid;
	m->job_definition_uuid = (char *)e->def_uuid;
	m->cluster_uuid = (char *)e->cluster_uuid;
	m->workspace = s_out(e->ws);
	m->status = (Batchd__V1__JobRunStatus)e->status;
	m->previous_status = (Batchd__V1__JobRunStatus)e->prev;
	m->reason = (Batchd__V1__StatusReason)e->reason;
	m->reason_text = s_out(e->reason_text);
	m->attempt = e->attempt;
	m->seq = e->seq;
	m->at_ms = e->at_ms;
	if (e->has_exit) {
		m->exit_code_opt_case =
		    BATCHD__V1__JOB_RUN_STATUS_EVENT__EXIT_CODE_OPT_EXIT_CODE;
		m->exit_code = e->exit_code;
	}
	if (e->has_usage) {
		usage_out(u, &e->usage);
		m->usage = u;
	}
}

static Batchd__V1__Error *
error_out(Batchd__V1__Error *m, const struct error *e)
{
	if (e == NULL || e->code == E_OK)
		return NULL;
	batchd__v1__error__init(m);
	m->code = (Batchd__V1__ErrorCode)e->code;
	m->message = (char *)e->message;
	m->field = (char *)e->field;
	return m;
}

/* ------------------------------------------------------------ reply size */

/*
 * Every reply fits the server's max_payload (request.reply_max): the list
 * handlers add items while wire_size_*() of the next one fits in what
 * wire_list_room() left, and cut the page short (its next_page_token
 * starts after the last item included) when it does not; api.c refuses
 * any other reply over the bound, with the error wire_error_too_large()
 * makes. An item of a list costs its tag (fields 2: one byte), its length
 * and its bytes, as the reply carries it (secrets masked).
 */

static size_t
varint_len(size_t n)
{
	size_t	len = 1;

	for (; n >= 0x80; n >>= 7)
		len++;
	return len;
}

static size_t
item_size(const ProtobufCMessage *m)
{
	size_t	n = protobuf_c_message_get_packed_size(m);

	return 1 + varint_len(n) + n;
}

/*
 * Bytes a list reply to q has for its items: reply_max less the longest
 * next_page_token field. SIZE_MAX without a bound (reply_max 0).
 */
size_t
wire_list_room(const struct request *q)
{
	size_t	reserve = 1 + varint_len(WIRE_PAGE_TOKEN_MAX) +
		    WIRE_PAGE_TOKEN_MAX;

	if (q->reply_max == 0)
		return SIZE_MAX;
	return q->reply_max > reserve ? q->reply_max - reserve : 0;
}

size_t
wire_size_jobdef(const struct jobdef *d)
{
	struct pb_jobdef	p;
	size_t			n;

	jobdef_out(&p, d, 1);
	n = item_size(&p.d.base);
	jobdef_out_free(&p);
	return n;
}

size_t
wire_size_cluster(const struct cluster *c)
{
	Batchd__V1__Cluster		m;
	Batchd__V1__ClusterConfig	cc;

	cluster_out(&m, &cc, c);
	return item_size(&m.base);
}

size_t
wire_size_run(const struct run *r)
{
	struct pb_run	p;
	size_t		n;

	run_out(&p, r, 1);
	n = item_size(&p.r.base);
	run_out_free(&p);
	return n;
}

/*
 * e: a reply of n bytes would pass the server's max_payload max. field
 * names the request field that chose the object, what (or NULL) says
 * which object it is.
 */
void
wire_error_too_large(struct error *e, const char *field, size_t n,
    size_t max, const char *what)
{
	error_set(e, E_PRECONDITION, field, "reply of %zu bytes exceeds the "
	    "server's max_payload %zu%s%.120s", n, max,
	    what != NULL ? ": " : "", what != NULL ? what : "");
}

/* An error-only reply; field 1 of every reply type, so it decodes as any. */
void
wire_reply_error(struct buf *b, const struct error *e)
{
	Batchd__V1__DeleteReply	m = BATCHD__V1__DELETE_REPLY__INIT;
	Batchd__V1__Error	em;

	m.error = error_out(&em, e);
	pack(b, &m.base);
}

void
wire_reply_delete(struct buf *b)
{
	wire_reply_error(b, NULL);
}

void
wire_reply_jobdef(struct buf *b, const struct jobdef *d)
{
	Batchd__V1__JobDefinitionReply	m = BATCHD__V1__JOB_DEFINITION_REPLY__INIT;
	struct pb_jobdef		p;

	jobdef_out(&p, d, 1);
	m.job_definition = &p.d;
	pack(b, &m.base);
	jobdef_out_free(&p);
}

/* A page of definitions; more: where the next starts, NULL on the last. */
void
wire_reply_jobdefs(struct buf *b, const char *ws, struct jobdef *d, size_t n,
    const struct pagepos *more)
{
	Batchd__V1__ListJobDefinitionsReply m =
	    BATCHD__V1__LIST_JOB_DEFINITIONS_REPLY__INIT;
	struct pb_jobdef		*p;
	Batchd__V1__JobDefinition	**pp;
	char				*token;
	size_t				 i;

	p = xcalloc(n, sizeof *p);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		jobdef_out(&p[i], &d[i], 1);
		pp[i] = &p[i].d;
	}
	m.n_job_definitions = n;
	m.job_definitions = pp;
	token = more != NULL ? wire_page_token(V_JOBDEF_LIST, ws, more) : NULL;
	m.next_page_token = s_out(token);
	pack(b, &m.base);
	for (i = 0; i < n; i++)
		jobdef_out_free(&p[i]);
	free(p);
	free(pp);
	free(token);
}

void
wire_reply_cluster(struct buf *b, const struct cluster *c)
{
	Batchd__V1__ClusterReply	m = BATCHD__V1__CLUSTER_REPLY__INIT;
	Batchd__V1__Cluster		cm;
	Batchd__V1__ClusterConfig	cc;

	cluster_out(&cm, &cc, c);
	m.cluster = &cm;
	pack(b, &m.base);
}

/* A page of clusters; more: where the next starts, NULL on the last. */
void
wire_reply_clusters(struct buf *b, const char *ws, struct cluster *c,
    size_t n, const struct pagepos *more)
{
	Batchd__V1__ListClustersReply	m = BATCHD__V1__LIST_CLUSTERS_REPLY__INIT;
	Batchd__V1__Cluster		*cm, **pp;
	Batchd__V1__ClusterConfig	*cc;
	char				*token;
	size_t				 i;

	cm = xcalloc(n, sizeof *cm);
	cc = xcalloc(n, sizeof *cc);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		cluster_out(&cm[i], &cc[i], &c[i]);
		pp[i] = &cm[i];
	}
	m.n_clusters = n;
	m.clusters = pp;
	token = more != NULL ? wire_page_token(V_CLUSTER_LIST, ws, more) : NULL;
	m.next_page_token = s_out(token);
	pack(b, &m.base);
	free(cm);
	free(cc);
	free(pp);
	free(token);
}

void
wire_reply_run(struct buf *b, const struct run *r)
{
	Batchd__V1__JobRunReply	m = BATCHD__V1__JOB_RUN_REPLY__INIT;
	struct pb_run		p;

	run_out(&p, r, 1);
	m.job_run = &p.r;
	pack(b, &m.base);
	run_out_free(&p);
}

/* A page of runs; more: where the next starts, NULL on the last. */
void
wire_reply_runs(struct buf *b, const char *ws, struct run *r, size_t n,
    const struct pagepos *more)
{
	Batchd__V1__ListJobRunsReply	m = BATCHD__V1__LIST_JOB_RUNS_REPLY__INIT;
	struct pb_run			*p;
	Batchd__V1__JobRun		**pp;
	char				*token;
	size_t				 i;

	p = xcalloc(n, sizeof *p);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		run_out(&p[i], &r[i], 1);
		pp[i] = &p[i].r;
	}
	m.n_job_runs = n;
	m.job_runs = pp;
	token = more != NULL ? wire_page_token(V_RUN_LIST, ws, more) : NULL;
	m.next_page_token = s_out(token);
	pack(b, &m.base);
	for (i = 0; i < n; i++)
		run_out_free(&p[i]);
	free(p);
	free(pp);
	free(token);
}

void
wire_reply_cancelled(struct buf *b, char **uuids, size_t n)
{
	Batchd__V1__CancelJobRunsReply	m = BATCHD__V1__CANCEL_JOB_RUNS_REPLY__INIT;

	m.cancelled = (uint32_t)n;
	m.n_run_uuids = n;
	m.run_uuids = uuids;
	pack(b, &m.base);
}

static void
logchunk_out(Batchd__V1__LogChunk *m, const struct logchunk *c)
{
	batchd__v1__log_chunk__init(m);
	m->run_uuid = (char *)c->run_uuid;
	m->attempt = c->attempt;
	m->stream = (Batchd__V1__LogStream)c->stream;
	m->offset = c->offset;
	m->data.data = (uint8_t *)c->data;
	m->data.len = c->len;
	m->eof = c->eof;
	m->encoding = (Batchd__V1__LogEncoding)c->encoding;
	m->size = (uint32_t)c->size;
}

void
wire_reply_logs(struct buf *b, struct logchunk *c, size_t n, uint64_t next,
    int eof)
{
	Batchd__V1__JobRunLogsReply	m = BATCHD__V1__JOB_RUN_LOGS_REPLY__INIT;
	Batchd__V1__LogChunk		*cm, **pp;
	size_t				 i;

	cm = xcalloc(n, sizeof *cm);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		logchunk_out(&cm[i], &c[i]);
		pp[i] = &cm[i];
	}
	m.n_chunks = n;
	m.chunks = pp;
	m.next_offset = next;
	m.eof = eof;
	pack(b, &m.base);
	free(cm);
	free(pp);
}

void
wire_reply_events(struct buf *b, struct runevent *e, size_t n)
{
	Batchd__V1__JobRunEventsReply	 m = BATCHD__V1__JOB_RUN_EVENTS_REPLY__INIT;
	Batchd__V1__JobRunStatusEvent	*em, **pp;
	Batchd__V1__ResourceUsage	*u;
	size_t				 i;

	em = xcalloc(n, sizeof *em);
	u = xcalloc(n, sizeof *u);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		event_out(&em[i], &u[i], &e[i]);
		pp[i] = &em[i];
	}
	m.n_events = n;
	m.events = pp;
	pack(b, &m.base);
	free(em);
	free(u);
	free(pp);
}

/*
 * A LogChunk but its data's bytes, into head (WIRE_LOGCHUNK_HEAD bytes at
 * most): every other field, then the data field's tag and length; c->len
 * bytes of data follow it to make the message (fields may come in any
 * order; protobuf-c leaves an empty data out). The publisher reads a log
 * straight into the place after the head: its bytes are not copied again
 * to be packed. Returns the head's length.
 */
size_t
wire_logchunk_head(uint8_t *head, const struct logchunk *c)
{
	Batchd__V1__LogChunk	m;
	struct logchunk		h = *c;
	size_t			n;
	uint64_t		v;

	h.data = NULL;
	h.len = 0;
	logchunk_out(&m, &h);
	if (protobuf_c_message_get_packed_size(&m.base) >
	    WIRE_LOGCHUNK_HEAD - 11)
		fatalx("log chunk head of %s too large", c->run_uuid);
	n = protobuf_c_message_pack(&m.base, head);
	if (c->len > 0) {
		head[n++] = 5 << 3 | 2;		/* data, length-delimited */
		for (v = c->len; v >= 0x80; v >>= 7)
			head[n++] = (uint8_t)(v | 0x80);
		head[n++] = (uint8_t)v;
	}
	return n;
}

/* ------------------------------------------------------------ records */

void
wire_encode_jobdef(struct buf *b, const struct jobdef *d)
{
	struct pb_jobdef	p;

	jobdef_out(&p, d, 0);
	pack(b, &p.d.base);
	jobdef_out_free(&p);
}

static char *
dup_in(const char *s)
{
	return s == NULL || *s == '\0' ? NULL : xstrdup(s);
}

static void
kv_in(struct kvlist *l, void **entries, size_t n)
{
	Batchd__V1__JobConfig__EnvEntry	*kv;
	size_t				 i;

	for (i = 0; i < n; i++) {
		kv = entries[i];
		kvlist_set(l, kv->key, kv->value);
	}
}

/* Records were written by us: no validation beyond what unpack does. */
static void
jobconfig_rec(struct jobconfig *c, const Batchd__V1__JobConfig *m)
{
	const Batchd__V1__JobSource	*s = m->source;

	if (s != NULL) {
		c->source.type = (enum srctype)s->type;
		c->source.oneof = (int)s->type;
		if (s->workspace != NULL &&
		    s->definition_case == BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE)
			c->source.path = dup_in(s->workspace->path);
		if (s->git != NULL &&
		    s->definition_case == BATCHD__V1__JOB_SOURCE__DEFINITION_GIT) {
			c->source.repo_url = dup_in(s->git->repo_url);
			c->source.username = dup_in(s->git->username);
			c->source.token = dup_in(s->git->token);
			c->source.reference = dup_in(s->git->reference);
		}
		if (s->s3 != NULL &&
		    s->definition_case == BATCHD__V1__JOB_SOURCE__DEFINITION_S3) {
			c->source.bucket_path = dup_in(s->s3->bucket_path);
			c->source.region = dup_in(s->s3->region);
		}
	}
	c->type = (enum jobtype)m->type;
	c->source_location = dup_in(m->source_location);
	c->args = dup_in(m->args);
	if (m->retry_strategy != NULL) {
		c->retry.num_retries = m->retry_strategy->num_retries;
		c->retry.delay_s = m->retry_strategy->retry_delay_seconds;
		c->retry.on_timeout = m->retry_strategy->auto_retry_on_timeout;
		c->retry.has_num = c->retry.has_delay =
		    c->retry.has_on_timeout = 1;
	}
	c->timeout_s = m->timeout_seconds;
	c->has_timeout = 1;
	kv_in(&c->env, (void **)m->env, m->n_env);
}

static void
clusterconfig_rec(struct clusterconfig *c, const Batchd__V1__ClusterConfig *m)
{
	if (m == NULL)
		return;
	c->instance_type = dup_in(m->instance_type);
	c->workers = m->workers_quantity;
	c->version = dup_in(m->version);
}

static void
uuid_rec(char *dst, const char *src)
{
	snprintf(dst, UUID_LEN + 1, "%s", src == NULL ? "" : src);
}

/* Decode a stored definition into d (zeroed by the caller); 0 or -1. */
int
wire_decode_jobdef(const void *data, size_t len, struct jobdef *d)
{
	Batchd__V1__JobDefinition	*m;

	m = batchd__v1__job_definition__unpack(NULL, len, data);
	if (m == NULL)
		return -1;
	uuid_rec(d->uuid, m->uuid);
	d->ws = xstrdup(m->workspace);
	d->name = xstrdup(m->name);
	d->description = dup_in(m->description);
	if (m->config != NULL)
		jobconfig_rec(&d->config, m->config);
	if ((d->has_cluster = m->cluster_config != NULL))
		clusterconfig_rec(&d->cluster, m->cluster_config);
	d->created_ms = m->created_at_ms;
	d->updated_ms = m->updated_at_ms;
	batchd__v1__job_definition__free_unpacked(m, NULL);
	return 0;
}

void
wire_encode_cluster(struct buf *b, const struct cluster *c)
{
	Batchd__V1__Cluster		m;
	Batchd__V1__ClusterConfig	cc;

	cluster_out(&m, &cc, c);
	pack(b, &m.base);
}

int
wire_decode_cluster(const void *data, size_t len, struct cluster *c)
{
	Batchd__V1__Cluster	*m;

	m = batchd__v1__cluster__unpack(NULL, len, data);
	if (m == NULL)
		return -1;
	uuid_rec(c->uuid, m->uuid);
	c->ws = xstrdup(m->workspace);
	c->name = xstrdup(m->name);
	clusterconfig_rec(&c->config, m->config);
	c->state = (enum clstate)m->state;
	c->auto_resume = m->auto_resume;
	c->ephemeral = m->ephemeral;
	c->queued = m->queued;
	uuid_rec(c->active_run, m->active_run_uuid);
	c->created_ms = m->created_at_ms;
	c->queue_next = m->queue_next;
	batchd__v1__cluster__free_unpacked(m, NULL);
	return 0;
}

/* A run whole, its snapshot's key too (a copy, tests). */
void
wire_encode_run(struct buf *b, const struct run *r)
{
	struct pb_run	p;

	run_out(&p, r, 0);
	if (r->has_config_ref) {
		p.r.config_ref.data = (uint8_t *)r->config_ref;
		p.r.config_ref.len = CONFIG_REF_LEN;
	}
	pack(b, &p.r.base);
	run_out_free(&p);
}

/*
 * A run's storage record: with a snapshot, its key instead of the
 * configuration, which store_get_run() rebuilds from the snapshot, the
 * run's args and env (all that the run's own request carried).
 */
void
wire_encode_run_record(struct buf *b, const struct run *r)
{
	struct pb_run	p;

	run_out(&p, r, 0);
	if (r->has_config_ref) {
		p.r.config = NULL;
		p.r.config_ref.data = (uint8_t *)r->config_ref;
		p.r.config_ref.len = CONFIG_REF_LEN;
	}
	pack(b, &p.r.base);
	run_out_free(&p);
}

/* A configuration snapshot's record (store.c "configs"). */
void
wire_encode_jobconfig(struct buf *b, const struct jobconfig *c)
{
	struct pb_jobconfig	p;

	jobconfig_out(&p, c, 0);
	pack(b, &p.c.base);
	env_out_free(p.env, p.n_env);
}

/* Decode a snapshot into c (zeroed by the caller); 0 or -1. */
int
wire_decode_jobconfig(const void *data, size_t len, struct jobconfig *c)
{
	Batchd__V1__JobConfig	*m;

	if ((m = batchd__v1__job_config__unpack(NULL, len, data)) == NULL)
		return -1;
	jobconfig_rec(c, m);
	batchd__v1__job_config__free_unpacked(m, NULL);
	return 0;
}

static void
usage_rec(struct usage *u, const Batchd__V1__ResourceUsage *m)
{
	if (m == NULL)
		return;
	u->user_us = m->user_cpu_us;
	u->sys_us = m->system_cpu_us;
	u->maxrss_kb = m->max_rss_kb;
	u->wall_ms = m->wall_ms;
}

int
wire_decode_run(const void *data, size_t len, struct run *r)
{
	Batchd__V1__JobRun	*m;
	size_t			 i;

	m = batchd__v1__job_run__unpack(NULL, len, data);
	if (m == NULL)
		return -1;
	uuid_rec(r->uuid, m->uuid);
	uuid_rec(r->def_uuid, m->job_definition_uuid);
	uuid_rec(r->cluster_uuid, m->cluster_uuid);
	r->ws = xstrdup(m->workspace);
	r->type = (enum jobtype)m->type;
	r->status = (enum rstatus)m->status;
	r->reason = (enum reason)m->reason;
	r->reason_text = dup_in(m->reason_text);
	r->attempt = m->attempt;
	if ((r->has_exit = m->exit_code_opt_case ==
	    BATCHD__V1__JOB_RUN__EXIT_CODE_OPT_EXIT_CODE))
		r->exit_code = m->exit_code;
	r->submitted_ms = m->submitted_at_ms;
	r->started_ms = m->started_at_ms;
	r->finished_ms = m->finished_at_ms;
	if ((r->has_args = m->args_opt_case == BATCHD__V1__JOB_RUN__ARGS_OPT_ARGS))
		r->args = xstrdup(m->args);
	kv_in(&r->env, (void **)m->env, m->n_env);
	r->sql = dup_in(m->sql_query);
	r->idem_key = dup_in(m->idempotency_key);
	r->attempts = xcalloc(m->n_attempts, sizeof *r->attempts);
	r->n_attempts = m->n_attempts;
	for (i = 0; i < m->n_attempts; i++) {
		const Batchd__V1__JobRunAttempt	*a = m->attempts[i];
		struct attempt			*o = &r->attempts[i];

		o->n = a->attempt;
		o->status = (enum rstatus)a->status;
		o->reason = (enum reason)a->reason;
		o->reason_text = dup_in(a->reason_text);
		if ((o->has_exit = a->exit_code_opt_case ==
		    BATCHD__V1__JOB_RUN_ATTEMPT__EXIT_CODE_OPT_EXIT_CODE))
			o->exit_code = a->exit_code;
		o->sig = a->signal;
		o->started_ms = a->started_at_ms;
		o->finished_ms = a->finished_at_ms;
		usage_rec(&o->usage, a->usage);
	}
	usage_rec(&r->usage, m->usage);
	if (m->config != NULL)
		jobconfig_rec(&r->config, m->config);
	if ((r->has_config_ref = m->config_ref.len == CONFIG_REF_LEN))
		memcpy(r->config_ref, m->config_ref.data, CONFIG_REF_LEN);
	r->ephemeral = m->ephemeral_cluster;
	r->workers = m->workers;
	r->version = dup_in(m->version);
	r->instance_type = dup_in(m->instance_type);
	r->event_seq = m->event_seq;
	r->retry_at_ms = m->retry_at_ms;
	r->queue_seq = m->queue_seq;
	r->deadline_ms = m->deadline_ms;
	r->log_bytes = m->log_bytes;
	batchd__v1__job_run__free_unpacked(m, NULL);
	return 0;
}

void
wire_encode_event(struct buf *b, const struct runevent *e)
{
	Batchd__V1__JobRunStatusEvent	m;
	Batchd__V1__ResourceUsage	u;

	event_out(&m, &u, e);
	pack(b, &m.base);
}

int
wire_decode_event(const void *data, size_t len, struct runevent *e)
{
	Batchd__V1__JobRunStatusEvent	*m;

	m = batchd__v1__job_run_status_event__unpack(NULL, len, data);
	if (m == NULL)
		return -1;
	uuid_rec(e->run_uuid, m->run_uuid);
	uuid_rec(e->def_uuid, m->job_definition_uuid);
	uuid_rec(e->cluster_uuid, m->cluster_uuid);
	e->ws = xstrdup(m->workspace);
	e->status = (enum rstatus)m->status;
	e->prev = (enum rstatus)m->previous_status;
	e->reason = (enum reason)m->reason;
	e->reason_text = dup_in(m->reason_text);
	e->attempt = m->attempt;
	e->seq = m->seq;
	e->at_ms = m->at_ms;
	if ((e->has_exit = m->exit_code_opt_case ==
	    BATCHD__V1__JOB_RUN_STATUS_EVENT__EXIT_CODE_OPT_EXIT_CODE))
		e->exit_code = m->exit_code;
	if ((e->has_usage = m->usage != NULL))
		usage_rec(&e->usage, m->usage);
	batchd__v1__job_run_status_event__free_unpacked(m, NULL);
	return 0;
}
