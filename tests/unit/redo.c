/*
 * redo.c's tests: one batchd per data directory (the redo log's lock);
 * acknowledged turns survive a crash through the redo log; failing syncs,
 * torn frames, checkpoints on the way.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"
#include "store.h"

/* One batchd per data directory: a second open fails at once. */
void
test_store_one_owner(void)
{
	char	*cause = NULL;
	pid_t	 pid;
	int	 st;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		/* The lock is the open file's: a new open is another owner. */
		if (store_open(".", 1 << 20, &cause) == 0)
			_exit(1);
		_exit(strstr(cause, "another batchd") != NULL ? 0 : 2);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	store_close();
	CHECK(store_open(".", 1 << 20, &cause) == 0);	/* free again */
	store_close();
}

/*
 * Run fn in a child that ends without store_close(): a crash, as far as
 * storage is concerned (what it acknowledged is in the redo log only). It
 * must exit with code (0: fn's checks passed).
 */
static void
exits(void (*fn)(void), int code)
{
	pid_t	pid;
	int	st;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		fn();
		_exit(failed ? 1 : 0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == code);
}

static void
crashed(void (*fn)(void))
{
	exits(fn, 0);
}

/* Whether key is in LMDB itself, the redo log not applied: 1, 0, -1. */
static int
in_lmdb(const char *key)
{
	MDB_env	*env;
	MDB_txn	*t;
	MDB_dbi	 dbi;
	MDB_val	 k = { strlen(key), (void *)key }, v;
	int	 rc;

	if (mdb_env_create(&env) != 0)
		return -1;
	mdb_env_set_maxdbs(env, 16);
	if ((rc = mdb_env_open(env, "./lmdb", MDB_RDONLY, 0600)) == 0 &&
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &t)) == 0) {
		if ((rc = mdb_dbi_open(t, "meta", 0, &dbi)) == 0)
			rc = mdb_get(t, dbi, &k, &v);
		mdb_txn_abort(t);
	}
	mdb_env_close(env);
	return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : -1;
}

static void
three_turns(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	put("a", 10, 0, &done, &frc);
	put("b", 10, EIO, &done, &frc);	/* fails: not in the log */
	store_flush_now();
	put("c", 5000, 0, &done, &frc);	/* a frame of two blocks */
	store_flush_now();
	put("d", 10, 0, &done, &frc);
	store_flush_now();
	CHECK(done == 3 && frc == EIO);
}

/* Acknowledged turns survive a crash through the redo log. */
void
test_store_redo_replay(void)
{
	char	*cause = NULL;

	crashed(three_turns);
	CHECK(in_lmdb("a") == 0);		/* no checkpoint was made */
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored("a") && !stored("b") && stored("c") && stored("d"));
	store_close();
	CHECK(in_lmdb("a") == 1 && in_lmdb("d") == 1);	/* the open checkpointed */
	/* The log starts over: a crash now replays nothing old. */
	crashed(three_turns);
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored("a") && !stored("b") && stored("c") && stored("d"));
	store_close();
}

static int	sync_fails;	/* so many frame syncs fail next (EIO) */

/* The frame is on disk all the same: what a failing disk may do. */
static int
failing_fdatasync(int fd)
{
	if (sync_fails == 0)
		return fdatasync(fd);
	sync_fails--;
	(void)fdatasync(fd);
	errno = EIO;
	return -1;
}

static void
syncs_fail(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	redo_fdatasync = failing_fdatasync;
	sync_fails = 1;
	put("x", 10, 0, &done, &frc);	/* the generation's first frame */
	store_flush_now();
	CHECK(done == 0 && frc == EIO);
	put("a", 10, 0, &done, &frc);
	store_flush_now();
	sync_fails = 1;
	frc = 0;
	put("b", 10, 0, &done, &frc);	/* a later frame */
	store_flush_now();
	CHECK(frc == EIO);
	put("c", 10, 0, &done, &frc);
	store_flush_now();
	CHECK(done == 2 && stored("a") && !stored("b") && stored("c"));
}

/*
 * A frame whose sync failed may be on disk all the same: its ops were
 * answered as failed, so a crash's replay may not apply it (its generation
 * is ended at once), whether it was the first frame of its generation or
 * a later one.
 */
void
test_store_redo_sync_fails(void)
{
	char	*cause = NULL;

	crashed(syncs_fail);
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(!stored("x") && stored("a") && !stored("b") && stored("c"));
	store_close();
}

static int
failing_commit(MDB_txn *t)
{
	mdb_txn_abort(t);
	return EIO;
}

/* The frame's sync fails, then the checkpoint that would end its
 * generation fails too. */
static void
sync_and_checkpoint_fail(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	redo_fdatasync = failing_fdatasync;
	store_txn_commit = failing_commit;
	sync_fails = 1;
	put("x", 10, 0, &done, &frc);
	store_flush_now();		/* exits: nothing may be answered */
	CHECK(!"store_flush_now() returned");
}

/*
 * Neither the frame nor a checkpoint could be made sure of: batchd stops
 * without answering (EXIT_SOFTWARE), and the next start reads what is on
 * disk (here the frame, which reached it).
 */
void
test_store_redo_sync_fails_fatal(void)
{
	char	*cause = NULL;

	exits(sync_and_checkpoint_fail, EXIT_SOFTWARE);
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored("x"));
	store_close();
}

/* A torn frame (its sync never returned) and all after it are ignored. */
void
test_store_redo_torn(void)
{
	char	*cause = NULL;
	uint8_t	 x;
	int	 fd;

	crashed(three_turns);
	/* Frames: "a" at 0, "c" at 4096 (two blocks), "d" at 12288. */
	CHECK((fd = open("lmdb/redo", O_RDWR)) != -1);
	CHECK(pread(fd, &x, 1, 4096 + 100) == 1);
	x ^= 0xff;
	CHECK(pwrite(fd, &x, 1, 4096 + 100) == 1);
	close(fd);
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	CHECK(stored("a") && !stored("c") && !stored("d"));
	store_close();
}

static void
many_turns(void)
{
	static char	 keys[300][8];
	char		*cause = NULL;
	struct stat	 sb;
	int		 done = 0, frc = 0, i;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	for (i = 0; i < 300; i++) {
		snprintf(keys[i], sizeof keys[i], "m%d", i);
		put(keys[i], 60 * 1024, 0, &done, &frc);
		store_flush_now();
	}
	CHECK(done == 300 && frc == 0);
	/* Checkpoints kept the log short (17.6 MiB were logged). */
	CHECK(stat("lmdb/redo", &sb) == 0 && sb.st_size <= 10 << 20);
}

/* Checkpoints on the way: everything is there after a crash. */
void
test_store_redo_checkpoints(void)
{
	char	*cause = NULL;
	char	 key[8];
	int	 i;

	crashed(many_turns);
	CHECK(in_lmdb("m0") == 1);		/* a checkpoint was made */
	CHECK(in_lmdb("m299") == 0);	/* and the log had the rest */
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof key, "m%d", i);
		CHECK(stored(key));
	}
	store_close();
}
