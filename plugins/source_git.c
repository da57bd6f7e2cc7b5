/*
 * source_git.c: GIT sources. The repository source.git.repo_url is checked
 * out into {workdir}/repo with the git command, shallow where it can be:
 *
 *	reference ""			git clone --depth 1 URL repo
 *	a branch or a tag		git clone --depth 1 --branch REF URL repo
 *	a commit (7 to 40 hex digits)	git init; git fetch --depth 1 origin SHA;
 *					git checkout FETCH_HEAD; if the server
 *					will not give a commit by SHA (or the
 *					SHA is abbreviated), the whole history
 *					is fetched and SHA checked out
 *
 * and the job's file is {workdir}/repo/{source_location}, opened with
 * openat2(2) RESOLVE_BENEATH the checkout, so neither ".." nor a symlink in
 * the repository can point outside of it.
 *
 *	[plugin.git]
 *	git = git			the git binary (a path, or looked up
 *					on /usr/local/bin:/usr/bin:/bin)
 *	protocols = https:http:ssh:git	GIT_ALLOW_PROTOCOL: file:// and local
 *					paths are refused unless listed
 *
 * Secrets: source.git.token never reaches argv, a URL or the output. git
 * runs with a clean environment of its own (no system or global config,
 * no terminal prompts, LANG=C so its messages can be classified), and the
 * credentials go in that environment only, as the configuration
 * http.extraHeader = "Authorization: Basic base64(username:token)" through
 * GIT_CONFIG_COUNT (git >= 2.31); environ(7) of a process is readable by
 * its owner only, unlike its cmdline. A repo_url carrying credentials
 * itself is refused. git's stdout and stderr are read here, masked (the
 * token, its base64 and that of "username:token") and copied to ours,
 * which the shim puts in the run's stderr; the message returned in err is
 * masked the same way, since the shim masks the logs but not that message.
 *
 * The fetch runs in a child of the shim that the shim stops with SIGTERM
 * (timeout, cancel); git runs in a process group of its own, killed from
 * the SIGTERM handler, so no git outlives the fetch.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "plugin.h"
#include "words.h"

#define GIT_PATH	"/usr/local/bin:/usr/bin:/bin"
#define GIT_PROTOCOLS	"https:http:ssh:git"
#define TAIL_MAX	2048	/* of git's output, kept for err */
#define NSECRETS	5

/* One fetch: git's binary, environment, and what to mask. */
struct git {
	const struct batchd_job	*job;
	const char		*protocols;	/* GIT_ALLOW_PROTOCOL */
	char			 bin[4096];
	char			**env;
	size_t			 nenv;
	char			*secrets[NSECRETS];	/* NULL-ended */
	char			 tail[TAIL_MAX + 1];	/* masked output */
	size_t			 ntail;
};

/* The process group of the git running now, for the signal handler. */
static volatile pid_t	git_pgid;

/* SIGTERM (timeout, cancel): stop git, then die of the signal. */
static void
on_signal(int sig)
{
	if (git_pgid > 0)
		kill(-git_pgid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* base64 of s[0..n), padded; malloc(3)ed, NULL if out of memory. */
static char *
b64(const char *s, size_t n)
{
	static const char	 tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char	*u = (const unsigned char *)s;
	char			*e, *o;
	size_t			 i;
	unsigned		 v;

	if ((e = o = malloc((n + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		v = u[i] << 16 | u[i + 1] << 8 | u[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (n - i == 1) {
		v = u[i] << 16;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		v = u[i] << 16 | u[i + 1] << 8;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = '=';
	}
	*o = '\0';
	return e;
}

/*
 * Copy s[0..n) to out (outlen bytes, NUL-terminated, truncated) with every
 * secret replaced by "****"; the length written.
 */
static size_t
mask(const struct git *g, const char *s, size_t n, char *out, size_t outlen)
{
	size_t	i = 0, o = 0, k, l, best;

	if (outlen == 0)
		return 0;
	while (i < n && o + 1 < outlen) {
		best = 0;
		for (k = 0; g->secrets[k] != NULL; k++) {
			l = strlen(g->secrets[k]);
			if (l >= 4 && l > best && l <= n - i &&
			    memcmp(s + i, g->secrets[k], l) == 0)
				best = l;
		}
		if (best > 0) {
			for (k = 0; k < 4 && o + 1 < outlen; k++)
				out[o++] = '*';
			i += best;
		} else
			out[o++] = s[i++];
	}
	out[o] = '\0';
	return o;
}

/* Format a message into err, masked. */
static void __attribute__((format(printf, 4, 5)))
fail(const struct git *g, char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1) {
		snprintf(err, errlen, "out of memory");
		return;
	}
	mask(g, s, (size_t)n, err, errlen);
	free(s);
}

/* A progress line on stderr (the run's stderr), masked. */
static void __attribute__((format(printf, 2, 3)))
say(const struct git *g, const char *fmt, ...)
{
	va_list	 ap;
	char	*s, line[4096];
	int	 n;
	size_t	 len;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1)
		return;
	len = mask(g, s, (size_t)n, line, sizeof line - 1);
	line[len++] = '\n';
	(void)!write(2, line, len);
	free(s);
}

/* Keep the last TAIL_MAX bytes of git's (masked) output. */
static void
keep_tail(struct git *g, const char *s, size_t n)
{
	size_t	drop;

	if (n > TAIL_MAX) {
		s += n - TAIL_MAX;
		n = TAIL_MAX;
	}
	if (g->ntail + n > TAIL_MAX) {
		drop = g->ntail + n - TAIL_MAX;
		memmove(g->tail, g->tail + drop, g->ntail - drop);
		g->ntail -= drop;
	}
	memcpy(g->tail + g->ntail, s, n);
	g->ntail += n;
	g->tail[g->ntail] = '\0';
}

/* One line (or a piece of a long one) of git's output: mask, keep, echo. */
static void
git_line(struct git *g, const char *s, size_t n, int echo)
{
	char	out[8192];
	size_t	len;

	len = mask(g, s, n, out, sizeof out);
	keep_tail(g, out, len);
	if (echo)
		(void)!write(2, out, len);
}

/*
 * Run git with args (NULL-terminated) in g's environment, stdin from
 * /dev/null, stdout and stderr read here: echoed to our stderr if echo, the
 * last of them in g->tail. Its exit status, 128 + the signal that killed
 * it, or -1 (errno) if it could not be started.
 */
static int
git_run(struct git *g, int echo, ...)
{
	va_list		 ap;
	char		**argv = NULL, buf[4096], line[4096];
	const char	*a;
	size_t		 nargv = 0, nline = 0, i;
	ssize_t		 n;
	pid_t		 pid, parent = getpid();
	int		 p[2], st, fd;

	g->ntail = 0;
	g->tail[0] = '\0';
	if (words_add(&argv, &nargv, g->bin) == -1)
		goto nomem;
	va_start(ap, echo);
	while ((a = va_arg(ap, const char *)) != NULL)
		if (words_add(&argv, &nargv, a) == -1) {
			va_end(ap);
			goto nomem;
		}
	va_end(ap);
	if (pipe2(p, O_CLOEXEC) == -1) {
		words_free(argv);
		return -1;
	}
	if ((pid = fork()) == -1) {
		st = errno;
		close(p[0]);
		close(p[1]);
		words_free(argv);
		errno = st;
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if ((fd = open("/dev/null", O_RDONLY)) != -1 && fd != 0) {
			dup2(fd, 0);
			close(fd);
		}
		dup2(p[1], 1);
		dup2(p[1], 2);
		execve(g->bin, argv, g->env);
		dprintf(2, "git: cannot execute %s: %s\n", g->bin,
		    strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);	/* either of us may come first */
	git_pgid = pid;
	close(p[1]);
	words_free(argv);

	/* Line by line, so a secret within a line is masked whole. */
	while ((n = read(p[0], buf, sizeof buf)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < (size_t)n; i++) {
			line[nline++] = buf[i];
			if (buf[i] == '\n' || buf[i] == '\r' ||
			    nline == sizeof line) {
				git_line(g, line, nline, echo);
				nline = 0;
			}
		}
	}
	if (nline > 0)
		git_line(g, line, nline, echo);
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR) {
			st = 0x7f00;	/* as exit 127 */
			break;
		}
	git_pgid = 0;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);

nomem:
	words_free(argv);
	errno = ENOMEM;
	return -1;
}

/*
 * The most telling line of git's last output: its last "fatal:" or
 * "error:" line without that word, else its last line.
 */
static void
git_reason(const struct git *g, char *out, size_t outlen)
{
	const char	*line, *e, *best = NULL, *last = NULL;

	for (line = g->tail; *line != '\0'; line = *e != '\0' ? e + 1 : e) {
		e = line + strcspn(line, "\r\n");
		if (strncmp(line, "fatal: ", 7) == 0 ||
		    strncmp(line, "error: ", 7) == 0)
			best = line + 7;
		else if (e > line)
			last = line;
	}
	if (best == NULL && (best = last) == NULL)
		best = "no message";
	snprintf(out, outlen, "%.*s", (int)strcspn(best, "\r\n"), best);
}

static int
tail_has(const struct git *g, const char *s)
{
	return strstr(g->tail, s) != NULL;
}

/* Did the server refuse (or ask for) credentials? */
static int
auth_failed(const struct git *g)
{
	return tail_has(g, "could not read Username") ||
	    tail_has(g, "could not read Password") ||
	    tail_has(g, "Authentication failed") ||
	    tail_has(g, "returned error: 401") ||
	    tail_has(g, "returned error: 403");
}

/* Did git fail to reach the server? */
static int
unreachable(const struct git *g)
{
	return tail_has(g, "unable to access") ||
	    tail_has(g, "Could not resolve host") ||
	    tail_has(g, "Connection refused") ||
	    tail_has(g, "Couldn't connect") ||
	    tail_has(g, "does not appear to be a git repository") ||
	    (tail_has(g, "not found") && tail_has(g, "repository"));
}

/* Is the reference unknown to the repository? */
static int
no_such_ref(const struct git *g)
{
	return tail_has(g, "not found in upstream") ||
	    tail_has(g, "couldn't find remote ref") ||
	    tail_has(g, "not our ref") ||
	    tail_has(g, "unadvertised object") ||
	    tail_has(g, "reference is not a tree") ||
	    tail_has(g, "did not match any") ||
	    tail_has(g, "unknown revision");
}

/* Explain in err why git failed (rc from git_run) doing what. */
static void
git_failed(const struct git *g, int rc, const char *what, char *err,
    size_t errlen)
{
	const struct batchd_job	*job = g->job;
	char			 why[1024];

	if (rc == -1) {
		fail(g, err, errlen, "cannot run %s: %s", g->bin,
		    strerror(errno));
		return;
	}
	git_reason(g, why, sizeof why);
	if (rc == 127 && tail_has(g, "cannot execute"))
		fail(g, err, errlen, "%s", why);
	else if (auth_failed(g))
		fail(g, err, errlen, "authentication failed for %s: %s",
		    job->repo_url, *job->token != '\0' ?
		    "the server refused the username and token" :
		    "the server asks for credentials and the job has no "
		    "token");
	else if (tail_has(g, "transport '") && tail_has(g, "not allowed"))
		fail(g, err, errlen, "%s %s: %s (allowed: %s; see protocols "
		    "in [plugin.git])", what, job->repo_url, why, g->protocols);
	else if (no_such_ref(g))
		fail(g, err, errlen, "unknown reference '%s' in %s (%s)",
		    job->reference, job->repo_url, why);
	else
		fail(g, err, errlen, "%s %s: %s", what, job->repo_url, why);
}

/* Is the reference a commit: 7 to 40 hex digits? */
static int
is_commit(const char *ref)
{
	size_t	n = strspn(ref, "0123456789abcdefABCDEF");

	return ref[n] == '\0' && n >= 7 && n <= 40;
}

/*
 * Does url carry credentials? Any user-info for HTTP(S) (a token passed
 * as the user is a credential too), a password for any scheme; "git@host"
 * of ssh is fine.
 */
static int
url_has_credentials(const char *url)
{
	const char	*a, *at;
	size_t		 n;

	if ((a = strstr(url, "://")) == NULL)
		return 0;	/* scp-like "user@host:path" (ssh) or a path */
	a += 3;
	n = strcspn(a, "/?#");
	if ((at = memchr(a, '@', n)) == NULL)
		return 0;
	if (memchr(a, ':', (size_t)(at - a)) != NULL)
		return 1;
	return strncasecmp(url, "http", 4) == 0;
}

/* g->bin: the git setting, a path or looked up on GIT_PATH. */
static int
find_git(struct git *g, char *err, size_t errlen)
{
	const char	*prog, *p, *e;

	if ((prog = g->job->setting("git")) == NULL || *prog == '\0')
		prog = "git";
	if (strchr(prog, '/') != NULL) {
		snprintf(g->bin, sizeof g->bin, "%s", prog);
		return 0;
	}
	for (p = GIT_PATH; *p != '\0'; p = *e == ':' ? e + 1 : e) {
		e = p + strcspn(p, ":");
		snprintf(g->bin, sizeof g->bin, "%.*s/%s", (int)(e - p), p,
		    prog);
		if (access(g->bin, X_OK) == 0)
			return 0;
	}
	snprintf(err, errlen, "%s not found on %s (set git in [plugin.git])",
	    prog, GIT_PATH);
	return -1;
}

static int
env_add(struct git *g, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n, rc;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1)
		return -1;
	rc = words_add(&g->env, &g->nenv, s);
	free(s);
	return rc;
}

/* git's environment, and the secrets to mask. */
static int
git_setup(struct git *g, char *err, size_t errlen)
{
	const struct batchd_job	*job = g->job;
	static const char	*const conf[][2] = {
		{ "advice.detachedHead", "false" },
		{ "init.defaultBranch", "main" },
		{ "gc.auto", "0" },
		{ "maintenance.auto", "false" },
		{ "credential.helper", "" },
	};
	const size_t		 nconf = sizeof conf / sizeof conf[0];
	char			*userpass = NULL;
	size_t			 i, ns = 0;
	int			 auth = *job->token != '\0';

	if (auth) {
		/* The token, as given and in base64 (with and without the
		 * username), as the shim masks them. */
		if (asprintf(&userpass, "%s:%s", job->username,
		    job->token) == -1)
			goto nomem;
		if ((g->secrets[ns++] = strdup(job->token)) == NULL ||
		    (g->secrets[ns++] = b64(job->token,
		    strlen(job->token))) == NULL ||
		    (g->secrets[ns++] = b64(userpass,
		    strlen(userpass))) == NULL)
			goto nomem;
		/* Unpadded forms match inside longer base64 too. */
		for (i = 1; i < ns; i++)
			g->secrets[i][strcspn(g->secrets[i], "=")] = '\0';
	}
	if ((g->protocols = job->setting("protocols")) == NULL ||
	    *g->protocols == '\0')
		g->protocols = GIT_PROTOCOLS;
	if (env_add(g, "PATH=%s", GIT_PATH) == -1 ||
	    env_add(g, "HOME=%s", job->workdir) == -1 ||
	    env_add(g, "LANG=C") == -1 ||
	    env_add(g, "LC_ALL=C") == -1 ||
	    env_add(g, "GIT_TERMINAL_PROMPT=0") == -1 ||
	    env_add(g, "GIT_CONFIG_NOSYSTEM=1") == -1 ||
	    env_add(g, "GIT_CONFIG_GLOBAL=/dev/null") == -1 ||
	    env_add(g, "GIT_ALLOW_PROTOCOL=%s", g->protocols) == -1 ||
	    env_add(g, "GIT_CONFIG_COUNT=%zu", nconf + (auth ? 1 : 0)) == -1)
		goto nomem;
	for (i = 0; i < nconf; i++)
		if (env_add(g, "GIT_CONFIG_KEY_%zu=%s", i, conf[i][0]) == -1 ||
		    env_add(g, "GIT_CONFIG_VALUE_%zu=%s", i, conf[i][1]) == -1)
			goto nomem;
	if (auth) {
		char	*b = b64(userpass, strlen(userpass));
		int	 rc;

		if (b == NULL)
			goto nomem;
		rc = env_add(g, "GIT_CONFIG_KEY_%zu=http.extraHeader", i) ==
		    -1 || env_add(g, "GIT_CONFIG_VALUE_%zu=Authorization: "
		    "Basic %s", i, b) == -1;
		free(b);
		if (rc)
			goto nomem;
	}
	free(userpass);
	return 0;
nomem:
	free(userpass);
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void
git_free(struct git *g)
{
	size_t	i;

	for (i = 0; i < NSECRETS; i++)
		free(g->secrets[i]);
	words_free(g->env);
}

/* Check reference out into dir; 0, or -1 with err. */
static int
checkout(struct git *g, const char *dir, char *err, size_t errlen)
{
	const struct batchd_job	*job = g->job;
	const char		*ref = job->reference;
	int			 rc;

	if (*ref == '\0') {
		say(g, "git: cloning %s (default branch, depth 1)",
		    job->repo_url);
		if ((rc = git_run(g, 1, "clone", "-q", "--depth", "1", "--",
		    job->repo_url, dir, NULL)) != 0)
			goto failed;
		return 0;
	}
	if (!is_commit(ref)) {
		say(g, "git: cloning %s at %s (depth 1)", job->repo_url, ref);
		if ((rc = git_run(g, 1, "clone", "-q", "--depth", "1",
		    "--branch", ref, "--", job->repo_url, dir, NULL)) != 0)
			goto failed;
		return 0;
	}

	say(g, "git: fetching commit %s of %s", ref, job->repo_url);
	if ((rc = git_run(g, 1, "init", "-q", "--", dir, NULL)) != 0 ||
	    (rc = git_run(g, 1, "-C", dir, "remote", "add", "origin",
	    job->repo_url, NULL)) != 0)
		goto failed;
	if (strlen(ref) == 40) {
		rc = git_run(g, 1, "-C", dir, "fetch", "-q", "--depth", "1",
		    "origin", ref, NULL);
		if (rc == 0) {
			if ((rc = git_run(g, 1, "-C", dir, "checkout", "-q",
			    "--detach", "FETCH_HEAD", NULL)) != 0)
				goto failed;
			return 0;
		}
		if (rc == -1 || auth_failed(g) || unreachable(g))
			goto failed;
		say(g, "git: the server does not give commit %s alone; "
		    "fetching the whole history", ref);
	} else
		say(g, "git: %s is an abbreviated commit; fetching the whole "
		    "history", ref);
	if ((rc = git_run(g, 1, "-C", dir, "fetch", "-q", "--tags", "origin",
	    "+refs/heads/*:refs/remotes/origin/*", NULL)) != 0 ||
	    (rc = git_run(g, 1, "-C", dir, "checkout", "-q", "--detach",
	    ref, NULL)) != 0)
		goto failed;
	return 0;
failed:
	git_failed(g, rc, "cannot fetch", err, errlen);
	return -1;
}

static int
fetch(const struct batchd_job *job, char **file, char *err, size_t errlen)
{
	struct git		 g;
	struct open_how		 how;
	struct stat		 sb;
	struct sigaction	 sa, old_term, old_int, old_hup;
	const char		*at;
	char			*dir = NULL, *p;
	int			 root = -1, fd = -1, rc = -1;

	memset(&g, 0, sizeof g);
	g.job = job;
	*file = NULL;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGHUP, &sa, &old_hup);
	if (git_setup(&g, err, errlen) == -1)
		goto out;
	if (url_has_credentials(job->repo_url)) {
		/* Never echo such a URL. */
		snprintf(err, errlen, "repo_url must not carry credentials "
		    "(user:password@ or token@ in the URL): give them as "
		    "username and token");
		goto out;
	}
	if (*job->repo_url == '-' || *job->reference == '-') {
		fail(&g, err, errlen, "%s '%s' may not begin with '-'",
		    *job->repo_url == '-' ? "repo_url" : "reference",
		    *job->repo_url == '-' ? job->repo_url : job->reference);
		goto out;
	}
	if (strchr(job->username, ':') != NULL) {
		snprintf(err, errlen, "username may not contain ':'");
		goto out;
	}
	if (find_git(&g, err, errlen) == -1)
		goto out;
	if (asprintf(&dir, "%s/repo", job->workdir) == -1) {
		dir = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (checkout(&g, dir, err, errlen) == -1)
		goto out;
	if (git_run(&g, 0, "-C", dir, "rev-parse", "HEAD", NULL) == 0)
		say(&g, "git: checked out %.*s", (int)strcspn(g.tail, "\r\n"),
		    g.tail);

	at = *job->reference != '\0' ? job->reference : "the default branch";
	if ((root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1) {
		fail(&g, err, errlen, "%s: %s", dir, strerror(errno));
		goto out;
	}
	memset(&how, 0, sizeof how);
	how.flags = O_RDONLY | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	if ((fd = (int)syscall(SYS_openat2, root, job->source_location, &how,
	    sizeof how)) == -1) {
		if (errno == ENOENT)
			fail(&g, err, errlen, "%s: not in the repository at %s",
			    job->source_location, at);
		else if (errno == EXDEV)
			fail(&g, err, errlen, "%s: resolves outside the "
			    "repository", job->source_location);
		else
			fail(&g, err, errlen, "%s in the repository at %s: %s",
			    job->source_location, at, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		fail(&g, err, errlen, "%s: not a file in the repository at %s",
		    job->source_location, at);
		goto out;
	}
	if (asprintf(&p, "%s/%s", dir, job->source_location) == -1) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	*file = p;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (root != -1)
		close(root);
	free(dir);
	git_free(&g);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	return rc;
}

const struct batchd_plugin batchd_plugin = {
	.abi = BATCHD_PLUGIN_ABI,
	.kind = BATCHD_PLUGIN_SOURCE,
	.name = "git",
	.handles = BATCHD_SOURCE_GIT,
	.u.source = { .fetch = fetch },
};
