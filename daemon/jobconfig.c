/*
 * jobconfig.c: a job's configuration, checked and completed: the checks
 * of a definition's configuration and of a cluster configuration (every
 * refusal names the field at fault), and the documented defaults of what
 * is unset. For definitions, submissions and schedules alike.
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
jobconfig_validate(const struct jobconfig *c, const char *p,
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
jobconfig_validate_cluster(const struct clusterconfig *c, const char *p,
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
jobconfig_fill_defaults(struct jobconfig *c)
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
