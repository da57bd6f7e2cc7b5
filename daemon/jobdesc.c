/*
 * jobdesc.c: what batchd tells an attempt's shim: the job description, a
 * memfd that becomes the shim's standard input (it may hold a token, so it
 * is never a file). NUL-separated "key=value" entries, every key declared
 * once in shimproto.h: the run and its job, the plugins to use and their
 * settings ([plugin.NAME], then the cluster's [instance.TYPE]), the secrets
 * the shim masks in the job's output, the job's identity, its limits and
 * its cgroup's parent. Written on the loop thread by exec_start() (and
 * exec_adopt(), for a shim that takes a lost one's job over); read by
 * the shim (shim/shim.c) and never stored.
 */
#include <sys/mman.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchd.h"
#include "shimproto.h"

/* One "key=value" entry of the job file (NUL-terminated). */
static void
job_kv(struct buf *b, const char *key, const char *value)
{
	if (value == NULL)
		return;
	buf_add(b, key, strlen(key));
	buf_add(b, "=", 1);
	buf_add(b, value, strlen(value) + 1);
}

static void
job_num(struct buf *b, const char *key, unsigned long long v)
{
	char	n[32];

	snprintf(n, sizeof n, "%llu", v);
	job_kv(b, key, n);
}

/*
 * S3 credentials for the s3 source plugin, as its settings: from the
 * configuration (s3_access_key_id, s3_secret_access_key_file), else from
 * batchd's own AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN; the secrets are masked in the job's output.
 */
static int
s3_settings(struct buf *b, char **cause)
{
	const char	*id = cfg->s3_access_key_id, *tok;
	char		*secret = NULL;

	if (id == NULL)
		id = getenv("AWS_ACCESS_KEY_ID");
	if (cfg->s3_secret_access_key_file != NULL) {
		if (config_secret_file("s3_secret_access_key_file",
		    cfg->s3_secret_access_key_file, &secret, cause) == -1)
			return -1;
	} else if (getenv("AWS_SECRET_ACCESS_KEY") != NULL)
		secret = xstrdup(getenv("AWS_SECRET_ACCESS_KEY"));
	tok = getenv("AWS_SESSION_TOKEN");
	job_kv(b, SHIM_SETTING "s3.endpoint", cfg->s3_endpoint);
	job_kv(b, SHIM_SETTING "s3.access_key_id", id);
	job_kv(b, SHIM_SETTING "s3.secret_access_key", secret);
	job_kv(b, SHIM_SETTING "s3.session_token", tok);
	job_kv(b, SHIM_SECRET, secret);
	job_kv(b, SHIM_SECRET, tok);
	free(secret);
	return 0;
}

/*
 * The [plugin.NAME] settings, as "setting.NAME.key"; then the settings of
 * the [instance.TYPE] section of instance_type (if any) for its backend
 * bname (the shim takes the last of equal keys, so the instance type's win).
 */
static void
plugin_settings(struct buf *b, const char *instance_type, const char *bname)
{
	char	*s, *pre;
	size_t	 i, plen;

	for (i = 0; i < cfg->sections.n; i++) {
		if (strncmp(cfg->sections.v[i].key, "plugin.", 7) != 0)
			continue;
		xasprintf(&s, SHIM_SETTING "%s", cfg->sections.v[i].key + 7);
		job_kv(b, s, cfg->sections.v[i].value);
		free(s);
	}
	if (instance_type == NULL)
		return;
	xasprintf(&pre, "instance.%s.", instance_type);
	plen = strlen(pre);
	for (i = 0; i < cfg->sections.n; i++) {
		if (strncmp(cfg->sections.v[i].key, pre, plen) != 0)
			continue;
		xasprintf(&s, SHIM_SETTING "%s.%s", bname,
		    cfg->sections.v[i].key + plen);
		job_kv(b, s, cfg->sections.v[i].value);
		free(s);
	}
	free(pre);
}

/*
 * The job's secrets (masked in its output: secret env values, the source
 * token), its identity and its limits.
 */
static void
job_limits(struct buf *b, const struct run *r, const struct jobident *id,
    const char *cgroup_parent)
{
	const struct jobconfig	*c = &r->config;
	size_t			 i;

	for (i = 0; i < c->env.n; i++)
		if (config_env_secret(c->env.v[i].key) &&
		    *c->env.v[i].value != '\0')
			job_kv(b, SHIM_SECRET, c->env.v[i].value);
	job_kv(b, SHIM_SECRET, c->source.token);
	if (id->set) {
		job_num(b, SHIM_UID, id->uid);
		job_num(b, SHIM_GID, id->gid);
	}
	if (cfg->quota_log_bytes_per_run != 0) {
		job_num(b, SHIM_LOG_QUOTA, cfg->quota_log_bytes_per_run);
		job_num(b, SHIM_LOG_USED, r->log_bytes);
	}
	job_num(b, SHIM_LIMIT_NOFILE, cfg->job_limit_nofile);
	job_num(b, SHIM_LIMIT_AS, cfg->job_limit_as);
	job_num(b, SHIM_LIMIT_CPU, cfg->job_limit_cpu);
	if (cgroup_parent[0] != '\0')
		job_kv(b, SHIM_CGROUP_PARENT, cgroup_parent);
	job_num(b, SHIM_LIMIT_MEMORY, cfg->job_limit_memory);
	job_num(b, SHIM_LIMIT_PIDS, cfg->job_limit_pids);
	job_num(b, SHIM_LIMIT_CPU_MILLICORES, cfg->job_limit_cpu_millicores);
}

/* Copy b into a new memfd at offset 0: its fd, or -1 with *cause. */
static int
job_memfd(const struct buf *b, char **cause)
{
	size_t	off;
	ssize_t	n;
	int	fd;

	if ((fd = memfd_create("batchd-job", MFD_CLOEXEC)) == -1) {
		xasprintf(cause, "memfd_create: %s", strerror(errno));
		return -1;
	}
	for (off = 0; off < b->len; off += (size_t)n)
		if ((n = pwrite(fd, b->p + off, b->len - off, (off_t)off)) <= 0) {
			xasprintf(cause, "job description: %s",
			    n == 0 ? "short write" : strerror(errno));
			close(fd);
			return -1;
		}
	return fd;
}

/*
 * Describe attempt r for its shim in *fdp, a memfd at offset 0 (it may
 * hold a token, so it is never a file, and a dispatch makes one inode
 * less): NUL-separated "key=value" entries, the plugins to use, their
 * settings, the secrets to mask, credentials and limits; adopt_ms >= 0:
 * the shim takes over the job of a lost one, started adopt_ms ago. 0, or
 * -1 with *cause (a run the plugins cannot serve, or no memory).
 */
int
jobdesc_write(const struct run *r, const struct jobident *id,
    const char *work, const char *cgroup_parent, int64_t adopt_ms, int *fdp,
    char **cause)
{
	const struct jobconfig	*c = &r->config;
	const char		*src = NULL, *runner, *backend, *bname;
	struct buf		 b = { 0 };
	char			*s;

	*fdp = -1;
	if (r->sql == NULL && c->source.type != SRC_TEXT &&
	    (src = plugin_source(c->source.type)) == NULL) {
		xasprintf(cause, "no source plugin for source type %d",
		    c->source.type);
		return -1;
	}
	if ((runner = plugin_runner(c->type)) == NULL) {
		xasprintf(cause, "no runner plugin for job type %d", c->type);
		return -1;
	}
	if ((backend = plugin_backend(r->instance_type, &bname)) == NULL) {
		xasprintf(cause, "backend '%s' is not loaded", bname);
		return -1;
	}
	job_kv(&b, SHIM_RUN_UUID, r->uuid);
	job_kv(&b, SHIM_WORKSPACE, r->ws);
	job_kv(&b, SHIM_CLUSTER_UUID, r->cluster_uuid);
	job_num(&b, SHIM_ATTEMPT, r->attempt);
	if (adopt_ms >= 0)
		job_num(&b, SHIM_ADOPT, (unsigned long long)adopt_ms);
	job_num(&b, SHIM_TYPE, c->type);
	job_kv(&b, SHIM_INSTANCE_TYPE, r->instance_type);
	job_num(&b, SHIM_WORKERS, r->workers);
	job_kv(&b, SHIM_VERSION, r->version);
	job_num(&b, SHIM_TIMEOUT_S, c->timeout_s);
	job_num(&b, SHIM_SOURCE_TYPE, c->source.type);
	job_kv(&b, SHIM_SOURCE_PATH, c->source.path);
	job_kv(&b, SHIM_REPO_URL, c->source.repo_url);
	job_kv(&b, SHIM_USERNAME, c->source.username);
	job_kv(&b, SHIM_TOKEN, c->source.token);
	job_kv(&b, SHIM_REFERENCE, c->source.reference);
	job_kv(&b, SHIM_BUCKET_PATH, c->source.bucket_path);
	job_kv(&b, SHIM_REGION, c->source.region);
	job_kv(&b, SHIM_SOURCE_LOCATION, c->source_location);
	job_kv(&b, SHIM_ARGS, c->args);
	job_kv(&b, SHIM_SQL, r->sql);
	job_kv(&b, SHIM_TEXT, c->source.text);
	job_kv(&b, SHIM_WORKDIR, work);
	xasprintf(&s, "%s/%s", cfg->workspace_root, r->ws);
	job_kv(&b, SHIM_WORKSPACE_DIR, s);
	free(s);
	job_kv(&b, SHIM_DATA_DIR, cfg->data_dir);
	job_num(&b, SHIM_GRACE_S, cfg->kill_grace_s);
	job_num(&b, SHIM_FETCH_TIMEOUT_S, cfg->fetch_timeout_s);
	s = logs_path(r->uuid, r->attempt, LS_STDOUT);
	job_kv(&b, SHIM_STDOUT_LOG, s);
	free(s);
	s = logs_path(r->uuid, r->attempt, LS_STDERR);
	job_kv(&b, SHIM_STDERR_LOG, s);
	free(s);
	job_kv(&b, SHIM_PLUGIN_SOURCE, src);
	job_kv(&b, SHIM_PLUGIN_RUNNER, runner);
	job_kv(&b, SHIM_PLUGIN_BACKEND, backend);
	plugin_settings(&b, r->instance_type, bname);
	if (c->source.type != SRC_S3 || s3_settings(&b, cause) == 0) {
		job_limits(&b, r, id, cgroup_parent);
		*fdp = job_memfd(&b, cause);
	}
	buf_free(&b);
	return *fdp == -1 ? -1 : 0;
}
