/*
 * retention.c: old finished runs go. Every retention_interval_s a sweep
 * walks the finished index ('f', oldest first) and purges runs finished
 * more than retention_age_s ago, then the oldest while the output of
 * finished attempts is over retention_log_bytes. Only finished runs are in
 * that index: a live run is never touched. One op purges at most 500 runs
 * and the sweep goes on in the next loop turn while there are more.
 *
 * A purged run's files (its logs and attempt directories, deep trees of
 * whatever the job made) are left to rm(1) once the purge is committed:
 * their paths queue here and one rm at a time takes up to RM_BATCH of them;
 * the loop hears of its end through a pidfd and never waits for it, so a
 * sweep of 500 runs costs a few spawns, not a thousand waits. Shutdown
 * waits for what is left. A crash before the rm leaves the files behind
 * (their records are gone).
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
#define RM_BATCH	256	/* paths one rm(1) takes */

static struct event	*timer;
static int		 sweeping;
static char		**rm_paths;	/* waiting for an rm */
static size_t		 rm_n, rm_cap;
static pid_t		 rm_pid = -1;	/* the rm at work */

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
	uint8_t		 fk[1 + 8 + UUID_LEN];
	int64_t		 cutoff = 0;
	uint64_t	 bytes = 0;
	int		 rc, n = 0, old;

	if (cfg->retention_age_s != 0)
		cutoff = now_ms() - (int64_t)cfg->retention_age_s * 1000;
	if (store_get(t, DB_META, "log_bytes", 9, &lb) == 0 &&
	    lb.mv_size == sizeof bytes)
		memcpy(&bytes, lb.mv_data, sizeof bytes);
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_RUNIDX),
	    &c)) != 0)
		return rc;
	k.mv_data = "f";
	k.mv_size = 1;
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
		/* Purged, the entry is gone: seek to the next from the start. */
		if ((rc = run_purge(t, uuid)) != 0 ||
		    (rc = store_del(t, DB_RUNIDX, fk, sizeof fk)) != 0)
			break;
		n++;
		if (store_get(t, DB_META, "log_bytes", 9, &lb) == 0 &&
		    lb.mv_size == sizeof bytes)
			memcpy(&bytes, lb.mv_data, sizeof bytes);
		k.mv_data = "f";
		k.mv_size = 1;
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

void
retention_init(void)
{
	struct timeval	tv = { cfg->retention_interval_s, 0 };

	if (cfg->retention_age_s == 0 && cfg->retention_log_bytes == 0)
		return;
	timer = event_new(base, -1, EV_PERSIST, on_timer, NULL);
	event_add(timer, &tv);
	sweep_submit();
}

/* ------------------------------------------------------------ files */

static void	rm_next(void);

static void
rm_reaped(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)arg;
	waitpid(rm_pid, NULL, 0);
	close(fd);
	rm_pid = -1;
	rm_next();
}

/* Start an rm for the oldest RM_BATCH paths, if none is at work. With
 * wait, run it to its end (shutdown). */
static void
rm_spawn(int wait)
{
	char	*argv[RM_BATCH + 4];
	char	*env[] = { "PATH=/usr/bin:/bin", NULL };
	posix_spawn_file_actions_t fa;
	size_t	 k = rm_n < RM_BATCH ? rm_n : RM_BATCH, i;
	int	 fd, rc;

	argv[0] = "/bin/rm";
	argv[1] = "-rf";
	argv[2] = "--";
	for (i = 0; i < k; i++)
		argv[3 + i] = rm_paths[i];
	argv[3 + k] = NULL;
	/* Not the store's file or the bus's socket. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc = posix_spawn(&rm_pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		log_warnx("retention: rm of %zu paths: %s", k, strerror(rc));
		rm_pid = -1;
	}
	for (i = 0; i < k; i++)
		free(rm_paths[i]);
	rm_n -= k;
	memmove(rm_paths, rm_paths + k, rm_n * sizeof *rm_paths);
	if (rm_pid == -1)
		return;
	if (!wait && (fd = (int)syscall(SYS_pidfd_open, rm_pid, 0)) != -1 &&
	    event_base_once(base, fd, EV_READ, rm_reaped, NULL, NULL) == 0)
		return;
	waitpid(rm_pid, NULL, 0);	/* shutdown, or no pidfd */
	rm_pid = -1;
}

static void
rm_next(void)
{
	while (rm_pid == -1 && rm_n > 0)
		rm_spawn(0);
}

/* Effect of a purge's commit: remove path (a copy is kept). */
void
retention_remove(void *path)
{
	if (rm_n == rm_cap) {
		rm_cap = rm_cap == 0 ? 64 : rm_cap * 2;
		rm_paths = xreallocarray(rm_paths, rm_cap, sizeof *rm_paths);
	}
	rm_paths[rm_n++] = xstrdup(path);
	rm_next();
}

/* Shutdown: the rm at work and the paths still waiting are seen through. */
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
	free(rm_paths);
	rm_paths = NULL;
	rm_cap = 0;
}
