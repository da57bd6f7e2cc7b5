/*
 * batchd.h: the table of contents of the daemon.
 *
 * Threading: one loop thread (libevent) owns every structure declared here.
 * It also does the NATS connection's I/O and takes each command from its
 * synchronous subscription right after the read (bus.c). cnats's own
 * threads (reconnection, JetStream acknowledgements) only wake the loop.
 *
 * Data path: bus message -> wire decode + validation -> op applied inside the
 * loop turn's LMDB write transaction -> commit -> deferred effects (replies,
 * events; then, once those are written, spawns and kills,
 * txn_defer_late()). See store.c for the group commit.
 */
#ifndef BATCHD_H
#define BATCHD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "../lib/clock.h"
#include "../lib/names.h"
#include "../lib/xmalloc.h"

#define BATCHD_VERSION "0.1.0"

#define NAME_MAX_LEN	255
#define DESC_MAX	4096
#define PATH_MAX_LEN	4096
#define ARGS_MAX	65536
#define ENV_MAX		256
#define ENV_KEY_MAX	256
#define ENV_VAL_MAX	32768
#define ENV_TOTAL_MAX	65536	/* all keys and values of one env map */
#define IDEM_MAX	128
#define CONFIG_REF_LEN	20	/* a config snapshot's key: store.c */
#define PAGE_DEFAULT	50
#define PAGE_MAX	1000
#define RETRIES_MAX	100
#define DELAY_MAX	(7 * 86400)	/* retry delays, seconds */
#define TIMEOUT_MAX	(7 * 86400)	/* timeout_seconds */
#define MAX_QUEUE_MAX	(30 * 86400)	/* max_queue_seconds */
#define TEXT_MAX	(256 * 1024)	/* a TEXT source's text */
#define RULES_MAX	8		/* rules of a retry strategy */
#define RULE_CODES_MAX	256		/* on_exit_codes entries of a rule */
#define BACKOFF_MAX	100		/* backoff_multiplier */
#define SECRET_MASK	"****"	/* a secret's value in replies */

/* Exit codes of batchd; documented in batchd(8), EXIT STATUS, and in
 * batchd --help. */
#define EXIT_USAGE	64	/* bad command line */
#define EXIT_CONFIG	78	/* bad configuration (EX_CONFIG) */
#define EXIT_STORAGE	74	/* LMDB could not be opened or recovered */
#define EXIT_BUS	69	/* NATS client could not be set up */
#define EXIT_SOFTWARE	70	/* internal error */

/* Mirrors of the proto enums; values are the wire values. */
enum errcode {
	E_OK = 0, E_INVALID, E_NOT_FOUND, E_EXISTS, E_PRECONDITION,
	E_QUEUE_FULL, E_PAUSED, E_UNAVAILABLE, E_INTERNAL,
	E_RESOURCE_EXHAUSTED, E__COUNT
};
enum srctype { SRC_NONE = 0, SRC_WORKSPACE, SRC_GIT, SRC_S3, SRC_TEXT };
enum jobtype { JT_NONE = 0, JT_PYTHON, JT_SQL };
enum clstate { CL_NONE = 0, CL_RUNNING, CL_PAUSED };
enum rstatus { RS_NONE = 0, RS_PENDING, RS_RUNNING, RS_SUCCEEDED, RS_FAILED,
	RS_CANCELLED };
enum reason {
	R_NONE = 0, R_RECENTLY_SUBMITTED, R_IN_QUEUE, R_NON_ZERO_EXIT,
	R_TIMEOUT, R_CANCELLED_BY_USER, R_RETRY_PENDING, R_FETCH_FAILED,
	R_SPAWN_FAILED, R_SIGNALED, R_DAEMON_RESTARTED, R_CLUSTER_DELETED,
	R_RUNNING, R_SUPERVISOR_LOST,
	R_QUEUE_TIMEOUT = 15,	/* 14 is another branch's (the proto says) */
	R_WAITING_DEPS = 16, R_UPSTREAM_FAILED = 17,
	R__COUNT
};
enum retryaction { RA_NONE = 0, RA_RETRY, RA_EXIT };
enum logstream { LS_NONE = 0, LS_STDOUT, LS_STDERR };
enum misfire { MF_NONE = 0, MF_SKIP, MF_RUN_ONCE };
/* What became of a schedule's fire, for the metrics (metrics.c names). */
enum fireout { FO_RUN, FO_TRIGGER, FO_DOWNTIME, FO_MISSED, FO_CONCURRENCY,
	FO_QUEUE_FULL, FO_CLUSTER_PAUSED, FO_NOT_FOUND, FO_REFUSED,
	FO__COUNT };
enum logencoding { LE_IDENTITY = 0, LE_ZSTD };
/* How a dependency's upstream must end (DependencyCondition). */
enum depcond { DC_NONE = 0, DC_SUCCEEDED, DC_FAILED, DC_ENDED };
#define DEPS_MAX	64	/* depends_on of one run: bits of depends_met */
#define BATCH_MAX	1000	/* runs of one run.submit_batch */

/* What a refused request is answered with. code E_OK means no error. */
struct error {
	enum errcode	 code;
	char		 field[96];
	char		 message[256];
};

struct kv {
	char		*key;
	char		*value;
};
struct kvlist {
	struct kv	*v;
	size_t		 n;
};

/*
 * A run's dependency (depend.c): its upstream run, and how that must end.
 * In a request the target may be an earlier item of the batch (index);
 * a stored run's are uuids.
 */
struct dep {
	char		 uuid[UUID_LEN + 1];	/* "": has_index */
	int		 has_index;
	uint32_t	 index;
	enum depcond	 cond;
};

struct source {
	enum srctype	 type;
	int		 oneof;		/* which oneof member was set: SRC_* */
	char		*path;		/* WORKSPACE */
	char		*repo_url;	/* GIT */
	char		*username;
	char		*token;
	char		*reference;
	char		*bucket_path;	/* S3 */
	char		*region;
	char		*text;		/* TEXT: the code itself */
};

/*
 * A retry rule (policy.c decides with it): the exit codes and reasons it
 * matches, as bit sets, and what it does. Fixed size, so a jobconfig
 * copies by assignment.
 */
struct retryrule {
	uint8_t		 codes[32];	/* bit c: exit code c (1..255) */
	uint32_t	 reasons;	/* bit r: enum reason r */
	enum retryaction action;
};

struct retry {
	uint32_t	 num_retries;
	uint32_t	 delay_s;
	int		 on_timeout;
	int		 has_num, has_delay, has_on_timeout;
	struct retryrule rules[RULES_MAX];
	size_t		 n_rules;	/* 0: none (an override keeps the
					 * definition's) */
	double		 multiplier;	/* back-off, >= 1 */
	uint32_t	 max_delay_s;
	int		 has_multiplier, has_max_delay;
};

struct jobconfig {
	struct source	 source;
	enum jobtype	 type;
	char		*source_location;
	char		*args;
	struct retry	 retry;
	uint32_t	 timeout_s;
	int		 has_timeout;
	struct kvlist	 env;
	uint32_t	 max_queue_s;	/* has_max_queue: the limit in queue */
	int		 has_max_queue;
};

struct clusterconfig {
	char		*instance_type;
	uint32_t	 workers;
	char		*version;
};

struct jobdef {
	char		 uuid[UUID_LEN + 1];
	char		*ws;
	char		*name;
	char		*description;
	struct jobconfig config;
	int		 has_cluster;
	struct clusterconfig cluster;
	int64_t		 created_ms;
	int64_t		 updated_ms;
};

struct cluster {
	char		 uuid[UUID_LEN + 1];
	char		*ws;
	char		*name;
	struct clusterconfig config;
	enum clstate	 state;
	int		 auto_resume;
	int		 ephemeral;
	uint32_t	 queued;		/* runs waiting, not the active one */
	char		 active_run[UUID_LEN + 1];	/* "" when idle */
	int64_t		 created_ms;
	uint64_t	 queue_next;		/* next queue sequence number */
};

struct usage {
	int64_t		 user_us;
	int64_t		 sys_us;
	int64_t		 maxrss_kb;
	int64_t		 wall_ms;
};

struct attempt {
	uint32_t	 n;
	enum rstatus	 status;
	enum reason	 reason;
	char		*reason_text;
	int		 has_exit;
	int32_t		 exit_code;
	int32_t		 sig;
	int64_t		 started_ms;
	int64_t		 finished_ms;
	struct usage	 usage;
};

struct run {
	uint64_t	 id;		/* storage key, in submission order */
	char		 uuid[UUID_LEN + 1];
	char		 def_uuid[UUID_LEN + 1];
	char		 cluster_uuid[UUID_LEN + 1];
	char		*ws;
	enum jobtype	 type;
	enum rstatus	 status;
	enum reason	 reason;
	char		*reason_text;
	uint32_t	 attempt;
	int		 has_exit;
	int32_t		 exit_code;
	int64_t		 submitted_ms;
	int64_t		 started_ms;
	int64_t		 finished_ms;
	int		 has_args;
	char		*args;
	struct kvlist	 env;
	char		*sql;
	char		*idem_key;
	uint32_t	 queue_position;	/* computed for replies */
	struct attempt	*attempts;
	size_t		 n_attempts;
	struct usage	 usage;
	struct jobconfig config;		/* what the run executes */
	/* The stored snapshot config comes from (store.c "configs"): set
	 * by store_config_ref() at submission; config is then rebuilt from
	 * it, args and env when the run is read. */
	int		 has_config_ref;
	uint8_t		 config_ref[CONFIG_REF_LEN];
	int		 ephemeral;
	uint32_t	 workers;
	char		*version;
	char		*instance_type;
	uint64_t	 event_seq;
	int64_t		 retry_at_ms;
	uint64_t	 queue_seq;
	int64_t		 deadline_ms;
	uint64_t	 log_bytes;
	int64_t		 queue_deadline_ms;	/* 0: no limit in queue */
	char		 sched_uuid[UUID_LEN + 1];	/* "": not a schedule's */
	int64_t		 scheduled_for_ms;
	int		 pause_when_finished;	/* its end pauses its cluster */
	/* Workflows (depend.c): while PENDING with R_WAITING_DEPS the run
	 * is in no queue; bit i of deps_met: deps[i] is met. */
	struct dep	*deps;
	size_t		 n_deps;
	uint64_t	 deps_met;
	uint64_t	 ready_seq;	/* ready, its queue full: its turn */
	char		 rerun_of[UUID_LEN + 1];
	char	       **dependents;	/* run.get's only: never stored */
	size_t		 n_dependents;
};

/*
 * A schedule (schedule.c): its cron in its zone starts runs of a
 * definition. next_fire_ms is its key in the time index while not paused
 * (0 while paused).
 */
struct schedule {
	char		 uuid[UUID_LEN + 1];
	char		*ws;
	char		*name;
	char		*description;
	char		*cron;
	char		*tz;		/* IANA name */
	char		 def_uuid[UUID_LEN + 1];
	char		 cluster_uuid[UUID_LEN + 1];	/* "": a new one per run */
	int		 has_cluster;
	struct clusterconfig cluster;	/* the new cluster's */
	int		 has_args;
	char		*args;
	struct kvlist	 env;
	uint32_t	 max_concurrent;	/* 0: no limit */
	enum misfire	 misfire;
	int		 pause_when_finished;
	int		 paused;
	int		 has_timeout;	/* its runs' overrides (run.submit's) */
	uint32_t	 timeout_s;
	int		 has_retry;
	struct retry	 retry;
	int64_t		 next_fire_ms;
	int64_t		 last_fire_ms;
	char		 last_run[UUID_LEN + 1];
	uint64_t	 fires;
	uint64_t	 skipped;
	int64_t		 created_ms;
	int64_t		 updated_ms;
};

/* A fire of a schedule, as ScheduleFireEvent publishes it. */
struct fire {
	const char	*sched_uuid;
	const char	*ws;
	int64_t		 scheduled_ms;
	int64_t		 at_ms;
	const char	*run_uuid;	/* "" when none started */
	const char	*skipped;	/* why none started, or NULL */
	uint32_t	 missed;
	int		 triggered;
};

struct runevent {
	char		 run_uuid[UUID_LEN + 1];
	char		 def_uuid[UUID_LEN + 1];
	char		 cluster_uuid[UUID_LEN + 1];
	char		*ws;
	enum rstatus	 status;
	enum rstatus	 prev;
	enum reason	 reason;
	char		*reason_text;
	uint32_t	 attempt;
	uint64_t	 seq;
	int64_t		 at_ms;
	int		 has_exit;
	int32_t		 exit_code;
	int		 has_usage;
	struct usage	 usage;
};

/* How an attempt ended, from exec.c to the state machine. */
struct result {
	int		 waitstatus;	/* from wait4(), when reason is R_NONE */
	int		 timed_out;
	struct usage	 usage;
	enum reason	 reason;	/* R_SPAWN_FAILED, R_FETCH_FAILED, ... */
	char		 text[256];	/* what failed, for reason_text */
};

struct logchunk {
	const char	*run_uuid;
	uint32_t	 attempt;
	enum logstream	 stream;
	uint64_t	 offset;
	const void	*data;
	size_t		 len;
	int		 eof;
	enum logencoding encoding;	/* of data */
	size_t		 size;		/* of data decoded, if encoded */
};

/*
 * Where a list page starts, from its page token (wire-request.c): after a
 * name (jobdef.list, cluster.list) or after a run's index entry
 * (run.list).
 */
struct pagepos {
	int		 set;		/* 0: from the start */
	char		 name[NAME_MAX_LEN + 1];
	uint64_t	 ts;		/* run: submitted_ms */
	char		 uuid[UUID_LEN + 1];
};

/*
 * A parsed cron expression (cron.c): a bit per value of each field
 * (day-of-month and month from bit 1, day-of-week 0-6 with 7 folded to
 * Sunday), and which of the day fields began with '*'.
 */
#define CRON_MAX	256	/* bytes of an expression */
#define CRON_DOM_STAR	0x01
#define CRON_DOW_STAR	0x02
struct cron {
	uint64_t	 sec, min;
	uint32_t	 hour, dom;
	uint16_t	 mon;
	uint8_t		 dow, flags;
};

/* A decoded request: the union of every verb's fields. */
struct request {
	const struct verb_entry *verb;
	char		 ws[WS_MAX + 1];
	char		*uuid;
	char		*name;
	int		 has_description;
	char		*description;
	int		 has_config;
	struct jobconfig config;
	int		 has_cluster;
	struct clusterconfig cluster;
	int		 clear_cluster;
	int		 has_auto_resume;
	int		 auto_resume;
	uint32_t	 page_size;
	struct pagepos	 page;		/* page_token, decoded */
	char		*def_uuid;
	char		*cluster_uuid;
	int		 has_args;
	char		*args;
	struct kvlist	 env;
	char		*idem_key;
	char		*sql;
	/* run.submit's overrides of the definition's configuration */
	int		 has_timeout;
	uint32_t	 timeout_s;
	int		 has_retry;
	struct retry	 retry;
	int		 has_max_queue;
	uint32_t	 max_queue_s;
	char	       **cluster_uuids;
	size_t		 n_cluster_uuids;
	enum rstatus	 status;
	int64_t		 after_ms;
	int64_t		 before_ms;
	uint32_t	 attempt;
	enum logstream	 stream;
	uint64_t	 offset;
	uint32_t	 max_bytes;
	size_t		 reply_max;	/* max_payload; 0: no bound */
	/* schedule.* verbs */
	char		*cron;
	char		*tz;
	int		 has_max_concurrent;
	uint32_t	 max_concurrent;
	enum misfire	 misfire;
	int		 has_pause_when;
	int		 pause_when;
	int		 paused;
	int		 has_cluster_uuid;	/* update: cluster_uuid given */
	int		 clear_args, clear_env;
	int		 clear_timeout, clear_retry;
	/* run.list's filter; and what a schedule's fire submits with */
	char		*sched_uuid;
	int64_t		 scheduled_for_ms;
	/* Workflows: depends_on; run.submit_batch's items (each a request
	 * of run.submit, ws set); run.rerun's; run.list's filter */
	struct dep	*deps;
	size_t		 n_deps;
	struct request	*items;
	size_t		 n_items;
	int		 repair;
	char		*rerun_of;
};

/* A growable byte buffer; replies and records are built in one. */
struct buf {
	uint8_t		*p;
	size_t		 len;
	size_t		 cap;
};

/*
 * As whom jobs run (config.c, job_user): each workspace as a uid of its own
 * from job_uid_range (batchd is root, the default), all as one user (batchd
 * is root), or as batchd's own user (job_user = root, or batchd is not
 * root).
 */
enum jobuser { JU_WORKSPACE, JU_USER, JU_SELF };

/* Configuration; see config.c for keys and defaults. */
struct config {
	char		*nats_url;
	char		*subject_prefix;
	char		*data_dir;
	char		*workspace_root;
	size_t		 lmdb_map_size;
	uint32_t	 queue_cap;
	char		*default_workspace;
	int		 log_level;
	uint32_t	 max_message_bytes;
	uint32_t	 kill_grace_s;
	uint32_t	 log_chunk_bytes;
	uint32_t	 log_zstd_level;	/* 0: chunks not compressed */
	char		*http_listen;	/* NULL: no HTTP endpoint */
	char		*console_dir;	/* NULL: found beside batchd */
	char		*console_nats_ws; /* NULL: the page asks */
	uint32_t	 outbox_max;
	char		*shim;		/* NULL: batchd-shim beside batchd */
	char		*reply_prefix;	/* replies only to subjects under it */
	char		*nats_user;
	char		*nats_password_file;	/* secrets come from 0600 files */
	char		*nats_token_file;
	char		*nats_nkey;		/* public key of the seed */
	char		*nats_nkey_seed_file;
	char		*nats_creds_file;
	char		*nats_tls_ca;
	char		*nats_tls_cert;
	char		*nats_tls_key;
	char		*secret_env;	/* env names (globs) never shown */
	char		*job_user;	/* "workspace", "root" or a user */
	char		*job_uid_range;	/* "LO-HI": uids of workspaces */
	/* From job_user, job_uid_range and batchd's own uid, at load: */
	enum jobuser	 job_mode;
	uint32_t	 job_uid_lo, job_uid_hi;	/* JU_WORKSPACE */
	uint32_t	 job_uid, job_gid;		/* JU_USER */
	uint32_t	 job_limit_nofile;	/* 0: inherited */
	size_t		 job_limit_as;
	uint32_t	 job_limit_cpu;
	char		*job_cgroup;	/* NULL: automatic; "off": none */
	int		 job_cgroup_favordynmods;	/* turn it on at start */
	size_t		 job_limit_memory;	/* cgroup limits; 0: none */
	uint32_t	 job_limit_pids;
	uint32_t	 job_limit_cpu_millicores;
	uint32_t	 retention_age_s;	/* 0: keep finished runs */
	size_t		 retention_log_bytes;	/* 0: no size bound */
	uint32_t	 retention_interval_s;
	uint32_t	 quota_jobdefs;		/* per workspace; 0: no bound */
	uint32_t	 quota_runs;		/* stored runs per workspace */
	uint32_t	 quota_schedules;
	size_t		 quota_log_bytes_per_run;	/* 0: no bound */
	char		*plugin_dir;		/* NULL: beside the binary */
	char		*plugins;		/* names, comma-separated */
	char		*backend;		/* the default backend */
	uint32_t	 fetch_timeout_s;
	char		*s3_endpoint;		/* NULL: AWS; else path-style */
	char		*s3_access_key_id;	/* NULL: $AWS_ACCESS_KEY_ID */
	char		*s3_secret_access_key_file;
	struct kvlist	 sections;	/* "[plugin.X] k = v" as "plugin.X.k" */
	int		 nats_send_asap;	/* write each publication at once */
	int		 jetstream;		/* publish through JetStream */
	char		*jetstream_events_stream;
	char		*jetstream_logs_stream;
	char		*runs_dir;	/* attempts' directories */
	char		*logs_dir;	/* their output */
	int		 ha;		/* replicate through JetStream (ha.c) */
	char		*ha_node;	/* NULL: the host name */
	char		*ha_stream;	/* its streams' and bucket's name */
	uint32_t	 ha_replicas;
	uint32_t	 ha_lease_s;
	uint32_t	 ha_grace_s;	/* another node's attempts: lost after */
	uint32_t	 ha_snapshot_every;	/* log messages between them */
	uint32_t	 partitions;	/* workspaces split over (ws_partition()) */
	uint32_t	 partition;	/* the one this batchd serves */
};

/* Totals over all clusters, for status lines. */
struct cluster_totals {
	uint64_t	 clusters;
	uint64_t	 queued;
	uint64_t	 active;
};

/* The loop turn's write transaction, as an op sees it (store-txn.c). */
struct txn;

/*
 * A unit of state change. apply() runs in the turn's transaction and may
 * only write LMDB (store_put() and the like) and defer effects; it returns
 * 0, or an LMDB/errno code: the op's writes are undone (MDB_MAP_FULL:
 * retried after the map grows).
 * fail() is called instead of the deferred effects when the op's writes
 * could not be committed; it owns and frees the op either way.
 */
struct op {
	int		(*apply)(struct op *, struct txn *);
	void		(*fail)(struct op *, int);
	void		(*free)(struct op *);
	TAILQ_ENTRY(op)	 entry;
};
TAILQ_HEAD(ops, op);

/* An effect deferred until its transaction commits. */
typedef void (*effect_cb)(void *);

/*
 * A request verb, "{kind}.{verb}" of the subject, as tmux's cmd_entry: its
 * name, its request's decoder (wire-request.c) and its handler, defined
 * beside the handler and listed in verb.c. The handler runs inside the
 * loop turn's transaction: it writes its reply into the buffer and returns
 * 0, or sets the error (nothing changed), or returns a storage error.
 */
struct verb_entry {
	const char	*name;		/* "run.submit"; metrics' label */
	int		(*decode)(const void *, size_t, struct request *,
			    struct error *);
	int		(*exec)(struct txn *, struct request *, struct buf *,
			    struct error *);
	const char	*object;	/* the request field that chooses the
					 * object its reply carries */
};
#define VERB_MAX	32	/* entries verb.c may list */

/*
 * A kind of record named in its workspace (named.c): job definitions,
 * clusters, schedules. NAMED_KIND() makes the table of a record type from its
 * functions: store_get_P, P_free, wire_size_P, wire_reply_P and
 * wire_reply_Ps.
 */
struct pagepos;
struct named_kind {
	const char	*what;		/* in messages: "job definition" */
	int		 names;		/* DB_*_NAMES: "{ws}/{name}" -> uuid */
	size_t		 size;		/* of one record */
	size_t		 ws, name;	/* offsets of its char *ws and *name */
	int		(*get)(struct txn *, const char *, void *);
	void		(*free)(void *);
	size_t		(*wire_size)(const void *);
	void		(*reply)(struct buf *, const void *);
	void		(*reply_page)(struct buf *, const char *, void *,
			    size_t, const struct pagepos *);
};
#define NAMED_KIND(var, P, type, what_, names_)				\
static int P##_nk_get(struct txn *t, const char *u, void *v)		\
{ return store_get_##P(t, u, v); }					\
static void P##_nk_free(void *v) { P##_free(v); }			\
static size_t P##_nk_size(const void *v) { return wire_size_##P(v); }	\
static void P##_nk_reply(struct buf *b, const void *v)			\
{ wire_reply_##P(b, v); }						\
static void P##_nk_page(struct buf *b, const char *ws, void *v,	\
    size_t n, const struct pagepos *more)				\
{ wire_reply_##P##s(b, ws, v, n, more); }				\
const struct named_kind var = {						\
	.what = what_, .names = names_, .size = sizeof(type),		\
	.ws = offsetof(type, ws), .name = offsetof(type, name),		\
	.get = P##_nk_get, .free = P##_nk_free, .wire_size = P##_nk_size, \
	.reply = P##_nk_reply, .reply_page = P##_nk_page,		\
}

extern struct config	*cfg;
extern struct event_base *base;

/* log.c */
enum { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
void	 log_init(int);
int	 log_level_parse(const char *);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatal_code(int, const char *, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

/* xmalloc.c (xmalloc() and its kin are lib/xmalloc.c's) */
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_reset(struct buf *, size_t);
void	 buf_free(struct buf *);

/* util.c */
int64_t	 now_ms(void);
void	 uuid_new(char *);
extern void (*uuid_new_hook)(char *);
void	 be64_put(void *, uint64_t);
uint32_t crc32_ieee(uint32_t, const void *, size_t);
uint64_t be64_get(const void *);
int	 utf8_valid(const char *, size_t);
void	 error_set(struct error *, enum errcode, const char *, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
void	 error_within(struct error *, const char *, size_t);
const char *errcode_name(enum errcode);
void	 kvlist_free(struct kvlist *);
void	 kvlist_copy(struct kvlist *, const struct kvlist *);
const char *kvlist_get(const struct kvlist *, const char *);
void	 kvlist_set(struct kvlist *, const char *, const char *);
int	 mkdir_p(const char *, mode_t);
int	 args_valid(const char *, const char *, struct error *);

/* tz.c: IANA time zones from the system's tzdata */
struct tz;
extern const char *tz_dir;
const struct tz *tz_get(const char *, char **);
const char *tz_name(const struct tz *);
int32_t	 tz_offset(const struct tz *, int64_t);
int64_t	 tz_resolve(const struct tz *, int64_t);
void	 tz_free_all(void);
int64_t	 tz_days_from_civil(int64_t, unsigned, unsigned);
void	 tz_civil_from_days(int64_t, int64_t *, unsigned *, unsigned *);
int	 tz_weekday(int64_t);
unsigned tz_month_days(int64_t, unsigned);

/* cron.c: cron expressions */
int	 cron_parse(const char *, struct cron *, char *, size_t);
int64_t	 cron_next(const struct cron *, const struct tz *, int64_t);

/* config.c */
struct config *config_load(const char *, char **);
int	 config_secret_file(const char *, const char *, char **, char **);
int	 config_env_secret(const char *);
void	 config_free(struct config *);
void	 config_print(const struct config *);
int	 config_resolve(struct config *, char **);
extern uid_t (*config_geteuid)(void);

/* model.c: free and copy the structs above */
void	 source_free(struct source *);
void	 jobconfig_free(struct jobconfig *);
void	 jobconfig_copy(struct jobconfig *, const struct jobconfig *);
void	 clusterconfig_free(struct clusterconfig *);
void	 clusterconfig_copy(struct clusterconfig *, const struct clusterconfig *);
void	 jobdef_free(struct jobdef *);
void	 schedule_free(struct schedule *);
void	 cluster_free(struct cluster *);
void	 run_free(struct run *);
void	 event_free_fields(struct runevent *);
void	 request_free(struct request *);
const char *rstatus_name(enum rstatus);
const char *reason_text(enum reason);
int	 rstatus_terminal(enum rstatus);

/*
 * wire*.c: the only files that know protobuf (wire.c: the converters,
 * declared in wire.h for the others)
 */

/* wire-request.c: requests' decoders, page tokens */
int	 wire_request_decode(const struct verb_entry *, const void *, size_t,
	    struct request *, struct error *);
typedef int wire_decoder(const void *, size_t, struct request *,
	    struct error *);
wire_decoder	 wire_request_jobdef_create;
wire_decoder	 wire_request_jobdef_get;
wire_decoder	 wire_request_jobdef_list;
wire_decoder	 wire_request_jobdef_update;
wire_decoder	 wire_request_jobdef_delete;
wire_decoder	 wire_request_cluster_create;
wire_decoder	 wire_request_cluster_get;	/* pause, resume, delete */
wire_decoder	 wire_request_cluster_list;
wire_decoder	 wire_request_run_submit;
wire_decoder	 wire_request_run_submit_sql;
wire_decoder	 wire_request_run_submit_batch;
wire_decoder	 wire_request_run_rerun;
wire_decoder	 wire_request_run_get;		/* cancel, events */
wire_decoder	 wire_request_run_cancel_all;
wire_decoder	 wire_request_run_list;
wire_decoder	 wire_request_run_logs;
wire_decoder	 wire_request_schedule_create;
wire_decoder	 wire_request_schedule_get;	/* pause, resume, trigger, delete */
wire_decoder	 wire_request_schedule_list;
wire_decoder	 wire_request_schedule_update;
/* The lists that page, by their page tokens' first letter. */
enum pagelist { PAGE_JOBDEFS = 'd', PAGE_CLUSTERS = 'c', PAGE_RUNS = 'r',
	PAGE_SCHEDULES = 's' };
#define WIRE_PAGE_TOKEN_MAX	(1 + 2 * NAME_MAX_LEN + 1 + 8)
char	*wire_page_token(enum pagelist, const char *, const struct pagepos *);
int	 wire_page_token_decode(enum pagelist, const char *, const char *,
	    struct pagepos *, struct error *);

/* wire-reply.c: replies and their size */
size_t	 wire_list_room(const struct request *);
size_t	 wire_size_jobdef(const struct jobdef *);
size_t	 wire_size_cluster(const struct cluster *);
size_t	 wire_size_run(const struct run *);
void	 wire_error_too_large(struct error *, const char *, size_t, size_t,
	    const char *);
void	 wire_reply_error(struct buf *, const struct error *);
void	 wire_reply_jobdef(struct buf *, const struct jobdef *);
void	 wire_reply_jobdefs(struct buf *, const char *, struct jobdef *,
	    size_t, const struct pagepos *);
void	 wire_reply_delete(struct buf *);
void	 wire_reply_cluster(struct buf *, const struct cluster *);
void	 wire_reply_clusters(struct buf *, const char *, struct cluster *,
	    size_t, const struct pagepos *);
void	 wire_reply_run(struct buf *, const struct run *);
void	 wire_reply_runs(struct buf *, const char *, struct run *, size_t,
	    const struct pagepos *);
void	 wire_reply_cancelled(struct buf *, char **, size_t);
void	 wire_reply_submitted(struct buf *, struct run *, size_t);
void	 wire_reply_logs(struct buf *, struct logchunk *, size_t, uint64_t, int);
void	 wire_reply_events(struct buf *, struct runevent *, size_t);
#define WIRE_LOGCHUNK_HEAD	128	/* see wire_logchunk_head() */
size_t	 wire_logchunk_head(uint8_t *, const struct logchunk *);

/* wire-record.c: LMDB records */
void	 wire_encode_jobdef(struct buf *, const struct jobdef *);
int	 wire_decode_jobdef(const void *, size_t, struct jobdef *);
void	 wire_encode_cluster(struct buf *, const struct cluster *);
int	 wire_decode_cluster(const void *, size_t, struct cluster *);
void	 wire_encode_run(struct buf *, const struct run *);
void	 wire_encode_run_record(struct buf *, const struct run *);
void	 wire_encode_jobconfig(struct buf *, const struct jobconfig *);
int	 wire_decode_jobconfig(const void *, size_t, struct jobconfig *);
int	 wire_decode_run(const void *, size_t, struct run *);
void	 wire_encode_event(struct buf *, const struct runevent *);
int	 wire_decode_event(const void *, size_t, struct runevent *);

/* wire-schedule.c: schedules' records, replies and fire events */
void	 wire_encode_schedule(struct buf *, const struct schedule *);
int	 wire_decode_schedule(const void *, size_t, struct schedule *);
size_t	 wire_size_schedule(const struct schedule *);
void	 wire_reply_schedule(struct buf *, const struct schedule *);
void	 wire_reply_schedules(struct buf *, const char *, struct schedule *,
	    size_t, const struct pagepos *);
void	 wire_encode_fire(struct buf *, const struct fire *);

/* store.c (the storage's files share store-int.h) */
enum { DB_META = 0, DB_JOBDEFS, DB_JOBDEF_NAMES, DB_CLUSTERS, DB_CLUSTER_NAMES,
	DB_RUNS, DB_QUEUE, DB_IDEM, DB_RUNIDX, DB_EVENTS, DB_OUTBOX,
	DB_RUN_IDS, DB_CONFIGS, DB_CONFIG_REFS, DB_SCHEDULES,
	DB_SCHEDULE_NAMES, DB_SCHEDIDX, DB__COUNT };
int	 store_open(const char *, size_t, char **);
void	 store_close(void);

/* store-env.c */
extern int (*store_txn_commit)(MDB_txn *);
MDB_env	*store_env(void);
MDB_dbi	 store_dbi(int);
size_t	 store_map_size(void);
int	 store_dump(size_t, int (*)(const uint8_t *, size_t, void *), void *);
void	 store_usage(size_t *, size_t *);

/* store-rec.c */
/* Typed records: 0 found, MDB_NOTFOUND, or another error. */
int	 store_get_jobdef(struct txn *, const char *, struct jobdef *);
int	 store_put_jobdef(struct txn *, const struct jobdef *);
int	 store_get_cluster(struct txn *, const char *, struct cluster *);
int	 store_put_cluster(struct txn *, const struct cluster *);
int	 store_get_schedule(struct txn *, const char *, struct schedule *);
int	 store_put_schedule(struct txn *, const struct schedule *);
int	 store_get_run(struct txn *, const char *, struct run *);
int	 store_put_run(struct txn *, const struct run *);
int	 store_run_id(struct txn *, struct run *);
int	 store_del_run(struct txn *, const struct run *);
void	 store_event_key(uint8_t *, uint64_t, uint64_t);
int	 store_name_key(struct buf *, const char *, const char *);
int	 store_resolve_name(struct txn *, int, const char *, const char *,
	    char *);
int	 store_counter_add(struct txn *, const char *, int64_t, uint64_t *);
int	 store_ws_count(struct txn *, const char *, const char *, int64_t,
	    uint64_t *);
int	 store_config_ref(struct txn *, const struct jobconfig *, uint8_t *);
int	 store_ws_uid(struct txn *, const char *, uint32_t, uint32_t,
	    uint32_t *, int *);
int	 store_scan_names(struct txn *, int, const char *, const char *, size_t,
	    char ***, size_t *, char **);
size_t	 store_entries(int);
int	 store_each_cluster(void (*)(const struct cluster *, void *), void *);

/* store-txn.c */
void	 store_submit(struct op *);
void	 store_submit_lazy(struct op *);
void	 store_flush_now(void);
int	 store_get(struct txn *, int, const void *, size_t, MDB_val *);
int	 store_put(struct txn *, int, const void *, size_t, const void *, size_t);
int	 store_del(struct txn *, int, const void *, size_t);
int	 store_cursor_del(MDB_cursor *, int);
MDB_txn	*store_reader(void);
uint64_t store_turns(void);
MDB_txn	*store_mdb_txn(struct txn *);
void	 txn_defer(struct txn *, effect_cb, void *, void (*)(void *));
void	 txn_defer_late(struct txn *, effect_cb, void *, void (*)(void *));
void	 txn_then(struct txn *, struct op *);

/* loop.c */
void	 loop_init(void);
void	 loop_run(void);
void	 loop_stop(void);
void	 loop_free(void);
int	 loop_stopping(void);

/* An inotify descriptor the loop reads; fn(wd, name) for each event. */
struct inwatch {
	int		 fd;
	struct event	*ev;
	void		(*fn)(int, const char *);
};
#define INWATCH_INITIALIZER(fn)	{ -1, NULL, (fn) }
int	 inwatch_add(struct inwatch *, const char *, uint32_t);
void	 inwatch_rm(struct inwatch *, int);
void	 inwatch_close(struct inwatch *);

/* bus.c */
/*
 * What a module above the connection hears from it (bus_watch()), on the
 * loop thread; any callback may be NULL, arg goes to each.
 */
struct bus_watcher {
	/* (Re)connected, or JetStream's streams made: what was published
	 * before may be lost. */
	void	(*connected)(void *);
	/* The connection wrote from its buffer. */
	void	(*writable)(void *);
	/* A publication failed: it may not have reached the server. */
	void	(*failed)(void *);
	/* JetStream acknowledged (ok) or refused a publication with a key;
	 * (0, 0): one without a key was lost. */
	void	(*acked)(uint64_t, int, void *);
	/* A message came back on the connection's own subject (bus_echo()). */
	void	(*echo)(const void *, size_t, void *);
	void	*arg;
};
/* A command: subject, reply subject (or NULL), payload. */
typedef void (*bus_message_cb)(const char *, const char *, const void *,
	    size_t);
void	 bus_watch(const struct bus_watcher *);
void	 bus_start(bus_message_cb);
void	 bus_stop(void);
void	 bus_free(void);
void	 bus_publish(const char *, const void *, size_t);
extern void (*bus_publish_hook)(const char *, const void *, size_t);
void	 bus_echo(const void *, size_t);
int	 bus_connected(void);
void	 bus_counts(uint64_t *, uint64_t *);
size_t	 bus_buffered(void);
size_t	 bus_max_payload(void);
int	 bus_ready(void);
void	 bus_publish_id(const char *, const char *, uint64_t, const void *,
	    size_t);

/* api.c: a NATS command becomes an op */
void	 api_message(const char *, const char *, const void *, size_t);

/* verb.c: the list of verbs */
const struct verb_entry *verb_find(const char *);
const struct verb_entry *verb_at(int);
int	 verb_index(const struct verb_entry *);

/* jobconfig.c: a configuration's checks and defaults */
int	 jobconfig_validate(const struct jobconfig *, const char *,
	    struct error *);
int	 jobconfig_validate_cluster(const struct clusterconfig *, const char *,
	    struct error *);
void	 jobconfig_fill_defaults(struct jobconfig *);

/* jobdef.c */
extern const struct named_kind jobdef_kind;
extern const struct verb_entry jobdef_create_entry, jobdef_get_entry,
	    jobdef_list_entry, jobdef_update_entry, jobdef_delete_entry;

/* named.c */
int	 named_load(struct txn *, const struct named_kind *, const char *,
	    const char *, const char *, void *, struct error *);
int	 named_get(struct txn *, const struct named_kind *, struct request *,
	    struct buf *, struct error *);
int	 named_list(struct txn *, const struct named_kind *, struct request *,
	    struct buf *, struct error *);

/* cluster.c */
extern const struct named_kind cluster_kind;
int	 cluster_insert(struct txn *, struct cluster *, struct error *);
int	 cluster_remove(struct txn *, struct cluster *);
int	 cluster_load(struct txn *, const char *, const char *, const char *,
	    struct cluster *,
	    struct error *);
void	 run_totals(struct cluster_totals *);

/* clusterverb.c: the cluster.* verbs */
extern const struct verb_entry cluster_create_entry, cluster_get_entry,
	    cluster_list_entry, cluster_pause_entry, cluster_resume_entry,
	    cluster_delete_entry;

/* run.c: the run state machine */
int	 run_set_status(struct txn *, struct run *, enum rstatus, enum reason,
	    const char *);
int	 run_start(struct txn *, struct run *);
int	 run_finish(struct txn *, struct run *, const struct result *);
void	 run_retry(struct txn *, const char *, uint32_t, int64_t);
int	 run_cancel_as(struct txn *, struct run *, enum reason, const char *);
int	 run_cancel_one(struct txn *, struct run *);
void	 run_kick(struct txn *, const char *);
void	 run_free_timers(void);

/* policy.c: run policies: retries, back-off, overrides and their checks */
int	 policy_validate_retry(const struct retry *, const char *,
	    struct error *);
int	 policy_validate_max_queue(int, uint32_t, const char *, struct error *);
int	 policy_validate_overrides(const struct request *, struct error *);
void	 policy_apply_overrides(struct jobconfig *, const struct request *);
int	 policy_retries(const struct retry *, uint32_t, const struct attempt *,
	    enum reason, int *);
int64_t	 policy_delay_ms(const struct retry *, uint32_t);
extern uint32_t (*policy_random)(void);

/* queuetime.c: a run's time in queue: its deadline and timer */
int	 queuetime_enter(struct txn *, struct run *, int64_t);
int	 queuetime_recover(struct txn *);

/* queue.c: the per-cluster FIFO queues */
int	 queue_put(struct txn *, const char *, uint64_t, const char *);
int	 queue_del(struct txn *, const char *, uint64_t);
int	 queue_take(struct txn *, const char *, char *);
int	 queue_position(struct txn *, struct run *);

/* runidx.c: finding runs: the indexes, run_load(), run.list */
int	 runidx_put(struct txn *, char, const char *, int, const struct run *);
int	 runidx_del(struct txn *, char, const char *, int, const struct run *);
int	 runidx_finished(struct txn *, const struct run *, int);
int	 runidx_queue_deadline(struct txn *, const char *, int64_t, int);
int	 runidx_walk_deadlines(struct txn *, void (*)(const char *, int64_t,
	    void *), void *);
int	 runidx_count(struct txn *, char, const char *, uint32_t, uint32_t *);
int	 run_load(struct txn *, const char *, const char *, struct run *,
	    struct error *);
int	 runidx_walk_status(struct txn *, const char *, enum rstatus,
	    int (*)(struct txn *, const char *, void *), void *);
extern const struct verb_entry run_list_entry;

/* runverb.c: the run.* verbs */
int	 run_submit_request(struct txn *, struct request *, struct buf *,
	    struct error *, char *);
int	 run_submit_again(struct txn *, struct request *, const struct run *,
	    struct error *, char *);
extern const struct verb_entry run_submit_entry, run_submit_sql_entry,
	    run_get_entry, run_cancel_entry, run_cancel_all_entry,
	    run_logs_entry, run_events_entry;

/* depend.c: workflows: dependencies, their index, their resolution */
int	 depend_check(struct txn *, struct request *, struct run *,
	    struct error *);
int	 depend_store(struct txn *, const struct run *);
int	 depend_waiting(const struct run *);
int	 depend_release(struct txn *, struct run *, struct cluster *);
int	 depend_ended(struct txn *, struct run *);
int	 depend_admit(struct txn *, struct cluster *);
int	 depend_held(struct txn *, const char *, int *);
int	 depend_purge(struct txn *, const struct run *);
int	 depend_dependents(struct txn *, struct run *);
int	 depend_walk_down(struct txn *, const char *,
	    int (*)(struct txn *, const char *, const char *, void *), void *);
int	 depend_recover(struct txn *);
const char *depcond_name(enum depcond);
int	 depcond_met(enum depcond, enum rstatus);

/* runbatch.c: run.submit_batch and run.rerun */
extern const struct verb_entry run_submit_batch_entry, run_rerun_entry;

/* schedule.c: schedules, stored */
void	 schedule_time_key(uint8_t *, int64_t, const char *);
extern const struct named_kind schedule_kind;
int	 schedule_load(struct txn *, const char *, const char *, const char *,
	    struct schedule *, struct error *);
int	 schedule_save(struct txn *, const struct schedule *,
	    const struct schedule *);
int	 schedule_remove(struct txn *, const struct schedule *);
int	 schedule_def_user(struct txn *, const char *, char *, size_t);
int64_t	 schedule_next(const struct schedule *, int64_t, char *, size_t);
int	 schedule_plan(struct schedule *, int64_t, struct error *);
int	 schedule_start(struct txn *, const struct schedule *, int64_t,
	    struct buf *, struct error *, char *);
int	 schedule_publish(struct txn *, const struct fire *);

/* schedfire.c: the timer and the fires */
void	 schedfire_init(void);
void	 schedfire_free(void);
void	 schedfire_rearm(struct txn *);

/* scheduleverb.c: the schedule.* verbs */
extern const struct verb_entry schedule_create_entry, schedule_get_entry,
	    schedule_list_entry, schedule_update_entry, schedule_delete_entry,
	    schedule_pause_entry, schedule_resume_entry, schedule_trigger_entry;

/* recover.c: what a restart finds */
void	 run_recover(void);

/* later.c: ops submitted again after a delay */
void	 later_submit(struct op *, int64_t);
void	 later_retry(struct op *);
void	 later_free(void);

/* plugin.c */
int	 plugin_init(char **);
void	 plugin_free(void);
const char *plugin_source(int);
const char *plugin_runner(int);
const char *plugin_backend(const char *, const char **);
const char *plugin_name(const char *);

/* api.c */
uint32_t ws_partition(const char *);

/* ha.c: high availability's roles (loop thread). Meta keys: the stream's
 * position a node's storage has applied, and the partition's takeovers. */
#define HA_SEQ_KEY	"ha_seq"
#define HA_TERM_KEY	"ha_term"
const char *ha_role(void);
uint64_t ha_position(void);
uint64_t ha_term(void);
int64_t	 ha_grace_left(void);
void	 ha_start(void (*)(void));
void	 ha_stop(void);

/* ha-js.c: its side on JetStream; what the thread tells the loop */
enum { HA_FRAME, HA_POS, HA_WON, HA_LOST, HA_GAP };
struct ha_item {
	int		 type;
	uint64_t	 seq;		/* the stream's; HA_WON: its last */
	uint8_t		*data;		/* HA_FRAME: a commit's records */
	size_t		 len;
	struct ha_item	*next;
};
struct event;
void	 ha_js_start(uint64_t, struct event *);
struct ha_item *ha_js_take(void);
int	 ha_may_act(void);
int	 ha_replicating(void);
int	 ha_js_lease_valid(void);
void	 ha_js_lead(uint64_t);
void	 ha_js_hold(int);
void	 ha_js_show(int, uint64_t);
uint64_t ha_js_lag(void);
uint64_t ha_js_position(void);
uint64_t ha_js_seq_after(size_t);
int	 ha_js_publish(const uint8_t *, size_t);
void	 ha_js_abdicate(const char *) __attribute__((noreturn));
void	 ha_js_stop(void);
extern char **batchd_argv;

/* redo.c */
int	 redo_open(const char *, char **);
void	 redo_close(void);
int	 redo_replay(uint64_t, int (*)(int, int, MDB_val *, MDB_val *, void *),
	    void *, size_t *);
void	 redo_reset(uint64_t);
size_t	 redo_bytes(void);
int	 redo_broken(void);
extern int (*redo_fdatasync)(int);
void	 redo_begin(void);
size_t	 redo_mark(void);
void	 redo_rewind(size_t);
int	 redo_empty(void);
void	 redo_put(int, const MDB_val *, const MDB_val *);
void	 redo_del(int, const MDB_val *);
int	 redo_write(int);
int	 redo_parse(const uint8_t *, size_t,
	    int (*)(int, int, MDB_val *, MDB_val *, void *), void *);
void	 redo_records(const uint8_t **, size_t *);
void	 redo_record(struct buf *, int, int, const MDB_val *, const MDB_val *);

/* retention.c */
void	 retention_init(void);
void	 retention_free(void);
void	 retention_remove(void *);
int	 retention_trash(struct txn *, const char *);
void	 run_attempt_ended(const char *, uint32_t, const struct result *);
void	 run_note(const char *, uint32_t, const char *);

/* identity.c: as whom an attempt's job runs */
struct jobident {
	int		 set;		/* 0: as batchd's own user */
	uint32_t	 uid, gid;
	char		*error;		/* owned; the attempt cannot start */
};
int	 identity_take(struct txn *, const struct run *, struct jobident *);
int	 identity_home(const char *, const struct jobident *, char **);
int	 identity_dirs(const char *, const char *, const struct jobident *,
	    char **);

/* exec.c: processes of attempts */
/*
 * How exec.c reports on an attempt to the module that started it, as
 * tmux's job_run() does: exec_start() and exec_reattach() take them and
 * keep them with the attempt's process; exec.c names no caller.
 */
/* The attempt's process is gone and its output is read. */
typedef void (*exec_ended_cb)(const char *, uint32_t, const struct result *);
/* Its backend says what the job waits for ("": no more). */
typedef void (*exec_note_cb)(const char *, uint32_t, const char *);
void	 exec_init(void);
void	 exec_free(void);
void	 exec_start(const struct run *, const struct jobident *,
	    exec_ended_cb, exec_note_cb);
#include <spawn.h>
extern int (*exec_spawn)(pid_t *, const char *,
	    const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
	    char *const [], char *const []);
void	 exec_kill(const char *, uint32_t);
int	 exec_reattach(struct txn *, const char *, const char *, uint32_t,
	    struct result *, exec_ended_cb, exec_note_cb);
int	 exec_adopt(struct txn *, const struct run *, struct result *,
	    exec_ended_cb, exec_note_cb);
size_t	 exec_count(void);

/* jobdesc.c */
int	 jobdesc_write(const struct run *, const struct jobident *,
	    const char *, const char *, int64_t, int *, char **);

/* metrics.c */
struct evbuffer;
void	 metrics_request(const struct verb_entry *, enum errcode, int64_t);
void	 metrics_transition(enum rstatus, enum reason);
void	 metrics_log_bytes(enum logstream, size_t);
void	 metrics_fire(enum fireout, uint64_t);
void	 metrics_fire_lag(int64_t);
void	 metrics_render(struct evbuffer *);

/* console.c */
struct evhttp_request;
struct evbuffer;
void	 console_init(void);
void	 console_free(void);
int	 console_serve(struct evhttp_request *, const char *, struct evbuffer *);

/* http.c */
int	 http_start(const char *, char **);
void	 http_stop(void);

/* notify.c */
void	 notify_init(void);
void	 notify_send(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 notify_free(void);

/* barrier.c: confirms what was published on core NATS */
/*
 * A publisher whose publications barriers confirm (barrier_add()): what it
 * is told, on the loop thread, with arg. flush may be NULL.
 */
struct barrier_user {
	/* The kick (once per loop turn): publish what waits. */
	void	(*flush)(void *);
	/* Is something published that no barrier confirmed yet? */
	int	(*due)(void *);
	/* A barrier leaves: note what it will confirm. */
	void	(*sent)(void *);
	/* It came back: what was noted is delivered. */
	void	(*done)(void *);
	/* The confirmation was lost: publish again from what was confirmed. */
	void	(*resend)(void *);
	void	*arg;
};
void	 barrier_init(void);
void	 barrier_add(const struct barrier_user *);
void	 barrier_kick(void);
int	 barrier_out(void);
int	 barrier_retrying(void);
void	 barrier_resend(void);
void	 barrier_free(void);

/* logs.c */
char	*logs_path(const char *, uint32_t, enum logstream);
int	 logs_read(struct txn *, struct request *, struct buf *,
	    struct error *);
struct lstream;
struct lstream *logs_follow(const char *, const char *, uint32_t,
	    enum logstream, int, uint64_t, char **);
void	 logs_finish(struct lstream *);
void	 logs_poll(struct lstream *);
void	 logs_abandon(struct lstream *);
uint64_t logs_acked(struct txn *, const char *, uint32_t, enum logstream);
int	 logs_forget(struct txn *, const char *);
int	 logs_recover(struct txn *);
void	 logs_init(void);
void	 logs_free_all(void);

/* outbox.c */
int	 outbox_put(struct txn *, const char *, const char *, const void *,
	    size_t);
void	 outbox_init(void);
void	 outbox_free(void);
uint64_t outbox_depth(void);
uint64_t outbox_dropped(void);

#endif /* BATCHD_H */
