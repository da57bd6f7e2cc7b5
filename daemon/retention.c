/*
 * retention.c: old finished runs go. Every retention_interval_s a sweep
 * walks the finished index ('f', oldest first) and purges runs finished
 * more than retention_age_s ago, then the oldest while the output of
 * finished attempts is over retention_log_bytes. Only finished runs are in
 * that index: a live run is never touched. One op purges at most 500 runs
 * and the sweep goes on in the next loop turn while there are more. A
 * purge (retention_purge(), store_del_run()) also gives back the run's
 * place in its workspace's quota_runs and its reference to its
 * configuration snapshot, which goes with the last run that held it. On
 * by default (config.c): a default install's disk stays bounded.
 *
 * A purged run's files (its logs and attempt directories, deep trees of
 * whatever the job made) are left to rm(1) once the purge is committed:
 * the run queues here and one rm at a time takes the directories of up to
 * RM_RUNS of them; the loop hears of its end through a pidfd and never
 * waits for it, so a sweep of 500 runs costs a few spawns, not a thousand
 * waits. Shutdown waits for what is left.
 *
 * The purge's commit also keeps the run's uuid under "trash/{uuid}" in
 * DB_META, and the key goes only when an rm has removed its directories
 * (riding on a later commit). At start the keys still there (a crash
 * before the rm, an rm that failed, a shutdown) queue their runs again, so
 * no crash leaves files of a purged run behind.
 */
#include <sys/syscall.h>
#include <sys/wait.h>

#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "batchd.h"

#define PER_OP		500
#define RM_RUNS		128	/* runs one rm(1) takes, two paths each */
#define TRASH		"trash/"
#define TRASH_KEY	(sizeof TRASH - 1 + UUID_LEN)

typedef char	 uuid_s[UUID_LEN + 1];

static struct event	*timer;
static int		 sweeping;
static uuid_s		*rm_q;		/* runs waiting for an rm */
static size_t		 rm_n, rm_cap;
static uuid_s		 rm_runs[RM_RUNS];	/* the rm at work's */
static size_t		 rm_nruns;
static pid_t		 rm_pid = -1;	/* the rm at work */

/* k: the DB_META key that says run uuid's files are still to go. */
static void
trash_key(char *k, const char *uuid)
{
	memcpy(k, TRASH, sizeof TRASH - 1);
	memcpy(k + sizeof TRASH - 1, uuid, UUID_LEN);
}

/* In a purge: the run's files are to go; the commit's effect queues it. */
int
retention_trash(struct txn *t, const char *uuid)
{
	char	k[TRASH_KEY];
	int	rc;

	trash_key(k, uuid);
	if ((rc = store_put(t, DB_META, k, sizeof k, "", 0)) == 0)
		txn_defer_late(t, retention_remove, xstrdup(uuid), free);
	return rc;
}

/*
 * Remove a finished run: its record, index entries, history, idempotency
 * key, dependency edges and (after the commit, retention.c) its files;
 * not one that a run waiting for dependencies still waits for (*kept).
 * 0 or an LMDB error.
 */
static int
retention_purge(struct txn *t, const char *uuid, int *kept)
{
	struct run	 r;
	struct buf	 key = { 0 };
	uint8_t		 ek[16];
	uint64_t	 i;
	int		 rc;

	*kept = 0;
	memset(&r, 0, sizeof r);
	if ((rc = store_get_run(t, uuid, &r)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (!rstatus_terminal(r.status))
		goto out;	/* never a live run */
	if ((rc = depend_held(t, r.uuid, kept)) != 0 || *kept)
		goto out;
	if ((rc = store_del_run(t, &r)) != 0 ||
	    (rc = depend_purge(t, &r)) != 0 ||
	    (rc = runidx_del(t, 'w', r.ws, 0, &r)) != 0 ||
	    (r.def_uuid[0] != '\0' &&
	    (rc = runidx_del(t, 'd', r.def_uuid, 0, &r)) != 0) ||
	    (rc = runidx_del(t, 'c', r.cluster_uuid, 0, &r)) != 0 ||
	    (r.sched_uuid[0] != '\0' &&
	    (rc = runidx_del(t, 'h', r.sched_uuid, 0, &r)) != 0) ||
	    (rc = runidx_del(t, 's', r.ws, r.status, &r)) != 0 ||
	    (rc = runidx_finished(t, &r, 0)) != 0 ||
	    (rc = store_counter_add(t, "log_bytes", -(int64_t)r.log_bytes,
	    NULL)) != 0)
		goto out;
	for (i = 1; i <= r.event_seq; i++) {
		store_event_key(ek, r.id, i);
		if ((rc = store_del(t, DB_EVENTS, ek, sizeof ek)) != 0)
			goto out;
	}
	if (r.idem_key != NULL) {
		store_name_key(&key, r.ws, r.idem_key);
		if ((rc = store_del(t, DB_IDEM, key.p, key.len)) != 0)
			goto out;
	}
	if ((rc = logs_forget(t, r.uuid)) != 0 ||
	    (rc = retention_trash(t, r.uuid)) != 0)
		goto out;
	log_info("run=%s ws=%s purged (finished %lld, %llu log bytes)", r.uuid,
	    r.ws, (long long)r.finished_ms, (unsigned long long)r.log_bytes);
out:
	buf_free(&key);
	run_free(&r);
	return rc;
}

struct sweep_op {
	struct op	op;
	int		more;
};

static int
sweep_apply(struct op *op, struct txn *t)
{
	struct sweep_op	*s = (struct sweep_op *)op;
	MDB_cursor	*c;
	MDB_val		 k, v;
	MDB_val		 lb;
	char		 uuid[UUID_LEN + 1];
	uint8_t		 fk[1 + 8 + UUID_LEN], from[1 + 8 + UUID_LEN + 1];
	size_t		 from_len = 1;
	int64_t		 cutoff = 0;
	uint64_t	 bytes = 0;
	int		 rc, n = 0, old, kept;

	if (cfg->retention_age_s != 0)
		cutoff = now_ms() - (int64_t)cfg->retention_age_s * 1000;
	if (store_get(t, DB_META, "log_bytes", 9, &lb) == 0 &&
	    lb.mv_size == sizeof bytes)
		memcpy(&bytes, lb.mv_data, sizeof bytes);
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_RUNIDX),
	    &c)) != 0)
		return rc;
	from[0] = 'f';
	k.mv_data = from;
	k.mv_size = from_len;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) {
		if (k.mv_size != 1 + 8 + UUID_LEN ||
		    ((char *)k.mv_data)[0] != 'f')
			break;
		old = cutoff != 0 &&
		    (int64_t)be64_get((uint8_t *)k.mv_data + 1) < cutoff;
		if (!old && (cfg->retention_log_bytes == 0 ||
		    bytes <= cfg->retention_log_bytes))
			break;
		if (n == PER_OP) {
			s->more = 1;
			break;
		}
		memcpy(uuid, (char *)k.mv_data + 9, UUID_LEN);
		uuid[UUID_LEN] = '\0';
		memcpy(fk, k.mv_data, sizeof fk);
		/*
		 * Purged, the entry is gone: seek to the next from the start,
		 * or from past the last run kept (a run waits for it).
		 */
		if ((rc = retention_purge(t, uuid, &kept)) != 0 ||
		    (!kept &&
		    (rc = store_del(t, DB_RUNIDX, fk, sizeof fk)) != 0))
			break;
		if (kept) {
			memcpy(from, fk, sizeof fk);
			from[sizeof fk] = 0;
			from_len = sizeof from;
		}
		n++;
		if (store_get(t, DB_META, "log_bytes", 9, &lb) == 0 &&
		    lb.mv_size == sizeof bytes)
			memcpy(&bytes, lb.mv_data, sizeof bytes);
		k.mv_data = from;
		k.mv_size = from_len;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static void	sweep_submit(void);

static void
sweep_free(struct op *op)
{
	struct sweep_op	*s = (struct sweep_op *)op;
	int		 more = s->more;

	free(s);
	sweeping = 0;
	if (more)
		sweep_submit();
}

static void
sweep_fail(struct op *op, int rc)
{
	log_warnx("retention sweep: %s", mdb_strerror(rc));
	free(op);
	sweeping = 0;
}

static void
sweep_submit(void)
{
	struct sweep_op	*s;

	if (sweeping)
		return;
	sweeping = 1;
	s = xcalloc(1, sizeof *s);
	s->op.apply = sweep_apply;
	s->op.free = sweep_free;
	s->op.fail = sweep_fail;
	store_submit(&s->op);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sweep_submit();
}

static int	leftovers_apply(struct op *, struct txn *);
static void	leftovers_fail(struct op *, int);
static void	leftovers_free(struct op *);

void
retention_init(void)
{
	struct timeval	 tv = { cfg->retention_interval_s, 0 };
	struct op	*op;

	op = xcalloc(1, sizeof *op);
	op->apply = leftovers_apply;
	op->fail = leftovers_fail;
	op->free = leftovers_free;
	store_submit(op);
	if (cfg->retention_age_s == 0 && cfg->retention_log_bytes == 0)
		return;
	timer = event_new(base, -1, EV_PERSIST, on_timer, NULL);
	event_add(timer, &tv);
	sweep_submit();
}

/* ------------------------------------------------------------ files */

static void	rm_next(void);

struct untrash_op {
	struct op	 op;
	size_t		 n;
	uuid_s		*runs;
};

static int
untrash_apply(struct op *op, struct txn *t)
{
	struct untrash_op	*u = (struct untrash_op *)op;
	char			 k[TRASH_KEY];
	size_t			 i;
	int			 rc;

	for (i = 0; i < u->n; i++) {
		trash_key(k, u->runs[i]);
		if ((rc = store_del(t, DB_META, k, sizeof k)) != 0)
			return rc;
	}
	return 0;
}

static void
untrash_free(struct op *op)
{
	struct untrash_op	*u = (struct untrash_op *)op;

	free(u->runs);
	free(u);
}

/* The keys stay: the next start removes the files (gone) again. */
static void
untrash_fail(struct op *op, int rc)
{
	log_warnx("retention: %s", mdb_strerror(rc));
	untrash_free(op);
}

/* The rm at work ended with status st: if it did all, drop its keys. */
static void
rm_done(int st)
{
	struct untrash_op	*u;

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		log_warnx("retention: rm of the files of %zu purged runs "
		    "failed (status 0x%x); they go at the next start",
		    rm_nruns, st);
		return;
	}
	u = xcalloc(1, sizeof *u);
	u->op.apply = untrash_apply;
	u->op.free = untrash_free;
	u->op.fail = untrash_fail;
	u->n = rm_nruns;
	u->runs = xreallocarray(NULL, rm_nruns, sizeof *u->runs);
	memcpy(u->runs, rm_runs, rm_nruns * sizeof *u->runs);
	store_submit_lazy(&u->op);
}

static void
rm_reaped(evutil_socket_t fd, short what, void *arg)
{
	int	st = 0;

	(void)what;
	(void)arg;
	waitpid(rm_pid, &st, 0);
	close(fd);
	rm_pid = -1;
	rm_done(st);
	rm_next();
}

/*
 * Start an rm for the directories of the oldest RM_RUNS runs, if none is
 * at work. With wait, run it to its end (shutdown: their keys stay, and
 * the next start finds nothing to remove).
 */
static void
rm_spawn(int wait)
{
	char	*argv[2 * RM_RUNS + 4];
	char	*env[] = { "PATH=/usr/bin:/bin", NULL };
	posix_spawn_file_actions_t fa;
	size_t	 k = rm_n < RM_RUNS ? rm_n : RM_RUNS, i;
	int	 fd, rc, st = 0;

	argv[0] = "/bin/rm";
	argv[1] = "-rf";
	argv[2] = "--";
	for (i = 0; i < k; i++) {
		xasprintf(&argv[3 + 2 * i], "%s/%s", cfg->logs_dir, rm_q[i]);
		xasprintf(&argv[4 + 2 * i], "%s/%s", cfg->runs_dir, rm_q[i]);
	}
	argv[3 + 2 * k] = NULL;
	/* Not the store's file or the bus's socket. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc = posix_spawn(&rm_pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		log_warnx("retention: rm of the files of %zu purged runs: %s",
		    k, strerror(rc));
		rm_pid = -1;
	}
	for (i = 3; i < 3 + 2 * k; i++)
		free(argv[i]);
	memcpy(rm_runs, rm_q, k * sizeof *rm_q);
	rm_nruns = k;
	rm_n -= k;
	memmove(rm_q, rm_q + k, rm_n * sizeof *rm_q);
	if (rm_pid == -1)
		return;
	if (!wait && (fd = (int)syscall(SYS_pidfd_open, rm_pid, 0)) != -1 &&
	    event_base_once(base, fd, EV_READ, rm_reaped, NULL, NULL) == 0)
		return;
	waitpid(rm_pid, &st, 0);	/* shutdown, or no pidfd */
	rm_pid = -1;
	if (!wait)
		rm_done(st);
}

static void
rm_next(void)
{
	while (rm_pid == -1 && rm_n > 0)
		rm_spawn(0);
}

/* Effect of a purge's commit: remove run uuid's files. */
void
retention_remove(void *uuid)
{
	if (rm_n == rm_cap) {
		rm_cap = rm_cap == 0 ? 64 : rm_cap * 2;
		rm_q = xreallocarray(rm_q, rm_cap, sizeof *rm_q);
	}
	memcpy(rm_q[rm_n], uuid, UUID_LEN + 1);
	rm_n++;
	rm_next();
}

/* At start: the runs whose files were still to go. */
static int
leftovers_apply(struct op *op, struct txn *t)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	char		 uuid[UUID_LEN + 1];
	size_t		 n = 0;
	int		 rc;

	(void)op;
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_META),
	    &c)) != 0)
		return rc;
	k.mv_data = TRASH;
	k.mv_size = sizeof TRASH - 1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != TRASH_KEY ||
		    memcmp(k.mv_data, TRASH, sizeof TRASH - 1) != 0)
			break;
		memcpy(uuid, (char *)k.mv_data + sizeof TRASH - 1, UUID_LEN);
		uuid[UUID_LEN] = '\0';
		txn_defer_late(t, retention_remove, xstrdup(uuid), free);
		n++;
	}
	mdb_cursor_close(c);
	if (n > 0)
		log_info("retention: %zu purged runs may have files left; "
		    "removing them", n);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static void
leftovers_free(struct op *op)
{
	free(op);
}

static void
leftovers_fail(struct op *op, int rc)
{
	log_warnx("retention: leftovers: %s", mdb_strerror(rc));
	free(op);
}

/* Shutdown: the rm at work and the runs still waiting are seen through. */
void
retention_free(void)
{
	if (timer != NULL)
		event_free(timer);
	timer = NULL;
	if (rm_pid != -1)
		waitpid(rm_pid, NULL, 0);
	rm_pid = -1;
	while (rm_n > 0)
		rm_spawn(1);
	free(rm_q);
	rm_q = NULL;
	rm_n = rm_cap = 0;
}
