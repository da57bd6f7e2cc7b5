/*
 * follow.c: waiting for a run to end, and printing its status changes and
 * output as they happen.
 *
 * batchd publishes JobRunStatusEvents on {prefix}.v1.{ws}.status.{cluster}.
 * {run} and LogChunks on {prefix}.v1.{ws}.logs.{run}. The caller subscribes
 * (follow_subscribe) before it submits, when the run's uuid is not known
 * yet: to every run's subjects then, filtering by uuid here; cnats holds
 * what arrives before the reply in the subscriptions' queues.
 *
 * Ordering: each stream of each attempt is printed in offset order, each
 * byte once. A chunk past the bytes printed so far means chunks were
 * missed: the gap is read with run.logs first. Chunks of attempt N+1 first
 * complete attempt N the same way. Status events are taken in seq order;
 * older ones (and repeats) are dropped. Once the run is terminal, whatever
 * is still missing of every attempt is read with run.logs up to eof, so the
 * output is complete even if the bus lost chunks. If nothing arrives about
 * the run for a while, run.get is asked in case its terminal event was
 * lost.
 *
 * Status lines go to stderr, held back while the job's own stderr is in
 * the middle of a line.
 */
#include <sys/ioctl.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "batchctl.h"
#include "../lib/clock.h"

#define POLL_IDLE_MS	2000	/* ask run.get after this long in silence */
#define SPIN_MS		100
#define DRAIN_MAX	10000	/* queued chunks read once the run ended */

#define EXIT_SET	BATCHD__V1__JOB_RUN__EXIT_CODE_OPT_EXIT_CODE
#define EV_EXIT_SET	\
    BATCHD__V1__JOB_RUN_STATUS_EVENT__EXIT_CODE_OPT_EXIT_CODE

/* One stream of one attempt. */
struct fstream {
	uint64_t	 done;		/* bytes printed */
	int		 eof;		/* all of it printed */
};

struct follow {
	int			 flags;		/* FOLLOW_* */
	follow_fetch_cb		 fetch_run;	/* run.get, the caller's */
	char			 uuid[UUID_LEN + 1];
	natsSubscription	*status;
	natsSubscription	*logs;		/* NULL: no streams wanted */
	uint64_t		 seq;		/* of the last status taken */
	Batchd__V1__JobRunStatus st;
	char			*reason;
	uint32_t		 attempt;	/* the latest attempt known */
	uint32_t		 first;		/* the first attempt printed */
	uint32_t		 only;		/* print only this attempt */
	struct fstream		(*att)[2];	/* [attempt - 1][stdout, stderr] */
	uint32_t		 natt;
	int			 midline;	/* job stderr ends mid-line */
	char			*pending;	/* status lines held back */
	int64_t			 t0;		/* monotonic ms at start */
	int64_t			 quiet_since;	/* monotonic ms of last news */
	int64_t			 spun;		/* monotonic ms of last spin */
	unsigned		 spin;
};

/* The exit code of a run that ended with status s. */
static int
outcome(Batchd__V1__JobRunStatus s)
{
	switch (s) {
	case BATCHD__V1__JOB_RUN_STATUS__FAILED:
		return EXIT_FAILED;
	case BATCHD__V1__JOB_RUN_STATUS__CANCELLED:
		return EXIT_CANCELLED;
	default:
		return EXIT_SUCCEEDED;
	}
}

/* Has a run with status s ended? */
static int
terminal(Batchd__V1__JobRunStatus s)
{
	return s == BATCHD__V1__JOB_RUN_STATUS__SUCCEEDED ||
	    s == BATCHD__V1__JOB_RUN_STATUS__FAILED ||
	    s == BATCHD__V1__JOB_RUN_STATUS__CANCELLED;
}

/*
 * A follower; flags are FOLLOW_*; fetch_run reads the run when nothing
 * came for a while. Freed with follow_free().
 */
struct follow *
follow_new(int flags, follow_fetch_cb fetch_run)
{
	struct follow	*f;

	f = xcalloc(1, sizeof *f);
	f->flags = flags;
	f->fetch_run = fetch_run;
	f->reason = xstrdup("");
	return f;
}

/* Free a follower and its subscriptions. */
void
follow_free(struct follow *f)
{
	if (f == NULL)
		return;
	if (f->status != NULL)
		natsSubscription_Destroy(f->status);
	if (f->logs != NULL)
		natsSubscription_Destroy(f->logs);
	free(f->att);
	free(f->reason);
	free(f->pending);
	free(f);
}

/*
 * Subscribe to the status events (and the output, if wanted) of the run
 * uuid, or of every run of the workspace if uuid is NULL: 0 or an exit
 * code.
 */
int
follow_subscribe(struct follow *f, const char *uuid)
{
	char	*s;
	int	 rc;

	if (uuid != NULL)
		xasprintf(&s, "status.*.%s", uuid);
	else
		s = xstrdup("status.>");
	rc = client_subscribe(s, &f->status);
	free(s);
	if (rc != 0 || !(f->flags & (FOLLOW_STDOUT | FOLLOW_STDERR)))
		return rc;
	if (uuid != NULL)
		xasprintf(&s, "logs.%s", uuid);
	else
		s = xstrdup("logs.>");
	rc = client_subscribe(s, &f->logs);
	free(s);
	return rc;
}

/* Erase the spinner line. */
static void
spin_clear(struct follow *f)
{
	if ((f->flags & FOLLOW_SPINNER) && f->spun != 0) {
		fputs("\r\033[K", stderr);
		f->spun = 0;
	}
}

/* Redraw the spinner line, at most every SPIN_MS, cut to the terminal. */
static void
spin(struct follow *f)
{
	static const char	 wheel[] = "|/-\\";
	struct winsize		 ws;
	int64_t			 now = mono_ms();
	size_t			 cols = 80;
	char			 line[512];

	if (!(f->flags & FOLLOW_SPINNER) || now - f->spun < SPIN_MS)
		return;
	f->spun = now;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		cols = ws.ws_col;
	snprintf(line, sizeof line, "%c run %.8s: %s%s%s%s, %llds",
	    wheel[f->spin++ % 4], f->uuid, fmt_status(f->st),
	    *f->reason != '\0' ? " (" : "", f->reason,
	    *f->reason != '\0' ? ")" : "", (long long)(now - f->t0) / 1000);
	if (cols - 1 < sizeof line)
		line[cols - 1] = '\0';
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
}

/* Print held-back status lines, ending the job's line if at the end. */
static void
flush_pending(struct follow *f, int end)
{
	if (f->pending == NULL)
		return;
	if (f->midline && !end)
		return;
	if (f->midline)
		fputc('\n', stderr);
	f->midline = 0;
	fputs(f->pending, stderr);
	free(f->pending);
	f->pending = NULL;
}

/* A status line on stderr: "batchctl: run UUID: STATUS (reason) ...". */
static void
status_line(struct follow *f, int has_exit, int32_t exit_code)
{
	char	*line, *t;

	if (!(f->flags & FOLLOW_STATUS))
		return;
	xasprintf(&line, "batchctl: run %s: %s%s%s%s", f->uuid,
	    fmt_status(f->st), *f->reason != '\0' ? " (" : "", f->reason,
	    *f->reason != '\0' ? ")" : "");
	if (f->attempt > 0) {
		xasprintf(&t, "%s, attempt %u", line, f->attempt);
		free(line);
		line = t;
	}
	if (has_exit) {
		xasprintf(&t, "%s, exit code %d", line, exit_code);
		free(line);
		line = t;
	}
	xasprintf(&t, "%s%s\n", f->pending != NULL ? f->pending : "", line);
	free(line);
	free(f->pending);
	f->pending = t;
	flush_pending(f, 0);
}

/* Take a new status. */
static void
set_status(struct follow *f, Batchd__V1__JobRunStatus st, const char *reason,
    uint32_t attempt)
{
	f->st = st;
	free(f->reason);
	f->reason = xstrdup(reason);
	if (attempt > f->attempt)
		f->attempt = attempt;
}

/* The bookkeeping of attempt a (1-based), made on first use. */
static struct fstream *
fstream(struct follow *f, uint32_t a, int err)
{
	if (a > f->natt) {
		f->att = xreallocarray(f->att, a, sizeof *f->att);
		memset(f->att + f->natt, 0, (a - f->natt) * sizeof *f->att);
		f->natt = a;
	}
	return &f->att[a - 1][err];
}

/* Is stream err (0 stdout, 1 stderr) printed? */
static int
wanted(struct follow *f, int err)
{
	return f->flags & (err ? FOLLOW_STDERR : FOLLOW_STDOUT);
}

/* Print the bytes [off, off + len) of a stream beyond what was printed. */
static void
emit(struct follow *f, struct fstream *fs, int err, uint64_t off,
    const uint8_t *data, size_t len)
{
	FILE	*fp;
	size_t	 skip;

	if (off > fs->done || off + len <= fs->done)
		return;
	skip = (size_t)(fs->done - off);
	data += skip;
	len -= skip;
	fp = err && !(f->flags & FOLLOW_TO_STDOUT) ? stderr : stdout;
	if (fp == stderr)
		spin_clear(f);
	fwrite(data, 1, len, fp);
	fflush(fp);
	fs->done += len;
	if (fp == stderr) {
		f->midline = data[len - 1] != '\n';
		flush_pending(f, 0);
	}
}

/*
 * The output a chunk carries: its data, or (ZSTD) its data decoded into a
 * buffer that the next call reuses. NULL if it does not decode to its size.
 */
static const uint8_t *
chunk_bytes(const LogChunk *c, size_t *len)
{
	static uint8_t	*buf;
	static size_t	 cap;
	size_t		 n;

	*len = c->data.len;
	if (c->encoding == BATCHD__V1__LOG_ENCODING__IDENTITY)
		return c->data.len > 0 ? c->data.data : (const uint8_t *)"";
	if (c->encoding != BATCHD__V1__LOG_ENCODING__ZSTD)
		return NULL;
	if (c->size >= cap) {
		free(buf);
		cap = c->size + 1;
		if ((buf = malloc(cap)) == NULL) {
			cap = 0;
			return NULL;
		}
	}
	n = ZSTD_decompress(buf, cap, c->data.data, c->data.len);
	if (ZSTD_isError(n) || n != c->size)
		return NULL;
	*len = n;
	return buf;
}

/* Say that chunk c was dropped: its data did not decode. */
static void
undecoded(struct follow *f, const LogChunk *c)
{
	spin_clear(f);
	fprintf(stderr, "batchctl: log chunk at offset %llu of attempt %u "
	    "(encoding %d) does not decode; skipped\n",
	    (unsigned long long)c->offset, c->attempt, (int)c->encoding);
}

/*
 * Print stream err of attempt a from what was printed up to stop (or its
 * end) with run.logs: 0 or an exit code.
 */
static int
fetch(struct follow *f, uint32_t a, int err, uint64_t stop)
{
	Batchd__V1__GetJobRunLogsRequest	 req =
	    BATCHD__V1__GET_JOB_RUN_LOGS_REQUEST__INIT;
	Batchd__V1__JobRunLogsReply		*rep;
	struct fstream				*fs = fstream(f, a, err);
	const uint8_t				*data;
	uint64_t				 before;
	size_t					 i, len;
	int					 rc;

	req.uuid = f->uuid;
	req.attempt = a;
	req.stream = err ? BATCHD__V1__LOG_STREAM__STDERR :
	    BATCHD__V1__LOG_STREAM__STDOUT;
	while (!fs->eof && fs->done < stop) {
		req.offset = fs->done;
		req.max_bytes = stop - fs->done < LOGS_MAX ?
		    (uint32_t)(stop - fs->done) : LOGS_MAX;
		if ((rc = client_call("run.logs", &req,
		    &batchd__v1__job_run_logs_reply__descriptor,
		    (void **)&rep)) != 0)
			return rc;
		before = fs->done;
		for (i = 0; i < rep->n_chunks; i++)
			if ((data = chunk_bytes(rep->chunks[i], &len)) == NULL)
				undecoded(f, rep->chunks[i]);
			else
				emit(f, fs, err, rep->chunks[i]->offset, data,
				    len);
		if (rep->eof && fs->done >= rep->next_offset)
			fs->eof = 1;
		protobuf_c_message_free_unpacked(&rep->base, NULL);
		if (fs->done == before)
			break;
	}
	return 0;
}

/* Print what is missing of attempts [first, last] up to their end. */
static int
fetch_all(struct follow *f, uint32_t last)
{
	uint32_t	a;
	int		err, rc;

	for (a = f->first; a >= 1 && a <= last; a++) {
		if (f->only != 0 && a != f->only)
			continue;
		for (err = 0; err < 2; err++)
			if (wanted(f, err) && (rc = fetch(f, a, err,
			    UINT64_MAX)) != 0)
				return rc;
	}
	return 0;
}

/* Has all of the one attempt followed been printed? */
static int
only_done(struct follow *f)
{
	int	err;

	if (f->only == 0)
		return 0;
	for (err = 0; err < 2; err++)
		if (wanted(f, err) && !fstream(f, f->only, err)->eof)
			return 0;
	return 1;
}

/* A message of the logs subscription. */
static int
on_chunk(struct follow *f, natsMsg *msg)
{
	LogChunk	*c;
	struct fstream	*fs;
	const uint8_t	*data;
	size_t		 len;
	int		 err, rc = 0;

	c = batchd__v1__log_chunk__unpack(NULL,
	    (size_t)natsMsg_GetDataLength(msg),
	    (const uint8_t *)natsMsg_GetData(msg));
	if (c == NULL)
		return 0;
	err = c->stream == BATCHD__V1__LOG_STREAM__STDERR;
	if (strcmp(c->run_uuid, f->uuid) != 0)
		goto out;
	f->quiet_since = mono_ms();
	if (c->attempt < f->first || (f->only != 0 && c->attempt != f->only) ||
	    !wanted(f, err))
		goto out;
	/* Attempt N + 1 began: N is over, print the rest of it first. */
	if (c->attempt > f->attempt)
		f->attempt = c->attempt;
	if (f->only == 0 && (rc = fetch_all(f, c->attempt - 1)) != 0)
		goto out;
	fs = fstream(f, c->attempt, err);
	if (fs->eof)
		goto out;
	if (c->offset > fs->done &&
	    (rc = fetch(f, c->attempt, err, c->offset)) != 0)
		goto out;
	/* One that does not decode is missed: run.logs fills the gap. */
	if ((data = chunk_bytes(c, &len)) == NULL) {
		undecoded(f, c);
		goto out;
	}
	emit(f, fs, err, c->offset, data, len);
	if (c->eof && fs->done >= c->offset + len)
		fs->eof = 1;
out:
	protobuf_c_message_free_unpacked(&c->base, NULL);
	return rc;
}

/* A message of the status subscription. */
static void
on_event(struct follow *f, natsMsg *msg)
{
	RunEvent	*e;

	e = batchd__v1__job_run_status_event__unpack(NULL,
	    (size_t)natsMsg_GetDataLength(msg),
	    (const uint8_t *)natsMsg_GetData(msg));
	if (e == NULL)
		return;
	if (strcmp(e->run_uuid, f->uuid) == 0)
		f->quiet_since = mono_ms();
	if (strcmp(e->run_uuid, f->uuid) == 0 && e->seq > f->seq) {
		f->seq = e->seq;
		set_status(f, e->status, e->reason_text, e->attempt);
		status_line(f, e->exit_code_opt_case == EV_EXIT_SET,
		    e->exit_code);
	}
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

/* Nothing came for a while: ask batchd, in case an event was lost. */
static int
poll_run(struct follow *f)
{
	Batchd__V1__JobRunReply	*rep;
	JobRun			*r;
	int			 rc;

	if ((rc = f->fetch_run(f->uuid, &rep)) != 0)
		return rc;
	r = rep->job_run;
	if (r != NULL && r->event_seq > f->seq) {
		f->seq = r->event_seq;
		set_status(f, r->status, r->reason_text, r->attempt);
		status_line(f, r->exit_code_opt_case == EXIT_SET,
		    r->exit_code);
	}
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	return 0;
}

/* Read one message of sub within ms, and handle it: 0, 1 none, or rc. */
static int
step(struct follow *f, natsSubscription *sub, int64_t ms, int *rc)
{
	natsMsg	*msg;
	int	 got;

	if (sub == NULL)
		return 1;
	if ((got = client_next(sub, ms, &msg)) != 0) {
		if (got != 1)
			*rc = got;
		return 1;
	}
	if (sub == f->logs)
		*rc = on_chunk(f, msg);
	else
		on_event(f, msg);
	natsMsg_Destroy(msg);
	return 0;
}

/*
 * Follow the run r (just submitted, or looked up) until it ends, printing
 * what the flags ask for; attempt is the one attempt to print, or 0 for
 * the latest and those after it. With FOLLOW_ONCE only what is stored is
 * printed. Returns the run's outcome (outcome()), with *final set to
 * its status, or another exit code.
 */
int
follow_run(struct follow *f, const JobRun *r, uint32_t attempt,
    Batchd__V1__JobRunStatus *final)
{
	int	rc = 0, idle, n;

	snprintf(f->uuid, sizeof f->uuid, "%s", r->uuid);
	f->seq = r->event_seq;
	set_status(f, r->status, r->reason_text, r->attempt);
	f->only = attempt;
	f->first = attempt != 0 ? attempt : r->attempt > 0 ? r->attempt : 1;
	f->t0 = f->quiet_since = mono_ms();
	*final = f->st;
	ctl_catch_signals();
	status_line(f, r->exit_code_opt_case == EXIT_SET, r->exit_code);
	if ((rc = fetch_all(f, f->attempt)) != 0)
		goto out;
	if (f->flags & FOLLOW_ONCE)
		goto out;
	while (!terminal(f->st) && !only_done(f)) {
		if (ctl_interrupted) {
			rc = EXIT_INTR;
			goto out;
		}
		spin(f);
		/* Status first, then output; wait on the busier one. */
		idle = step(f, f->status, f->logs == NULL ? 200 : 0, &rc);
		if (rc == 0 && !terminal(f->st))
			idle &= step(f, f->logs, 0, &rc);
		if (rc == 0 && idle && f->logs != NULL)
			idle = step(f, f->logs, 100, &rc);
		if (rc != 0)
			goto out;
		if (idle && mono_ms() - f->quiet_since > POLL_IDLE_MS) {
			if ((rc = poll_run(f)) != 0)
				goto out;
			f->quiet_since = mono_ms();
		}
	}
	/* Chunks already here (a bounded number), then the rest from files. */
	for (n = 0; f->logs != NULL && rc == 0 && n < DRAIN_MAX &&
	    step(f, f->logs, 0, &rc) == 0; n++)
		;
	if (rc == 0)
		rc = fetch_all(f, f->attempt);
out:
	spin_clear(f);
	flush_pending(f, 1);
	*final = f->st;
	if (rc == 0 && terminal(f->st))
		rc = outcome(f->st);
	return rc;
}
