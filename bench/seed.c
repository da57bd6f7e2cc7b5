/*
 * seed.c: fill a data directory fast, through batchd's own code, for the
 * scale figures; and count what a data directory holds.
 *
 *   seed fill DIR WS CLUSTERS QUEUED FINISHED
 *   seed count DIR
 *   seed commit DIR N
 *
 * fill links every daemon object but main.o and exec.o and drives
 * api_message() with protobuf requests, as the bus would, committing with
 * store_flush_now() in batches of one request per cluster (group commit:
 * CLUSTERS ops per transaction). Storage is written exactly as batchd
 * writes it: records, indexes, status events, queues.
 *
 * exec.o is replaced by the fake below (link-time seam): exec_start()
 * starts no process and creates no file; it ends the attempt at once,
 * through the ended callback it is given, like a shim that exited:
 *   - a run of the "seed-job" definition exits 0 after 25 ms of wall time:
 *     PENDING -> RUNNING -> SUCCEEDED, one attempt with usage;
 *   - a run of the "seed-holder" definition exits 1; its definition allows
 *     one retry after a week, so it waits to retry (PENDING, "Waiting to
 *     retry") and keeps its cluster, also across batchd restarts.
 * Order: FINISHED runs spread round-robin over the CLUSTERS clusters (each
 * runs and ends while its cluster is idle), then one holder per cluster,
 * then QUEUED runs per cluster, which stay PENDING "In queue" behind it.
 *
 * No NATS: replies are caught by bus_publish_hook. The outbox (events not
 * yet confirmed by NATS) is trimmed by batchd's own bound (outbox_max 100)
 * as a connected batchd would have emptied it; at most 100 entries remain.
 * Turns and checkpoints skip fsync (MDB_NOSYNC); the last checkpoint syncs.
 * No file is made outside DIR/lmdb (see the data_dir comment in fill()).
 *
 * count opens DIR/lmdb read-only and prints the entries of each database.
 *
 * commit measures the storage floor under DIR, N times each: an LMDB
 * transaction of one put committed as batchd commits (data pages, then
 * fdatasync, then the meta page through LMDB's O_DSYNC descriptor); a
 * 4 KiB pwrite + fdatasync; a 120-byte O_DSYNC pwrite (LMDB's meta write).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"

struct config	*cfg;

/* ------------------------------------------------------------ fake exec.c */

static char	 holder_def[UUID_LEN + 1];
static uint64_t	 n_started, n_held;

int (*exec_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
    const posix_spawnattr_t *, char *const [], char *const []);

/* The fake exec.c: nothing to set up, watch or kill. */
void
exec_init(void)
{
}

void
exec_free(void)
{
}

size_t
exec_count(void)
{
	return 0;
}

void
exec_kill(const char *uuid, uint32_t attempt)
{
	(void)uuid;
	(void)attempt;
}

int
exec_reattach(struct txn *t, const char *ws, const char *uuid,
    uint32_t attempt, struct result *res, exec_ended_cb ended,
    exec_note_cb note)
{
	(void)t;
	(void)ws;
	(void)uuid;
	(void)attempt;
	(void)ended;
	(void)note;
	memset(res, 0, sizeof *res);
	res->reason = R_SUPERVISOR_LOST;
	return 0;
}

/* Never called: exec_reattach() above finds nothing to adopt. */
int
exec_adopt(struct txn *t, const struct run *r, struct result *res,
    exec_ended_cb ended, exec_note_cb note)
{
	(void)t;
	(void)r;
	(void)res;
	(void)ended;
	(void)note;
	return -1;
}

/* Jobs here start nothing: as batchd's own user, no uid given. */
int
identity_take(struct txn *t, const struct run *r, struct jobident *id)
{
	(void)t;
	(void)r;
	memset(id, 0, sizeof *id);
	return 0;
}

/* The attempt ends as soon as it starts (see the top of the file). */
void
exec_start(const struct run *r, const struct jobident *id,
    exec_ended_cb ended, exec_note_cb note)
{
	struct result	res;

	(void)id;
	(void)note;

	memset(&res, 0, sizeof res);
	if (strcmp(r->def_uuid, holder_def) == 0) {
		res.waitstatus = 1 << 8;	/* exit 1 */
		n_held++;
	} else {
		res.waitstatus = 0;
		n_started++;
	}
	res.usage.user_us = 18000;
	res.usage.sys_us = 4000;
	res.usage.maxrss_kb = 9800;
	res.usage.wall_ms = 25;
	ended(r->uuid, r->attempt, &res);
}

/* ------------------------------------------------------------ requests */

static const char	*ws;
static uint8_t		**replies;	/* slot -> reply bytes, or NULL */
static size_t		*reply_len;
static size_t		 nslots;

/* Catch replies to "_INBOX.seed.N"; events are not replies. */
static void
catch_reply(const char *subject, const void *data, size_t len)
{
	unsigned long	n;

	if (strncmp(subject, "_INBOX.seed.", 12) != 0)
		return;
	n = strtoul(subject + 12, NULL, 10);
	if (n >= nslots)
		fatalx("reply to unknown slot %lu", n);
	free(replies[n]);
	replies[n] = xmalloc(len);
	memcpy(replies[n], data, len);
	reply_len[n] = len;
}

/* Room for n replies (the old ones are freed). */
static void
slots(size_t n)
{
	size_t	i;

	for (i = 0; i < nslots; i++)
		free(replies[i]);
	free(replies);
	free(reply_len);
	nslots = n;
	replies = xcalloc(n, sizeof *replies);
	reply_len = xcalloc(n, sizeof *reply_len);
}

/* Queue request req on verb, its reply into slot. */
static void
post(const char *verb, const ProtobufCMessage *req, size_t slot)
{
	char	 subject[256], reply[64];
	uint8_t	*buf;
	size_t	 n;

	snprintf(subject, sizeof subject, "batchd.v1.%s.%s", ws, verb);
	snprintf(reply, sizeof reply, "_INBOX.seed.%zu", slot);
	n = protobuf_c_message_get_packed_size(req);
	buf = xmalloc(n == 0 ? 1 : n);
	protobuf_c_message_pack(req, buf);
	api_message(subject, reply, buf, n);
	free(buf);
}

/*
 * Commit everything queued and what it leads to (dispatch, the fake
 * attempts' ends, the next dispatch), then let the outbox trim itself.
 */
static void
settle(void)
{
	store_flush_now();
	event_base_loop(base, EVLOOP_NONBLOCK);
	store_flush_now();
}

/* The reply in slot must exist and carry no error. */
static void
check(const char *what, size_t slot, const Batchd__V1__Error *e)
{
	if (replies[slot] == NULL)
		fatalx("%s: no reply in slot %zu", what, slot);
	if (e != NULL)
		fatalx("%s: error %d: %s (%s)", what, (int)e->code, e->message,
		    e->field);
}

/* Create a definition; its uuid into uuid. */
static void
make_jobdef(const char *name, const char *file, int retries, int delay,
    char *uuid)
{
	Batchd__V1__CreateJobDefinitionRequest	 req =
	    BATCHD__V1__CREATE_JOB_DEFINITION_REQUEST__INIT;
	Batchd__V1__JobConfig			 jc = BATCHD__V1__JOB_CONFIG__INIT;
	Batchd__V1__JobSource			 src = BATCHD__V1__JOB_SOURCE__INIT;
	Batchd__V1__WorkspaceSource		 wsrc =
	    BATCHD__V1__WORKSPACE_SOURCE__INIT;
	Batchd__V1__RetryStrategy		 retry =
	    BATCHD__V1__RETRY_STRATEGY__INIT;
	Batchd__V1__JobDefinitionReply		*r;

	wsrc.path = "jobs";
	src.type = BATCHD__V1__SOURCE_TYPE__WORKSPACE;
	src.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE;
	src.workspace = &wsrc;
	jc.source = &src;
	jc.type = BATCHD__V1__JOB_TYPE__PYTHON;
	jc.source_location = (char *)file;
	retry.num_retries_opt_case =
	    BATCHD__V1__RETRY_STRATEGY__NUM_RETRIES_OPT_NUM_RETRIES;
	retry.num_retries = (uint32_t)retries;
	retry.retry_delay_seconds_opt_case =
	    BATCHD__V1__RETRY_STRATEGY__RETRY_DELAY_SECONDS_OPT_RETRY_DELAY_SECONDS;
	retry.retry_delay_seconds = (uint32_t)delay;
	jc.retry_strategy = &retry;
	req.name = (char *)name;
	req.config = &jc;
	slots(1);
	post("jobdef.create", &req.base, 0);
	settle();
	r = batchd__v1__job_definition_reply__unpack(NULL, reply_len[0],
	    replies[0]);
	if (r == NULL)
		fatalx("jobdef.create: no reply");
	check("jobdef.create", 0, r->error);
	snprintf(uuid, UUID_LEN + 1, "%s", r->job_definition->uuid);
	batchd__v1__job_definition_reply__free_unpacked(r, NULL);
}

/* Create clusters c00000... in one batch; their uuids into uuids. */
static void
make_clusters(size_t n, char (*uuids)[UUID_LEN + 1])
{
	Batchd__V1__CreateClusterRequest	 req =
	    BATCHD__V1__CREATE_CLUSTER_REQUEST__INIT;
	Batchd__V1__ClusterConfig		 cc =
	    BATCHD__V1__CLUSTER_CONFIG__INIT;
	Batchd__V1__ClusterReply		*r;
	char					 name[64];
	size_t					 i;

	cc.instance_type = "local";
	cc.workers_quantity = 1;
	cc.version = "3";
	req.config = &cc;
	req.name = name;
	req.auto_resume_opt_case =
	    BATCHD__V1__CREATE_CLUSTER_REQUEST__AUTO_RESUME_OPT_AUTO_RESUME;
	req.auto_resume = 1;
	slots(n);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "c%05zu", i);
		post("cluster.create", &req.base, i);
	}
	settle();
	for (i = 0; i < n; i++) {
		r = batchd__v1__cluster_reply__unpack(NULL, reply_len[i],
		    replies[i]);
		if (r == NULL)
			fatalx("cluster.create: no reply");
		check("cluster.create", i, r->error);
		snprintf(uuids[i], UUID_LEN + 1, "%s", r->cluster->uuid);
		batchd__v1__cluster_reply__free_unpacked(r, NULL);
	}
}

/* One run of def on each of the first n clusters, in one batch. */
static void
submit_round(const char *def, char (*clusters)[UUID_LEN + 1], size_t n)
{
	Batchd__V1__SubmitJobRunRequest	 req =
	    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__INIT;
	Batchd__V1__JobRunReply		*r;
	size_t				 i;

	if (nslots < n)
		slots(n);
	req.job_definition_uuid = (char *)def;
	for (i = 0; i < n; i++) {
		req.cluster_uuid = clusters[i];
		post("run.submit", &req.base, i);
	}
	settle();
	for (i = 0; i < n; i++) {
		r = batchd__v1__job_run_reply__unpack(NULL, reply_len[i],
		    replies[i]);
		if (r == NULL)
			fatalx("run.submit: no reply");
		check("run.submit", i, r->error);
		batchd__v1__job_run_reply__free_unpacked(r, NULL);
		free(replies[i]);
		replies[i] = NULL;
	}
}

/* seed fill (see the top of the file). */
static int
fill(const char *dir, size_t nclusters, size_t queued, size_t finished)
{
	char	(*clusters)[UUID_LEN + 1];
	char	 job_def[UUID_LEN + 1], *cause = NULL;
	size_t	 done = 0, n, i, step;
	int64_t	 t0 = mono_ms(), t;
	int	 rc;

	if ((cfg = config_load(NULL, &cause)) == NULL)
		fatalx("%s", cause);
	free(cfg->data_dir);
	cfg->data_dir = xstrdup(dir);
	cfg->queue_cap = 100000;
	cfg->quota_runs = 0;		/* a million runs in one workspace */
	cfg->outbox_max = 100;
	log_init(LOG_LVL_ERROR);
	if ((base = event_base_new()) == NULL ||
	    event_base_priority_init(base, 3) == -1)
		fatalx("event base");
	if (mkdir_p(dir, 0700) == -1)
		fatal("%s", dir);
	if (store_open(dir, cfg->lmdb_map_size, &cause) == -1)
		fatalx("%s", cause);
	if ((rc = mdb_env_set_flags(store_env(), MDB_NOSYNC, 1)) != 0)
		fatalx("MDB_NOSYNC: %s", mdb_strerror(rc));
	barrier_init();		/* its kick trims the outbox */
	outbox_init();
	bus_publish_hook = catch_reply;
	/*
	 * No attempt has log files here, but the end of an attempt stats
	 * them through logs_path(), which makes {data_dir}/logs/{run}/: a
	 * million directories. Storage is open already; from here on
	 * data_dir is a path no directory can be made under.
	 */
	free(cfg->data_dir);
	cfg->data_dir = xstrdup("/dev/null/batchd-seed");

	make_jobdef("seed-holder", "absent-holder.py", 1, 7 * 86400,
	    holder_def);
	make_jobdef("seed-job", "hi.py", 0, 0, job_def);
	clusters = xcalloc(nclusters, sizeof *clusters);
	make_clusters(nclusters, clusters);

	step = finished / 10 + 1;
	while (done < finished) {
		n = finished - done < nclusters ? finished - done : nclusters;
		submit_round(job_def, clusters, n);
		if ((done + n) / step != done / step)
			fprintf(stderr, "seed: %zu finished runs, %.1f s\n",
			    done + n, (double)(mono_ms() - t0) / 1e3);
		done += n;
	}
	t = mono_ms();
	submit_round(holder_def, clusters, nclusters);
	for (i = 0; i < queued; i++)
		submit_round(job_def, clusters, nclusters);
	settle();
	if (n_started != finished || n_held != nclusters)
		fatalx("seed: %llu attempts ran (want %zu), %llu holders (want "
		    "%zu)", (unsigned long long)n_started, finished,
		    (unsigned long long)n_held, nclusters);
	/* The checkpoint of store_close() syncs it all. */
	if ((rc = mdb_env_set_flags(store_env(), MDB_NOSYNC, 0)) != 0)
		fatalx("MDB_NOSYNC off: %s", mdb_strerror(rc));
	printf("{\"clusters\": %zu, \"queued_per_cluster\": %zu, "
	    "\"finished\": %zu, \"seconds\": %.1f, \"queue_seconds\": %.1f}\n",
	    nclusters, queued, finished, (double)(mono_ms() - t0) / 1e3,
	    (double)(mono_ms() - t) / 1e3);
	slots(0);
	free(clusters);
	run_free_timers();
	outbox_free();
	barrier_free();
	store_close();
	event_base_free(base);
	config_free(cfg);
	return 0;
}

/* ------------------------------------------------------------ count */

/* seed count: entries per database and bytes of DIR/lmdb. */
static int
count(const char *dir)
{
	static const char *names[][2] = { { "runs", "runs_by_id" },
	    { "queue", "queue" }, { "events", "events_by_id" },
	    { "outbox", "outbox" }, { "runidx", "runidx" },
	    { "clusters", "clusters" }, { "jobdefs", "jobdefs" } };
	MDB_env		*env;
	MDB_txn		*t;
	MDB_dbi		 dbi;
	MDB_stat	 st;
	MDB_envinfo	 info;
	struct stat	 sb;
	char		*path;
	size_t		 i;
	int		 rc;

	/* What the redo log holds since the last checkpoint, into LMDB
	 * (batchd was killed): batchd's own start-up does that. */
	log_init(LOG_LVL_ERROR);
	if ((base = event_base_new()) == NULL)
		fatalx("event base");
	if (store_open(dir, (size_t)1 << 30, &path) == -1)
		fatalx("%s", path);
	store_close();
	event_base_free(base);
	base = NULL;
	xasprintf(&path, "%s/lmdb", dir);
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 64)) != 0 ||
	    (rc = mdb_env_open(env, path, MDB_RDONLY, 0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &t)) != 0)
		fatalx("%s: %s", path, mdb_strerror(rc));
	printf("{");
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		st.ms_entries = 0;
		if (mdb_dbi_open(t, names[i][1], 0, &dbi) == 0)
			mdb_stat(t, dbi, &st);
		printf("\"%s\": %zu, ", names[i][0], st.ms_entries);
	}
	mdb_env_info(env, &info);
	mdb_env_stat(env, &st);
	free(path);
	xasprintf(&path, "%s/lmdb/data.mdb", dir);
	if (stat(path, &sb) == -1)
		fatal("%s", path);
	printf("\"used_bytes\": %zu, \"file_bytes\": %lld, "
	    "\"disk_bytes\": %lld, \"map_bytes\": %zu}\n",
	    (size_t)(info.me_last_pgno + 1) * st.ms_psize,
	    (long long)sb.st_size, (long long)sb.st_blocks * 512,
	    info.me_mapsize);
	mdb_txn_abort(t);
	mdb_env_close(env);
	free(path);
	return 0;
}

/* ------------------------------------------------------------ commit */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Print "name": {p50, p99, max} in µs of v (ns; sorts v). */
static void
print_us(const char *name, int64_t *v, size_t n, int comma)
{
	qsort(v, n, sizeof *v, cmp_i64);
	printf("\"%s\": {\"p50\": %.1f, \"p99\": %.1f, \"max\": %.1f}%s ",
	    name, (double)v[n / 2] / 1e3, (double)v[(n * 99) / 100] / 1e3,
	    (double)v[n - 1] / 1e3, comma ? "," : "");
}

static int64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* seed commit: the storage floor (see the top of the file). */
static int
commit(const char *dir, size_t n)
{
	MDB_env		*env;
	MDB_txn		*t;
	MDB_dbi		 dbi;
	MDB_val		 k, v;
	char		*path, val[100], page[4096];
	int64_t		*lm, *fd4, *ds, t0;
	uint64_t	 key;
	size_t		 i;
	int		 rc, fd;

	xasprintf(&path, "%s/commit-lmdb", dir);
	if (mkdir_p(path, 0700) == -1)
		fatal("%s", path);
	lm = xcalloc(n, sizeof *lm);
	fd4 = xcalloc(n, sizeof *fd4);
	ds = xcalloc(n, sizeof *ds);
	memset(val, 'v', sizeof val);
	memset(page, 'p', sizeof page);
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, 64 << 20)) != 0 ||
	    (rc = mdb_env_open(env, path, 0, 0600)) != 0)
		fatalx("%s: %s", path, mdb_strerror(rc));
	for (i = 0; i < n; i++) {
		key = i;
		k.mv_data = &key;
		k.mv_size = sizeof key;
		v.mv_data = val;
		v.mv_size = sizeof val;
		t0 = now_ns();
		if ((rc = mdb_txn_begin(env, NULL, 0, &t)) != 0 ||
		    (rc = mdb_dbi_open(t, NULL, 0, &dbi)) != 0 ||
		    (rc = mdb_put(t, dbi, &k, &v, 0)) != 0 ||
		    (rc = mdb_txn_commit(t)) != 0)
			fatalx("commit: %s", mdb_strerror(rc));
		lm[i] = now_ns() - t0;
	}
	mdb_env_close(env);
	free(path);
	xasprintf(&path, "%s/commit-file", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		fatal("%s", path);
	for (i = 0; i < n; i++) {
		if (pwrite(fd, page, sizeof page, (off_t)(i % 16) *
		    (off_t)sizeof page) != sizeof page)
			fatal("pwrite");
	}
	fdatasync(fd);
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		if (pwrite(fd, page, sizeof page, (off_t)(i % 16) *
		    (off_t)sizeof page) != sizeof page || fdatasync(fd) == -1)
			fatal("pwrite+fdatasync");
		fd4[i] = now_ns() - t0;
	}
	close(fd);
	if ((fd = open(path, O_RDWR | O_DSYNC | O_CLOEXEC)) == -1)
		fatal("%s", path);
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		if (pwrite(fd, page, 120, (off_t)(i % 2) * 4096) != 120)
			fatal("pwrite O_DSYNC");
		ds[i] = now_ns() - t0;
	}
	close(fd);
	unlink(path);
	printf("{\"n\": %zu, ", n);
	print_us("lmdb_commit_us", lm, n, 1);
	print_us("pwrite4k_fdatasync_us", fd4, n, 1);
	print_us("odsync_pwrite120_us", ds, n, 0);
	printf("}\n");
	xasprintf(&path, "rm -rf '%s/commit-lmdb'", dir);
	if (system(path) != 0)
		log_warnx("%s failed", path);
	free(path);
	free(lm);
	free(fd4);
	free(ds);
	return 0;
}

int
main(int argc, char **argv)
{
	long	c, q, f;

	if (argc == 7 && strcmp(argv[1], "fill") == 0) {
		ws = argv[3];
		c = atol(argv[4]);
		q = atol(argv[5]);
		f = atol(argv[6]);
		if (c < 1 || c > 100000 || q < 0 || q > 100000 || f < 0 ||
		    f > 100000000)
			goto usage;
		return fill(argv[2], (size_t)c, (size_t)q, (size_t)f);
	}
	if (argc == 3 && strcmp(argv[1], "count") == 0)
		return count(argv[2]);
	if (argc == 4 && strcmp(argv[1], "commit") == 0 &&
	    (c = atol(argv[3])) >= 1 && c <= 100000) {
		log_init(LOG_LVL_ERROR);
		return commit(argv[2], (size_t)c);
	}
usage:
	fprintf(stderr, "usage: seed fill DIR WS CLUSTERS QUEUED FINISHED\n"
	    "       seed count DIR\n"
	    "       seed commit DIR N\n");
	return 64;
}
