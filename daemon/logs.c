/*
 * logs.c: the output of attempts: one file per attempt and stream under
 * {data_dir}/logs/{run}/, published as LogChunks while it is written, and
 * served by run.logs with offset paging.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchd.h"

/* Path of a log file, creating its directory. Owned by the caller. */
char *
logs_path(const char *uuid, uint32_t attempt, enum logstream s)
{
	char	*dir, *path;

	xasprintf(&dir, "%s/logs/%s", cfg->data_dir, uuid);
	if (mkdir_p(dir, 0700) == -1)
		log_warn("mkdir %s", dir);
	xasprintf(&path, "%s/%u.%s", dir, attempt,
	    s == LS_STDERR ? "stderr" : "stdout");
	free(dir);
	return path;
}

/* Publish one chunk of a run's output on {prefix}.v1.{ws}.logs.{run}. */
void
logs_publish(const char *ws, const char *uuid, uint32_t attempt,
    enum logstream s, uint64_t off, const void *data, size_t len, int eof)
{
	struct logchunk	 c;
	struct buf	 b = { 0 };
	char		*subject;

	c.run_uuid = uuid;
	c.attempt = attempt;
	c.stream = s;
	c.offset = off;
	c.data = data;
	c.len = len;
	c.eof = eof;
	wire_encode_logchunk(&b, &c);
	xasprintf(&subject, "%s.v1.%s.logs.%s", cfg->subject_prefix, ws, uuid);
	bus_publish(subject, b.p, b.len);
	free(subject);
	buf_free(&b);
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
	size_t		 n = 0, want, got;
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
	data = xmalloc(want);
	for (got = 0; got < want; got += rd) {
		rd = pread(fd, data + got, want - got, (off_t)(off + got));
		if (rd <= 0)
			break;
	}
	chunks = xcalloc(got / cfg->log_chunk_bytes + 1, sizeof *chunks);
	for (size_t p = 0; p < got; p += cfg->log_chunk_bytes) {
		chunks[n].run_uuid = r.uuid;
		chunks[n].attempt = attempt;
		chunks[n].stream = q->stream;
		chunks[n].offset = off + p;
		chunks[n].data = data + p;
		chunks[n].len = got - p < cfg->log_chunk_bytes ? got - p :
		    cfg->log_chunk_bytes;
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
