/*
 * config.c's tests: the file, the environment, defaults, paths made
 * absolute, as whom jobs run.
 */
#include <sys/stat.h>

#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"

void
test_config_defaults(void)
{
	CHECK(strcmp(cfg->subject_prefix, "batchd") == 0);
	CHECK(strcmp(cfg->data_dir, "./var") == 0);
	CHECK(strcmp(cfg->workspace_root, "./var/workspaces") == 0);
	CHECK(cfg->queue_cap == 100);
	CHECK(strcmp(cfg->default_workspace, "default") == 0);
	CHECK(cfg->log_level == LOG_LVL_INFO);
	CHECK(cfg->log_zstd_level == 0);
}

void
test_config_file(void)
{
	struct config	*c;
	char		*cause = NULL;

	write_file("a.conf", "# comment\nnats_url = nats://127.0.0.1:5\n"
	    "queue_cap = 7\nlmdb_map_size = 64M\nlog_level = debug\n");
	c = config_load("a.conf", &cause);
	CHECK(c != NULL);
	CHECK(strcmp(c->nats_url, "nats://127.0.0.1:5") == 0);
	CHECK(c->queue_cap == 7);
	CHECK(c->lmdb_map_size == 64u << 20);
	CHECK(c->log_level == LOG_LVL_DEBUG);
	config_free(c);
}

void
test_config_unknown_key(void)
{
	char	*cause = NULL;

	write_file("b.conf", "queue_cap = 5\n\nfrobnicate = 1\n");
	CHECK(config_load("b.conf", &cause) == NULL);
	CHECK(strstr(cause, "b.conf:3:") != NULL);
	CHECK(strstr(cause, "frobnicate") != NULL);
	free(cause);
}

void
test_config_bad_value(void)
{
	char	*cause = NULL;

	write_file("c.conf", "queue_cap = lots\n");
	CHECK(config_load("c.conf", &cause) == NULL);
	CHECK(strstr(cause, "c.conf:1:") != NULL);
	CHECK(strstr(cause, "queue_cap") != NULL);
	free(cause);
	write_file("d.conf", "queue_cap = 0\n");
	CHECK(config_load("d.conf", &cause) == NULL);
	free(cause);
	write_file("e.conf", "log_level = loud\n");
	CHECK(config_load("e.conf", &cause) == NULL);
	CHECK(strstr(cause, "log_level") != NULL);
	free(cause);
	/* zstd runs on the loop thread: no level that takes ms per MiB */
	write_file("e.conf", "log_zstd_level = 4\n");
	CHECK(config_load("e.conf", &cause) == NULL);
	CHECK(strstr(cause, "log_zstd_level") != NULL &&
	    strstr(cause, "from 0 to 3") != NULL);
	free(cause);
}

void
test_config_env(void)
{
	struct config	*c;
	char		*cause = NULL;

	write_file("f.conf", "queue_cap = 7\ndata_dir = /nowhere\n");
	setenv("BATCHD_QUEUE_CAP", "9", 1);
	setenv("BATCHD_SUBJECT_PREFIX", "acme.batchd", 1);
	c = config_load("f.conf", &cause);
	unsetenv("BATCHD_QUEUE_CAP");
	unsetenv("BATCHD_SUBJECT_PREFIX");
	CHECK(c != NULL);
	CHECK(c->queue_cap == 9);
	CHECK(strcmp(c->subject_prefix, "acme.batchd") == 0);
	CHECK(strcmp(c->workspace_root, "/nowhere/workspaces") == 0);
	config_free(c);

	setenv("BATCHD_QUEUE_CAP", "x", 1);
	c = config_load(NULL, &cause);
	unsetenv("BATCHD_QUEUE_CAP");
	CHECK(c == NULL);
	CHECK(strstr(cause, "BATCHD_QUEUE_CAP") != NULL);
	free(cause);
}

void
test_config_missing_file(void)
{
	char	*cause = NULL;

	CHECK(config_load("nope.conf", &cause) == NULL);
	CHECK(strstr(cause, "nope.conf") != NULL);
	free(cause);
}

/* Every path key is made absolute and normal; links resolved if there. */
void
test_config_resolve(void)
{
	struct config	*c;
	char		 cwd[PATH_MAX], want[PATH_MAX + 64], *cause = NULL;

	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	CHECK(mkdir("real", 0700) == 0 && symlink("real", "link") == 0);
	setenv("BATCHD_DATA_DIR", "./var/..//x/./y/", 1);
	setenv("BATCHD_SHIM", "build/../bin/batchd-shim", 1);
	setenv("BATCHD_PLUGIN_DIR", "link", 1);
	setenv("BATCHD_NATS_TLS_CA", "/etc/../etc//ssl/./ca.pem", 1);
	c = config_load(NULL, &cause);
	unsetenv("BATCHD_DATA_DIR");
	unsetenv("BATCHD_SHIM");
	unsetenv("BATCHD_PLUGIN_DIR");
	unsetenv("BATCHD_NATS_TLS_CA");
	CHECK(c != NULL);
	CHECK(strcmp(c->data_dir, "./var/..//x/./y/") == 0);	/* as given */
	CHECK(config_resolve(c, &cause) == 0);
	snprintf(want, sizeof want, "%s/x/y", cwd);
	CHECK(strcmp(c->data_dir, want) == 0);
	snprintf(want, sizeof want, "%s/x/y/workspaces", cwd);
	CHECK(strcmp(c->workspace_root, want) == 0);
	snprintf(want, sizeof want, "%s/bin/batchd-shim", cwd);
	CHECK(strcmp(c->shim, want) == 0);
	snprintf(want, sizeof want, "%s/real", cwd);
	CHECK(strcmp(c->plugin_dir, want) == 0);
	CHECK(strcmp(c->nats_tls_ca, "/etc/ssl/ca.pem") == 0);
	CHECK(c->nats_tls_key == NULL);		/* unset stays unset */
	/* Once resolved, resolving again changes nothing. */
	snprintf(want, sizeof want, "%s", c->data_dir);
	CHECK(config_resolve(c, &cause) == 0);
	CHECK(strcmp(c->data_dir, want) == 0);
	config_free(c);
}

static uid_t	fake_euid;

static uid_t
fake_geteuid(void)
{
	return fake_euid;
}

/* As whom jobs run, from job_user, job_uid_range and batchd's own uid. */
void
test_config_job_user(void)
{
	static const char *bad[] = { "5-4", "0-10", "1-4294967295", "12",
	    "a-b", "-3", "3-", "1-2x" };
	struct config	*c;
	struct passwd	*nobody = getpwnam("nobody");
	char		*cause = NULL;
	size_t		 i;

	config_geteuid = fake_geteuid;
	fake_euid = 0;
	c = config_load(NULL, &cause);
	CHECK(c != NULL && c->job_mode == JU_WORKSPACE);
	CHECK(c->job_uid_lo == 2000000000u && c->job_uid_hi == 2000065535u);
	config_free(c);
	setenv("BATCHD_JOB_USER", "root", 1);
	c = config_load(NULL, &cause);
	CHECK(c != NULL && c->job_mode == JU_SELF);
	config_free(c);
	if (nobody != NULL) {
		setenv("BATCHD_JOB_USER", "nobody", 1);
		c = config_load(NULL, &cause);
		CHECK(c != NULL && c->job_mode == JU_USER);
		CHECK(c->job_uid == nobody->pw_uid &&
		    c->job_gid == nobody->pw_gid);
		config_free(c);
	}
	setenv("BATCHD_JOB_USER", "no-such-user-here", 1);
	c = config_load(NULL, &cause);
	CHECK(c == NULL && strstr(cause, "job_user") != NULL);
	free(cause);

	/* Not root: jobs run as batchd; a named user is an error. */
	fake_euid = 1000;
	setenv("BATCHD_JOB_USER", "workspace", 1);
	c = config_load(NULL, &cause);
	CHECK(c != NULL && c->job_mode == JU_SELF);
	config_free(c);
	setenv("BATCHD_JOB_USER", "root", 1);
	c = config_load(NULL, &cause);
	CHECK(c != NULL && c->job_mode == JU_SELF);
	config_free(c);
	setenv("BATCHD_JOB_USER", "nobody", 1);
	c = config_load(NULL, &cause);
	CHECK(c == NULL && strstr(cause, "job_user") != NULL &&
	    strstr(cause, "root") != NULL);
	free(cause);
	unsetenv("BATCHD_JOB_USER");

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("BATCHD_JOB_UID_RANGE", bad[i], 1);
		c = config_load(NULL, &cause);
		CHECK(c == NULL && strstr(cause, "job_uid_range") != NULL);
		free(cause);
	}
	setenv("BATCHD_JOB_UID_RANGE", "7-7", 1);
	c = config_load(NULL, &cause);
	unsetenv("BATCHD_JOB_UID_RANGE");
	CHECK(c != NULL && c->job_uid_lo == 7 && c->job_uid_hi == 7);
	config_free(c);
	config_geteuid = geteuid;
}
