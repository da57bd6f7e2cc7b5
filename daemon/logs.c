/*
 * logs.c: the output of attempts: one file per attempt and stream under
 * {logs_dir}/{run}/ ({data_dir}/logs), published as LogChunks while it is written, and
 * served by run.logs with offset paging.
 */
#include <sys/inotify.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "batchd.h"

/*
 * A busy stream is read at most this often (see grew()). Each read wakes
 * batchd, nats-server and the subscribers on the two cores the job
 * shares: at 2 ms, a text job writing 256 MiB was switched out 280-950
 * times and slept 42-61 ms on its full pipe (the shim waiting for a core);
 * at 8 ms, 95-380 times and 12-21 ms (perf sched, three runs each).
 */
#define COALESCE_MS	8

/*
 * Sizes that fit the server's max_payload (1 MiB by default): a LogChunk's
 * data (log_chunk_bytes at most), and the output in one run.logs reply,
 * whose chunks add some framing each.
 */
static size_t
chunk_max(void)
{
	size_t	mp = bus_max_payload() - 512;

	return cfg->log_chunk_bytes < mp ? cfg->log_chunk_bytes : mp;
}

static size_t
reply_max(void)
{
	return bus_max_payload() - bus_max_payload() / 16 - 512;
}

/* Path of a log file, creating its directory. Owned by the caller. */
char *
logs_path(const char *uuid, uint32_t attempt, enum logstream s)
{
	char	*dir, *path;

	xasprintf(&dir, "%s/%s", cfg->logs_dir, uuid);
	if (mkdir_p(dir, 0700) == -1)
		log_warn("mkdir %s", dir);
	xasprintf(&path, "%s/%u.%s", dir, attempt,
	    s == LS_STDERR ? "stderr" : "stdout");
	free(dir);
	return path;
}

/*
 * The read buffer: WIRE_LOGCHUNK_HEAD bytes of room, then a chunk read from
 * a log file, so that publish() writes the chunk's head in front of it.
 */
static uint8_t	*rbuf;

static uint8_t *
chunk_buf(void)
{
	if (rbuf == NULL)
		rbuf = xmalloc(WIRE_LOGCHUNK_HEAD + cfg->log_chunk_bytes);
	return rbuf + WIRE_LOGCHUNK_HEAD;
}

#define ZSTD_MIN	512	/* smaller pieces go as they are */

/*
 * Compress the len bytes at data into one Zstandard frame at zbuf +
 * WIRE_LOGCHUNK_HEAD (log_zstd_level; 0: never). Returns its length, or 0
 * when the output should go as it is: compression is off, the piece is
 * under ZSTD_MIN, or the frame would save less than a sixteenth. zstd is
 * given room for no more than that, so a frame too big is the same failure
 * as any other (dstSize_tooSmall, the only one not worth a log line): the
 * test of incompressible output covers the way out. This runs on the loop
 * thread: level 1 takes ~0.7 ms per MiB of text, level 3 ~1 ms (6: ~7 ms,
 * which is why config.c stops at 3).
 */
static ZSTD_CCtx	*zc;
static uint8_t		*zbuf;

static size_t
compress(const uint8_t *data, size_t len)
{
	size_t	n;

	if (cfg->log_zstd_level == 0 || len < ZSTD_MIN)
		return 0;
	if (zc == NULL && (zc = ZSTD_createCCtx()) == NULL)
		fatalx("ZSTD_createCCtx: out of memory");
	if (zbuf == NULL)
		zbuf = xmalloc(WIRE_LOGCHUNK_HEAD + cfg->log_chunk_bytes);
	n = ZSTD_compressCCtx(zc, zbuf + WIRE_LOGCHUNK_HEAD,
	    len - len / 16 - 1, data, len, (int)cfg->log_zstd_level);
	if (!ZSTD_isError(n))
		return n;
	if (ZSTD_getErrorCode(n) != ZSTD_error_dstSize_tooSmall)
		log_warnx("zstd: %s", ZSTD_getErrorName(n));
	return 0;
}

/*
 * Publish one chunk of a run's output on {prefix}.v1.{ws}.logs.{run}: the
 * len bytes at chunk_buf() at offset off, or (eof) none; compressed when
 * that saves the bus enough.
 */
static void
publish(const char *ws, const char *uuid, uint32_t attempt, enum logstream s,
    uint64_t off, size_t len, int eof)
{
	struct logchunk	 c;
	uint8_t		 head[WIRE_LOGCHUNK_HEAD], *data = chunk_buf();
	size_t		 n, z;
	char		*subject, id[UUID_LEN + 64];

	memset(&c, 0, sizeof c);
	c.run_uuid = uuid;
	c.attempt = attempt;
	c.stream = s;
	c.offset = off;
	c.data = data;
	c.len = len;
	c.eof = eof;
	if ((z = compress(data, len)) > 0) {
		c.encoding = LE_ZSTD;
		c.size = len;
		c.data = data = zbuf + WIRE_LOGCHUNK_HEAD;
		c.len = len = z;
	}
	n = wire_logchunk_head(head, &c);
	memcpy(data - n, head, n);
	xasprintf(&subject, "%s.v1.%s.logs.%s", cfg->subject_prefix, ws, uuid);
	/* JetStream drops a chunk it has by its id (logs: attempt, offset). */
	snprintf(id, sizeof id, "%s:%u:%s:%llu%s", uuid, attempt,
	    s == LS_STDERR ? "stderr" : "stdout", (unsigned long long)off,
	    eof ? ":eof" : "");
	bus_publish_id(subject, id, 0, data - n, n + len);
	free(subject);
}

/*
 * One stream of one attempt. The shim appends the job's output to the log
 * file; batchd follows the file (inotify) and publishes what is new while
 * NATS is connected. What was published is confirmed by a barrier
 * (barrier.c, whose user the streams are); when the confirmation is lost
 * (a reconnection) the unconfirmed bytes are read back from the file and
 * published again, so a subscriber sees every byte (perhaps twice:
 * offsets tell). A finished stream lives on here until its last byte and
 * its eof are confirmed.
 *
 * What a barrier confirmed outlives batchd: the stream's acked offset is
 * kept in DB_META under ack_key() by one lazy op for every stream whose
 * offset moved (ack_save()). The key is written when the stream is first
 * followed and goes when its eof is confirmed, so while it exists the
 * stream is owed to the bus. A stream followed again after a restart (a
 * re-attached shim, one that ended while batchd was away, or one whose
 * attempt had ended before batchd died: logs_recover()) starts there,
 * not at 0.
 */
struct lstream {
	char			*ws;
	char			 uuid[UUID_LEN + 1];
	uint32_t		 attempt;
	enum logstream		 which;
	char			*path;
	int			 fd;		/* read fd; -1 once finished */
	int			 wd;		/* inotify watch, -1 if none */
	uint64_t		 off;		/* bytes read from the file */
	uint64_t		 sent;		/* published, this connection */
	uint64_t		 acked;		/* confirmed by a barrier */
	uint64_t		 mark;		/* sent when the barrier left */
	int			 finished;
	int			 eof_sent, eof_mark, eof_acked;
	int64_t			 pumped_ms;	/* last read, monotonic */
	struct event		*later;		/* a deferred read */
	int			 held;		/* waits for the connection */
	LIST_ENTRY(lstream)	 entry;
};
static LIST_HEAD(, lstream) streams = LIST_HEAD_INITIALIZER(streams);
static void		 on_file(int, const char *);
static void		 ack_save(const struct lstream *, int);
static struct inwatch	 files = INWATCH_INITIALIZER(on_file);
static int		 any_held;	/* some stream is held */

/*
 * Is the connection's buffer full? Then a stream publishes no more until
 * the connection has written some of it (logs_writable()): a job can write
 * to its log file far faster than the server takes it, and a burst of 256
 * MiB used to be held whole in cnats's buffer, and batchd's RSS with it.
 * A held stream stays held until then, so it keeps its turn.
 */
static int
bus_full(void)
{
	return bus_buffered() >= 4 * chunk_max();
}

static int
held_back(struct lstream *l)
{
	if (!l->held && !bus_full())
		return 0;
	l->held = any_held = 1;
	return 1;
}

/*
 * Read what the file has beyond off and publish it. Connected but behind
 * (after a reconnect, [sent, off) is catch_up()'s) or held back: nothing
 * now. Disconnected: read on, publish nothing (logs_resend() will).
 */
static void
pump(struct lstream *l)
{
	ssize_t	n;

	for (;;) {
		if (bus_connected() && (l->sent != l->off || held_back(l)))
			break;
		if ((n = pread(l->fd, chunk_buf(), chunk_max(),
		    (off_t)l->off)) <= 0) {
			if (n == -1)
				log_warn("log %s", l->path);
			break;
		}
		l->off += (uint64_t)n;
		metrics_log_bytes(l->which, (size_t)n);
		if (bus_connected()) {
			publish(l->ws, l->uuid, l->attempt, l->which, l->sent,
			    (size_t)n, 0);
			l->sent = l->off;
		}
	}
	barrier_kick();
}

static void	catch_up(struct lstream *);

/* Publish what is due: what was read but not sent, then the file. */
static void
flow(struct lstream *l)
{
	if (bus_connected() && (l->sent < l->off ||
	    (l->finished && !l->eof_sent)))
		catch_up(l);
	if (l->fd != -1 && (l->sent == l->off || !bus_connected())) {
		l->pumped_ms = mono_ms();
		pump(l);
	}
}

/* COALESCE_MS after a busy read. */
static void
on_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flow(arg);
}

/* bus.c: the connection wrote from its buffer: go on with the held streams. */
static void
writable(void *arg)
{
	struct lstream	*l;

	(void)arg;
	if (!any_held || bus_full())
		return;
	any_held = 0;
	LIST_FOREACH(l, &streams, entry)
		if (l->held) {
			l->held = 0;
			flow(l);
		}
}

/*
 * The file grew. A stream quiet for COALESCE_MS is read at once (the first
 * line of a job is not delayed); a busy one at most every COALESCE_MS, so
 * a job writing small pieces fast becomes few large chunks, not one
 * message per write(2).
 */
static void
grew(struct lstream *l)
{
	static const struct timeval	 tv = { 0, COALESCE_MS * 1000 };
	int64_t				 now = mono_ms();

	if (now - l->pumped_ms >= COALESCE_MS) {
		l->pumped_ms = now;
		pump(l);
	} else if (!evtimer_pending(l->later, NULL))
		evtimer_add(l->later, &tv);
}

/* Read what the file of l gained, where no inotify event says so (a file
 * another machine writes on a shared file system). */
void
logs_poll(struct lstream *l)
{
	if (l->fd != -1)
		grew(l);
}

static void
on_file(int wd, const char *name)
{
	struct lstream	*l;

	(void)name;
	LIST_FOREACH(l, &streams, entry)
		if (l->wd == wd && l->fd != -1)
			grew(l);
}

/*
 * Follow the log file of a stream (created empty first if truncate), from
 * offset from: what was confirmed before (logs_acked()), or 0. NULL and
 * *cause on error.
 */
struct lstream *
logs_follow(const char *ws, const char *uuid, uint32_t attempt,
    enum logstream which, int truncate, uint64_t from, char **cause)
{
	struct lstream	*l;
	struct stat	 st;
	int		 fd;

	l = xcalloc(1, sizeof *l);
	l->path = logs_path(uuid, attempt, which);
	fd = open(l->path, O_WRONLY | O_CREAT | O_CLOEXEC |
	    (truncate ? O_TRUNC : 0), 0600);
	if (fd != -1)
		close(fd);
	if (fd == -1 || (l->fd = open(l->path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", l->path, strerror(errno));
		free(l->path);
		free(l);
		return NULL;
	}
	if ((l->wd = inwatch_add(&files, l->path, IN_MODIFY)) == -1)
		log_warn("inotify %s", l->path);
	l->ws = xstrdup(ws);
	snprintf(l->uuid, sizeof l->uuid, "%s", uuid);
	l->attempt = attempt;
	l->which = which;
	if (fstat(l->fd, &st) == 0 && from <= (uint64_t)st.st_size)
		l->off = l->sent = l->acked = l->mark = from;
	l->later = evtimer_new(base, on_later, l);
	LIST_INSERT_HEAD(&streams, l, entry);
	/*
	 * The key exists from now until the eof is confirmed, even with
	 * nothing confirmed yet: a restart finds by it a stream whose
	 * attempt ended before its output was all on the bus
	 * (logs_recover()). Lazy, it is committed before the attempt's end.
	 */
	ack_save(l, 0);
	pump(l);
	return l;
}

static void
lstream_free(struct lstream *l)
{
	LIST_REMOVE(l, entry);
	event_free(l->later);
	inwatch_rm(&files, l->wd);
	if (l->fd != -1)
		close(l->fd);
	free(l->ws);
	free(l->path);
	free(l);
}

/* Publish [sent, off) from the file, then the eof if finished. */
static void
catch_up(struct lstream *l)
{
	size_t	 want;
	ssize_t	 n;
	int	 fd;

	if (l->sent < l->off) {
		if ((fd = open(l->path, O_RDONLY | O_CLOEXEC)) == -1) {
			log_warn("log %s", l->path);
			return;
		}
		while (l->sent < l->off && !held_back(l)) {
			want = chunk_max();
			if (want > l->off - l->sent)
				want = (size_t)(l->off - l->sent);
			n = pread(fd, chunk_buf(), want, (off_t)l->sent);
			if (n <= 0)
				break;
			publish(l->ws, l->uuid, l->attempt, l->which, l->sent,
			    (size_t)n, 0);
			l->sent += (uint64_t)n;
		}
		close(fd);
	}
	if (l->finished && !l->eof_sent && l->sent == l->off) {
		publish(l->ws, l->uuid, l->attempt, l->which, l->off, 0, 1);
		l->eof_sent = 1;
	}
	barrier_kick();
}

/*
 * The writer is done: read to the end (what pump() held back is published
 * by catch_up(), as fast as the server takes it); l is freed once
 * confirmed.
 */
void
logs_finish(struct lstream *l)
{
	struct stat	st;

	evtimer_del(l->later);
	pump(l);
	if (fstat(l->fd, &st) == 0 && (uint64_t)st.st_size > l->off) {
		metrics_log_bytes(l->which, (size_t)st.st_size - l->off);
		l->off = (uint64_t)st.st_size;
	}
	inwatch_rm(&files, l->wd);
	l->wd = -1;
	close(l->fd);
	l->fd = -1;
	l->finished = 1;
	if (bus_connected())
		catch_up(l);
}

/* Shutdown with the writer still going: forget l, publish no eof. */
void
logs_abandon(struct lstream *l)
{
	lstream_free(l);
}

/* The barrier asks: does any stream have bytes or an eof not confirmed? */
static int
unacked(void *arg)
{
	struct lstream	*l;

	(void)arg;
	LIST_FOREACH(l, &streams, entry)
		if (l->sent > l->acked || (l->eof_sent && !l->eof_acked))
			return 1;
	return 0;
}

/* A barrier leaves: it will confirm what was sent until now. */
static void
barrier_sent(void *arg)
{
	struct lstream	*l;

	(void)arg;
	LIST_FOREACH(l, &streams, entry) {
		l->mark = l->sent;
		l->eof_mark = l->eof_sent;
	}
}

/* The barrier is back: what each stream sent before it is delivered. */
static void
barrier_done(void *arg)
{
	struct lstream	*l, *next;

	(void)arg;
	for (l = LIST_FIRST(&streams); l != NULL; l = next) {
		next = LIST_NEXT(l, entry);
		if (l->mark > l->acked) {
			l->acked = l->mark;
			if (!l->eof_mark)
				ack_save(l, 0);
		}
		if (l->eof_mark)
			l->eof_acked = 1;
		if (l->finished && l->eof_acked) {
			ack_save(l, 1);
			lstream_free(l);
		}
	}
}

/* The confirmation was lost: publish every stream again from what was
 * confirmed. */
static void
resend(void *arg)
{
	struct lstream	*l;

	(void)arg;
	LIST_FOREACH(l, &streams, entry) {
		l->held = 0;
		l->sent = l->acked;
		l->mark = l->acked;
		if (!l->eof_acked)
			l->eof_sent = l->eof_mark = 0;
		if (bus_connected())
			catch_up(l);
	}
}

static const struct barrier_user	user = {
	.due = unacked,
	.sent = barrier_sent,
	.done = barrier_done,
	.resend = resend,
};

static const struct bus_watcher		watcher = {
	.writable = writable,
};

/* Before bus_start(): what is published is confirmed by barriers; a full
 * connection buffer holds streams back until it is written. */
void
logs_init(void)
{
	barrier_add(&user);
	bus_watch(&watcher);
}

/* ------------------------------------------------------------ acks */

#define ACK_PREFIX	"logack/"
#define ACK_KEY		(sizeof ACK_PREFIX - 1 + UUID_LEN + 4 + 1)

/* "logack/{run}" + attempt (4 bytes, big-endian) + the stream (1 byte). */
static void
ack_key(uint8_t *k, const char *uuid, uint32_t attempt, enum logstream s)
{
	memcpy(k, ACK_PREFIX, sizeof ACK_PREFIX - 1);
	memcpy(k + sizeof ACK_PREFIX - 1, uuid, UUID_LEN);
	k += sizeof ACK_PREFIX - 1 + UUID_LEN;
	k[0] = (uint8_t)(attempt >> 24);
	k[1] = (uint8_t)(attempt >> 16);
	k[2] = (uint8_t)(attempt >> 8);
	k[3] = (uint8_t)attempt;
	k[4] = (uint8_t)s;
}

/* The acked offsets (or deletions, gone) the next ack op writes. */
static struct ack {
	uint8_t		 key[ACK_KEY];
	uint64_t	 acked;
	int		 gone;
}			*acks;
static size_t		 nacks, acks_cap;
static struct op	*ack_op;	/* submitted, not yet freed */
static int		 ack_applied;	/* ack_op was applied */

static int
ack_apply(struct op *op, struct txn *t)
{
	uint8_t	v[8];
	size_t	i;
	int	rc = 0;

	(void)op;
	ack_applied = 1;
	for (i = 0; i < nacks && rc == 0; i++) {
		be64_put(v, acks[i].acked);
		rc = acks[i].gone ?
		    store_del(t, DB_META, acks[i].key, ACK_KEY) :
		    store_put(t, DB_META, acks[i].key, ACK_KEY, v, sizeof v);
	}
	nacks = 0;
	return rc;
}

static void	ack_submit(void);

static void
ack_free(struct op *op)
{
	free(op);
	ack_op = NULL;
	if (ack_applied && nacks > 0)	/* due since it was applied */
		ack_submit();
	ack_applied = 0;	/* else the store is closing */
}

/*
 * Not kept: a restart publishes those streams again from further back (a
 * new stream's key missing: not at all, if its attempt ends first).
 */
static void
ack_fail(struct op *op, int rc)
{
	log_warnx("logs: confirmed offsets: %s", mdb_strerror(rc));
	ack_free(op);
}

/*
 * l's acked offset is to be kept (or, gone, forgotten) with the next
 * commit: one lazy op writes all that is due then.
 */
static void
ack_save(const struct lstream *l, int gone)
{
	uint8_t	k[ACK_KEY];
	size_t	i;

	ack_key(k, l->uuid, l->attempt, l->which);
	for (i = 0; i < nacks; i++)
		if (memcmp(acks[i].key, k, ACK_KEY) == 0)
			break;
	if (i == nacks) {
		if (nacks == acks_cap) {
			acks_cap = acks_cap == 0 ? 16 : acks_cap * 2;
			acks = xreallocarray(acks, acks_cap, sizeof *acks);
		}
		memcpy(acks[nacks++].key, k, ACK_KEY);
	}
	acks[i].acked = l->acked;
	acks[i].gone = gone;
	if (ack_op == NULL)
		ack_submit();
}

static void
ack_submit(void)
{
	ack_op = xcalloc(1, sizeof *ack_op);
	ack_op->apply = ack_apply;
	ack_op->free = ack_free;
	ack_op->fail = ack_fail;
	store_submit_lazy(ack_op);
}

/* The offset of stream s of (uuid, attempt) confirmed before, or 0. */
uint64_t
logs_acked(struct txn *t, const char *uuid, uint32_t attempt,
    enum logstream s)
{
	uint8_t	k[ACK_KEY];
	MDB_val	v;

	ack_key(k, uuid, attempt, s);
	if (store_get(t, DB_META, k, sizeof k, &v) != 0 || v.mv_size != 8)
		return 0;
	return be64_get(v.mv_data);
}

/* The stream followed for (uuid, attempt, which), or NULL. */
static struct lstream *
lstream_find(const char *uuid, uint32_t attempt, enum logstream which)
{
	struct lstream	*l;

	LIST_FOREACH(l, &streams, entry)
		if (l->attempt == attempt && l->which == which &&
		    strcmp(l->uuid, uuid) == 0)
			return l;
	return NULL;
}

/*
 * A kept offset no stream follows after recovery, in op t: an attempt
 * that ended with its output not all confirmed (the run's end committed,
 * then batchd died before the last barrier came back: NATS away, say).
 * No shim is left to re-attach to and no cluster holds the run, so
 * nothing else would follow it again: publish it from there to its end
 * and its eof. A run purged since loses its key.
 */
static int
recover_stream(struct txn *t, const uint8_t *k)
{
	struct lstream	*l;
	struct run	 r;
	enum logstream	 which = (enum logstream)k[ACK_KEY - 1];
	uint32_t	 attempt;
	char		 uuid[UUID_LEN + 1], *cause = NULL;
	const uint8_t	*a = k + sizeof ACK_PREFIX - 1 + UUID_LEN;
	int		 rc;

	memcpy(uuid, k + sizeof ACK_PREFIX - 1, UUID_LEN);
	uuid[UUID_LEN] = '\0';
	attempt = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
	    (uint32_t)a[2] << 8 | a[3];
	if (lstream_find(uuid, attempt, which) != NULL)
		return 0;	/* its shim is watched again */
	memset(&r, 0, sizeof r);
	if ((rc = store_get_run(t, uuid, &r)) == MDB_NOTFOUND)
		return store_del(t, DB_META, k, ACK_KEY);
	if (rc == 0 && attempt >= 1 && attempt <= r.n_attempts &&
	    r.attempts[attempt - 1].finished_ms != 0) {
		if ((l = logs_follow(r.ws, uuid, attempt, which, 0,
		    logs_acked(t, uuid, attempt, which), &cause)) != NULL)
			logs_finish(l);
		else {
			log_warnx("run=%s attempt=%u: %s", uuid, attempt,
			    cause);
			free(cause);
		}
	}
	run_free(&r);
	return rc;
}

/*
 * After a restart, in op t, once every shim found is watched again
 * (run_recover()): the streams of ended attempts whose output was not
 * all confirmed are published to their end.
 */
int
logs_recover(struct txn *t)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint8_t		(*keys)[ACK_KEY] = NULL;
	size_t		 n = 0, i;
	int		 rc;

	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_META),
	    &c)) != 0)
		return rc;
	k.mv_data = (void *)ACK_PREFIX;
	k.mv_size = sizeof ACK_PREFIX - 1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < sizeof ACK_PREFIX - 1 || memcmp(k.mv_data,
		    ACK_PREFIX, sizeof ACK_PREFIX - 1) != 0)
			break;
		if (k.mv_size != ACK_KEY)
			continue;
		keys = xreallocarray(keys, n + 1, sizeof *keys);
		memcpy(keys[n++], k.mv_data, ACK_KEY);
	}
	mdb_cursor_close(c);
	rc = rc == MDB_NOTFOUND ? 0 : rc;
	for (i = 0; i < n && rc == 0; i++)
		rc = recover_stream(t, keys[i]);
	free(keys);
	return rc;
}

/* A purge: every offset kept for the run's streams goes. */
int
logs_forget(struct txn *t, const char *uuid)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint8_t		 pre[ACK_KEY];
	int		 rc;

	ack_key(pre, uuid, 0, 0);
	if ((rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(DB_META),
	    &c)) != 0)
		return rc;
	k.mv_data = pre;
	k.mv_size = ACK_KEY - 5;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) {
		if (k.mv_size != ACK_KEY || memcmp(k.mv_data, pre,
		    ACK_KEY - 5) != 0)
			break;
		if ((rc = store_cursor_del(c, DB_META)) != 0)
			break;
		k.mv_data = pre;
		k.mv_size = ACK_KEY - 5;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Shutdown. */
void
logs_free_all(void)
{
	while (!LIST_EMPTY(&streams))
		lstream_free(LIST_FIRST(&streams));
	inwatch_close(&files);
	free(rbuf);
	rbuf = NULL;
	ZSTD_freeCCtx(zc);
	zc = NULL;
	free(zbuf);
	zbuf = NULL;
	free(acks);
	acks = NULL;
	nacks = acks_cap = 0;
}

/* run.logs: up to max_bytes of one stream of one attempt from offset. */
int
logs_read(struct txn *t, struct request *q, struct buf *out, struct error *e)
{
	struct run	 r;
	struct logchunk	*chunks = NULL;
	struct stat	 st;
	uint32_t	 attempt;
	uint64_t	 off = q->offset;
	size_t		 n = 0, want, got, cmax;
	char		*path = NULL, *data = NULL;
	ssize_t		 rd;
	int		 rc, fd = -1, done;

	memset(&r, 0, sizeof r);
	if ((rc = run_load(t, q->ws, q->uuid, &r, e)) != 0 || e->code != E_OK)
		return rc;
	attempt = q->attempt == 0 ? r.attempt : q->attempt;
	if (attempt > r.attempt) {
		error_set(e, E_INVALID, "attempt", "run '%s' has %u attempts",
		    r.uuid, r.attempt);
		goto out;
	}
	/* A stream is complete when its attempt has finished. */
	done = attempt == 0 ? rstatus_terminal(r.status) :
	    r.attempts[attempt - 1].finished_ms != 0;
	st.st_size = 0;
	if (attempt != 0) {
		path = logs_path(r.uuid, attempt, q->stream);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd == -1 && errno != ENOENT) {
			error_set(e, E_UNAVAILABLE, "uuid", "log of run '%s': "
			    "%s", r.uuid, strerror(errno));
			goto out;
		}
		if (fd != -1 && fstat(fd, &st) == -1)
			st.st_size = 0;
	}
	want = off >= (uint64_t)st.st_size ? 0 :
	    (size_t)((uint64_t)st.st_size - off);
	if (want > q->max_bytes)
		want = q->max_bytes;
	if (want > reply_max())
		want = reply_max();
	data = xmalloc(want);
	for (got = 0; got < want; got += rd) {
		rd = pread(fd, data + got, want - got, (off_t)(off + got));
		if (rd <= 0)
			break;
	}
	cmax = chunk_max();
	chunks = xcalloc(got / cmax + 1, sizeof *chunks);
	for (size_t p = 0; p < got; p += cmax) {
		chunks[n].run_uuid = r.uuid;
		chunks[n].attempt = attempt;
		chunks[n].stream = q->stream;
		chunks[n].offset = off + p;
		chunks[n].data = data + p;
		chunks[n].len = got - p < cmax ? got - p : cmax;
		n++;
	}
	done = done && off + got >= (uint64_t)st.st_size;
	if (n > 0)
		chunks[n - 1].eof = done;
	wire_reply_logs(out, chunks, n, off + got, done);
out:
	if (fd != -1)
		close(fd);
	free(path);
	free(data);
	free(chunks);
	run_free(&r);
	return 0;
}
