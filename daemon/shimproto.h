/*
 * shimproto.h: the job description batchd hands batchd-shim, the one
 * place its keys are spelled. batchd (jobdesc.c, jobdesc_write()) writes it to a
 * memfd that becomes the shim's standard input: "key=value" records, each
 * ended by a NUL; a key may repeat and the shim takes the last of equal
 * keys (but every "secret" counts). The shim (shim.c) reads it whole
 * before anything else. These spellings are the wire: a shim started by an
 * older batchd is re-attached by a newer one, so a key is added, never
 * renamed. "W:" who writes it (always exec.c), "R:" who reads it.
 */
#ifndef BATCHD_SHIMPROTO_H
#define BATCHD_SHIMPROTO_H

/* The run and its attempt. */
/* the run; R: shim, to plugins */
#define SHIM_RUN_UUID	"run_uuid"
/* its workspace name; R: shim */
#define SHIM_WORKSPACE	"workspace"
#define SHIM_CLUSTER_UUID	"cluster_uuid"	/* its cluster; R: shim */
#define SHIM_ATTEMPT		"attempt"	/* 1-based attempt; R: shim */
/* job type (proto JobType); R: shim */
#define SHIM_TYPE	"type"
#define SHIM_INSTANCE_TYPE	"instance_type"	/* the cluster's; R: shim */
/* the cluster's size; R: shim */
#define SHIM_WORKERS	"workers"
#define SHIM_VERSION		"version"	/* the definition's; R: shim */
/* the job's bound, 0 none; R: shim */
#define SHIM_TIMEOUT_S	"timeout_s"

/*
 * Present only when the attempt's supervisor was lost and its job lives
 * on (its backend wrote DIR/started): the shim starts nothing but has the
 * backend take the job over (adopt()); its value is the milliseconds since
 * the attempt started, which count against its timeout. R: shim.
 */
#define SHIM_ADOPT		"adopt"

/* Where the code comes from (the source plugin's inputs). */
#define SHIM_SOURCE_TYPE	"source_type"	/* proto SourceType; R: shim */
#define SHIM_SOURCE_PATH	"source_path"	/* workspace source; R: shim */
#define SHIM_REPO_URL		"repo_url"	/* git source; R: shim */
#define SHIM_USERNAME		"username"	/* git source; R: shim */
#define SHIM_TOKEN		"token"		/* git source (also a secret) */
#define SHIM_REFERENCE		"reference"	/* git source; R: shim */
#define SHIM_BUCKET_PATH	"bucket_path"	/* s3 source; R: shim */
#define SHIM_REGION		"region"	/* s3 source; R: shim */
#define SHIM_SOURCE_LOCATION	"source_location" /* file to run; R: shim */
/* the job's shell words; R: shim */
#define SHIM_ARGS	"args"
/* a SQL job's text; absent else */
#define SHIM_SQL	"sql"
/* a TEXT source's code, written to source_location; absent else */
#define SHIM_TEXT	"text"

/* Places. */
/* the attempt's directory; R: shim */
#define SHIM_WORKDIR	"workdir"
#define SHIM_WORKSPACE_DIR	"workspace_dir"	/* the workspace's; R: shim */
#define SHIM_DATA_DIR		"data_dir"	/* batchd's data_dir; R: shim */
#define SHIM_STDOUT_LOG		"stdout_log"	/* where stdout goes; R: shim */
#define SHIM_STDERR_LOG		"stderr_log"	/* where stderr goes; R: shim */

/* Times (seconds). */
/* SIGTERM to SIGKILL; R: shim */
#define SHIM_GRACE_S	"grace_s"
/* the fetch's bound; R: shim */
#define SHIM_FETCH_TIMEOUT_S	"fetch_timeout_s"

/*
 * The plugins to load: SHIM_PLUGIN followed by "source", "runner" or
 * "backend", valued by the path of the shared object; R: shim.
 */
#define SHIM_PLUGIN		"plugin."
#define SHIM_PLUGIN_SOURCE	SHIM_PLUGIN "source"
#define SHIM_PLUGIN_RUNNER	SHIM_PLUGIN "runner"
#define SHIM_PLUGIN_BACKEND	SHIM_PLUGIN "backend"

/*
 * A plugin's settings: SHIM_SETTING "<plugin>.<key>", from [plugin.NAME],
 * then the [instance.TYPE] of the cluster for its backend, then the s3
 * credentials; R: shim, handed to the plugin named as its setting(key).
 */
#define SHIM_SETTING		"setting."

/* A value the shim masks in the job's output (repeats); R: shim. */
#define SHIM_SECRET		"secret"

/* Identity: both or neither (then the shim's own); R: shim. */
#define SHIM_UID		"uid"
#define SHIM_GID		"gid"

/* The per-run log quota: present only when one is set; R: shim. */
#define SHIM_LOG_QUOTA		"log_quota"	/* bytes the run may log */
/* bytes earlier attempts logged */
#define SHIM_LOG_USED	"log_used"

/* Limits of the job's processes, 0 none; R: shim, to the backend. */
#define SHIM_LIMIT_NOFILE	"limit_nofile"	/* RLIMIT_NOFILE */
#define SHIM_LIMIT_AS		"limit_as"	/* RLIMIT_AS, bytes */
#define SHIM_LIMIT_CPU		"limit_cpu"	/* RLIMIT_CPU, seconds */
/* batchd's cgroup; absent none */
#define SHIM_CGROUP_PARENT	"cgroup_parent"
#define SHIM_LIMIT_MEMORY	"limit_memory"	/* memory.max, bytes */
#define SHIM_LIMIT_PIDS		"limit_pids"	/* pids.max */
#define SHIM_LIMIT_CPU_MILLICORES "limit_cpu_millicores" /* cpu.max */

#endif
