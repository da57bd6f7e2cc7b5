/*
 * config.c: batchd.conf, an INI file of "key = value" lines (libinih), and
 * BATCHD_<KEY> environment overrides. Precedence: defaults < file < env.
 * Unknown keys and bad values are errors naming the key and the line.
 *
 * Paths (K_PATH keys) are made absolute and normal by config_resolve(),
 * once at start, after batchd has made its directories: nothing else ever
 * sees a relative path (a job's directory is joined to them in another
 * working directory, the shim's).
 */
#include <sys/stat.h>

#include <pwd.h>
#include <unistd.h>

#include <ctype.h>
#include <strings.h>
#include <fnmatch.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "batchd.h"

enum ktype { K_STR, K_PATH, K_U32, K_SIZE, K_LEVEL, K_BOOL };

static const struct key {
	const char	*name;
	enum ktype	 type;
	size_t		 off;
	uint64_t	 min, max;	/* numeric bounds */
} keys[] = {
#define S(n)		{ #n, K_STR, offsetof(struct config, n), 0, 0 }
#define P(n)		{ #n, K_PATH, offsetof(struct config, n), 0, 0 }
#define U(n, lo, hi)	{ #n, K_U32, offsetof(struct config, n), lo, hi }
	S(nats_url),
	{ "nats_send_asap", K_BOOL, offsetof(struct config, nats_send_asap),
	    0, 1 },
	S(subject_prefix),
	P(data_dir),
	P(workspace_root),
	P(runs_dir),
	P(logs_dir),
	{ "lmdb_map_size", K_SIZE, offsetof(struct config, lmdb_map_size),
	    1 << 20, (uint64_t)1 << 44 },
	U(queue_cap, 1, 100000),
	S(default_workspace),
	{ "log_level", K_LEVEL, offsetof(struct config, log_level), 0, 0 },
	U(max_message_bytes, 1024, 64 << 20),
	U(kill_grace_s, 0, 3600),
	U(log_chunk_bytes, 512, 1 << 20),
	U(log_zstd_level, 0, 3),	/* runs on the loop thread: logs.c */
	S(http_listen),
	P(console_dir),
	S(console_nats_ws),
	U(outbox_max, 100, 100000000),
	P(shim),
	S(job_user),
	S(job_uid_range),
	U(job_limit_nofile, 0, 1 << 20),
	{ "job_limit_as", K_SIZE, offsetof(struct config, job_limit_as),
	    0, (uint64_t)1 << 50 },
	U(job_limit_cpu, 0, 1u << 31),
	S(job_cgroup),
	{ "job_cgroup_favordynmods", K_BOOL,
	    offsetof(struct config, job_cgroup_favordynmods), 0, 1 },
	{ "job_limit_memory", K_SIZE, offsetof(struct config,
	    job_limit_memory), 0, (uint64_t)1 << 50 },
	U(job_limit_pids, 0, 1 << 22),
	U(job_limit_cpu_millicores, 0, 1 << 20),
	U(retention_age_s, 0, 1u << 31),
	{ "retention_log_bytes", K_SIZE,
	    offsetof(struct config, retention_log_bytes), 0, (uint64_t)1 << 50 },
	U(retention_interval_s, 1, 86400),
	U(quota_jobdefs, 0, 1u << 31),
	U(quota_runs, 0, 1u << 31),
	U(quota_schedules, 0, 1u << 31),
	{ "quota_log_bytes_per_run", K_SIZE,
	    offsetof(struct config, quota_log_bytes_per_run), 0,
	    (uint64_t)1 << 50 },
	P(plugin_dir),
	S(plugins),
	S(backend),
	U(fetch_timeout_s, 1, 86400),
	{ "jetstream", K_BOOL, offsetof(struct config, jetstream), 0, 1 },
	S(jetstream_events_stream),
	S(jetstream_logs_stream),
	{ "ha", K_BOOL, offsetof(struct config, ha), 0, 1 },
	S(ha_node),
	S(ha_stream),
	U(ha_replicas, 1, 5),
	U(ha_lease_s, 1, 3600),
	U(ha_grace_s, 0, 86400),
	U(ha_snapshot_every, 10, 100000000),
	U(partitions, 1, 1024),
	U(partition, 0, 1023),
	S(s3_endpoint),
	S(s3_access_key_id),
	P(s3_secret_access_key_file),
	S(reply_prefix),
	S(nats_user),
	P(nats_password_file),
	P(nats_token_file),
	S(nats_nkey),
	P(nats_nkey_seed_file),
	P(nats_creds_file),
	P(nats_tls_ca),
	P(nats_tls_cert),
	P(nats_tls_key),
	S(secret_env),
#undef S
#undef P
#undef U
};

/*
 * Each workspace's jobs run as a uid of its own from this range (and the
 * gid of the same number). It lies where no account is: above the 16-bit
 * ids of local users, system users and systemd's DynamicUser= (0-65535),
 * above the container ranges of systemd-nspawn (524288-1879048191) and the
 * subordinate ids useradd hands out for user namespaces (100000 up, at most
 * 600100000 by default), below 2^31 (no sign trouble in tools that print
 * ids as int).
 */
#define JOB_UID_RANGE	"2000000000-2000065535"

/* Replaced by tests: batchd's own uid (is it root?). */
uid_t	(*config_geteuid)(void) = geteuid;

struct parse {
	struct config	*c;
	char		*err;	/* first error, owned */
	int		 line;
	int		 from_env;
};

static void
defaults(struct config *c)
{
	c->nats_url = xstrdup("nats://127.0.0.1:4222");
	c->subject_prefix = xstrdup("batchd");
	c->data_dir = xstrdup("./var");
	c->workspace_root = NULL;	/* {data_dir}/workspaces */
	c->nats_send_asap = 1;
	c->job_cgroup_favordynmods = 1;
	c->lmdb_map_size = (size_t)1 << 30;
	c->queue_cap = 100;
	c->default_workspace = xstrdup("default");
	c->log_level = LOG_LVL_INFO;
	c->max_message_bytes = 1 << 20;
	c->kill_grace_s = 5;
	c->log_chunk_bytes = 1024 * 1024;
	c->log_zstd_level = 0;	/* a plain subscriber reads data */
	c->outbox_max = 100000;
	c->retention_interval_s = 300;
	/* A default install's disk stays bounded: configs/batchd.conf. */
	c->retention_age_s = 30 * 86400;
	c->retention_log_bytes = (size_t)10 << 30;
	c->quota_jobdefs = 1000;
	c->quota_runs = 100000;
	c->quota_schedules = 1000;
	c->quota_log_bytes_per_run = (size_t)1 << 30;
	c->plugins = xstrdup("workspace,git,s3,python,sql,local");
	c->backend = xstrdup("local");
	c->fetch_timeout_s = 600;
	/*
	 * Tasks (processes and threads) of one attempt: stops a fork bomb
	 * long before the host's pid_max (32768 at least), yet leaves room
	 * for mpiexec with one rank per core, each with its runtime's and a
	 * BLAS pool's threads (64 ranks of 60 threads).
	 */
	c->job_limit_pids = 4096;
	c->jetstream_events_stream = xstrdup("BATCHD_EVENTS");
	c->jetstream_logs_stream = xstrdup("BATCHD_LOGS");
	c->ha_stream = xstrdup("BATCHD_HA");
	c->ha_replicas = 3;
	c->ha_lease_s = 10;
	c->ha_grace_s = 60;
	c->ha_snapshot_every = 100000;
	c->partitions = 1;
	c->reply_prefix = xstrdup("_INBOX.");
	c->secret_env = xstrdup("*TOKEN*,*SECRET*,*PASSWORD*,*_KEY");
	c->job_user = xstrdup("workspace");
	c->job_uid_range = xstrdup(JOB_UID_RANGE);
}

/* Parse "123", "64K", "1G" into *out; 0 or -1. */
static int
parse_size(const char *s, uint64_t *out)
{
	char			*end;
	unsigned long long	 v;
	uint64_t		 mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1ULL << 10;
		end++;
		break;
	case 'm': case 'M':
		mul = 1ULL << 20;
		end++;
		break;
	case 'g': case 'G':
		mul = 1ULL << 30;
		end++;
		break;
	case 't': case 'T':
		mul = 1ULL << 40;
		end++;
		break;
	default:
		return -1;
	}
	if (*end != '\0' || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* Set one key; returns NULL or an error message (owned by the caller). */
static char *
set_key(struct config *c, const char *name, const char *value)
{
	const struct key	*k = NULL;
	size_t			 i;
	uint64_t		 v;
	char			*msg;
	int			 lvl;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strcmp(keys[i].name, name) == 0)
			k = &keys[i];
	if (k == NULL) {
		xasprintf(&msg, "unknown key '%s'", name);
		return msg;
	}
	switch (k->type) {
	case K_STR:
	case K_PATH:
		if (*value == '\0') {
			xasprintf(&msg, "key '%s': empty value", name);
			return msg;
		}
		free(*(char **)((char *)c + k->off));
		*(char **)((char *)c + k->off) = xstrdup(value);
		break;
	case K_BOOL:
		if (strcasecmp(value, "on") == 0 || strcasecmp(value, "yes") == 0 ||
		    strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0)
			*(int *)((char *)c + k->off) = 1;
		else if (strcasecmp(value, "off") == 0 ||
		    strcasecmp(value, "no") == 0 ||
		    strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0)
			*(int *)((char *)c + k->off) = 0;
		else {
			xasprintf(&msg, "key '%s': '%s' is not on or off", name,
			    value);
			return msg;
		}
		break;
	case K_LEVEL:
		if ((lvl = log_level_parse(value)) == -1) {
			xasprintf(&msg, "key '%s': '%s' is not one of error, "
			    "warn, info, debug", name, value);
			return msg;
		}
		c->log_level = lvl;
		break;
	case K_U32:
	case K_SIZE:
		if (parse_size(value, &v) == -1 || v < k->min || v > k->max) {
			xasprintf(&msg, "key '%s': '%s' is not a number from "
			    "%llu to %llu", name, value,
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return msg;
		}
		if (k->type == K_U32)
			*(uint32_t *)((char *)c + k->off) = (uint32_t)v;
		else
			*(size_t *)((char *)c + k->off) = (size_t)v;
		break;
	}
	return NULL;
}

static int
on_ini_line(void *arg, const char *section, const char *name,
    const char *value)
{
	struct parse	*p = arg;
	char		*msg;

	if (*section != '\0') {
		/* [plugin.NAME] and [instance.TYPE]: settings kept as is. */
		if ((strncmp(section, "plugin.", 7) == 0 && section[7] != '\0') ||
		    (strncmp(section, "instance.", 9) == 0 &&
		    section[9] != '\0')) {
			char	*k;

			xasprintf(&k, "%s.%s", section, name);
			kvlist_set(&p->c->sections, k, value);
			free(k);
			return 1;
		}
		if (p->err == NULL)
			xasprintf(&p->err, "unknown section '[%s]' (only "
			    "[plugin.NAME] and [instance.TYPE])", section);
		return 0;
	}
	if ((msg = set_key(p->c, name, value)) != NULL) {
		if (p->err == NULL)
			p->err = msg;
		else
			free(msg);
		return 0;
	}
	return 1;
}

/* Apply BATCHD_<KEY> environment variables; NULL or an owned message. */
static char *
apply_env(struct config *c)
{
	char	 var[64], *msg, *m;
	size_t	 i, j;
	const char *v;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		snprintf(var, sizeof var, "BATCHD_");
		for (j = 0; keys[i].name[j] != '\0' && j + 8 < sizeof var; j++)
			var[7 + j] = toupper((unsigned char)keys[i].name[j]);
		var[7 + j] = '\0';
		if ((v = getenv(var)) == NULL)
			continue;
		if ((m = set_key(c, keys[i].name, v)) != NULL) {
			xasprintf(&msg, "environment %s: %s", var, m);
			free(m);
			return msg;
		}
	}
	return NULL;
}

/* Parse job_uid_range "LO-HI"; 0 or -1 with *cause. */
static int
uid_range(struct config *c, char **cause)
{
	unsigned long long	 lo, hi;
	char			*end;
	const char		*s = c->job_uid_range;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		goto bad;
	lo = strtoull(s, &end, 10);
	if (errno != 0 || *end != '-' || !isdigit((unsigned char)end[1]))
		goto bad;
	hi = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || lo == 0 || lo > hi ||
	    hi >= UINT32_MAX)
		goto bad;
	c->job_uid_lo = (uint32_t)lo;
	c->job_uid_hi = (uint32_t)hi;
	return 0;
bad:
	xasprintf(cause, "key 'job_uid_range': '%s' is not a range LO-HI of "
	    "uids from 1 to %u", s, UINT32_MAX - 1);
	return -1;
}

/*
 * As whom jobs run: job_user "workspace" (a uid per workspace, when batchd
 * is root), "root" (batchd's own user) or the name of a user (batchd is
 * root). 0 or -1 with *cause.
 */
static int
job_identity(struct config *c, char **cause)
{
	struct passwd	*pw;
	int		 root = config_geteuid() == 0;

	if (uid_range(c, cause) == -1)
		return -1;
	if (strcmp(c->job_user, "workspace") == 0) {
		c->job_mode = root ? JU_WORKSPACE : JU_SELF;
		return 0;
	}
	if (strcmp(c->job_user, "root") == 0) {
		c->job_mode = JU_SELF;
		return 0;
	}
	if (!root) {
		xasprintf(cause, "key 'job_user': '%s' needs batchd to run as "
		    "root; as another user jobs run as batchd's own (use "
		    "'workspace' or 'root')", c->job_user);
		return -1;
	}
	if ((pw = getpwnam(c->job_user)) == NULL) {
		xasprintf(cause, "key 'job_user': no user '%s'", c->job_user);
		return -1;
	}
	c->job_mode = JU_USER;
	c->job_uid = pw->pw_uid;
	c->job_gid = pw->pw_gid;
	return 0;
}

/*
 * Load the configuration: defaults, then the file (if path is not NULL),
 * then the environment. Returns NULL and an owned message in *cause on error.
 */
/*
 * console_nats_ws: "ws://host:port[/path]" or wss://, of characters that
 * may stand in a Content-Security-Policy source (console.c puts it there).
 */
static int
ws_url_valid(const char *u)
{
	const char	*p;

	if (strncmp(u, "ws://", 5) == 0)
		p = u + 5;
	else if (strncmp(u, "wss://", 6) == 0)
		p = u + 6;
	else
		return 0;
	if (*p == '\0' || *p == '/' || *p == ':')
		return 0;
	for (; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-_:[]/", *p) == NULL)
			return 0;
	return 1;
}

/* ha_node (the host name by default) and ha_stream: names NATS takes in
 * a KV key and a stream's name. 0, or -1 with *cause. */
static int
ha_settings(struct config *c, char **cause)
{
	char	host[256];

	if (c->ha_node == NULL) {
		if (gethostname(host, sizeof host) == -1)
			host[0] = '\0';
		host[sizeof host - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		c->ha_node = xstrdup(host);
	}
	if (!ws_valid(c->ha_node)) {
		xasprintf(cause, "key 'ha_node': '%s' is not a node name "
		    "([A-Za-z0-9_-]{1,64})", c->ha_node);
		return -1;
	}
	if (c->partition >= c->partitions) {
		xasprintf(cause, "key 'partition': %u is not below partitions "
		    "(%u)", c->partition, c->partitions);
		return -1;
	}
	if (!ws_valid(c->ha_stream)) {
		xasprintf(cause, "key 'ha_stream': '%s' is not a stream name "
		    "([A-Za-z0-9_-]{1,64})", c->ha_stream);
		return -1;
	}
	return 0;
}

struct config *
config_load(const char *path, char **cause)
{
	struct config	*c;
	struct parse	 p;
	int		 rc;

	c = xcalloc(1, sizeof *c);
	defaults(c);
	memset(&p, 0, sizeof p);
	p.c = c;
	if (path != NULL) {
		rc = ini_parse(path, on_ini_line, &p);
		if (rc == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (rc != 0) {
			xasprintf(cause, "%s:%d: %s", path, rc,
			    p.err != NULL ? p.err : "syntax error");
			goto fail;
		}
	}
	if ((*cause = apply_env(c)) != NULL)
		goto fail;
	if (!ws_valid(c->default_workspace)) {
		xasprintf(cause, "key 'default_workspace': '%s' is not a "
		    "workspace name ([A-Za-z0-9_-]{1,64})", c->default_workspace);
		goto fail;
	}
	if (strchr(c->subject_prefix, ' ') != NULL ||
	    strchr(c->subject_prefix, '*') != NULL ||
	    strchr(c->subject_prefix, '>') != NULL) {
		xasprintf(cause, "key 'subject_prefix': '%s' is not a subject "
		    "prefix", c->subject_prefix);
		goto fail;
	}
	if (c->console_nats_ws != NULL && !ws_url_valid(c->console_nats_ws)) {
		xasprintf(cause, "key 'console_nats_ws': '%s' is not a "
		    "ws:// or wss:// URL", c->console_nats_ws);
		goto fail;
	}
	if ((c->nats_user == NULL) != (c->nats_password_file == NULL)) {
		xasprintf(cause, "keys 'nats_user' and 'nats_password_file' go "
		    "together");
		goto fail;
	}
	if ((c->nats_nkey == NULL) != (c->nats_nkey_seed_file == NULL)) {
		xasprintf(cause, "keys 'nats_nkey' and 'nats_nkey_seed_file' go "
		    "together");
		goto fail;
	}
	if ((c->nats_tls_cert == NULL) != (c->nats_tls_key == NULL)) {
		xasprintf(cause, "keys 'nats_tls_cert' and 'nats_tls_key' go "
		    "together");
		goto fail;
	}
	if (ha_settings(c, cause) == -1)
		goto fail;
	if (job_identity(c, cause) == -1)
		goto fail;
	if (c->job_mode == JU_WORKSPACE &&
	    (uint64_t)c->job_uid_hi - c->job_uid_lo + 1 < c->partitions) {
		xasprintf(cause, "key 'job_uid_range': %s has fewer uids than "
		    "partitions (%u)", c->job_uid_range, c->partitions);
		goto fail;
	}
	if (c->workspace_root == NULL)
		xasprintf(&c->workspace_root, "%s/workspaces", c->data_dir);
	if (c->runs_dir == NULL)
		xasprintf(&c->runs_dir, "%s/runs", c->data_dir);
	if (c->logs_dir == NULL)
		xasprintf(&c->logs_dir, "%s/logs", c->data_dir);
	free(p.err);
	return c;
fail:
	free(p.err);
	config_free(c);
	return NULL;
}

/*
 * path made absolute (against the working directory) and normal: no ".",
 * "..", "//" or trailing "/". Symbolic links are resolved where the path
 * exists (realpath(3)); what does not exist yet is normalised by its
 * words. NULL if the working directory cannot be known; else owned.
 */
static char *
path_absolute(const char *path)
{
	char	 cwd[PATH_MAX], *full, *out, *p, *w, *o;
	size_t	 n;

	if ((out = realpath(path, NULL)) != NULL)
		return out;
	if (*path == '/')
		full = xstrdup(path);
	else {
		if (getcwd(cwd, sizeof cwd) == NULL)
			return NULL;
		xasprintf(&full, "%s/%s", cwd, path);
	}
	out = xcalloc(1, strlen(full) + 2);
	o = out;
	for (p = full; (w = strsep(&p, "/")) != NULL;) {
		if (*w == '\0' || strcmp(w, ".") == 0)
			continue;
		if (strcmp(w, "..") == 0) {
			while (o > out && *--o != '/')
				;
			*o = '\0';
			continue;
		}
		n = strlen(w);
		*o++ = '/';
		memcpy(o, w, n + 1);
		o += n;
	}
	if (o == out)
		memcpy(out, "/", 2);
	free(full);
	return out;
}

/*
 * Make every path of c absolute and normal (path_absolute()). batchd calls
 * it once, after it has made data_dir and workspace_root, so that
 * symbolic links in them are resolved too. 0, or -1 with *cause.
 */
int
config_resolve(struct config *c, char **cause)
{
	size_t	  i;
	char	**v, *abs;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (keys[i].type != K_PATH)
			continue;
		v = (char **)((char *)c + keys[i].off);
		if (*v == NULL)
			continue;
		if ((abs = path_absolute(*v)) == NULL) {
			xasprintf(cause, "key '%s': %s: %s", keys[i].name, *v,
			    strerror(errno));
			return -1;
		}
		free(*v);
		*v = abs;
	}
	return 0;
}

/*
 * Read a secret from path (named by key), refusing a file that others can
 * read. The value (trailing newlines removed) is owned by the caller.
 * 0, or -1 with *cause.
 */
int
config_secret_file(const char *key, const char *path, char **value,
    char **cause)
{
	struct stat	 st;
	char		 buf[8192];
	size_t		 n;
	FILE		*f;

	if ((f = fopen(path, "re")) == NULL) {
		xasprintf(cause, "key '%s': %s: %s", key, path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == -1 || (st.st_mode & 077) != 0) {
		xasprintf(cause, "key '%s': %s is readable by others (mode "
		    "%03o); chmod 600 it", key, path, st.st_mode & 0777);
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	*value = xstrdup(buf);
	return 0;
}

/* Is an environment variable of this name secret (secret_env globs)? */
int
config_env_secret(const char *name)
{
	char	*list, *p, *tok;
	int	 hit = 0;

	if (cfg->secret_env == NULL)
		return 0;
	list = xstrdup(cfg->secret_env);
	for (p = list; !hit && (tok = strsep(&p, ", ")) != NULL;)
		if (*tok != '\0' && fnmatch(tok, name, FNM_CASEFOLD) == 0)
			hit = 1;
	free(list);
	return hit;
}

void
config_free(struct config *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].type == K_STR || keys[i].type == K_PATH)
			free(*(char **)((char *)c + keys[i].off));
	kvlist_free(&c->sections);
	free(c);
}

/* Print the effective configuration as a valid configuration file. */
void
config_print(const struct config *c)
{
	static const char *lv[] = { "error", "warn", "info", "debug" };
	size_t	i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key *k = &keys[i];

		switch (k->type) {
		case K_STR:
		case K_PATH:
			if (*(char **)((char *)c + k->off) == NULL)
				printf("#%s =\n", k->name);
			else
				printf("%s = %s\n", k->name,
				    *(char **)((char *)c + k->off));
			break;
		case K_U32:
			printf("%s = %u\n", k->name,
			    *(uint32_t *)((char *)c + k->off));
			break;
		case K_SIZE:
			printf("%s = %zu\n", k->name,
			    *(size_t *)((char *)c + k->off));
			break;
		case K_LEVEL:
			printf("%s = %s\n", k->name, lv[c->log_level]);
			break;
		case K_BOOL:
			printf("%s = %s\n", k->name,
			    *(int *)((char *)c + k->off) ? "on" : "off");
			break;
		}
	}
}
