/*
 * backend_slurm.c: jobs run on Slurm, reached through its command-line
 * tools. Settings ([plugin.slurm], overridden by the cluster's
 * [instance.TYPE] section):
 *
 *	conf = /etc/slurm/slurm.conf	SLURM_CONF for the tools (default:
 *					theirs)
 *	sbatch, scontrol, scancel	the tools (default: on PATH)
 *	path = /usr/local/bin:/usr/bin:/bin	PATH of the tools
 *	partition, account, qos		sbatch's --partition, --account, --qos
 *	sbatch_args			more sbatch options (split as words)
 *	srun = srun, srun_args		the launcher of W > 1 tasks
 *	poll_max_ms = 1000		slowest query of the job's state
 *	tool_timeout_s = 20		a tool running longer is killed
 *	kill_wait_s = 60		after SIGKILL, how long to wait for
 *					Slurm to confirm the job's end
 *
 * start() writes a batch script into {attempt}/slurm/job.sh that cds into
 * job->workdir, sets the limits, exports the job's environment and execs
 * argv: directly when W == 1 or when argv[0] is an MPI launcher (mpiexec,
 * mpirun, which takes its W ranks from Slurm's allocation), else through
 * srun -n W. sbatch --parsable submits it with --ntasks=W, --time=
 * ceil(timeout_s / 60) minutes, --no-requeue (batchd retries, not Slurm),
 * output and error into {attempt}/slurm/, as job->uid when set. The
 * script file is removed once submitted (it holds the environment; Slurm
 * keeps its own copy). The job id goes to {attempt}/slurm.jobid.
 *
 * sbatch runs with an environment of PATH and SLURM_CONF only and
 * --export=ALL: Slurm 22.05's --export=NONE implies --get-user-env, which
 * would add the submitting user's login environment to the job's. So the
 * job sees its own environment, SLURM_* and what slurmstepd adds
 * (ENVIRONMENT, HOSTNAME, PWD, TMPDIR).
 *
 * poll() copies what the job's two output files gained into out_fd and
 * err_fd (made non-blocking: the supervisor reading them is this very
 * process, so poll() writes what fits and goes on at the next call), and
 * at most every interval asks "scontrol -o show job ID" for the state;
 * the interval starts at 100 ms and grows by half up to poll_max_ms,
 * again from 100 ms after a change or a kill. A final state is read while
 * slurmctld still knows the job, i.e. within MinJobAge (300 s by default)
 * of its end: there is no sacct (no accounting storage is assumed). Once
 * final, poll() copies the files to their end and returns 1 with:
 *
 *	COMPLETED		exited 0
 *	FAILED			exited N of ExitCode=N:S, or killed by S
 *	CANCELLED		killed by S, else by the last signal sent (a
 *				cancel from outside batchd says so on stderr)
 *	TIMEOUT, DEADLINE	killed by SIGXCPU and timed_out (batchd's
 *				reason Timeout), a line on stderr
 *	NODE_FAIL, PREEMPTED,	killed by SIGKILL, a line on stderr
 *	BOOT_FAIL, OUT_OF_MEMORY, others
 *	no longer known		killed by SIGKILL, a line on stderr
 *
 * While the job waits in Slurm, each new pending reason but "None" is the
 * run's reason_text ("Pending in Slurm (Reason)", through job->note, until
 * the job runs) and a line "slurm: job N pending (Reason)" on the job's
 * stderr; so is scontrol failing 5 times in a row (stderr only). batchd's
 * timeout counts the time pending in Slurm too; Slurm's own limit starts
 * later and is rounded up, so batchd's fires first unless the partition's
 * limits are lower. Resource usage is not Slurm's (no accounting): the
 * supervisor reports its own children's, i.e. the tools'.
 *
 * kill(sig) signals every process of a running job (scancel --full
 * --signal=sig, within 5 s), and plainly cancels a job that has none yet
 * (a pending job cannot be signalled: scancel would retry for minutes) or
 * that Slurm refused to signal. After SIGKILL, a job whose end Slurm does
 * not confirm within kill_wait_s is given up as killed by SIGKILL.
 *
 * All of it runs in the attempt's supervisor, which outlives batchd, so a
 * job in Slurm survives batchd's restart. When the supervisor is lost too
 * (killed, or its machine gone with batchd), the job goes on under slurmd
 * and a new supervisor adopts it (adopt()): from {attempt}/slurm.jobid,
 * without submitting again, it polls the job as above and copies its files
 * on from where the logs stop. Our own lines (note()) are interleaved
 * with a file's bytes, so each is recorded in {attempt}/slurm.notes
 * before it is written, "STREAM AT LEN" and its text, AT being how many
 * of the file's bytes precede it: adopt() is told how many bytes of the
 * stream the logs hold and takes our lines out to find the file's offset
 * (a line cut short goes out whole).
 *
 * Threads: none; tools are child processes waited for at once.
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "plugin.h"
#include "words.h"

#define POLL_MIN_MS	100
#define COPY_BYTES	65536
#define QUERY_FAILURES	5	/* in a row: a line on stderr */
#define SIGNAL_MS	5000	/* for scancel --signal, then a plain one */

/* One output stream: the Slurm job's file copied into the supervisor's
 * pipe. Our own lines (note) go out before the file's next bytes. */
struct stream {
	int	 pipe;		/* out_fd or err_fd, non-blocking */
	char	*path;		/* the job's file, created by slurmstepd */
	int	 fd;		/* -1 until it exists */
	char	 buf[COPY_BYTES];
	size_t	 off, len;	/* read from fd, not yet written */
	char	*note;
	size_t	 nnote;
	uint64_t sent;		/* the file's bytes written into pipe */
};

/* The job's Slurm states, as the backend tracks them. */
enum { ST_UNKNOWN, ST_PENDING, ST_RUNNING, ST_FINAL };

struct slurm {
	char		*scontrol, *scancel;
	char		*env[4];	/* of the tools: envs, NULL */
	char		 envs[3][4200];
	int64_t		 tool_ms;
	char		 id[32];
	struct stream	 s[2];
	int		 journal;	/* {attempt}/slurm.notes, or -1 */
	int		 state;
	char		 reason[64];	/* the last pending reason told */
	int64_t		 next_ms, interval_ms, max_ms;
	int		 sig;		/* last signal asked for, or 0 */
	int64_t		 give_up_ms;	/* after SIGKILL; -1: not yet */
	int64_t		 kill_wait_ms;
	int		 final_told;
	int		 failures;	/* queries failed in a row */
	struct batchd_outcome o;
	char		 final[256];	/* the line for stderr, or "" */
	void		(*tell)(const char *);	/* job->note */
};

/* Setting key, or def when unset or empty. */
static const char *
set_or(const struct batchd_job *job, const char *key, const char *def)
{
	const char	*v = job->setting(key);

	return v != NULL && *v != '\0' ? v : def;
}

/* Setting key as a number of at least min, or def. */
static long
set_num(const struct batchd_job *job, const char *key, long def, long min)
{
	const char	*v = job->setting(key);
	char		*end;
	long		 n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtol(v, &end, 10);
	return *end == '\0' && n >= min ? n : def;
}

/* ------------------------------------------------------------ the tools */

/*
 * In tool()'s child: argv run as uid:gid (uid (uid_t)-1: as we are), stdin
 * /dev/null, stdout into o[1] and stderr into e[1]. Never returns.
 */
static void __attribute__((noreturn))
tool_exec(const struct slurm *s, char *const *argv, uid_t uid, gid_t gid,
    const int *o, const int *e)
{
	sigset_t	none;
	int		fd, sig;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if ((fd = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(fd, 0) == -1 || dup2(o[1], 1) == -1 ||
	    dup2(e[1], 2) == -1)
		_exit(127);
	syscall(SYS_close_range, 3U, ~0U, 0U);
	if (uid != (uid_t)-1 && (setgroups(0, NULL) == -1 ||
	    setgid(gid) == -1 || setuid(uid) == -1)) {
		dprintf(2, "running as %u:%u: %s\n", (unsigned)uid,
		    (unsigned)gid, strerror(errno));
		_exit(126);
	}
	execvpe(argv[0], argv, s->env);
	dprintf(2, "%s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * Read the tool's stdout (fd[0]) into out and its stderr (fd[1]) into err
 * until both end, each NUL-terminated and truncated to its size (the rest
 * is read and dropped), or until the deadline: then the tool (pid) is
 * killed and 1 returned; else 0. Closes both fds.
 */
static int
tool_read(pid_t pid, const int *fd, int64_t deadline, char *out,
    size_t outlen, char *err, size_t errlen)
{
	struct pollfd	 pfd[2];
	char		 junk[4096];
	size_t		 no = 0, ne = 0;
	int		 i, open_fds = 2, killed = 0;
	int64_t		 left;
	ssize_t		 n;

	for (i = 0; i < 2; i++) {
		pfd[i].fd = fd[i];
		pfd[i].events = POLLIN;
	}
	while (open_fds > 0) {
		if ((left = deadline - mono_ms()) <= 0) {
			kill(pid, SIGKILL);
			killed = 1;
			break;
		}
		if (poll(pfd, 2, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++) {
			char	*b = i == 0 ? out : err;
			size_t	*nb = i == 0 ? &no : &ne;
			size_t	 cap = i == 0 ? outlen : errlen;

			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			if (*nb + 1 < cap)
				n = read(pfd[i].fd, b + *nb, cap - 1 - *nb);
			else
				n = read(pfd[i].fd, junk, sizeof junk);
			if (n > 0) {
				if (*nb + 1 < cap)
					*nb += (size_t)n;
				continue;
			}
			if (n == -1 && errno == EINTR)
				continue;
			pfd[i].fd = -1;
			open_fds--;
		}
	}
	close(fd[0]);
	close(fd[1]);
	out[no] = '\0';
	err[ne] = '\0';
	return killed;
}

/*
 * Run argv (a tool; PATH from s->env) as uid:gid (uid (uid_t)-1: as we
 * are), stdin /dev/null, within limit_ms. Its stdout goes to out (NUL-
 * terminated, truncated), its stderr's first line to msg. Returns the
 * wait status, or -1 when it could not run or was killed for taking too
 * long (msg says which).
 */
static int
tool(const struct slurm *s, char *const *argv, uid_t uid, gid_t gid,
    int64_t limit_ms, char *out, size_t outlen, char *msg, size_t msglen)
{
	char		 ebuf[1024], *nl;
	int		 o[2], e[2], rd[2], st, i, killed;
	int64_t		 deadline = mono_ms() + limit_ms;
	ssize_t		 n;
	pid_t		 pid;

	out[0] = msg[0] = '\0';
	if (pipe2(o, O_CLOEXEC) == -1)
		goto fail;
	if (pipe2(e, O_CLOEXEC) == -1) {
		close(o[0]);
		close(o[1]);
		goto fail;
	}
	if ((pid = fork()) == -1) {
		for (i = 0; i < 2; i++) {
			close(o[i]);
			close(e[i]);
		}
		goto fail;
	}
	if (pid == 0)
		tool_exec(s, argv, uid, gid, o, e);
	close(o[1]);
	close(e[1]);
	rd[0] = o[0];
	rd[1] = e[0];
	killed = tool_read(pid, rd, deadline, out, outlen, ebuf, sizeof ebuf);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR) {
			st = -1;
			break;
		}
	if ((nl = strchr(ebuf, '\n')) != NULL)
		*nl = '\0';
	if (killed) {
		snprintf(msg, msglen, "%s took more than %lld ms", argv[0],
		    (long long)limit_ms);
		return -1;
	}
	if (ebuf[0] == '\0')
		snprintf(ebuf, sizeof ebuf, "no message");
	n = (ssize_t)strnlen(ebuf, msglen - 1);
	memcpy(msg, ebuf, (size_t)n);
	msg[n] = '\0';
	return st;
fail:
	snprintf(msg, msglen, "%s: %s", argv[0], strerror(errno));
	return -1;
}

/* ------------------------------------------------------------ streams */

/* Queue text (n bytes) for stream i before the file's next bytes, and
 * record where it goes in {attempt}/slurm.notes (see the top). */
static void
queue(struct slurm *s, int i, const char *text, size_t n)
{
	struct stream	*st = &s->s[i];
	char		*p;

	if (n == 0 || (p = realloc(st->note, st->nnote + n)) == NULL)
		return;
	memcpy(p + st->nnote, text, n);
	st->note = p;
	st->nnote += n;
	if (s->journal != -1)
		dprintf(s->journal, "%d %llu %zu\n%.*s", i,
		    (unsigned long long)st->sent, n, (int)n, text);
}

/* Our own line for stream i (before the file's next bytes). */
static void
note(struct slurm *s, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note(struct slurm *s, int i, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[512];
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	queue(s, i, line, (size_t)n);
}

/* Write what fits of buf[*off..len) into fd; 1 when all is out. */
static int
put(int fd, const char *buf, size_t *off, size_t len)
{
	ssize_t	w;

	while (*off < len) {
		w = write(fd, buf + *off, len - *off);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			*off = len;	/* the reader is gone: drop it */
			break;
		}
		*off += (size_t)w;
	}
	return 1;
}

/*
 * Copy into st->pipe our lines, then what the job's file gained, as far as
 * the pipe takes it. 1 when nothing is left to copy (for now), 0 when the
 * pipe is full.
 */
static int
pump(struct stream *st)
{
	size_t	 off = 0;
	ssize_t	 n;
	int	 all;

	if (st->nnote > 0) {
		if (!put(st->pipe, st->note, &off, st->nnote)) {
			memmove(st->note, st->note + off, st->nnote - off);
			st->nnote -= off;
			return 0;
		}
		free(st->note);
		st->note = NULL;
		st->nnote = 0;
	}
	if (st->fd == -1) {
		if ((st->fd = open(st->path, O_RDONLY | O_CLOEXEC)) == -1)
			return 1;	/* not there yet */
		if (st->sent > 0)	/* adopted: the logs have the rest */
			lseek(st->fd, (off_t)st->sent, SEEK_SET);
	}
	for (;;) {
		if (st->off < st->len) {
			off = st->off;
			all = put(st->pipe, st->buf, &st->off, st->len);
			st->sent += st->off - off;
			if (!all)
				return 0;
		}
		st->off = st->len = 0;
		n = read(st->fd, st->buf, sizeof st->buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return 1;
		st->len = (size_t)n;
	}
}

/* ------------------------------------------------------------ the script */

/* Write s single-quoted for sh. */
static void
shq(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

/* Is name a variable sh can export? */
static int
sh_name(const char *name, size_t len)
{
	size_t	i;

	if (len == 0 || isdigit((unsigned char)name[0]))
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return 0;
	return 1;
}

/* Does argv start an MPI launcher, which takes its ranks from Slurm? */
static int
launcher(const char *argv0)
{
	const char	*b = strrchr(argv0, '/');

	b = b != NULL ? b + 1 : argv0;
	return strncmp(b, "mpiexec", 7) == 0 || strncmp(b, "mpirun", 6) == 0 ||
	    strcmp(b, "orterun") == 0 || strcmp(b, "prterun") == 0 ||
	    strcmp(b, "srun") == 0;
}

/* The batch script: cd, limits, the job's environment, exec argv. */
static int
write_script(const struct batchd_job *job, char *const *argv,
    const char *in, const char *path, char *err, size_t errlen)
{
	char		**srun = NULL;
	const char	*eq;
	size_t		 i, nsrun = 0;
	FILE		*f;
	int		 fd, odd = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0700)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	fprintf(f, "#!/bin/sh\n# batchd run %s attempt %u (the slurm backend;"
	    " sbatch's options are on its command line)\ncd ", job->run_uuid,
	    job->attempt);
	shq(f, job->workdir);
	fprintf(f, " || exit 127\n");
	if (job->limit_nofile > 0)
		fprintf(f, "ulimit -n %llu || exit 126\n",
		    (unsigned long long)job->limit_nofile);
	if (job->limit_as > 0)
		fprintf(f, "ulimit -v %llu || exit 126\n",
		    (unsigned long long)(job->limit_as / 1024));
	if (job->limit_cpu > 0)
		fprintf(f, "ulimit -t %llu || exit 126\n",
		    (unsigned long long)job->limit_cpu);
	for (i = 0; job->env[i] != NULL; i++) {
		if ((eq = strchr(job->env[i], '=')) == NULL)
			continue;
		if (!sh_name(job->env[i], (size_t)(eq - job->env[i]))) {
			odd = 1;
			continue;
		}
		fprintf(f, "export %.*s=", (int)(eq - job->env[i]),
		    job->env[i]);
		shq(f, eq + 1);
		fputc('\n', f);
	}
	fprintf(f, "exec");
	if (odd) {
		/* Names sh cannot export go through env(1). */
		fprintf(f, " env");
		for (i = 0; job->env[i] != NULL; i++)
			if ((eq = strchr(job->env[i], '=')) != NULL &&
			    !sh_name(job->env[i], (size_t)(eq - job->env[i]))) {
				fputc(' ', f);
				shq(f, job->env[i]);
			}
	}
	if (job->workers > 1 && !launcher(argv[0])) {
		char	n[16];

		snprintf(n, sizeof n, "%u", job->workers);
		if (words_split(set_or(job, "srun", "srun"), &srun,
		    &nsrun) == -1 || nsrun == 0 ||
		    words_add(&srun, &nsrun, "--export=ALL") == -1 ||
		    words_split(set_or(job, "srun_args", ""), &srun,
		    &nsrun) == -1 || words_add(&srun, &nsrun, "-n") == -1 ||
		    words_add(&srun, &nsrun, n) == -1) {
			words_free(srun);
			fclose(f);
			snprintf(err, errlen, "srun or srun_args do not split "
			    "into words");
			return -1;
		}
		for (i = 0; i < nsrun; i++) {
			fputc(' ', f);
			shq(f, srun[i]);
		}
		words_free(srun);
	}
	for (i = 0; argv[i] != NULL; i++) {
		fputc(' ', f);
		shq(f, argv[i]);
	}
	fprintf(f, " <");
	shq(f, in);
	fputc('\n', f);
	if (fclose(f) == EOF) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* path with Slurm's filename patterns ("%j") escaped. */
static char *
no_patterns(const char *path)
{
	char	*p, *o;

	if ((p = o = malloc(strlen(path) * 2 + 1)) == NULL)
		return NULL;
	for (; *path != '\0'; path++) {
		if (*path == '%')
			*o++ = '%';
		*o++ = *path;
	}
	*o = '\0';
	return p;
}

/* ------------------------------------------------------------ the backend */

/* Release a handle: its files, buffers and strings. */
static void
slurm_free(struct slurm *s)
{
	int	i;

	if (s == NULL)
		return;
	for (i = 0; i < 2; i++) {
		if (s->s[i].fd != -1)
			close(s->s[i].fd);
		free(s->s[i].path);
		free(s->s[i].note);
	}
	if (s->journal != -1)
		close(s->journal);
	free(s->scontrol);
	free(s->scancel);
	free(s);
}

/* Add one "--key=value" to the sbatch command line. */
static int
opt(char ***v, size_t *n, const char *key, const char *value)
{
	char	*o;
	int	 rc;

	if (asprintf(&o, "--%s=%s", key, value) == -1)
		return -1;
	rc = words_add(v, n, o);
	free(o);
	return rc;
}

/*
 * The backend's state for a job whose output goes to out_fd and err_fd:
 * its settings, the tools and their environment. NULL with err when out
 * of memory.
 */
static struct slurm *
slurm_new(const struct batchd_job *job, int out_fd, int err_fd, char *err,
    size_t errlen)
{
	struct slurm	*s;
	const char	*conf;
	int		 n;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->s[0].fd = s->s[1].fd = -1;
	s->journal = -1;
	s->s[0].pipe = out_fd;
	s->s[1].pipe = err_fd;
	s->tool_ms = set_num(job, "tool_timeout_s", 20, 1) * 1000;
	s->max_ms = set_num(job, "poll_max_ms", 1000, POLL_MIN_MS);
	s->tell = job->note;
	s->kill_wait_ms = set_num(job, "kill_wait_s", 60, 1) * 1000;
	s->give_up_ms = -1;
	conf = job->setting("conf");
	n = 0;
	snprintf(s->envs[n], sizeof s->envs[n], "PATH=%s", set_or(job,
	    "path", "/usr/local/bin:/usr/bin:/bin"));
	s->env[n] = s->envs[n];
	n++;
	snprintf(s->envs[n], sizeof s->envs[n], "LC_ALL=C");
	s->env[n] = s->envs[n];
	n++;
	if (conf != NULL) {
		snprintf(s->envs[n], sizeof s->envs[n], "SLURM_CONF=%s", conf);
		s->env[n] = s->envs[n];
	}
	if ((s->scontrol = strdup(set_or(job, "scontrol", "scontrol"))) ==
	    NULL || (s->scancel = strdup(set_or(job, "scancel", "scancel"))) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		slurm_free(s);
		return NULL;
	}
	return s;
}

/*
 * The names of the job's output files in dir, whose supervisor pipes are
 * made non-blocking. 0, or -1 with err.
 */
static int
streams(struct slurm *s, const char *dir, char *err, size_t errlen)
{
	char	path[4200];
	int	i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, i == 0 ? "stdout" :
		    "stderr");
		if ((s->s[i].path = strdup(path)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		/* The supervisor reads these: see pump(). */
		fcntl(s->s[i].pipe, F_SETFL,
		    fcntl(s->s[i].pipe, F_GETFL) | O_NONBLOCK);
		fcntl(s->s[i].pipe, F_SETPIPE_SZ, 1 << 20);
	}
	return 0;
}

/*
 * {attempt}/slurm, the job's own: the batch script for argv and in (its
 * path into script) and the names of the job's output files, whose
 * supervisor pipes are made non-blocking. 0, or -1 with err.
 */
static int
slurm_files(struct slurm *s, const struct batchd_job *job,
    char *const *argv, const char *in, char *script, size_t scriptlen,
    char *err, size_t errlen)
{
	char	dir[4096];

	snprintf(dir, sizeof dir, "%s/../slurm", job->workdir);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (job->uid != (uid_t)-1 && chown(dir, job->uid, job->gid) == -1) {
		snprintf(err, errlen, "chown %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(script, scriptlen, "%s/job.sh", dir);
	if (write_script(job, argv, in, script, err, errlen) == -1)
		return -1;
	if (job->uid != (uid_t)-1 && chown(script, job->uid, job->gid) ==
	    -1) {
		snprintf(err, errlen, "chown %s: %s", script, strerror(errno));
		return -1;
	}
	return streams(s, dir, err, errlen);
}

/*
 * The sbatch command line that submits script into *sv (words_free()),
 * see the top of the file. 0, or -1 with err.
 */
static int
sbatch_argv(const struct slurm *s, const struct batchd_job *job,
    const char *script, char ***sv, char *err, size_t errlen)
{
	static const char *const opts[] = { "partition", "account", "qos" };
	char		 num[32], name[128], *po = NULL, *pe = NULL;
	const char	*v;
	size_t		 nsv = 0, i;
	int		 rc = -1;

	*sv = NULL;
	snprintf(num, sizeof num, "%u", job->workers > 0 ? job->workers : 1);
	snprintf(name, sizeof name, "batchd-%s-%u", job->run_uuid,
	    job->attempt);
	if ((po = no_patterns(s->s[0].path)) == NULL ||
	    (pe = no_patterns(s->s[1].path)) == NULL ||
	    words_split(set_or(job, "sbatch", "sbatch"), sv, &nsv) == -1 ||
	    nsv == 0 ||
	    words_add(sv, &nsv, "--parsable") == -1 ||
	    opt(sv, &nsv, "job-name", name) == -1 ||
	    opt(sv, &nsv, "ntasks", num) == -1 ||
	    opt(sv, &nsv, "output", po) == -1 ||
	    opt(sv, &nsv, "error", pe) == -1 ||
	    opt(sv, &nsv, "chdir", job->workdir) == -1 ||
	    opt(sv, &nsv, "export", "ALL") == -1 ||
	    words_add(sv, &nsv, "--no-requeue") == -1) {
		snprintf(err, errlen, "out of memory, or sbatch does not "
		    "split into words");
		goto out;
	}
	if (job->timeout_s > 0) {
		snprintf(num, sizeof num, "%u", (job->timeout_s + 59) / 60);
		if (opt(sv, &nsv, "time", num) == -1)
			goto nomem;
	}
	for (i = 0; i < sizeof opts / sizeof opts[0]; i++)
		if ((v = job->setting(opts[i])) != NULL && *v != '\0' &&
		    opt(sv, &nsv, opts[i], v) == -1)
			goto nomem;
	if (words_split(set_or(job, "sbatch_args", ""), sv, &nsv) == -1) {
		snprintf(err, errlen, "sbatch_args do not split into words");
		goto out;
	}
	if (words_add(sv, &nsv, script) == -1)
		goto nomem;
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	free(po);
	free(pe);
	return rc;
}

/* The job id that text starts with into s->id; its length (0: none). */
static int
job_id(struct slurm *s, const char *text)
{
	int	n;

	for (n = 0; isdigit((unsigned char)text[n]) &&
	    n < (int)sizeof s->id - 1; n++)
		s->id[n] = text[n];
	s->id[n] = '\0';
	return n;
}

/* Open {attempt}/slurm.notes to record our lines in (flags: O_TRUNC, or
 * 0 to add to it); without it, an adopter would repeat a few bytes. */
static void
journal(struct slurm *s, const struct batchd_job *job, int flags)
{
	char	path[4200];

	snprintf(path, sizeof path, "%s/../slurm.notes", job->workdir);
	s->journal = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	    flags, 0600);
}

/*
 * Submit script with sv (sbatch), then remove it; keep the job id in s
 * and {attempt}/slurm.jobid. 0, or -1 with err.
 */
static int
submit(struct slurm *s, const struct batchd_job *job, char *const *sv,
    const char *script, char *err, size_t errlen)
{
	char	res[256], msg[512], path[4200];
	int	st, fd;

	st = tool(s, sv, job->uid, job->gid, s->tool_ms, res, sizeof res, msg,
	    sizeof msg);
	unlink(script);		/* Slurm has it; it holds the environment */
	if (st == -1) {
		snprintf(err, errlen, "sbatch: %s", msg);
		return -1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(err, errlen, "sbatch: %s", msg);
		return -1;
	}
	if (job_id(s, res) == 0) {
		snprintf(err, errlen, "sbatch printed no job id: %.64s", res);
		return -1;
	}
	snprintf(path, sizeof path, "%s/../slurm.jobid", job->workdir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) != -1) {
		dprintf(fd, "%s\n", s->id);
		close(fd);
	}
	journal(s, job, O_TRUNC);
	return 0;
}

/*
 * Write the script, submit it with sbatch and keep the job id; see the top
 * of the file.
 */
static int
start(const struct batchd_job *job, char *const *argv, const char *in,
    int out_fd, int err_fd, void **handle, char *err, size_t errlen)
{
	struct slurm	 *s;
	char		  script[4200];
	char		**sv = NULL;

	if ((s = slurm_new(job, out_fd, err_fd, err, errlen)) == NULL)
		return -1;
	if (slurm_files(s, job, argv, in, script, sizeof script, err,
	    errlen) == -1 ||
	    sbatch_argv(s, job, script, &sv, err, errlen) == -1 ||
	    submit(s, job, sv, script, err, errlen) == -1) {
		words_free(sv);
		slurm_free(s);
		return -1;
	}
	s->interval_ms = POLL_MIN_MS;
	s->next_ms = mono_ms() + POLL_MIN_MS;
	words_free(sv);
	*handle = s;
	return 0;
}

/*
 * An adopter's offsets into the job's files: stream i's logs hold done[i]
 * bytes of the backend's output, i.e. the file's bytes and our lines as
 * {attempt}/slurm.notes records them (see the top), read whole into buf
 * (len bytes, NUL-terminated). Rewrites the record in o to keep the lines
 * the logs hold, a line cut short as far as it went, whose rest (rest[i],
 * nrest[i] bytes of buf) is to go out again; lines after are dropped (the
 * next query says again what still holds). A record cut short (the
 * supervisor killed as it wrote it) was never sent.
 */
static void
resume(struct slurm *s, const char *buf, size_t len, const uint64_t *done,
    FILE *o, const char **rest, size_t *nrest)
{
	const char		*p = buf, *end = buf + len, *nl, *text;
	unsigned long long	 at;
	uint64_t		 pos[2] = { 0, 0 }, k;
	size_t			 n;
	int			 i, stop[2] = { 0, 0 };

	for (; p < end; p = text + n) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL ||
		    sscanf(p, "%d %llu %zu", &i, &at, &n) != 3 || i < 0 ||
		    i > 1 || n > (size_t)(end - nl - 1) ||
		    at < s->s[i].sent)
			break;
		text = nl + 1;
		if (stop[i])
			continue;
		if (done[i] - pos[i] < at - s->s[i].sent) {
			stop[i] = 1;	/* the logs end before it */
			continue;
		}
		pos[i] += at - s->s[i].sent;
		s->s[i].sent = at;
		if ((k = done[i] - pos[i]) >= n)
			k = n;
		else {
			rest[i] = text + k;
			nrest[i] = n - (size_t)k;
			stop[i] = 1;
		}
		if (k > 0)
			fprintf(o, "%d %llu %llu\n%.*s", i, at,
			    (unsigned long long)k, (int)k, text);
		pos[i] += k;
		if (i == 1)	/* what we told last stays told */
			sscanf(text, "slurm: job %*s pending (%63[^)])",
			    s->reason);
	}
	for (i = 0; i < 2; i++)
		s->s[i].sent += done[i] - pos[i];
}

/* Read path whole into *buf, NUL-terminated (NULL and 0 if there is none
 * or no memory); its length. */
static size_t
slurp(const char *path, char **buf)
{
	char	*b = NULL, *nb;
	size_t	 len = 0;
	ssize_t	 n;
	int	 fd;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	for (;;) {
		if ((nb = realloc(b, len + 65537)) == NULL) {
			free(b);
			close(fd);
			return 0;
		}
		b = nb;
		if ((n = read(fd, b + len, 65536)) <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	b[len] = '\0';
	*buf = b;
	return len;
}

/*
 * Take over the job of {attempt}/slurm.jobid, which a lost supervisor
 * submitted: see the top of the file.
 */
static int
adopt(const struct batchd_job *job, int out_fd, int err_fd,
    const uint64_t *done, void **handle, char *err, size_t errlen)
{
	struct slurm	*s;
	char		 dir[4096], path[4200], tmp[4300], *id, *rec;
	const char	*rest[2] = { NULL, NULL };
	size_t		 nid, nrec, nrest[2] = { 0, 0 };
	FILE		*o;
	int		 i;

	if ((s = slurm_new(job, out_fd, err_fd, err, errlen)) == NULL)
		return -1;
	snprintf(path, sizeof path, "%s/../slurm.jobid", job->workdir);
	nid = slurp(path, &id);
	if (nid == 0 || job_id(s, id) == 0) {
		snprintf(err, errlen, "%s: no Slurm job id", path);
		free(id);
		slurm_free(s);
		return -1;
	}
	free(id);
	snprintf(dir, sizeof dir, "%s/../slurm", job->workdir);
	if (streams(s, dir, err, errlen) == -1) {
		slurm_free(s);
		return -1;
	}
	/* The record of our lines, rewritten to what the logs hold. */
	snprintf(path, sizeof path, "%s/../slurm.notes", job->workdir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	nrec = slurp(path, &rec);
	if ((o = fopen(tmp, "we")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(rec);
		slurm_free(s);
		return -1;
	}
	resume(s, rec != NULL ? rec : "", nrec, done, o, rest, nrest);
	if (fclose(o) == EOF || rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(rec);
		slurm_free(s);
		return -1;
	}
	journal(s, job, 0);
	for (i = 0; i < 2; i++)
		queue(s, i, rest[i], nrest[i]);
	free(rec);
	/* Told "Pending" before? Its end is told as the job runs. */
	s->state = ST_PENDING;
	s->interval_ms = POLL_MIN_MS;
	s->next_ms = mono_ms();
	*handle = s;
	return 0;
}

/* The value of KEY= in scontrol's one-line output, into v ("" if none). */
static void
field(const char *line, const char *key, char *v, size_t vlen)
{
	char		 k[64];
	const char	*p;
	size_t		 n = 0;

	v[0] = '\0';
	snprintf(k, sizeof k, " %s=", key);
	if (strncmp(line, k + 1, strlen(k + 1)) == 0)
		p = line + strlen(k + 1);
	else if ((p = strstr(line, k)) != NULL)
		p += strlen(k);
	else
		return;
	while (p[n] != '\0' && p[n] != ' ' && p[n] != '\n' && n + 1 < vlen) {
		v[n] = p[n];
		n++;
	}
	v[n] = '\0';
}

/* The outcome of final state state with ExitCode=code:sig. */
static void
outcome(struct slurm *s, const char *state, int code, int sig)
{
	memset(&s->o, 0, sizeof s->o);
	s->final[0] = '\0';
	if (strcmp(state, "COMPLETED") == 0) {
		s->o.waitstatus = W_EXITCODE(code, 0);
	} else if (strcmp(state, "FAILED") == 0) {
		if (sig != 0)
			s->o.waitstatus = W_EXITCODE(0, sig);
		else {
			s->o.waitstatus = W_EXITCODE(code != 0 ? code : 1, 0);
			if (code == 0)
				snprintf(s->final, sizeof s->final, "slurm: job"
				    " %s FAILED without an exit code\n", s->id);
		}
	} else if (strcmp(state, "CANCELLED") == 0) {
		if (s->sig == 0)
			snprintf(s->final, sizeof s->final, "slurm: job %s "
			    "was CANCELLED outside batchd\n", s->id);
		s->o.waitstatus = W_EXITCODE(0, sig != 0 ? sig : s->sig != 0 ?
		    s->sig : SIGTERM);
	} else if (strcmp(state, "TIMEOUT") == 0 ||
	    strcmp(state, "DEADLINE") == 0) {
		snprintf(s->final, sizeof s->final, "slurm: job %s %s: Slurm "
		    "ended it at its time limit\n", s->id, state);
		s->o.waitstatus = W_EXITCODE(0, SIGXCPU);
		s->o.timed_out = 1;
	} else {
		/* NODE_FAIL, PREEMPTED, BOOT_FAIL, OUT_OF_MEMORY, ... */
		snprintf(s->final, sizeof s->final, "slurm: job %s %s\n",
		    s->id, state);
		s->o.waitstatus = W_EXITCODE(0, SIGKILL);
	}
}

/* Is state one Slurm no longer changes (with --no-requeue)? */
static int
is_final(const char *state)
{
	static const char *const finals[] = { "COMPLETED", "FAILED",
	    "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
	    "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "SPECIAL_EXIT" };
	size_t	i;

	for (i = 0; i < sizeof finals / sizeof finals[0]; i++)
		if (strcmp(state, finals[i]) == 0)
			return 1;
	return 0;
}

/* Ask slurmctld for the job's state; ST_FINAL fills the outcome. */
static void
query(struct slurm *s)
{
	char	*argv[] = { s->scontrol, "-o", "show", "job", s->id, NULL };
	char	 line[8192], msg[512], state[64], reason[64], ec[32], *c;
	char	 told[128];
	int	 st, prev = s->state;

	st = tool(s, argv, (uid_t)-1, (gid_t)-1, s->tool_ms, line,
	    sizeof line, msg, sizeof msg);
	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0 &&
	    strstr(msg, "Invalid job id") != NULL) {
		/* Gone from slurmctld (MinJobAge) before its end was seen. */
		memset(&s->o, 0, sizeof s->o);
		s->o.waitstatus = W_EXITCODE(0, SIGKILL);
		snprintf(s->final, sizeof s->final, "slurm: job %s is no "
		    "longer known to Slurm; its end was not seen\n", s->id);
		s->state = ST_FINAL;
		return;
	}
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		/* slurmctld busy or down: ask again later; say so once. */
		if (++s->failures == QUERY_FAILURES)
			note(s, 1, "slurm: job %s: scontrol: %s (still "
			    "asking)\n", s->id, msg);
		return;
	}
	s->failures = 0;
	field(line, "JobState", state, sizeof state);
	field(line, "Reason", reason, sizeof reason);
	field(line, "ExitCode", ec, sizeof ec);
	if (is_final(state)) {
		c = strchr(ec, ':');
		outcome(s, state, atoi(ec), c != NULL ? atoi(c + 1) : 0);
		s->state = ST_FINAL;
		return;
	}
	if (strcmp(state, "PENDING") == 0 ||
	    strcmp(state, "CONFIGURING") == 0 ||
	    strcmp(state, "REQUEUED") == 0) {
		s->state = ST_PENDING;
		if (strcmp(reason, "None") != 0 && reason[0] != '\0' &&
		    strcmp(reason, s->reason) != 0) {
			note(s, 1, "slurm: job %s pending (%s)\n", s->id,
			    reason);
			snprintf(s->reason, sizeof s->reason, "%s", reason);
			snprintf(told, sizeof told, "Pending in Slurm (%s)",
			    reason);
			if (s->tell != NULL)
				s->tell(told);
		}
	} else if (state[0] != '\0') {
		if (s->state == ST_PENDING && s->tell != NULL)
			s->tell("");
		s->state = ST_RUNNING;
	}
	if (s->state != prev)
		s->interval_ms = POLL_MIN_MS;
}

/*
 * Copy the job's new output, ask Slurm for its state when due, and once it
 * is final, copy the rest and fill o: 1. Else 0.
 */
static int
poll_job(void *handle, struct batchd_outcome *o, char *err, size_t errlen)
{
	struct slurm	*s = handle;
	int64_t		 now = mono_ms();
	int		 done;

	done = pump(&s->s[0]) & pump(&s->s[1]);
	if (s->state != ST_FINAL) {
		if (now < s->next_ms)
			return 0;
		query(s);
		now = mono_ms();
		if (s->state != ST_FINAL && s->give_up_ms != -1 &&
		    now >= s->give_up_ms) {
			memset(&s->o, 0, sizeof s->o);
			s->o.waitstatus = W_EXITCODE(0, SIGKILL);
			snprintf(s->final, sizeof s->final, "slurm: job %s: "
			    "no end seen within %lld s of scancel; giving up\n",
			    s->id, (long long)(s->kill_wait_ms / 1000));
			s->state = ST_FINAL;
		}
		if (s->state != ST_FINAL) {
			s->next_ms = now + s->interval_ms;
			s->interval_ms += s->interval_ms / 2;
			if (s->interval_ms > s->max_ms)
				s->interval_ms = s->max_ms;
			return 0;
		}
		done = pump(&s->s[0]) & pump(&s->s[1]);
	}
	/* Final: everything the files hold, then our last line. */
	if (!done)
		return 0;
	if (!s->final_told) {
		s->final_told = 1;
		if (s->final[0] != '\0') {
			note(s, 1, "%s", s->final);
			if (!pump(&s->s[1]))
				return 0;
		}
	} else if (s->s[1].nnote > 0 && !pump(&s->s[1]))
		return 0;
	*o = s->o;
	slurm_free(s);
	return 1;
}

/*
 * scancel with these options (o1 NULL: a plain cancel), within limit_ms;
 * 0 if it says it did.
 */
static int
cancel(struct slurm *s, const char *o1, const char *o2, int64_t limit_ms)
{
	char	*argv[5], out[256], msg[512];
	int	 n = 0, st;

	argv[n++] = s->scancel;
	if (o1 != NULL)
		argv[n++] = (char *)o1;
	if (o2 != NULL)
		argv[n++] = (char *)o2;
	argv[n++] = s->id;
	argv[n] = NULL;
	st = tool(s, argv, (uid_t)-1, (gid_t)-1, limit_ms < s->tool_ms ?
	    limit_ms : s->tool_ms, out, sizeof out, msg, sizeof msg);
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Stop the job: see the top of the file. */
static void
kill_job(void *handle, int sig)
{
	struct slurm	*s = handle;
	char		 o[32];

	if (s->state == ST_FINAL)
		return;
	s->sig = sig;
	/*
	 * A job without processes yet (pending) cannot be signalled, and
	 * scancel would retry for minutes: cancel it. A running job gets
	 * the signal in all its processes; should Slurm refuse (a job in
	 * transition), it is cancelled (SIGTERM, KillWait, SIGKILL).
	 */
	snprintf(o, sizeof o, "--signal=%d", sig);
	if (s->state != ST_RUNNING ||
	    cancel(s, "--full", o, SIGNAL_MS) == -1)
		cancel(s, NULL, NULL, s->tool_ms);
	if (sig == SIGKILL && s->give_up_ms == -1)
		s->give_up_ms = mono_ms() + s->kill_wait_ms;
	s->interval_ms = POLL_MIN_MS;
	s->next_ms = mono_ms() + POLL_MIN_MS;
}

const struct batchd_plugin batchd_plugin = {
	.abi = BATCHD_PLUGIN_ABI,
	.kind = BATCHD_PLUGIN_BACKEND,
	.name = "slurm",
	.handles = 0,
	.u.backend = { .start = start, .poll = poll_job, .kill = kill_job,
	    .poll_ms = POLL_MIN_MS, .adopt = adopt },
};
