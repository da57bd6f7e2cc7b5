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
#define TIMEOUT_MAX	(7 * 86400)
#define DELAY_DEFAULT	60
#define DELAY_MAX	(7 * 86400)

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

/* Check a job configuration; fields are named under prefix ("config"). */
int
jobdef_validate_config(const struct jobconfig *c, const char *p,
    struct error *e)
{
	static const char *src_names[] = { "", "workspace", "git", "s3" };
	const struct source	*s = &c->source;
	char			 f[96];

#define F(name)	(snprintf(f, sizeof f, "%s.%s", p, name), f)
	if (s->type == SRC_NONE) {
		error_set(e, E_INVALID, F("source.type"), "%s is required: "
		    "WORKSPACE, GIT or S3", f);
		return -1;
	}
	if (s->oneof != (int)s->type) {
		error_set(e, E_INVALID, F("source"), "%s: a %s source needs "
		    "%s.source.%s%s%s", f, s->type == SRC_WORKSPACE ?
		    "WORKSPACE" : s->type == SRC_GIT ? "GIT" : "S3", p,
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
	default:
		break;
	}
	if (c->type == JT_NONE) {
		error_set(e, E_INVALID, F("type"), "%s is required: PYTHON or "
		    "SQL", f);
		return -1;
	}
	if (need(c->source_location, p, "source_location", e) == -1)
		return -1;
	if (!path_beneath(c->source_location)) {
		error_set(e, E_INVALID, F("source_location"), "%s must be a "
		    "relative path without '..'", f);
		return -1;
	}
	if (args_valid(c->args, F("args"), e) == -1)
		return -1;
	if (c->retry.has_num && c->retry.num_retries > RETRIES_MAX) {
		error_set(e, E_INVALID, F("retry_strategy.num_retries"),
		    "%s may be at most %d", f, RETRIES_MAX);
		return -1;
	}
	if (c->retry.has_delay && c->retry.delay_s > DELAY_MAX) {
		error_set(e, E_INVALID, F("retry_strategy.retry_delay_seconds"),
		    "%s may be at most %d", f, DELAY_MAX);
		return -1;
	}
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

/*
 * Load a definition of workspace ws by uuid or, if uuid is NULL, by name.
 * Returns 0 (found), 0 with e set (refused), or a storage error.
 */
static int
load(struct txn *t, const char *ws, const char *uuid, const char *name,
    struct jobdef *d, struct error *e)
{
	char		 id[UUID_LEN + 1];
	int		 rc;

	if (uuid == NULL && name == NULL) {
		error_set(e, E_INVALID, "uuid", "uuid or name is required");
		return 0;
	}
	if (uuid == NULL) {
		rc = store_resolve_name(t, DB_JOBDEF_NAMES, ws, name, id);
		if (rc == MDB_NOTFOUND)
			goto notfound;
		if (rc != 0)
			return rc;
		uuid = id;
	}
	rc = store_get_jobdef(t, uuid, d);
	if (rc == MDB_NOTFOUND)
		goto notfound;
	if (rc != 0)
		return rc;
	if (strcmp(d->ws, ws) != 0) {
		jobdef_free(d);
		goto notfound;
	}
	return 0;
notfound:
	error_set(e, E_NOT_FOUND, uuid != NULL ? "uuid" : "name",
	    "job definition '%s' not found in workspace '%s'",
	    uuid != NULL ? uuid : name, ws);
	return 0;
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

static int
jobdef_get(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct jobdef	 d;
	int		 rc;

	memset(&d, 0, sizeof d);
	if ((rc = load(t, r->ws, r->uuid, r->name, &d, e)) != 0 ||
	    e->code != E_OK)
		return rc;
	wire_reply_jobdef(out, &d);
	jobdef_free(&d);
	return 0;
}

const struct verb_entry jobdef_get_entry = {
	.name = "jobdef.get",
	.decode = wire_request_jobdef_get,
	.exec = jobdef_get,
	.object = "uuid",
};

/*
 * A page of definitions, by name: as many as page_size asks and the reply
 * can carry (wire_list_room()); the next page starts after the last one.
 */
static int
jobdef_list(struct txn *t, struct request *r, struct buf *out,
    struct error *e)
{
	struct jobdef	*defs;
	struct pagepos	 more;
	char		**uuids, *next;
	size_t		 n, i, got = 0, room = wire_list_room(r), sz;
	int		 rc;

	memset(&more, 0, sizeof more);
	if ((rc = store_scan_names(t, DB_JOBDEF_NAMES, r->ws,
	    r->page.set ? r->page.name : NULL, r->page_size, &uuids, &n,
	    &next)) != 0)
		goto out;
	more.set = next != NULL;
	defs = xcalloc(n, sizeof *defs);
	for (i = 0; i < n; i++) {
		if ((rc = store_get_jobdef(t, uuids[i], &defs[got])) != 0)
			break;
		if ((sz = wire_size_jobdef(&defs[got])) > room) {
			if (got == 0)
				wire_error_too_large(e, "page_token", sz,
				    r->reply_max, "a job definition is too "
				    "large to send");
			jobdef_free(&defs[got]);
			more.set = 1;
			break;
		}
		room -= sz;
		got++;
	}
	if (got > 0)
		snprintf(more.name, sizeof more.name, "%s",
		    defs[got - 1].name);
	if (rc == 0 && e->code == E_OK)
		wire_reply_jobdefs(out, r->ws, defs, got,
		    more.set ? &more : NULL);
	for (i = 0; i < got; i++)
		jobdef_free(&defs[i]);
	free(defs);
out:
	for (i = 0; i < n; i++)
		free(uuids[i]);
	free(uuids);
	free(next);
	return rc;
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
