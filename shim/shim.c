/*
 * shim.c: batchd-shim, the supervisor of one attempt.
 *
 * batchd starts one shim per attempt, in a session of its own, so the
 * attempt outlives batchd (an upgrade, a crash, kill -9). The shim reads the
 * attempt's description from its standard input (a memfd batchd wrote: it
 * may hold a token, so it is never a file), which then becomes /dev/null;
 * then, with the plugins it names
 * (plugin.h):
 *   0. backend: prepare the start where the backend can (the local
 *               backend: the attempt's cgroup, with the job's limits, and
 *               an init in new namespaces that builds most of the sandbox
 *               while the fetch runs); undone if the attempt ends before
 *               the start (a failed or cancelled fetch);
 *   1. source:  fetch the job's file, in a child process whose output goes
 *               to the run's logs, within fetch_timeout_s;
 *   2. runner:  turn the job into argv and stdin, and name what else of
 *               the host the job needs (job->expose: the SQL database's
 *               directory, an interpreter installed outside /usr);
 *   3. backend: start the job and poll it until it is over. The local
 *               backend runs it in a sandbox of its own mount and PID
 *               namespaces under an init of ours, in a cgroup of its own
 *               (backend_local.c); the shim sees the job's wait status as
 *               if it were its child, with the CPU time of all the job
 *               started.
 * All the while it appends the job's stdout and stderr to the attempt's log
 * files (batchd follows them), replacing every secret and its base64 form
 * by "****", also when a secret is split across two reads; it enforces the
 * attempt's timeout (SIGTERM, then SIGKILL grace_s later); SIGTERM to the
 * shim (a cancel) does the same. At the end it writes the result to DIR/exit
 * durably and exits 0.
 *
 * A backend that can adopt its jobs (plugin.h: adopt()) gets DIR/started
 * before its start(): the sizes of the logs then. When a shim was lost and
 * its job lives on (Slurm), batchd starts another with "adopt" in the
 * description (exec.c): it fetches and starts nothing, but has the backend
 * take the job over, told how much of the backend's output the logs hold
 * since DIR/started, and supervises it to its end as above.
 *
 * The shim holds secrets (the job description, tokens): it makes itself
 * non-dumpable first thing, so no process of the job's uid can read its
 * memory (/proc/PID/mem) or ptrace it.
 *
 * usage: batchd-shim DIR
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/batchsched.h"
#include "../lib/clock.h"
#include "../lib/dlplugin.h"
#include "plugin.h"
#include "procstat.h"
#include "shimproto.h"

/* Reasons, as the proto's StatusReason. */
#define REASON_NONE		0
#define REASON_FETCH_FAILED	7
#define REASON_SPAWN_FAILED	8
#define REASON_SUPERVISOR_LOST	13	/* a job that could not be adopted */
#define PIPE_BYTES		(1024 * 1024)	/* job pipes, and one read */
#define REST_US			1000	/* a stream just read waits this long */
#define SECRET_PFX		(sizeof SHIM_SECRET "=" - 1)
#define DRAIN_PIECE		(64 * 1024)	/* one read(2) of output to mask */

extern char **environ;

static void
die(const char *what)
{
	fprintf(stderr, "batchd-shim: %s: %s\n", what, strerror(errno));
	exit(111);
}

/* Secrets to mask, each as given and in base64 (without padding). */
static char	**pats;
static size_t	 npats, maxpat;

static void
add_pat(const char *s, size_t n)
{
	if (n < 4)	/* masking "a" everywhere helps no one */
		return;
	pats = realloc(pats, (npats + 1) * sizeof *pats);
	if (pats == NULL || (pats[npats] = strndup(s, n)) == NULL)
		die("malloc");
	npats++;
	if (n > maxpat)
		maxpat = n;
}

static void
add_secret(const char *s, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char		*e;
	size_t		 i, o = 0;
	unsigned	 v;

	add_pat(s, n);
	if ((e = malloc(n / 3 * 4 + 8)) == NULL)
		die("malloc");
	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 |
		    (unsigned char)s[i + 2];
		e[o++] = b64[v >> 18];
		e[o++] = b64[(v >> 12) & 63];
		e[o++] = b64[(v >> 6) & 63];
		e[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned char)s[i] << 16;
		e[o++] = b64[v >> 18];
		e[o++] = b64[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8;
		e[o++] = b64[v >> 18];
		e[o++] = b64[(v >> 12) & 63];
		e[o++] = b64[(v >> 6) & 63];
	}
	add_pat(e, o);
	free(e);
}

/* Write all of buf to fd (log files are regular files). */
static void
write_all(int fd, const char *buf, ssize_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, buf, (size_t)n)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += w;
		n -= w;
	}
}

/*
 * One output stream: bytes held back because they may begin a secret.
 */
struct out {
	int	 fd;
	int	 relay[2];	/* a pipe of ours between the job's and fd */
	char	*held;
	size_t	 nheld;
};

/*
 * The run's log quota ("log_quota" in the description, of which its
 * earlier attempts stored "log_used"), shared by both streams: bytes
 * beyond it are read and dropped, and one line on the stderr log says
 * so. log_room -1: no bound.
 */
static long long	 log_room = -1;
static long long	 log_quota;
static int		 log_over;	/* 1: dropped some, 2: said so */
static int		 log_errfd = -1;

/* How many of n bytes may still be stored; counts them as stored. */
static size_t
log_keep(size_t n)
{
	if (log_room < 0)
		return n;
	if ((long long)n > log_room) {
		n = (size_t)log_room;
		if (log_over == 0)
			log_over = 1;
	}
	log_room -= (long long)n;
	return n;
}

/* Once output was dropped: the line that says so, on the stderr log. */
static void
log_notice(void)
{
	char	line[256];
	int	n;

	if (log_over != 1 || log_errfd == -1)
		return;
	log_over = 2;
	n = snprintf(line, sizeof line, "\nbatchd-shim: the run's output "
	    "reached its quota of %lld bytes (quota_log_bytes_per_run); the "
	    "rest is not stored\n", log_quota);
	write_all(log_errfd, line, n);
}

/* Write to a log what its quota lets through. */
static void
log_write(int fd, const char *buf, size_t n)
{
	write_all(fd, buf, (ssize_t)log_keep(n));
	log_notice();
}

/* Index of the leftmost secret in s[0..n), its length in *len; or n. */
static size_t
find_secret(const char *s, size_t n, size_t *len)
{
	size_t	i, k, best = n;

	*len = 0;
	for (k = 0; k < npats; k++) {
		size_t pl = strlen(pats[k]);

		for (i = 0; i + pl <= n && i <= best; i++)
			if (memcmp(s + i, pats[k], pl) == 0) {
				if (i < best || pl > *len) {
					best = i;
					*len = pl;
				}
				break;
			}
	}
	return best;
}

/* Length of the longest suffix of s[0..n) that begins some secret. */
static size_t
partial_tail(const char *s, size_t n)
{
	size_t	k, t, best = 0;

	for (k = 0; k < npats; k++) {
		size_t pl = strlen(pats[k]);

		for (t = pl - 1 < n ? pl - 1 : n; t > best; t--)
			if (memcmp(s + n - t, pats[k], t) == 0) {
				best = t;
				break;
			}
	}
	return best;
}

/* Mask and write data; at eof write what was held back too. */
static void
emit(struct out *o, const char *data, size_t n, int eof)
{
	char	*buf;
	size_t	 len, at, ml, keep;

	if (npats == 0) {
		log_write(o->fd, data, n);
		return;
	}
	len = o->nheld + n;
	if ((buf = malloc(len + 1)) == NULL)
		die("malloc");
	if (o->nheld > 0)
		memcpy(buf, o->held, o->nheld);
	if (n > 0)
		memcpy(buf + o->nheld, data, n);
	free(o->held);
	o->held = NULL;
	o->nheld = 0;
	for (;;) {
		at = find_secret(buf, len, &ml);
		keep = eof ? 0 : partial_tail(buf, at);
		if (at == len) {
			log_write(o->fd, buf, len - keep);
			break;
		}
		log_write(o->fd, buf, at);
		log_write(o->fd, "****", 4);
		memmove(buf, buf + at + ml, len - at - ml);
		len -= at + ml;
	}
	if (keep > 0) {
		if ((o->held = malloc(keep)) == NULL)
			die("malloc");
		memcpy(o->held, buf + len - keep, keep);
		o->nheld = keep;
	}
	free(buf);
}

/*
 * Move the n bytes in o's relay into its log. What the log refuses (the
 * disk is full) or its quota does not let through is read out and
 * dropped, so the relay is empty again and the job goes on.
 */
static void
relay_out(struct out *o, char *buf, size_t size, size_t n)
{
	ssize_t	w;
	size_t	keep = log_keep(n), k;

	while (n > 0) {
		w = -1;
		if (keep > 0)
			w = splice(o->relay[0], NULL, o->fd, NULL, keep,
			    SPLICE_F_MOVE);
		if (w > 0)
			k = (size_t)w;
		else {
			w = read(o->relay[0], buf, n < size ? n : size);
			if (w == -1 && errno == EINTR)
				continue;
			if (w <= 0)
				die("relay");	/* it holds n bytes */
			k = (size_t)w < keep ? (size_t)w : keep;
			write_all(o->fd, buf, (ssize_t)k);
		}
		keep -= k;
		n -= (size_t)w;
	}
	log_notice();
}

/*
 * Move what the pipe fd holds, up to size bytes, into the log o. Returns
 * what read(2) would: > 0, 0 at EOF, or -1 (EAGAIN once the pipe is empty:
 * its read end is O_NONBLOCK).
 *
 * With nothing to mask the bytes never pass through this process:
 * splice(2) moves the job pipe's pages into o's relay, a pipe of our own,
 * and from there into the log. The job pipe's mutex is held only while
 * pages change pipes. A splice straight into the log would hold it through
 * the file's write as well, and the job's next write spins on it
 * meanwhile: with the shim on the other core, 3 % of a text-writing job's
 * samples were mutex_spin_on_owner even in 64 KiB pieces; none through
 * the relay. With secrets, read into buf in DRAIN_PIECEs (read(2) holds
 * the mutex while it copies) and emit(); so does a splice into the relay
 * that fails for another reason than an empty pipe.
 */
static ssize_t
drain(int fd, struct out *o, char *buf, size_t size)
{
	size_t	got = 0, want;
	ssize_t	n;

	while (got < size) {
		want = size - got < DRAIN_PIECE ? size - got : DRAIN_PIECE;
		n = -1;
		if (npats == 0) {
			n = splice(fd, NULL, o->relay[1], NULL, size - got,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0)
				relay_out(o, buf, size, (size_t)n);
			else if (n == 0 || errno == EAGAIN || errno == EINTR)
				break;
		}
		if (n == -1 && (n = read(fd, buf, want)) > 0)
			emit(o, buf, (size_t)n, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got > 0 ? (ssize_t)got : n;
}

/*
 * DIR/lock, the shim's fd 3, locked by batchd before the spawn: holding it
 * open tells a later batchd that this shim lives even before it can find
 * the pid, which the shim writes into it first thing ("pid starttime", so
 * a reused pid is not mistaken for it; the shim is its only writer). No
 * job or fetcher inherits it.
 */
static void
write_pid(void)
{
	char	line[64];
	int	n;

	(void)fcntl(3, F_SETFD, FD_CLOEXEC);
	n = snprintf(line, sizeof line, "%d %llu\n", (int)getpid(),
	    proc_start_time(0));
	if (pwrite(3, line, (size_t)n, 0) != n)
		die("DIR/lock (fd 3)");
}

static const char	*note_dir;
static void		 mask_text(char *);

/*
 * job->note: DIR/note, one line, replaced atomically; batchd watches the
 * directory and shows it as the run's reason_text.
 */
static void
note(const char *text)
{
	char	tmp[4096], path[4096], line[512];
	int	fd, ok;
	size_t	n;

	snprintf(line, sizeof line, "%s", text != NULL ? text : "");
	line[strcspn(line, "\n")] = '\0';
	mask_text(line);
	n = strlen(line);
	snprintf(tmp, sizeof tmp, "%s/note.tmp", note_dir);
	snprintf(path, sizeof path, "%s/note", note_dir);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return;
	ok = write(fd, line, n) == (ssize_t)n;
	if (close(fd) == -1 || !ok || rename(tmp, path) == -1)
		unlink(tmp);
}

/* What runners exposed (job->expose): two NULL-terminated lists. */
static char	**exposed[2];
static size_t	  nexposed[2];

/* job->expose: add path to the read-only or the writable list. */
static void
expose(const char *path, int rw)
{
	char	***v = &exposed[rw != 0];
	size_t	  *n = &nexposed[rw != 0];

	if ((*v = realloc(*v, (*n + 2) * sizeof **v)) == NULL ||
	    ((*v)[*n] = strdup(path)) == NULL)
		die("malloc");
	(*v)[++*n] = NULL;
}

/* Mask the secrets in a NUL-terminated text, in place (each is >= 4). */
static void
mask_text(char *t)
{
	size_t	len = strlen(t), at, ml;
	char	*p = t;

	while ((at = find_secret(p, len, &ml)) < len) {
		memcpy(p + at, "****", 4);
		memmove(p + at + 4, p + at + ml, len - at - ml + 1);
		len -= at + ml;
		p += at + 4;
	}
}

/*
 * Durably record the result in DIR/exit (temporary file, fsync, rename,
 * fsync of DIR): one line "status=N timed_out=N cancelled=N utime_us=N
 * stime_us=N maxrss_kb=N wall_ms=N reason=N text=...".
 */
static void
record(const char *dir, const struct batchd_outcome *o, int timed_out,
    int cancelled, int64_t wall_ms, int reason, const char *text)
{
	char	tmp[4096], path[4096], line[1024];
	int	fd, n;

	snprintf(tmp, sizeof tmp, "%s/exit.tmp", dir);
	snprintf(path, sizeof path, "%s/exit", dir);
	n = snprintf(line, sizeof line, "status=%d timed_out=%d cancelled=%d "
	    "utime_us=%lld stime_us=%lld maxrss_kb=%lld wall_ms=%lld "
	    "reason=%d text=%s\n", o->waitstatus, timed_out, cancelled,
	    (long long)o->user_us, (long long)o->sys_us,
	    (long long)o->maxrss_kb, (long long)wall_ms, reason,
	    text != NULL ? text : "");
	if (n >= (int)sizeof line)
		n = sizeof line - 1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		die(tmp);
	write_all(fd, line, n);
	if (fsync(fd) == -1)
		die("fsync");
	close(fd);
	if (rename(tmp, path) == -1)
		die("rename");
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(fd);
		close(fd);
	}
}

/* ------------------------------------------------------- the description */

/* Standard input: NUL-separated "key=value" entries. */
static char	**kv;
static size_t	  nkv;

static void
load_job(void)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;
	int	 fd;

	if ((f = fdopen(STDIN_FILENO, "r")) == NULL)
		die("the job description (standard input)");
	while (getdelim(&buf, &len, '\0', f) != -1) {
		if ((kv = realloc(kv, (nkv + 1) * sizeof *kv)) == NULL ||
		    (kv[nkv] = strdup(buf)) == NULL)
			die("malloc");
		if (strncmp(buf, SHIM_SECRET "=", SECRET_PFX) == 0)
			add_secret(buf + SECRET_PFX, strlen(buf + SECRET_PFX));
		nkv++;
	}
	free(buf);
	if (!ferror(f) && nkv == 0)
		errno = ENODATA;	/* empty: not from batchd */
	if (ferror(f) || nkv == 0)
		die("the job description (standard input)");
	fclose(f);
	/* Nothing started later may read it: stdin is /dev/null again. */
	if ((fd = open("/dev/null", O_RDONLY)) == -1 ||
	    (fd != STDIN_FILENO && dup2(fd, STDIN_FILENO) == -1))
		die("/dev/null");
	if (fd != STDIN_FILENO)
		close(fd);
}

/* The value of key in the description (the last if repeated), or NULL. */
static const char *
get(const char *key)
{
	size_t	i, n = strlen(key);

	for (i = nkv; i > 0; i--)
		if (strncmp(kv[i - 1], key, n) == 0 && kv[i - 1][n] == '=')
			return kv[i - 1] + n + 1;
	return NULL;
}

static const char *
str(const char *key)
{
	const char	*v = get(key);

	return v != NULL ? v : "";
}

static long long
num(const char *key)
{
	const char	*v = get(key);

	return v != NULL ? strtoll(v, NULL, 10) : 0;
}

/* Settings of the plugin being called: SHIM_SETTING "<plugin>.<key>". */
static const char	*setting_plugin;

static const char *
setting(const char *key)
{
	char	full[256];

	snprintf(full, sizeof full, SHIM_SETTING "%s.%s", setting_plugin, key);
	return get(full);
}

/* Load the plugin of kind named by key (SHIM_PLUGIN_*) in the description. */
static const struct batchd_plugin *
load_plugin(const char *key, int kind, char *err, size_t errlen)
{
	const struct batchd_plugin	*p;
	const char			*path;
	void				*h;

	if ((path = get(key)) == NULL) {
		snprintf(err, errlen, "no %s plugin for this job",
		    key + strlen(SHIM_PLUGIN));
		return NULL;
	}
	if ((p = dlplugin_open(path, &h, err, errlen)) == NULL)
		return NULL;
	if (p->kind != kind) {
		snprintf(err, errlen, "%s: not a batchd plugin of kind %d",
		    path, kind);
		return NULL;
	}
	setting_plugin = p->name;
	return p;
}

/* ------------------------------------------------------------ supervising */

/*
 * What is being supervised: the fetch child (phase 1) or the job through
 * its backend (phase 3). Both are polled the same way.
 */
struct phase {
	const struct batchd_backend *be;	/* NULL: the fetch child */
	void			*handle;
	pid_t			 pid;		/* the fetch child */
	int64_t			 deadline;	/* -1: none */
};

struct sup {
	int		 pipes[2];	/* read ends of stdout, stderr */
	struct out	 outs[2];
	int		 sfd;
	int64_t		 grace_ms;
	int		 timed_out, cancelled;
	int		 stop;		/* a cancel after the phase was over */
};

/* Poll the phase: 1 when over (o filled), 0 if not. */
static int
phase_poll(struct phase *ph, struct batchd_outcome *o)
{
	char	err[256];
	int	st, rc;

	if (ph->be == NULL) {
		if (waitpid(ph->pid, &st, WNOHANG) != ph->pid)
			return 0;
		memset(o, 0, sizeof *o);
		o->waitstatus = st;
		return 1;
	}
	rc = ph->be->poll(ph->handle, o, err, sizeof err);
	if (rc == -1) {
		dprintf(2, "batchd-shim: poll: %s\n", err);
		return 0;
	}
	return rc;
}

static void
phase_kill(struct phase *ph, int sig)
{
	if (ph->be == NULL)
		kill(-ph->pid, sig);	/* the fetch and all it started */
	else
		ph->be->kill(ph->handle, sig);
}

/*
 * How long supervise() may sleep from now (us; -1: until woken): until the
 * end of the drain once the phase is over, else until the SIGKILL due or
 * the deadline, the backend's next poll (every poll_us) and the end of a
 * stream's rest.
 */
static int64_t
sleep_us(int64_t now, int over, int64_t drain_until, int64_t kill_at,
    int64_t deadline, int64_t poll_us, const int64_t *rest)
{
	int64_t	next = -1;
	int	i;

	if (over)
		next = drain_until;
	else if (kill_at >= 0)
		next = kill_at;
	else if (deadline != -1 && kill_at == -1)
		next = deadline;
	if (!over && poll_us > 0 && (next == -1 || now + poll_us < next))
		next = now + poll_us;
	for (i = 0; i < 2; i++)
		if (rest[i] != -1 && (next == -1 || rest[i] < next))
			next = rest[i];
	return next == -1 ? -1 : (next > now ? next - now : 0);
}

/*
 * Move what the ready pipes of pfd[0..1] hold into their logs; a stream
 * just read rests (its pfd polls nothing) until rest[i], unless the pace
 * of the read asks for more at once (see supervise()); last[i] is when it
 * was last read. Returns how many pipes ended (their pfd's fd is -1).
 */
static int
read_pipes(struct sup *s, struct pollfd *pfd, int64_t *rest, int64_t *last)
{
	static char	buf[PIPE_BYTES];
	int64_t		now;
	ssize_t		n;
	int		i, ended = 0;

	for (i = 0; i < 2; i++) {
		if (pfd[i].fd == -1 || pfd[i].revents == 0)
			continue;
		n = drain(pfd[i].fd, &s->outs[i], buf, sizeof buf);
		if (n > 0) {
			now = mono_us();
			if (last[i] == -1 || (uint64_t)n * REST_US <
			    (uint64_t)(now - last[i]) * (PIPE_BYTES / 2)) {
				/* POLLHUP (the job is done) still wakes us */
				pfd[i].events = 0;
				rest[i] = now + REST_US;
			}
			last[i] = now;
			continue;
		}
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		/* EOF of this phase's writers; the pipe stays for the next
		 * phase only if it has its own. */
		pfd[i].fd = -1;
		ended++;
	}
	return ended;
}

/*
 * Run the phase to its end, copying (and masking) output into the logs,
 * enforcing its deadline and cancels. The write ends of the pipes are
 * closed here once the phase is over, so the readers see EOF.
 *
 * A stream just read is not read again for REST_US unless, at the pace of
 * that read, the job would fill half its pipe meanwhile. The first line
 * after a quiet spell goes to the log at once; a job that writes all the
 * time (a write per 8 KiB line buffer) is read in large pieces, never
 * woken for by its own write: a pipe write wakes its reader on the
 * writer's core, where we would preempt the job (in a trace of a job
 * writing 330 MiB/s, 1100 times a second, 12 % of its time, while the
 * other core was idle; the rule was then "rest after a read of under a
 * quarter of the pipe", and such a job alternated). A job that fills its
 * 1 MiB pipe faster is read again at once: it would soon wait for us.
 * Every read of ours is also a write to the log file that wakes batchd.
 */
static void
supervise(struct sup *s, struct phase *ph, struct batchd_outcome *o,
    int *wfds)
{
	struct pollfd			 pfd[3];
	struct signalfd_siginfo		 si;
	struct timespec			 ts;
	int64_t				 kill_at = -1, drain_until = -1, now;
	int64_t				 wait, rest[2] = { -1, -1 };
	int64_t				 last[2] = { -1, -1 };
	int64_t				 deadline = ph->deadline == -1 ? -1 :
					     ph->deadline * 1000;
	int				 over = 0, i, open_pipes = 2;
	int64_t				 poll_us = ph->be != NULL ?
					     (int64_t)ph->be->poll_ms * 1000 : 0;

	for (i = 0; i < 2; i++) {
		pfd[i].fd = s->pipes[i];
		pfd[i].events = POLLIN;
	}
	pfd[2].fd = s->sfd;
	pfd[2].events = POLLIN;
	for (;;) {
		now = mono_us();	/* the loop counts in us */
		for (i = 0; i < 2; i++)
			if (rest[i] != -1 && now >= rest[i]) {
				rest[i] = -1;
				pfd[i].events = POLLIN;
			}
		if (!over && (over = phase_poll(ph, o))) {
			/* Close ours so the pipes end when the job's do. */
			for (i = 0; i < 2; i++)
				if (wfds[i] != -1) {
					close(wfds[i]);
					wfds[i] = -1;
				}
			drain_until = now + 5000000;
		}
		if (over && (open_pipes == 0 || now >= drain_until))
			break;
		if (!over && deadline != -1 && now >= deadline &&
		    kill_at == -1) {
			s->timed_out = 1;
			phase_kill(ph, SIGTERM);
			kill_at = now + s->grace_ms * 1000;
		}
		if (!over && kill_at >= 0 && now >= kill_at) {
			phase_kill(ph, SIGKILL);
			kill_at = -2;
		}
		wait = sleep_us(now, over, drain_until, kill_at, deadline,
		    poll_us, rest);
		ts.tv_sec = wait / 1000000;
		ts.tv_nsec = wait % 1000000 * 1000;
		if (ppoll(pfd, 3, wait == -1 ? NULL : &ts, NULL) == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		open_pipes -= read_pipes(s, pfd, rest, last);
		if (pfd[2].revents != 0 &&
		    read(s->sfd, &si, sizeof si) == sizeof si &&
		    (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) &&
		    kill_at == -1) {
			if (over)	/* its output still draining */
				s->stop = 1;
			else {
				s->cancelled = 1;
				phase_kill(ph, SIGTERM);
				kill_at = mono_us() + s->grace_ms * 1000;
			}
		}
	}
	for (i = 0; i < 2; i++)
		emit(&s->outs[i], "", 0, 1);
}

/* A fresh pair of pipes for a phase: read ends in s, write ends in w. */
static void
phase_pipes(struct sup *s, int *w)
{
	int	p[2], i;

	for (i = 0; i < 2; i++) {
		if (s->pipes[i] != -1)
			close(s->pipes[i]);
		if (pipe2(p, O_CLOEXEC) == -1)
			die("pipe");
		/* Room for bursts: the job does not wait on a busy shim. */
		(void)fcntl(p[0], F_SETPIPE_SZ, PIPE_BYTES);
		if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1)	/* drain() */
			die("fcntl");
		s->pipes[i] = p[0];
		w[i] = p[1];
	}
}

/*
 * Code the job description carries (a submitted query, a TEXT source):
 * written to name in the attempt's directory, its path to *file.
 */
static int
write_code(const struct batchd_job *job, const char *name, const char *code,
    char **file, char *err, size_t errlen)
{
	char	path[4096];
	int	fd;

	snprintf(path, sizeof path, "%s/%s", job->workdir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0644)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	write_all(fd, code, (ssize_t)strlen(code));
	close(fd);
	if ((*file = strdup(path)) == NULL)
		die("malloc");
	return 0;
}

/* Phase 1, in a child: fetch with the source plugin; the path to *file. */
static int
fetch(struct sup *s, const struct batchd_job *job, int64_t timeout_ms,
    char **file, char *err, size_t errlen)
{
	const struct batchd_plugin	*src;
	struct batchd_outcome		 o;
	struct phase			 ph;
	char				 buf[4096], *f = NULL;
	int				 w[2], res[2], i;
	ssize_t				 n;

	/* A submitted query, or a TEXT source, is its own source. */
	if (job->sql != NULL)
		return write_code(job, "query.sql", job->sql, file, err,
		    errlen);
	if (get(SHIM_TEXT) != NULL)
		return write_code(job, job->source_location, get(SHIM_TEXT),
		    file, err, errlen);
	if ((src = load_plugin(SHIM_PLUGIN_SOURCE, BATCHD_PLUGIN_SOURCE, err,
	    errlen)) == NULL)
		return -1;
	/* The child leaves "F<path>" or "E<message>" in this pipe (it has
	 * room for it: read once the child is gone). */
	if (pipe2(res, O_CLOEXEC | O_NONBLOCK) == -1)
		die("pipe");
	phase_pipes(s, w);
	memset(&ph, 0, sizeof ph);
	if ((ph.pid = fork()) == -1)
		die("fork");
	if (ph.pid == 0) {
		sigset_t	none;

		setpgid(0, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(w[0], 1);
		dup2(w[1], 2);
		buf[0] = '\0';
		if (src->u.source.fetch(job, &f, buf, sizeof buf) == -1) {
			dprintf(2, "batchd: %s source: %s\n", src->name, buf);
			dprintf(res[1], "E%s", buf);
			_exit(1);
		}
		dprintf(res[1], "F%s", f);
		_exit(0);
	}
	close(res[1]);
	setpgid(ph.pid, ph.pid);	/* both sides: no race with kill(-pid) */
	ph.deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : -1;
	supervise(s, &ph, &o, w);
	for (i = 0; i < 2; i++)
		if (w[i] != -1)
			close(w[i]);
	n = read(res[0], buf, sizeof buf - 1);
	close(res[0]);
	if (s->cancelled || s->stop) {
		/* A cancel as the fetch ended must not start the job. */
		s->cancelled = 1;
		snprintf(err, errlen, "cancelled while fetching");
		return -1;
	}
	if (s->timed_out) {
		snprintf(err, errlen, "fetching took more than %lld s",
		    (long long)(timeout_ms / 1000));
		return -1;
	}
	buf[n > 0 ? n : 0] = '\0';
	if (!WIFEXITED(o.waitstatus) || WEXITSTATUS(o.waitstatus) != 0 ||
	    buf[0] != 'F') {
		snprintf(err, errlen, "%s", buf[0] == 'E' ? buf + 1 :
		    "the source failed (see the run's stderr)");
		return -1;
	}
	if ((*file = strdup(buf + 1)) == NULL)
		die("malloc");
	return 0;
}

/*
 * The attempt's log files, opened for appending (spliced into, so at
 * their end), each with its relay pipe; and the log quota left to it.
 */
static void
open_logs(struct sup *s)
{
	int	i;

	for (i = 0; i < 2; i++) {
		if ((s->outs[i].fd = open(str(i == 0 ? SHIM_STDOUT_LOG :
		    SHIM_STDERR_LOG), O_WRONLY | O_CREAT | O_CLOEXEC,
		    0600)) == -1 ||
		    lseek(s->outs[i].fd, 0, SEEK_END) == -1)	/* splice(2) */
			die(str(i == 0 ? SHIM_STDOUT_LOG : SHIM_STDERR_LOG));
		if (pipe2(s->outs[i].relay, O_CLOEXEC) == -1)
			die("pipe");
		/* as much as the job's pipe holds */
		(void)fcntl(s->outs[i].relay[0], F_SETPIPE_SZ, PIPE_BYTES);
	}
	if (get(SHIM_LOG_QUOTA) != NULL) {
		/* Less what earlier attempts stored, and these logs hold. */
		log_quota = num(SHIM_LOG_QUOTA);
		log_room = log_quota - num(SHIM_LOG_USED);
		for (i = 0; i < 2; i++)
			log_room -= lseek(s->outs[i].fd, 0, SEEK_CUR);
		if (log_room < 0)
			log_room = 0;
		log_errfd = s->outs[1].fd;
	}
}

/*
 * The signals the shim waits for (a child's end, a cancel, a hangup),
 * blocked and read from the signalfd it returns; SIGPIPE ignored.
 */
static int
signals(void)
{
	sigset_t	mask;
	int		sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) == -1)
		die("signalfd");
	return sfd;
}

/* The job the plugins see, from the description. */
static void
job_init(struct batchd_job *job)
{
	memset(job, 0, sizeof *job);
	job->run_uuid = str(SHIM_RUN_UUID);
	job->workspace = str(SHIM_WORKSPACE);
	job->cluster_uuid = str(SHIM_CLUSTER_UUID);
	job->attempt = (uint32_t)num(SHIM_ATTEMPT);
	job->type = (int)num(SHIM_TYPE);
	job->instance_type = str(SHIM_INSTANCE_TYPE);
	job->workers = (uint32_t)num(SHIM_WORKERS);
	job->version = str(SHIM_VERSION);
	job->timeout_s = (uint32_t)num(SHIM_TIMEOUT_S);
	job->source_type = (int)num(SHIM_SOURCE_TYPE);
	job->source_path = str(SHIM_SOURCE_PATH);
	job->repo_url = str(SHIM_REPO_URL);
	job->username = str(SHIM_USERNAME);
	job->token = str(SHIM_TOKEN);
	job->reference = str(SHIM_REFERENCE);
	job->bucket_path = str(SHIM_BUCKET_PATH);
	job->region = str(SHIM_REGION);
	job->source_location = str(SHIM_SOURCE_LOCATION);
	job->args = str(SHIM_ARGS);
	job->sql = get(SHIM_SQL);
	job->workdir = str(SHIM_WORKDIR);
	job->workspace_dir = str(SHIM_WORKSPACE_DIR);
	job->data_dir = str(SHIM_DATA_DIR);
	job->env = environ;
	job->setting = setting;
	job->uid = get(SHIM_UID) != NULL ? (uid_t)num(SHIM_UID) : (uid_t)-1;
	job->gid = get(SHIM_GID) != NULL ? (gid_t)num(SHIM_GID) : (gid_t)-1;
	job->limit_nofile = (uint64_t)num(SHIM_LIMIT_NOFILE);
	job->limit_as = (uint64_t)num(SHIM_LIMIT_AS);
	job->limit_cpu = (uint64_t)num(SHIM_LIMIT_CPU);
	job->note = note;
	job->expose = expose;
	job->cgroup_parent = get(SHIM_CGROUP_PARENT);	/* absent: none */
	job->limit_memory = (uint64_t)num(SHIM_LIMIT_MEMORY);
	job->limit_pids = (uint64_t)num(SHIM_LIMIT_PIDS);
	job->limit_cpu_millicores = (uint64_t)num(SHIM_LIMIT_CPU_MILLICORES);
}

/* Does backend have adopt() (a field since ABI 4)? */
static int
can_adopt(const struct batchd_plugin *backend)
{
	return backend->abi >= 4 && backend->u.backend.adopt != NULL;
}

/*
 * DIR/started, for a backend that can adopt its job: "OUT ERR", the log
 * files' sizes as the backend starts to write into them.
 */
static void
logs_at(struct sup *s)
{
	char	tmp[4096], path[4096], line[64];
	int	fd, n;

	n = snprintf(line, sizeof line, "%lld %lld\n",
	    (long long)lseek(s->outs[0].fd, 0, SEEK_CUR),
	    (long long)lseek(s->outs[1].fd, 0, SEEK_CUR));
	snprintf(tmp, sizeof tmp, "%s/started.tmp", note_dir);
	snprintf(path, sizeof path, "%s/started", note_dir);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		die(tmp);
	write_all(fd, line, n);
	close(fd);
	if (rename(tmp, path) == -1)
		die("rename");
}

/*
 * The job started (or adopted) in ph for the attempt that started at t0:
 * supervise it to its end (o) within the attempt's timeout, then close w,
 * the write ends of its pipes.
 */
static void
follow(struct sup *s, const struct batchd_job *job, struct phase *ph,
    int64_t t0, struct batchd_outcome *o, int *w)
{
	int64_t	timeout_ms = (int64_t)job->timeout_s * 1000;
	int	i;

	/* The fetch (or the lost shim) used part of the attempt's time. */
	ph->deadline = timeout_ms > 0 ? t0 + timeout_ms : -1;
	batchsched_self();	/* it only waits on the job from here */
	supervise(s, ph, o, w);
	if (o->timed_out)
		s->timed_out = 1;	/* e.g. Slurm's TIMEOUT */
	for (i = 0; i < 2; i++)
		if (w[i] != -1)
			close(w[i]);
}

/*
 * Adopt mode (see the top of the file): the backend takes over the job a
 * lost shim started, at t0, and it is supervised to its end (o). The
 * reason it cannot be (REASON_SUPERVISOR_LOST, with err), or REASON_NONE.
 */
static int
adopt(struct sup *s, struct batchd_job *job, int64_t t0,
    struct batchd_outcome *o, char *err, size_t errlen)
{
	const struct batchd_plugin	*backend;
	struct phase			 ph;
	uint64_t			 done[2];
	long long			 at[2];
	char				 path[4096];
	int				 w[2], i;
	FILE				*f;

	if ((backend = load_plugin(SHIM_PLUGIN_BACKEND, BATCHD_PLUGIN_BACKEND,
	    err, errlen)) == NULL)
		return REASON_SUPERVISOR_LOST;
	if (!can_adopt(backend)) {
		snprintf(err, errlen, "the %s backend cannot adopt a job",
		    backend->name);
		return REASON_SUPERVISOR_LOST;
	}
	snprintf(path, sizeof path, "%s/started", note_dir);
	if ((f = fopen(path, "re")) == NULL ||
	    fscanf(f, "%lld %lld", &at[0], &at[1]) != 2) {
		snprintf(err, errlen, "%s: unreadable", path);
		if (f != NULL)
			fclose(f);
		return REASON_SUPERVISOR_LOST;
	}
	fclose(f);
	for (i = 0; i < 2; i++) {
		off_t	size = lseek(s->outs[i].fd, 0, SEEK_CUR);

		done[i] = size > at[i] ? (uint64_t)(size - at[i]) : 0;
	}
	memset(&ph, 0, sizeof ph);
	ph.be = &backend->u.backend;
	phase_pipes(s, w);
	if (ph.be->adopt(job, w[0], w[1], done, &ph.handle, err,
	    errlen) == -1) {
		for (i = 0; i < 2; i++)
			close(w[i]);
		return REASON_SUPERVISOR_LOST;
	}
	follow(s, job, &ph, t0, o, w);
	return REASON_NONE;
}

/*
 * Phases 2 and 3: the runner's command for file, started by backend (in
 * ph, which it may have prepared) and supervised to its end (o) within
 * the attempt's timeout, counted from t0. 1 once the job started, 0 if it
 * never did (err says why).
 */
static int
run_job(struct sup *s, struct batchd_job *job, const char *file,
    const struct batchd_plugin *backend, struct phase *ph, int64_t t0,
    struct batchd_outcome *o, char *err, size_t errlen)
{
	const struct batchd_plugin	*runner;
	char				*in = NULL, **jargv = NULL;
	int				 w[2], i, started = 0;

	if ((runner = load_plugin(SHIM_PLUGIN_RUNNER, BATCHD_PLUGIN_RUNNER, err,
	    errlen)) == NULL ||
	    runner->u.runner.command(job, file, &jargv, &in, err,
	    errlen) == -1)
		goto out;
	setting_plugin = backend->name;	/* its settings from here on */
	job->exposed_ro = exposed[0];
	job->exposed_rw = exposed[1];
	if (can_adopt(backend))
		logs_at(s);
	phase_pipes(s, w);
	if (ph->be->start(job, jargv, in != NULL ? in : "/dev/null", w[0],
	    w[1], &ph->handle, err, errlen) == -1) {
		ph->handle = NULL;	/* released by start() */
		for (i = 0; i < 2; i++)
			close(w[i]);
		goto out;
	}
	started = 1;
	follow(s, job, ph, t0, o, w);
out:
	free(in);
	if (jargv != NULL) {
		for (i = 0; jargv[i] != NULL; i++)
			free(jargv[i]);
		free(jargv);
	}
	return started;
}

/*
 * The attempt, phases 0 to 3 (see the top of the file), from t0; its
 * outcome in o. The reason it failed (REASON_*, with err), or REASON_NONE.
 */
static int
attempt(struct sup *s, struct batchd_job *job, int64_t t0,
    struct batchd_outcome *o, char *err, size_t errlen)
{
	const struct batchd_plugin	*backend;
	struct phase			 ph;
	char				*file = NULL;
	int64_t				 timeout_ms, fetch_ms;
	int				 reason = REASON_NONE, started = 0;

	timeout_ms = (int64_t)job->timeout_s * 1000;
	fetch_ms = num(SHIM_FETCH_TIMEOUT_S) * 1000;
	if (fetch_ms <= 0 || (timeout_ms > 0 && fetch_ms > timeout_ms))
		fetch_ms = timeout_ms;
	/* What of the start does not wait for the fetch, while it runs. */
	memset(&ph, 0, sizeof ph);
	if ((backend = load_plugin(SHIM_PLUGIN_BACKEND, BATCHD_PLUGIN_BACKEND,
	    err, errlen)) == NULL) {
		reason = REASON_SPAWN_FAILED;
		goto done;
	}
	ph.be = &backend->u.backend;
	if (ph.be->prepare != NULL && ph.be->prepare(job, &ph.handle, err,
	    errlen) == -1) {
		ph.handle = NULL;
		reason = REASON_SPAWN_FAILED;
		goto done;
	}
	if (fetch(s, job, fetch_ms, &file, err, errlen) == -1) {
		reason = REASON_FETCH_FAILED;
		goto done;
	}
	if (!(started = run_job(s, job, file, backend, &ph, t0, o, err,
	    errlen)))
		reason = REASON_SPAWN_FAILED;
done:
	/* Prepared but never started (a failed or cancelled fetch): no
	 * process or cgroup of the attempt may stay. */
	if (!started && ph.handle != NULL && ph.be->unprepare != NULL)
		ph.be->unprepare(ph.handle);
	free(file);
	return reason;
}

/*
 * The attempt's end in DIR/exit: its outcome o (with the CPU time of the
 * children where the backend gave none), the reason it failed with err
 * (masked), and how long it took from t0.
 */
static void
report(const char *dir, struct sup *s, struct batchd_outcome *o, int64_t t0,
    int reason, char *err)
{
	struct rusage	ru;

	if (reason == REASON_NONE && s->timed_out == 0 && s->cancelled == 0 &&
	    getrusage(RUSAGE_CHILDREN, &ru) == 0 && o->user_us == 0) {
		o->user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 +
		    ru.ru_utime.tv_usec;
		o->sys_us = (int64_t)ru.ru_stime.tv_sec * 1000000 +
		    ru.ru_stime.tv_usec;
		o->maxrss_kb = ru.ru_maxrss;
	}
	if (reason != REASON_NONE) {
		emit(&s->outs[1], "", 0, 1);
		mask_text(err);		/* it becomes the run's reason_text */
	}
	record(dir, o, s->timed_out && reason == REASON_NONE, s->cancelled,
	    mono_ms() - t0, reason, reason != REASON_NONE ? err : NULL);
}

/* What the description, the secrets and the runners left, freed. */
static void
free_all(void)
{
	size_t	i;
	int	j;

	for (j = 0; j < 2; j++) {
		while (nexposed[j] > 0)
			free(exposed[j][--nexposed[j]]);
		free(exposed[j]);
	}
	for (i = 0; i < nkv; i++)
		free(kv[i]);
	free(kv);
	for (i = 0; i < npats; i++)
		free(pats[i]);
	free(pats);
}

int
main(int argc, char **argv)
{
	struct batchd_job		 job;
	struct batchd_outcome		 o;
	struct sup			 s;
	char				 err[8192];
	const char			*dir;
	int64_t				 t0;
	int				 reason;

	if (argc != 2) {
		fprintf(stderr, "usage: batchd-shim DIR\n");
		return 64;
	}
	dir = argv[1];
	/* It holds secrets: no job of the same uid may read its memory
	 * (/proc/PID/mem) or ptrace it. Children keep this until exec. */
	if (prctl(PR_SET_DUMPABLE, 0) == -1)
		die("PR_SET_DUMPABLE");
	load_job();
	write_pid();

	memset(&s, 0, sizeof s);
	s.pipes[0] = s.pipes[1] = -1;
	open_logs(&s);
	s.grace_ms = num(SHIM_GRACE_S) * 1000;
	s.sfd = signals();
	job_init(&job);
	note_dir = dir;

	t0 = mono_ms();
	memset(&o, 0, sizeof o);
	if (get(SHIM_ADOPT) != NULL) {
		t0 -= num(SHIM_ADOPT);		/* when the attempt started */
		reason = adopt(&s, &job, t0, &o, err, sizeof err);
	} else
		reason = attempt(&s, &job, t0, &o, err, sizeof err);
	report(dir, &s, &o, t0, reason, err);
	free_all();
	return 0;
}
