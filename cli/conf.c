/*
 * conf.c: the JSON files of job and cluster configurations and of cron
 * jobs (schedules), in the shape of the product documentation, read with jansson into the protobuf messages
 * batchd takes. Durations in the documentation are minutes; "timeout" and
 * "delayBetweenRetries" are converted to the proto's seconds, and
 * "timeoutSeconds" and "delayBetweenRetriesSeconds" give exact seconds.
 *
 * Types and unknown keys are checked here, and an error names the file and
 * the JSON path at fault ("job.json: $.retryStrategy.numRetries: expected
 * an integer"); whether required values are present and in range is left
 * to batchd, which names the proto field. A JSON null is the same as an
 * absent key.
 *
 * The messages returned are allocated field by field with malloc and are
 * freed with protobuf_c_message_free_unpacked(m, NULL).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

#define JPATH_MAX	512

#define NUM_SET		BATCHD__V1__RETRY_STRATEGY__NUM_RETRIES_OPT_NUM_RETRIES
#define DELAY_SET	\
    BATCHD__V1__RETRY_STRATEGY__RETRY_DELAY_SECONDS_OPT_RETRY_DELAY_SECONDS
#define ON_TIMEOUT_SET	\
    BATCHD__V1__RETRY_STRATEGY__AUTO_RETRY_ON_TIMEOUT_OPT_AUTO_RETRY_ON_TIMEOUT
#define TIMEOUT_SET	\
    BATCHD__V1__JOB_CONFIG__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS
#define QUEUE_SET	\
    BATCHD__V1__JOB_CONFIG__MAX_QUEUE_SECONDS_OPT_MAX_QUEUE_SECONDS
#define MULT_SET	\
    BATCHD__V1__RETRY_STRATEGY__BACKOFF_MULTIPLIER_OPT_BACKOFF_MULTIPLIER
#define MAX_DELAY_SET	\
    BATCHD__V1__RETRY_STRATEGY__MAX_RETRY_DELAY_SECONDS_OPT_MAX_RETRY_DELAY_SECONDS
#define SCHED_ARGS_SET	BATCHD__V1__CREATE_SCHEDULE_REQUEST__ARGS_OPT_ARGS
#define SCHED_MAX_SET	\
    BATCHD__V1__CREATE_SCHEDULE_REQUEST__MAX_CONCURRENT_RUNS_OPT_MAX_CONCURRENT_RUNS

/* Where errors go: the file name for messages and the caller's *cause. */
struct jctx {
	const char	*file;
	char		**cause;
};

/* Set *cause to "file: path: message"; returns -1. */
static int __attribute__((format(printf, 3, 4)))
jerr(struct jctx *c, const char *path, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	xasprintf(c->cause, "%s: %s: %s", c->file, path,
	    msg != NULL ? msg : "error");
	free(msg);
	return -1;
}

/* The path of key in the object at parent: "$.a.b" or "$.a[\"x y\"]". */
static void
jpath(char *dst, const char *parent, const char *key)
{
	const char	*p;
	int		 plain = *key != '\0' && !isdigit((unsigned char)*key);

	for (p = key; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			plain = 0;
	if (plain)
		snprintf(dst, JPATH_MAX, "%s.%s", parent, key);
	else
		snprintf(dst, JPATH_MAX, "%s[\"%s\"]", parent, key);
}

/* Load a JSON object from file ("-": standard input). */
static json_t *
jload(struct jctx *c)
{
	json_error_t	 je;
	json_t		*root;
	FILE		*fp = stdin;

	if (strcmp(c->file, "-") != 0 && (fp = fopen(c->file, "r")) == NULL) {
		xasprintf(c->cause, "%s: %s", c->file, strerror(errno));
		return NULL;
	}
	root = json_loadf(fp, JSON_REJECT_DUPLICATES, &je);
	if (fp != stdin)
		fclose(fp);
	if (root == NULL) {
		if (je.line > 0)
			xasprintf(c->cause, "%s:%d:%d: %s", c->file, je.line,
			    je.column, je.text);
		else
			xasprintf(c->cause, "%s: %s", c->file, je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		jerr(c, "$", "expected an object");
		json_decref(root);
		return NULL;
	}
	return root;
}

/* A JSON string into *dst (replacing what was there). */
static int
jstring(struct jctx *c, const char *path, json_t *v, char **dst)
{
	if (!json_is_string(v))
		return jerr(c, path, "expected a string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return jerr(c, path, "contains a NUL character");
	if (*dst != NULL && *dst != protobuf_c_empty_string)
		free(*dst);
	*dst = xstrdup(json_string_value(v));
	return 0;
}

/* A non-negative JSON integer times unit (seconds in one) into *dst. */
static int
juint(struct jctx *c, const char *path, json_t *v, uint32_t unit,
    uint32_t *dst)
{
	json_int_t	n;

	if (!json_is_integer(v))
		return jerr(c, path, "expected an integer");
	n = json_integer_value(v);
	if (n < 0)
		return jerr(c, path, "expected a non-negative integer");
	if ((unsigned long long)n > UINT32_MAX / unit)
		return jerr(c, path, "%lld is too large", (long long)n);
	*dst = (uint32_t)n * unit;
	return 0;
}

/* A JSON boolean into *dst. */
static int
jbool(struct jctx *c, const char *path, json_t *v, protobuf_c_boolean *dst)
{
	if (!json_is_boolean(v))
		return jerr(c, path, "expected true or false");
	*dst = json_is_true(v);
	return 0;
}

/* The value of an enum named by a JSON string, from names[]. */
static int
jenum(struct jctx *c, const char *path, json_t *v, const char *names[],
    int n, const char *expect, int *dst)
{
	int	i;

	if (json_is_string(v))
		for (i = 1; i < n; i++)
			if (strcasecmp(json_string_value(v), names[i]) == 0) {
				*dst = i;
				return 0;
			}
	return jerr(c, path, "expected %s", expect);
}

/* "$.source.definition" of a WORKSPACE source. */
static int
jworkspace(struct jctx *c, const char *path, json_t *o, JobConfig *cfg)
{
	Batchd__V1__WorkspaceSource	*w;
	const char			*k;
	json_t				*v;
	char				 p[JPATH_MAX];

	w = xmalloc(sizeof *w);
	batchd__v1__workspace_source__init(w);
	cfg->source->workspace = w;
	cfg->source->definition_case =
	    BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE;
	json_object_foreach(o, k, v) {
		jpath(p, path, k);
		if (json_is_null(v))
			continue;
		if (strcmp(k, "path") == 0) {
			if (jstring(c, p, v, &w->path) == -1)
				return -1;
		} else
			return jerr(c, p, "unknown key (a WORKSPACE source has "
			    "path)");
	}
	return 0;
}

/* "$.source.definition" of a GIT source. */
static int
jgit(struct jctx *c, const char *path, json_t *o, JobConfig *cfg)
{
	Batchd__V1__GitSource	*g;
	const char		*k;
	json_t			*v;
	char			 p[JPATH_MAX], **dst;

	g = xmalloc(sizeof *g);
	batchd__v1__git_source__init(g);
	cfg->source->git = g;
	cfg->source->definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_GIT;
	json_object_foreach(o, k, v) {
		jpath(p, path, k);
		if (json_is_null(v))
			continue;
		if (strcmp(k, "repoUrl") == 0)
			dst = &g->repo_url;
		else if (strcmp(k, "username") == 0)
			dst = &g->username;
		else if (strcmp(k, "token") == 0)
			dst = &g->token;
		else if (strcmp(k, "reference") == 0)
			dst = &g->reference;
		else
			return jerr(c, p, "unknown key (a GIT source has "
			    "repoUrl, username, token, reference)");
		if (jstring(c, p, v, dst) == -1)
			return -1;
	}
	return 0;
}

/* "$.source.definition" of an S3 source. */
static int
js3(struct jctx *c, const char *path, json_t *o, JobConfig *cfg)
{
	Batchd__V1__S3Source	*s;
	const char		*k;
	json_t			*v;
	char			 p[JPATH_MAX], **dst;

	s = xmalloc(sizeof *s);
	batchd__v1__s3_source__init(s);
	cfg->source->s3 = s;
	cfg->source->definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_S3;
	json_object_foreach(o, k, v) {
		jpath(p, path, k);
		if (json_is_null(v))
			continue;
		if (strcmp(k, "bucketPath") == 0)
			dst = &s->bucket_path;
		else if (strcmp(k, "region") == 0)
			dst = &s->region;
		else
			return jerr(c, p, "unknown key (an S3 source has "
			    "bucketPath, region)");
		if (jstring(c, p, v, dst) == -1)
			return -1;
	}
	return 0;
}

/* "$.source.definition" of a TEXT source: {"text": "the code"}. */
static int
jtext(struct jctx *c, const char *path, json_t *o, JobConfig *cfg)
{
	Batchd__V1__TextSource	*t;
	const char		*k;
	json_t			*v;
	char			 p[JPATH_MAX];

	t = xmalloc(sizeof *t);
	batchd__v1__text_source__init(t);
	cfg->source->text = t;
	cfg->source->definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_TEXT;
	json_object_foreach(o, k, v)
		if (strcmp(k, "text") != 0 && !json_is_null(v)) {
			jpath(p, path, k);
			return jerr(c, p, "unknown key (a TEXT source has text)");
		}
	jpath(p, path, "text");
	v = json_object_get(o, "text");
	return v == NULL || json_is_null(v) ? 0 : jstring(c, p, v, &t->text);
}

/* "$.source": {"type": ..., "definition": {...}}. */
static int
jsource(struct jctx *c, json_t *o, JobConfig *cfg)
{
	static const char	*names[] = { "", "WORKSPACE", "GIT", "S3",
	    "TEXT" };
	const char		*k;
	json_t			*v, *def = NULL;
	char			 p[JPATH_MAX];
	int			 type = 0;

	if (!json_is_object(o))
		return jerr(c, "$.source", "expected an object");
	cfg->source = xmalloc(sizeof *cfg->source);
	batchd__v1__job_source__init(cfg->source);
	json_object_foreach(o, k, v) {
		jpath(p, "$.source", k);
		if (json_is_null(v))
			continue;
		if (strcmp(k, "type") == 0) {
			if (jenum(c, p, v, names, 5, "\"WORKSPACE\", \"GIT\", "
			    "\"S3\" or \"TEXT\"", &type) == -1)
				return -1;
		} else if (strcmp(k, "definition") == 0) {
			if (!json_is_object(v))
				return jerr(c, p, "expected an object");
			def = v;
		} else
			return jerr(c, p, "unknown key (a source has type, "
			    "definition)");
	}
	if (type == 0)
		return jerr(c, "$.source.type", "missing: \"WORKSPACE\", "
		    "\"GIT\", \"S3\" or \"TEXT\"");
	cfg->source->type = (Batchd__V1__SourceType)type;
	if (def == NULL)
		return 0;
	switch (type) {
	case BATCHD__V1__SOURCE_TYPE__WORKSPACE:
		return jworkspace(c, "$.source.definition", def, cfg);
	case BATCHD__V1__SOURCE_TYPE__GIT:
		return jgit(c, "$.source.definition", def, cfg);
	case BATCHD__V1__SOURCE_TYPE__TEXT:
		return jtext(c, "$.source.definition", def, cfg);
	default:
		return js3(c, "$.source.definition", def, cfg);
	}
}

/* "$.args": a string, or {"args": "..."} as the documentation has it. */
static int
jargs(struct jctx *c, json_t *v, char **dst)
{
	const char	*k;
	json_t		*a;
	char		 p[JPATH_MAX];

	if (json_is_string(v))
		return jstring(c, "$.args", v, dst);
	if (!json_is_object(v))
		return jerr(c, "$.args", "expected a string or an object");
	json_object_foreach(v, k, a) {
		jpath(p, "$.args", k);
		if (json_is_null(a))
			continue;
		if (strcmp(k, "args") != 0)
			return jerr(c, p, "unknown key (args has args)");
		if (jstring(c, p, a, dst) == -1)
			return -1;
	}
	return 0;
}

/* A JSON number (an integer too) into *dst. */
static int
jnumber(struct jctx *c, const char *path, json_t *v, double *dst)
{
	if (!json_is_number(v))
		return jerr(c, path, "expected a number");
	*dst = json_number_value(v);
	return 0;
}

/* A list of one rule: exit codes (integers) or reasons (enum names). */
static int
jrule_list(struct jctx *c, const char *path, json_t *a,
    Batchd__V1__RetryRule *r, int reasons)
{
	const ProtobufCEnumValue	*ev;
	json_t				*v;
	size_t				 i;
	char				 p[JPATH_MAX + 24];

	if (!json_is_array(a))
		return jerr(c, path, "expected an array");
	json_array_foreach(a, i, v) {
		snprintf(p, sizeof p, "%s[%zu]", path, i);
		if (reasons) {
			ev = json_is_string(v) ?
			    protobuf_c_enum_descriptor_get_value_by_name(
			    &batchd__v1__status_reason__descriptor,
			    json_string_value(v)) : NULL;
			if (ev == NULL)
				return jerr(c, p, "expected a reason, as "
				    "\"TIMEOUT\" or \"NON_ZERO_EXIT_CODE\"");
			r->on_reasons = xreallocarray(r->on_reasons,
			    r->n_on_reasons + 1, sizeof *r->on_reasons);
			r->on_reasons[r->n_on_reasons++] = ev->value;
		} else {
			if (!json_is_integer(v) || json_integer_value(v) <
			    INT32_MIN || json_integer_value(v) > INT32_MAX)
				return jerr(c, p, "expected an exit code");
			r->on_exit_codes = xreallocarray(r->on_exit_codes,
			    r->n_on_exit_codes + 1, sizeof *r->on_exit_codes);
			r->on_exit_codes[r->n_on_exit_codes++] =
			    (int32_t)json_integer_value(v);
		}
	}
	return 0;
}

/* "$.retryStrategy.rules": [{"onExitCodes", "onReasons", "action"}]. */
static int
jrules(struct jctx *c, json_t *a, Batchd__V1__RetryStrategy *rs)
{
	static const char	*actions[] = { "", "RETRY", "EXIT" };
	Batchd__V1__RetryRule	*r;
	const char		*k;
	json_t			*o, *v;
	size_t			 i;
	char			 p[JPATH_MAX], q[JPATH_MAX];
	int			 act = 0;

	if (!json_is_array(a))
		return jerr(c, "$.retryStrategy.rules", "expected an array");
	rs->rules = xcalloc(json_array_size(a) + 1, sizeof *rs->rules);
	json_array_foreach(a, i, o) {
		snprintf(p, sizeof p, "$.retryStrategy.rules[%zu]", i);
		if (!json_is_object(o))
			return jerr(c, p, "expected an object");
		r = rs->rules[rs->n_rules++] = xmalloc(sizeof *r);
		batchd__v1__retry_rule__init(r);
		json_object_foreach(o, k, v) {
			jpath(q, p, k);
			if (json_is_null(v))
				continue;
			if (strcmp(k, "onExitCodes") == 0 ||
			    strcmp(k, "onReasons") == 0) {
				if (jrule_list(c, q, v, r, k[2] == 'R') == -1)
					return -1;
			} else if (strcmp(k, "action") == 0) {
				if (jenum(c, q, v, actions, 3, "\"RETRY\" or "
				    "\"EXIT\"", &act) == -1)
					return -1;
				r->action = (Batchd__V1__RetryAction)act;
			} else
				return jerr(c, q, "unknown key (a rule has "
				    "onExitCodes, onReasons, action)");
		}
	}
	return 0;
}

/* "$.retryStrategy". */
static int
jretry(struct jctx *c, json_t *o, JobConfig *cfg)
{
	Batchd__V1__RetryStrategy	*r;
	const char			*k, *delay_key = NULL;
	json_t				*v;
	char				 p[JPATH_MAX];

	if (!json_is_object(o))
		return jerr(c, "$.retryStrategy", "expected an object");
	r = cfg->retry_strategy = xmalloc(sizeof *r);
	batchd__v1__retry_strategy__init(r);
	json_object_foreach(o, k, v) {
		jpath(p, "$.retryStrategy", k);
		if (json_is_null(v))
			continue;
		if (strcmp(k, "numRetries") == 0) {
			if (juint(c, p, v, 1, &r->num_retries) == -1)
				return -1;
			r->num_retries_opt_case = NUM_SET;
		} else if (strcmp(k, "delayBetweenRetries") == 0 ||
		    strcmp(k, "delayBetweenRetriesSeconds") == 0) {
			if (delay_key != NULL)
				return jerr(c, p, "%s is given already",
				    delay_key);
			delay_key = k;
			if (juint(c, p, v, strcmp(k, "delayBetweenRetries") ==
			    0 ? 60 : 1, &r->retry_delay_seconds) == -1)
				return -1;
			r->retry_delay_seconds_opt_case = DELAY_SET;
		} else if (strcmp(k, "retryOnTimeout") == 0) {
			if (jbool(c, p, v, &r->auto_retry_on_timeout) == -1)
				return -1;
			r->auto_retry_on_timeout_opt_case = ON_TIMEOUT_SET;
		} else if (strcmp(k, "backoffMultiplier") == 0) {
			if (jnumber(c, p, v, &r->backoff_multiplier) == -1)
				return -1;
			r->backoff_multiplier_opt_case = MULT_SET;
		} else if (strcmp(k, "maxRetryDelaySeconds") == 0) {
			if (juint(c, p, v, 1, &r->max_retry_delay_seconds) ==
			    -1)
				return -1;
			r->max_retry_delay_seconds_opt_case = MAX_DELAY_SET;
		} else if (strcmp(k, "rules") == 0) {
			if (jrules(c, v, r) == -1)
				return -1;
		} else
			return jerr(c, p, "unknown key (a retry strategy has "
			    "numRetries, delayBetweenRetries, "
			    "delayBetweenRetriesSeconds, retryOnTimeout, "
			    "backoffMultiplier, maxRetryDelaySeconds, rules)");
	}
	return 0;
}

/*
 * "$.envVars": {"NAME": "value", ...}, into *env entries of type d (every
 * env map's entry type has the same layout: key, then value).
 */
static int
jenv(struct jctx *c, json_t *o, const ProtobufCMessageDescriptor *d,
    void ***env, size_t *n)
{
	Batchd__V1__JobConfig__EnvEntry	*e;
	const char			*k;
	json_t				*v;
	char				 p[JPATH_MAX];

	if (!json_is_object(o))
		return jerr(c, "$.envVars", "expected an object");
	*env = xcalloc(json_object_size(o), sizeof **env);
	json_object_foreach(o, k, v) {
		jpath(p, "$.envVars", k);
		e = xmalloc(d->sizeof_message);
		protobuf_c_message_init(d, e);
		(*env)[(*n)++] = e;
		e->key = xstrdup(k);
		if (jstring(c, p, v, &e->value) == -1)
			return -1;
	}
	return 0;
}

/* One key of the top-level object of a job configuration. */
static int
jjob_key(struct jctx *c, const char *k, json_t *v, JobConfig *cfg,
    const char **timeout_key)
{
	static const char	*types[] = { "", "PYTHON", "SQL" };
	char			 p[JPATH_MAX];
	int			 type = 0;

	jpath(p, "$", k);
	if (strcmp(k, "source") == 0)
		return jsource(c, v, cfg);
	if (strcmp(k, "type") == 0) {
		if (jenum(c, p, v, types, 3, "\"PYTHON\" or \"SQL\"", &type) ==
		    -1)
			return -1;
		cfg->type = (Batchd__V1__JobType)type;
		return 0;
	}
	if (strcmp(k, "sourceLocation") == 0)
		return jstring(c, p, v, &cfg->source_location);
	if (strcmp(k, "args") == 0)
		return jargs(c, v, &cfg->args);
	if (strcmp(k, "retryStrategy") == 0)
		return jretry(c, v, cfg);
	if (strcmp(k, "envVars") == 0)
		return jenv(c, v, &batchd__v1__job_config__env_entry__descriptor,
		    (void ***)&cfg->env, &cfg->n_env);
	if (strcmp(k, "timeout") == 0 || strcmp(k, "timeoutSeconds") == 0) {
		if (*timeout_key != NULL)
			return jerr(c, p, "%s is given already", *timeout_key);
		*timeout_key = k;
		if (juint(c, p, v, strcmp(k, "timeout") == 0 ? 60 : 1,
		    &cfg->timeout_seconds) == -1)
			return -1;
		cfg->timeout_seconds_opt_case = TIMEOUT_SET;
		return 0;
	}
	if (strcmp(k, "maxQueueSeconds") == 0) {
		if (juint(c, p, v, 1, &cfg->max_queue_seconds) == -1)
			return -1;
		cfg->max_queue_seconds_opt_case = QUEUE_SET;
		return 0;
	}
	return jerr(c, p, "unknown key (a job has source, type, "
	    "sourceLocation, args, retryStrategy, timeout, timeoutSeconds, "
	    "maxQueueSeconds, envVars)");
}

/*
 * Read a job configuration from file. Returns the message, or NULL with
 * *cause set (owned by the caller).
 */
JobConfig *
conf_job(const char *file, char **cause)
{
	struct jctx	 c = { file, cause };
	JobConfig	*cfg;
	const char	*k, *timeout_key = NULL;
	json_t		*root, *v;

	*cause = NULL;
	if ((root = jload(&c)) == NULL)
		return NULL;
	cfg = xmalloc(sizeof *cfg);
	batchd__v1__job_config__init(cfg);
	json_object_foreach(root, k, v) {
		if (json_is_null(v))
			continue;
		if (jjob_key(&c, k, v, cfg, &timeout_key) == -1) {
			protobuf_c_message_free_unpacked(&cfg->base, NULL);
			json_decref(root);
			return NULL;
		}
	}
	json_decref(root);
	return cfg;
}

/* A cluster configuration object at path into *cc (made here). */
static int
jcluster(struct jctx *c, const char *path, json_t *o, ClusterConfig **cc)
{
	const char	*k;
	json_t		*v;
	char		 p[JPATH_MAX];
	int		 rc = 0;

	if (!json_is_object(o))
		return jerr(c, path, "expected an object");
	*cc = xmalloc(sizeof **cc);
	batchd__v1__cluster_config__init(*cc);
	json_object_foreach(o, k, v) {
		jpath(p, path, k);
		if (json_is_null(v))
			continue;
		if (strcmp(k, "instanceType") == 0)
			rc = jstring(c, p, v, &(*cc)->instance_type);
		else if (strcmp(k, "workersQuantity") == 0)
			rc = juint(c, p, v, 1, &(*cc)->workers_quantity);
		else if (strcmp(k, "version") == 0)
			rc = jstring(c, p, v, &(*cc)->version);
		else
			rc = jerr(c, p, "unknown key (a cluster has "
			    "instanceType, workersQuantity, version)");
		if (rc == -1)
			return -1;
	}
	return 0;
}

/*
 * Read a cluster configuration ({"instanceType", "workersQuantity",
 * "version"}) from file. Returns the message, or NULL with *cause set.
 */
ClusterConfig *
conf_cluster(const char *file, char **cause)
{
	struct jctx	 c = { file, cause };
	ClusterConfig	*cc = NULL;
	json_t		*root;
	int		 rc;

	*cause = NULL;
	if ((root = jload(&c)) == NULL)
		return NULL;
	rc = jcluster(&c, "$", root, &cc);
	json_decref(root);
	if (rc == -1) {
		if (cc != NULL)
			protobuf_c_message_free_unpacked(&cc->base, NULL);
		return NULL;
	}
	return cc;
}

/* One key of a cron job ("$.schedule" and the rest) into m. */
static int
jschedule_key(struct jctx *c, const char *k, json_t *v, ScheduleConf *m)
{
	static const char	*policies[] = { "", "SKIP", "RUN_ONCE" };
	char			 p[JPATH_MAX];
	int			 policy = 0;

	jpath(p, "$", k);
	if (strcmp(k, "name") == 0)
		return jstring(c, p, v, &m->name);
	if (strcmp(k, "description") == 0)
		return jstring(c, p, v, &m->description);
	if (strcmp(k, "schedule") == 0)
		return jstring(c, p, v, &m->cron);
	if (strcmp(k, "timezone") == 0)
		return jstring(c, p, v, &m->timezone);
	if (strcmp(k, "jobDefinitionUUID") == 0)
		return jstring(c, p, v, &m->job_definition_uuid);
	if (strcmp(k, "clusterUUID") == 0)
		return jstring(c, p, v, &m->cluster_uuid);
	if (strcmp(k, "clusterConfig") == 0)
		return jcluster(c, p, v, &m->cluster_config);
	if (strcmp(k, "args") == 0) {
		m->args_opt_case = SCHED_ARGS_SET;
		return jargs(c, v, &m->args);
	}
	if (strcmp(k, "envVars") == 0)
		return jenv(c, v,
		    &batchd__v1__create_schedule_request__env_entry__descriptor,
		    (void ***)&m->env, &m->n_env);
	if (strcmp(k, "maxConcurrentRuns") == 0) {
		m->max_concurrent_runs_opt_case = SCHED_MAX_SET;
		return juint(c, p, v, 1, &m->max_concurrent_runs);
	}
	if (strcmp(k, "misfirePolicy") == 0) {
		if (jenum(c, p, v, policies, 3, "\"SKIP\" or \"RUN_ONCE\"",
		    &policy) == -1)
			return -1;
		m->misfire_policy = (Batchd__V1__MisfirePolicy)policy;
		return 0;
	}
	if (strcmp(k, "pauseClusterWhenFinished") == 0)
		return jbool(c, p, v, &m->pause_cluster_when_finished);
	if (strcmp(k, "paused") == 0)
		return jbool(c, p, v, &m->paused);
	return jerr(c, p, "unknown key (a cron job has name, description, "
	    "schedule, timezone, jobDefinitionUUID, clusterUUID, "
	    "clusterConfig, args, envVars, maxConcurrentRuns, misfirePolicy, "
	    "pauseClusterWhenFinished, paused)");
}

/*
 * Read a cron job, in the product's shape, from file into a new
 * CreateScheduleRequest. Returns it, or NULL with *cause set.
 */
ScheduleConf *
conf_schedule(const char *file, char **cause)
{
	struct jctx	 c = { file, cause };
	ScheduleConf	*m;
	const char	*k;
	json_t		*root, *v;

	*cause = NULL;
	if ((root = jload(&c)) == NULL)
		return NULL;
	m = xmalloc(sizeof *m);
	batchd__v1__create_schedule_request__init(m);
	json_object_foreach(root, k, v) {
		if (json_is_null(v))
			continue;
		if (jschedule_key(&c, k, v, m) == -1) {
			protobuf_c_message_free_unpacked(&m->base, NULL);
			json_decref(root);
			return NULL;
		}
	}
	json_decref(root);
	return m;
}
