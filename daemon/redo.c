/*
 * redo.c: the redo log that makes a loop turn durable with one sequential
 * write.
 *
 * store-env.c keeps one LMDB write transaction open between checkpoints;
 * store-txn.c records here every put and delete an op makes in it. At the
 * end of a turn the turn's records are one frame, written at the end of
 * the log and synced (fdatasync of blocks written before, so no
 * metadata): only then are its replies sent. A checkpoint commits the
 * LMDB transaction (LMDB's own two synced writes), with a new generation
 * number in it, and the log starts over at offset 0. On start, and
 * whenever the LMDB transaction is lost (a failed checkpoint or frame
 * write, an op that left it unusable), the frames of the generation LMDB
 * names are applied again. The file is locked (flock): one batchd per
 * data directory. redo.c calls nothing of the storage's files.
 *
 * Frame, 4096-byte aligned, little-endian:
 *   "BRL1" | crc32 of the rest (4) | gen (8) | seq (4) | len (4) | records
 *   record: 'P' or 'D' | db (1) | key length (2) | value length (4) | key |
 *           value
 * A frame is valid when its magic, generation, sequence (1, 2, ... from
 * offset 0) and CRC agree; replay stops at the first that is not: an
 * older generation's frame, zeros, or a frame torn by a crash (never
 * acknowledged, as its sync did not return). Frames start on a new block,
 * so a write never touches a block of an acknowledged frame.
 *
 * The file grows in GROW_BYTES steps of written zeros, synced once, so
 * later frames overwrite allocated blocks: no ENOSPC, no metadata in the
 * fdatasync. If it cannot grow (disk full) or a frame is too large, the
 * caller makes the turn durable with a checkpoint instead. A frame whose
 * write or sync failed may be on disk all the same: its ops are answered
 * as failed, so the caller ends its generation with a checkpoint first
 * (redo_broken() makes it a new one), and a rebuild before that stops
 * short of it.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchd.h"

#define HDR		24
#define BLOCK		4096
#define GROW_BYTES	(1u << 20)
#define REDO_MAX	(64u << 20)	/* a frame past this: checkpoint */
#define FRAME_KEEP	(1u << 20)	/* kept between turns at most */

static int		 fd = -1;
static char		*path;
static off_t		 end;		/* next frame's offset */
static off_t		 size;		/* of the file, all written */
static uint64_t		 gen;
static uint32_t		 seq;		/* of the last frame */
static int		 broken;	/* a write failed: checkpoint first */

/* Replaced by tests: how a frame is synced. */
int			(*redo_fdatasync)(int) = fdatasync;
static struct buf	 frame;		/* the turn's records, after HDR */

static void
le_put(uint8_t *p, uint64_t v, int n)
{
	while (n-- > 0) {
		*p++ = v & 0xff;
		v >>= 8;
	}
}

static uint64_t
le_get(const uint8_t *p, int n)
{
	uint64_t	v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

/*
 * Open (creating) the log at file, locked: one batchd per data directory
 * (a second would wait forever for LMDB's write lock, which the first
 * holds between checkpoints). 0, or -1 with *cause.
 */
int
redo_open(const char *file, char **cause)
{
	struct stat	sb;

	if ((fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    fstat(fd, &sb) == -1) {
		xasprintf(cause, "%s: %s", file, strerror(errno));
		redo_close();
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		xasprintf(cause, "%s: %s", file, errno == EWOULDBLOCK ?
		    "in use by another batchd (one per data_dir)" :
		    strerror(errno));
		redo_close();
		return -1;
	}
	path = xstrdup(file);
	size = sb.st_size;
	end = 0;
	seq = 0;
	broken = 0;
	return 0;
}

void
redo_close(void)
{
	if (fd != -1)
		close(fd);
	fd = -1;
	free(path);
	path = NULL;
	buf_free(&frame);
}

/*
 * Apply the records p[0..len) of one frame through fn, in order: 0, the
 * first error fn returned, or EIO if they do not parse (the frame's CRC
 * matched, or JetStream stored it: a bug, not a torn write). The frames of
 * the log and the commits HA replicates (ha.c) share this format.
 */
int
redo_parse(const uint8_t *p, size_t len,
    int (*fn)(int, int, MDB_val *, MDB_val *, void *), void *arg)
{
	const uint8_t	*e = p + len;
	MDB_val		 k, v;
	int		 rc = 0, type, db;

	while (p < e && rc == 0) {
		if (e - p < 8)
			return EIO;
		type = p[0];
		db = p[1];
		k.mv_size = le_get(p + 2, 2);
		v.mv_size = le_get(p + 4, 4);
		k.mv_data = (void *)(p + 8);
		v.mv_data = (void *)(p + 8 + k.mv_size);
		p += 8;
		if ((type != 'P' && type != 'D') || db >= DB__COUNT ||
		    k.mv_size > (size_t)(e - p) ||
		    v.mv_size > (size_t)(e - p) - k.mv_size)
			return EIO;
		p += k.mv_size + v.mv_size;
		rc = fn(type, db, &k, &v, arg);
	}
	return rc;
}

/* The records of the turn so far (redo_begin()), for replication. */
void
redo_records(const uint8_t **p, size_t *len)
{
	*p = frame.p + HDR;
	*len = frame.len - HDR;
}

/*
 * Apply the frames of generation g in order through fn (0 or an error,
 * which stops the replay and is returned); the next frame goes after the
 * last valid one. *nframes: how many were applied.
 */
int
redo_replay(uint64_t g, int (*fn)(int, int, MDB_val *, MDB_val *, void *),
    void *arg, size_t *nframes)
{
	uint8_t		 h[HDR];
	struct buf	 b = { 0 };
	off_t		 off = 0;
	uint64_t	 len;
	uint32_t	 s = 1;
	int		 rc = 0;

	*nframes = 0;
	for (;; s++) {
		/* A frame whose write failed may be on disk all the same:
		 * its ops were answered as failed, so it is not applied. */
		if ((broken && off >= end) ||
		    off + HDR > size || pread(fd, h, HDR, off) != HDR ||
		    memcmp(h, "BRL1", 4) != 0 || le_get(h + 8, 8) != g ||
		    le_get(h + 16, 4) != s)
			break;
		len = le_get(h + 20, 4);
		if (len > (uint64_t)(size - off - HDR))
			break;
		b.len = 0;
		buf_add(&b, h + 8, HDR - 8);
		buf_add(&b, NULL, len);
		if (pread(fd, b.p + HDR - 8, len, off + HDR) != (ssize_t)len ||
		    crc32_ieee(0, b.p, b.len) != le_get(h + 4, 4))
			break;
		rc = redo_parse(b.p + HDR - 8, len, fn, arg);
		if (rc == EIO)
			goto corrupt;
		if (rc != 0)
			break;
		(*nframes)++;
		off += (HDR + len + BLOCK - 1) / BLOCK * BLOCK;
	}
	buf_free(&b);
	if (rc == 0) {
		gen = g;
		seq = s - 1;
		end = off;
	}
	return rc;
corrupt:
	/* The CRC matched: this is a bug, not a torn write. */
	log_warnx("storage: %s: frame %u at %lld does not parse", path, s,
	    (long long)off);
	buf_free(&b);
	return EIO;
}

/* A checkpoint made the log's frames part of LMDB: start over, as g. */
void
redo_reset(uint64_t g)
{
	gen = g;
	seq = 0;
	end = 0;
	broken = 0;
}

/* Bytes of frames since the last checkpoint. */
size_t
redo_bytes(void)
{
	return (size_t)end;
}

/* Did a frame's write fail since the last checkpoint? (It may be on disk
 * all the same: only a new generation makes sure it is never applied.) */
int
redo_broken(void)
{
	return broken;
}

/* The turn's records start (the position marks of redo_mark refer to). */
void
redo_begin(void)
{
	buf_reset(&frame, FRAME_KEEP);
	buf_add(&frame, NULL, HDR);
}

size_t
redo_mark(void)
{
	return frame.len;
}

/* Drop the records after mark (an op that failed). */
void
redo_rewind(size_t mark)
{
	frame.len = mark;
}

int
redo_empty(void)
{
	return frame.len <= HDR;
}

/* Add a record ('P' with v, 'D' without) to b, in a frame's format. */
void
redo_record(struct buf *b, int type, int db, const MDB_val *k,
    const MDB_val *v)
{
	uint8_t	h[8];

	h[0] = (uint8_t)type;
	h[1] = (uint8_t)db;
	le_put(h + 2, k->mv_size, 2);
	le_put(h + 4, v == NULL ? 0 : v->mv_size, 4);
	buf_add(b, h, sizeof h);
	buf_add(b, k->mv_data, k->mv_size);
	if (v != NULL)
		buf_add(b, v->mv_data, v->mv_size);
}

void
redo_put(int db, const MDB_val *k, const MDB_val *v)
{
	redo_record(&frame, 'P', db, k, v);
}

void
redo_del(int db, const MDB_val *k)
{
	redo_record(&frame, 'D', db, k, NULL);
}

/* Make the file at least want bytes: zeros, synced. 0 or an errno. */
static int
grow(off_t want, int sync)
{
	static const uint8_t	zeros[64 * 1024];
	off_t			to = (want + GROW_BYTES - 1) / GROW_BYTES *
				    GROW_BYTES;
	ssize_t			n;

	while (size < to) {
		n = pwrite(fd, zeros, to - size < (off_t)sizeof zeros ?
		    (size_t)(to - size) : sizeof zeros, size);
		if (n <= 0)
			return n == 0 ? EIO : errno;
		size += n;
	}
	if (sync && fsync(fd) == -1)
		return errno;
	return 0;
}

/*
 * Write the turn's frame at the end of the log and, with sync, wait for
 * the disk. 0; ENOSPC if it does not fit (the disk, REDO_MAX, or the log
 * failed before): make the turn durable by a checkpoint instead; or the
 * errno of a failed write, after which the log takes no frame until the
 * next checkpoint (the failed frame may be on disk; its generation ends).
 */
int
redo_write(int sync)
{
	size_t	 len = frame.len - HDR, total;
	uint8_t	*h = frame.p;
	int	 rc;

	total = (frame.len + BLOCK - 1) / BLOCK * BLOCK;
	if (broken || len > UINT32_MAX || (uint64_t)end + total > REDO_MAX)
		return ENOSPC;
	if (end + (off_t)total > size &&
	    (rc = grow(end + (off_t)total, sync)) != 0) {
		if (rc != ENOSPC)
			log_warnx("storage: %s: growing: %s", path,
			    strerror(rc));
		return ENOSPC;
	}
	memcpy(h, "BRL1", 4);
	le_put(h + 8, gen, 8);
	le_put(h + 16, seq + 1, 4);
	le_put(h + 20, len, 4);
	le_put(h + 4, crc32_ieee(0, h + 8, frame.len - 8), 4);
	buf_add(&frame, NULL, total - frame.len);
	memset(frame.p + HDR + len, 0, total - HDR - len);
	errno = 0;
	if (pwrite(fd, frame.p, total, end) != (ssize_t)total ||
	    (sync && redo_fdatasync(fd) == -1)) {
		rc = errno != 0 ? errno : EIO;
		log_warnx("storage: %s: %s", path, strerror(rc));
		broken = 1;
		return rc;
	}
	seq++;
	end += (off_t)total;
	return 0;
}
