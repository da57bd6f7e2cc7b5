/*
 * jobdef.c: job definitions: the jobdef.* verbs (a configuration's checks
 * and defaults are jobconfig.c's).
 *
 * A definition's name is unique in its workspace (index "{ws}/{name}");
 * after a delete the name is free again and a new definition gets a new
 * UUID. Every refusal names the request field at fault.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

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
	if (jobconfig_validate(&r->config, "config", e) == -1 ||
	    unmask(&r->config, NULL, "config", e) == -1 ||
	    (r->has_cluster && jobconfig_validate_cluster(&r->cluster,
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
	jobconfig_fill_defaults(&d.config);
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
	    jobconfig_validate(&r->config, "config", e) == -1) ||
	    (r->has_cluster && jobconfig_validate_cluster(&r->cluster,
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
		jobconfig_fill_defaults(&d.config);
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
