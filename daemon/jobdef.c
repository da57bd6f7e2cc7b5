/*
 * jobdef.c: job definitions: validation, defaults and the jobdef.* verbs.
 *
 * A definition's name is unique in its workspace (index "{ws}/{name}");
 * after a delete the name is free again and a new definition gets a new
 * UUID. Every refusal names the request field at fault.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

#define TIMEOUT_DEFAULT	3600
#define DELAY_DEFAULT	60

/* Is p a relative path with no ".." component? */
static int
path_beneath(const char *p)
{
	const char	*s;
	size_t		 n;

	if (*p == '/')
		return 0;
	for (s = p; *s != '\0'; s += n + (s[n] == '/')) {
		n = strcspn(s, "/");
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return 0;
	}
	return 1;
}

/* Does a URL carry "user@" or "user:password@" before its host? */
static int
url_has_userinfo(const char *u)
{
	const char	*p = strstr(u, "://"), *end;

	if (p == NULL)
		return 0;
	p += 3;
	end = p + strcspn(p, "/?#");
	return memchr(p, '@', (size_t)(end - p)) != NULL;
}

static int
need(const char *v, const char *prefix, const char *name, struct error *e)
{
	char	f[96];

	if (v != NULL && *v != '\0')
		return 0;
	snprintf(f, sizeof f, "%s.%s", prefix, name);
	error_set(e, E_INVALID, f, "%s is required", f);
	return -1;
}

/*
 * A TEXT source: the code is there, and source_location, if given, is a
 * file name (the text is written to it in the attempt's directory).
 */
static int
text_source_valid(const struct jobconfig *c, const char *p, struct error *e)
{
	char	f[96];

	if (need(c->source.text, p, "source.text.text", e) == -1)
		return -1;
	if (c->source_location != NULL && (strchr(c->source_location, '/') !=
	    NULL || strcmp(c->source_location, "..") == 0 ||
	    strcmp(c->source_location, ".") == 0)) {
		snprintf(f, sizeof f, "%s.source_location", p);
		error_set(e, E_INVALID, f, "%s: a TEXT source's file is a "
		    "name without '/'", f);
		return -1;
	}
	return 0;
}

/* Check a job configuration; fields are named under prefix ("config"). */
int
jobdef_validate_config(const struct jobconfig *c, const char *p,
    struct error *e)
{
	static const char *src_names[] = { "", "workspace", "git", "s3",
	    "text" };
	static const char *src_types[] = { "", "WORKSPACE", "GIT", "S3",
	    "TEXT" };
	const struct source	*s = &c->source;
	char			 f[96];

#define F(name)	(snprintf(f, sizeof f, "%s.%s", p, name), f)
	if (s->type == SRC_NONE) {
		error_set(e, E_INVALID, F("source.type"), "%s is required: "
		    "WORKSPACE, GIT, S3 or TEXT", f);
		return -1;
	}
	if (s->oneof != (int)s->type) {
		error_set(e, E_INVALID, F("source"), "%s: a %s source needs "
		    "%s.source.%s%s%s", f, src_types[s->type], p,
		    src_names[s->type], s->oneof != SRC_NONE ? ", not " : "",
		    s->oneof != SRC_NONE ? src_names[s->oneof] : "");
		return -1;
	}
	switch (s->type) {
	case SRC_WORKSPACE:
		if (need(s->path, p, "source.workspace.path", e) == -1)
			return -1;
		if (!path_beneath(s->path)) {
			error_set(e, E_INVALID, F("source.workspace.path"),
			    "%s must be relative to the workspace and may not "
			    "contain '..'", f);
			return -1;
		}
		break;
	case SRC_GIT:
		if (need(s->repo_url, p, "source.git.repo_url", e) == -1)
			return -1;
		if (url_has_userinfo(s->repo_url)) {
			error_set(e, E_INVALID, F("source.git.repo_url"), "%s "
			    "may not carry credentials: give username and token",
			    f);
			return -1;
		}
		break;
	case SRC_S3:
		if (need(s->bucket_path, p, "source.s3.bucket_path", e) == -1 ||
		    need(s->region, p, "source.s3.region", e) == -1)
			return -1;
		if (strchr(s->bucket_path, '/') == NULL ||
		    *s->bucket_path == '/') {
			error_set(e, E_INVALID, F("source.s3.bucket_path"),
			    "%s must be 'bucket/key'", f);
			return -1;
		}
		break;
	case SRC_TEXT:
		if (text_source_valid(c, p, e) == -1)
			return -1;
		break;
	default:
		break;
	}
	if (c->type == JT_NONE) {
		error_set(e, E_INVALID, F("type"), "%s is required: PYTHON or "
		    "SQL", f);
		return -1;
	}
	if (s->type != SRC_TEXT &&
	    need(c->source_location, p, "source_location", e) == -1)
		return -1;
	if (c->source_location != NULL && !path_beneath(c->source_location)) {
		error_set(e, E_INVALID, F("source_location"), "%s must be a "
		    "relative path without '..'", f);
		return -1;
	}
	if (args_valid(c->args, F("args"), e) == -1)
		return -1;
	if (policy_validate_retry(&c->retry, F("retry_strategy"), e) == -1 ||
	    policy_validate_max_queue(c->has_max_queue, c->max_queue_s,
	    F("max_queue_seconds"), e) == -1)
		return -1;
	if (c->has_timeout && (c->timeout_s == 0 ||
	    c->timeout_s > TIMEOUT_MAX)) {
		error_set(e, E_INVALID, F("timeout_seconds"), "%s must be from "
		    "1 to %d", f, TIMEOUT_MAX);
		return -1;
	}
	return 0;
#undef F
}

/* Check a cluster configuration; fields are named under prefix. */
int
jobdef_validate_cluster(const struct clusterconfig *c, const char *p,
    struct error *e)
{
	char	f[96];

	if (need(c->instance_type, p, "instance_type", e) == -1)
		return -1;
	if (c->workers < 1 || c->workers > 4096) {
		snprintf(f, sizeof f, "%s.workers_quantity", p);
		error_set(e, E_INVALID, f, "%s must be from 1 to 4096", f);
		return -1;
	}
	return 0;
}

/* Fill the documented defaults into the unset fields. */
void
jobdef_fill_defaults(struct jobconfig *c)
{
	if (!c->retry.has_num)
		c->retry.num_retries = 0;
	if (!c->retry.has_delay)
		c->retry.delay_s = DELAY_DEFAULT;
	if (!c->retry.has_on_timeout)
		c->retry.on_timeout = 0;
	c->retry.has_num = c->retry.has_delay = c->retry.has_on_timeout = 1;
	if (!c->has_timeout)
		c->timeout_s = TIMEOUT_DEFAULT;
	c->has_timeout = 1;
	if (!c->retry.has_multiplier)
		c->retry.multiplier = 1;
	c->retry.has_multiplier = 1;
	if (c->source.type == SRC_TEXT && c->source_location == NULL)
		c->source_location = xstrdup(c->type == JT_SQL ? "main.sql" :
		    "main.py");
}

/*
 * Secrets a request carries as SECRET_MASK, the value replies show for
 * them: a client that saves back what jobdef.get returned means "keep
 * the stored value". For the Git token (kept only if repo_url is the
 * stored one: the token must not follow the job to another server) and
 * for values of env names secret_env matches, take the value from old,
 * the stored configuration (NULL on create). With nothing to keep, the
 * mask is refused: INVALID_ARGUMENT naming the field. 0 or -1 with e set.
 */
static int
unmask(struct jobconfig *c, const struct jobconfig *old, const char *p,
    struct error *e)
{
	const struct source	*os = old != NULL ? &old->source : NULL;
	const char		*v;
	char			 f[96 + ENV_KEY_MAX];
	size_t			 i;

	if (c->source.type == SRC_GIT && c->source.token != NULL &&
	    strcmp(c->source.token, SECRET_MASK) == 0) {
		snprintf(f, sizeof f, "%s.source.git.token", p);
		if (os == NULL || os->type != SRC_GIT || os->token == NULL) {
			error_set(e, E_INVALID, f, "%s is the mask '%s' "
			    "replies show, and no token is stored to keep: "
			    "send the token", f, SECRET_MASK);
			return -1;
		}
		if (os->repo_url == NULL ||
		    strcmp(os->repo_url, c->source.repo_url) != 0) {
			error_set(e, E_INVALID, f, "%s is the mask '%s', and "
			    "the stored token is kept only for the same "
			    "repo_url: send the token for the new one", f,
			    SECRET_MASK);
			return -1;
		}
		free(c->source.token);
		c->source.token = xstrdup(os->token);
	}
	for (i = 0; i < c->env.n; i++) {
		if (strcmp(c->env.v[i].value, SECRET_MASK) != 0 ||
		    !config_env_secret(c->env.v[i].key))
			continue;
		snprintf(f, sizeof f, "%s.env[%s]", p, c->env.v[i].key);
		if (old == NULL ||
		    (v = kvlist_get(&old->env, c->env.v[i].key)) == NULL) {
			error_set(e, E_INVALID, f, "%.200s is the mask '%s' "
			    "replies show, and no value is stored to keep: "
			    "send the value", f, SECRET_MASK);
			return -1;
		}
		free(c->env.v[i].value);
		c->env.v[i].value = xstrdup(v);
	}
	return 0;
}

NAMED_KIND(jobdef_kind, jobdef, struct jobdef, "job definition",
    DB_JOBDEF_NAMES);

/*
 * Load a definition of workspace ws by uuid or, if uuid is NULL, by name.
 * Returns 0 (found), 0 with e set (refused), or a storage error.
 */
static int
load(struct txn *t, const char *ws, const char *uuid, const char *name,
    struct jobdef *d, struct error *e)
{
	return named_load(t, &jobdef_kind, ws, uuid, name, d, e);
}

static int
jobdef_create(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct jobdef	 d;
	struct buf	 key = { 0 };
	MDB_val		 v;
	uint64_t	 n;
	int		 rc;

	memset(&d, 0, sizeof d);
	if (r->name == NULL) {
		error_set(e, E_INVALID, "name", "name is required");
		return 0;
	}
	if (!r->has_config) {
		error_set(e, E_INVALID, "config", "config is required");
		return 0;
	}
	if (jobdef_validate_config(&r->config, "config", e) == -1 ||
	    unmask(&r->config, NULL, "config", e) == -1 ||
	    (r->has_cluster && jobdef_validate_cluster(&r->cluster,
	    "cluster_config", e) == -1))
		return 0;
	store_name_key(&key, r->ws, r->name);
	rc = store_get(t, DB_JOBDEF_NAMES, key.p, key.len, &v);
	if (rc == 0) {
		error_set(e, E_EXISTS, "name", "a job definition named '%s' "
		    "exists in workspace '%s'", r->name, r->ws);
		buf_free(&key);
		return 0;
	}
	if (rc != MDB_NOTFOUND) {
		buf_free(&key);
		return rc;
	}
	if ((rc = store_ws_count(t, "jobdefs", r->ws, 0, &n)) != 0 ||
	    (cfg->quota_jobdefs != 0 && n >= cfg->quota_jobdefs)) {
		if (rc == 0)
			error_set(e, E_RESOURCE_EXHAUSTED, "", "workspace '%s' "
			    "holds %llu job definitions, its quota "
			    "(quota_jobdefs = %u)", r->ws,
			    (unsigned long long)n, cfg->quota_jobdefs);
		buf_free(&key);
		return rc;
	}
	uuid_new(d.uuid);
	d.ws = xstrdup(r->ws);
	d.name = r->name;
	r->name = NULL;
	d.description = r->description;
	r->description = NULL;
	d.config = r->config;
	memset(&r->config, 0, sizeof r->config);
	jobdef_fill_defaults(&d.config);
	if ((d.has_cluster = r->has_cluster)) {
		d.cluster = r->cluster;
		memset(&r->cluster, 0, sizeof r->cluster);
	}
	d.created_ms = d.updated_ms = now_ms();
	if ((rc = store_put_jobdef(t, &d)) == 0 &&
	    (rc = store_put(t, DB_JOBDEF_NAMES, key.p, key.len, d.uuid,
	    UUID_LEN)) == 0 &&
	    (rc = store_ws_count(t, "jobdefs", d.ws, 1, NULL)) == 0) {
		log_info("jobdef created ws=%s jobdef=%s name=%s", d.ws, d.uuid,
		    d.name);
		wire_reply_jobdef(out, &d);
	}
	buf_free(&key);
	jobdef_free(&d);
	return rc;
}

const struct verb_entry jobdef_create_entry = {
	.name = "jobdef.create",
	.decode = wire_request_jobdef_create,
	.exec = jobdef_create,
	.object = "config",
};

/* jobdef.get: a definition by uuid or name. */
static int
jobdef_get(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	return named_get(t, &jobdef_kind, r, out, e);
}

const struct verb_entry jobdef_get_entry = {
	.name = "jobdef.get",
	.decode = wire_request_jobdef_get,
	.exec = jobdef_get,
	.object = "uuid",
};

/* jobdef.list: a page of definitions, by name. */
static int
jobdef_list(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	return named_list(t, &jobdef_kind, r, out, e);
}

const struct verb_entry jobdef_list_entry = {
	.name = "jobdef.list",
	.decode = wire_request_jobdef_list,
	.exec = jobdef_list,
	.object = "page_token",
};

static int
jobdef_update(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct jobdef	 d;
	int		 rc;

	memset(&d, 0, sizeof d);
	if (r->uuid == NULL) {
		error_set(e, E_INVALID, "uuid", "uuid is required");
		return 0;
	}
	if ((r->has_config &&
	    jobdef_validate_config(&r->config, "config", e) == -1) ||
	    (r->has_cluster && jobdef_validate_cluster(&r->cluster,
	    "cluster_config", e) == -1))
		return 0;
	if (r->has_cluster && r->clear_cluster) {
		error_set(e, E_INVALID, "clear_cluster_config", "cluster_config "
		    "and clear_cluster_config exclude each other");
		return 0;
	}
	if ((rc = load(t, r->ws, r->uuid, NULL, &d, e)) != 0 ||
	    e->code != E_OK)
		return rc;
	if (r->has_config && unmask(&r->config, &d.config, "config", e) == -1) {
		jobdef_free(&d);
		return 0;
	}
	if (r->has_description) {
		free(d.description);
		d.description = r->description;
		r->description = NULL;
	}
	if (r->has_config) {
		jobconfig_free(&d.config);
		d.config = r->config;
		memset(&r->config, 0, sizeof r->config);
		jobdef_fill_defaults(&d.config);
	}
	if (r->has_cluster) {
		clusterconfig_free(&d.cluster);
		d.cluster = r->cluster;
		memset(&r->cluster, 0, sizeof r->cluster);
		d.has_cluster = 1;
	} else if (r->clear_cluster) {
		clusterconfig_free(&d.cluster);
		d.has_cluster = 0;
	}
	d.updated_ms = now_ms();
	if ((rc = store_put_jobdef(t, &d)) == 0) {
		log_info("jobdef updated ws=%s jobdef=%s", d.ws, d.uuid);
		wire_reply_jobdef(out, &d);
	}
	jobdef_free(&d);
	return rc;
}

const struct verb_entry jobdef_update_entry = {
	.name = "jobdef.update",
	.decode = wire_request_jobdef_update,
	.exec = jobdef_update,
	.object = "config",
};

static int
jobdef_delete(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct jobdef	 d;
	struct buf	 key = { 0 };
	char		 user[NAME_MAX_LEN + UUID_LEN + 4];
	int		 rc;

	memset(&d, 0, sizeof d);
	if (r->uuid == NULL) {
		error_set(e, E_INVALID, "uuid", "uuid is required");
		return 0;
	}
	if ((rc = load(t, r->ws, r->uuid, NULL, &d, e)) != 0 ||
	    e->code != E_OK)
		return rc;
	rc = schedule_def_user(t, d.uuid, user, sizeof user);
	if (rc != MDB_NOTFOUND) {
		if (rc == 0)
			error_set(e, E_PRECONDITION, "uuid", "job definition "
			    "'%s' is used by schedule %s: delete the schedule "
			    "or point it at another definition first", d.uuid,
			    user);
		jobdef_free(&d);
		return rc;
	}
	store_name_key(&key, d.ws, d.name);
	if ((rc = store_del(t, DB_JOBDEFS, d.uuid, UUID_LEN)) == 0 &&
	    (rc = store_del(t, DB_JOBDEF_NAMES, key.p, key.len)) == 0 &&
	    (rc = store_ws_count(t, "jobdefs", d.ws, -1, NULL)) == 0) {
		log_info("jobdef deleted ws=%s jobdef=%s", d.ws, d.uuid);
		wire_reply_delete(out);
	}
	buf_free(&key);
	jobdef_free(&d);
	return rc;
}

const struct verb_entry jobdef_delete_entry = {
	.name = "jobdef.delete",
	.decode = wire_request_jobdef_delete,
	.exec = jobdef_delete,
	.object = "uuid",
};
