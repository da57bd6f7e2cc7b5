/*
 * store-env.c's tests: the LMDB environment's map grows, is unmapped at
 * a checkpoint, is bounded; a schema it does not know is refused.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"
#include "store.h"

void
test_store_map_grows(void)
{
	static char	 keys[64][8];
	char		*cause = NULL;
	size_t		 before;
	int		 done = 0, frc = 0, i;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	before = store_map_size();
	for (i = 0; i < 64; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		put(keys[i], 64 * 1024, 0, &done, &frc);
	}
	store_flush_now();
	CHECK(frc == 0);
	CHECK(done == 64);
	CHECK(store_map_size() > before);
	for (i = 0; i < 64; i++)
		CHECK(stored(keys[i]));
	store_close();
}

/* Pages of this process's mapping of ./lmdb/data.mdb that are mapped. */
static long
mapped_pages(void)
{
	unsigned long	lo = 0, hi = 0, a;
	uint64_t	e;
	char		line[4096];
	long		n = 0;
	FILE		*f;
	int		fd;

	if ((f = fopen("/proc/self/maps", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, "/lmdb/data.mdb\n") != NULL &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			break;
	fclose(f);
	if (hi == 0 || (fd = open("/proc/self/pagemap", O_RDONLY)) == -1)
		return -1;
	for (a = lo; a < hi; a += 4096)
		if (pread(fd, &e, sizeof e, (off_t)(a / 4096 * 8)) == sizeof e &&
		    e >> 63)
			n++;
	close(fd);
	return n;
}

static void
stop_loop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/*
 * A checkpoint drops the process's mappings of the data file: reads after
 * each checkpoint find the pages it moved at new places, and the mappings
 * of every place they ever were must not pile up in the RSS.
 */
void
test_store_checkpoint_unmaps(void)
{
	static char	 keys[32][8];
	struct timeval	 tv = { 1, 300000 };	/* past CKPT_MS */
	struct event	*t;
	char		*cause = NULL;
	MDB_txn		*r;
	MDB_val		 k, v;
	unsigned long	 sum = 0;
	long		 before, after;
	int		 done = 0, frc = 0, i, j;

	CHECK(store_open(".", 8 << 20, &cause) == 0);
	for (i = 0; i < 32; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		put(keys[i], 64 * 1024, 0, &done, &frc);
	}
	store_flush_now();
	CHECK(done == 32 && frc == 0);
	store_close();			/* into LMDB: read from the map now */
	CHECK(store_open(".", 8 << 20, &cause) == 0);
	CHECK((r = store_reader()) != NULL);
	for (i = 0; i < 32; i++) {
		k.mv_data = keys[i];
		k.mv_size = strlen(keys[i]);
		CHECK(mdb_get(r, store_dbi(DB_META), &k, &v) == 0);
		for (j = 0; j < (int)v.mv_size; j += 4096)
			sum += ((const uint8_t *)v.mv_data)[j];
	}
	CHECK(sum == 0);
	before = mapped_pages();
	CHECK(before >= 32 * 16);		/* 2 MiB read */
	t = evtimer_new(base, stop_loop, base);
	evtimer_add(t, &tv);
	event_base_dispatch(base);		/* the checkpoint timer fires */
	event_free(t);
	after = mapped_pages();
	CHECK(after >= 0 && after < 16);
	for (i = 0; i < 32; i++)		/* what was mapped reads again */
		CHECK(stored_len(keys[i]) == 64 * 1024);
	store_close();
}

void
test_store_map_limit(void)
{
	char	*cause = NULL;
	int	 done = 0, frc = 0;

	/* A value larger than 64 times the map can never fit. */
	CHECK(store_open(".", 1 << 20, &cause) == 0);
	put("huge", 80u << 20, 0, &done, &frc);
	store_flush_now();
	CHECK(done == 0);
	CHECK(frc == MDB_MAP_FULL);
	CHECK(!stored("huge"));
	store_close();
}

void
test_store_schema_mismatch(void)
{
	MDB_env	*env;
	MDB_txn	*t;
	MDB_dbi	 dbi;
	MDB_val	 k = { 14, "schema_version" }, v = { 2, "99" };
	char	*cause = NULL;

	CHECK(store_open(".", 1 << 20, &cause) == 0);
	store_close();
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 16);
	CHECK(mdb_env_open(env, "./lmdb", 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &t) == 0);
	CHECK(mdb_dbi_open(t, "meta", 0, &dbi) == 0);
	CHECK(mdb_put(t, dbi, &k, &v, 0) == 0);
	CHECK(mdb_txn_commit(t) == 0);
	mdb_env_close(env);
	CHECK(store_open(".", 1 << 20, &cause) == -1);
	CHECK(strstr(cause, "schema version") != NULL);
	free(cause);
}
