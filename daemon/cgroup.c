/*
 * cgroup.c: one cgroup per attempt, so that every process an attempt
 * starts (grandchildren, setsid daemons, fork bombs) is killed with it,
 * limited (memory, processes, CPU) and accounted.
 *
 * A parent is a list of directories separated by ':', one per cgroup
 * hierarchy: the cgroup v2 one and the v1 ones that supply what v2 lacks
 * (on hybrid hosts). batchd finds it once at start (cg_parent()) and hands
 * it to the shim in the job description; the shim makes {dir}/{name} in
 * each directory that serves the attempt (cg_create), its child moves
 * itself in before exec (cg_enter) and the shim kills and removes them
 * when the attempt ends (cg_destroy).
 *
 * What a directory serves is read from its files. A v2 directory (it has
 * cgroup.subtree_control) gives cgroup.kill, cpu.stat (user_usec and
 * system_usec, always there) and the controllers its subtree_control
 * enables for its children: memory (memory.max, memory.peak), pids
 * (pids.max), cpu (cpu.max). A v1 directory gives what its files name:
 * memory.limit_in_bytes and memory.max_usage_in_bytes, pids.max,
 * cpu.cfs_quota_us, cpuacct.usage_user/usage_sys (nanoseconds). For each
 * role v2 comes first. A limit asked for that no directory can enforce is
 * an error from cg_create naming it: never silently unlimited. The peak
 * memory is read from a v1 directory only where it holds a limit too.
 *
 * libc only: linked into batchd and the local backend plugin. cg_enter
 * is async-signal-safe (open, write, close), for a child between fork and
 * exec.
 */
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup-int.h"


#define CG_MAXDIRS	8		/* hierarchies in a parent */
#define CG_WAIT_MS	2000		/* cg_destroy's bound */



/* One hierarchy's directory of the attempt. */
struct cgdir {
	char	 path[PATH_MAX];	/* {parent dir}/{name} */
	char	 procs[PATH_MAX];	/* {path}/cgroup.procs, for cg_enter */
	int	 v2;
	int	 roles;			/* R_*: what it is used for */
};

/* An attempt's cgroup: one directory per hierarchy it needs. */
struct cg {
	int		 n;
	struct cgdir	 d[CG_MAXDIRS];
};

/* Read a small file into buf (NUL-terminated); its length or -1. */
static ssize_t
readf(const char *path, char *buf, size_t len)
{
	ssize_t	 n, got = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((size_t)got < len - 1) {
		n = read(fd, buf + got, len - 1 - (size_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	return got;
}

/* Write s to path in one write(); 0, or -1 with errno. Signal-safe. */
static int
writef(const char *path, const char *s)
{
	ssize_t	 n;
	size_t	 len = strlen(s);
	int	 fd, saved;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	n = write(fd, s, len);
	saved = errno;
	close(fd);
	if (n != (ssize_t)len) {
		errno = n == -1 ? saved : EIO;
		return -1;
	}
	return 0;
}

/* Does dir/file exist? */
static int
has_file(const char *dir, const char *file)
{
	char	 path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >=
	    sizeof path)
		return 0;
	return access(path, F_OK) == 0;
}

/* Is word one of the tokens (space, comma or newline separated) of list? */
int
cg_has_word(const char *list, const char *word)
{
	size_t		 n = strlen(word);
	const char	*p = list;

	while (*p != '\0') {
		p += strspn(p, " ,\n\t");
		if (strncmp(p, word, n) == 0 &&
		    (p[n] == '\0' || strchr(" ,\n\t", p[n]) != NULL))
			return 1;
		p += strcspn(p, " ,\n\t");
	}
	return 0;
}

/* Read dir/file (a small cgroup file) into buf; -1 if absent. */
ssize_t
cg_read_at(const char *dir, const char *file, char *buf, size_t len)
{
	char	 path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >=
	    sizeof path)
		return -1;
	return readf(path, buf, len);
}

/* Write s to dir/file; 0 or -1 with errno. */
int
cg_write_at(const char *dir, const char *file, const char *s)
{
	char	 path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >=
	    sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return writef(path, s);
}

/* Is name usable as a cgroup name ([A-Za-z0-9._-], not "." or "..")? */
static int
name_ok(const char *name)
{
	const char	*p;

	if (*name == '\0' || strlen(name) > 200 || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		    *p == '-'))
			return 0;
	return 1;
}

/*
 * A parent directory and what its children can serve (R_*), probed only
 * as far as asked: each probe costs a system call, tens of microseconds
 * on cgroupfs, and cg_create runs on every attempt's start.
 */
struct pdir {
	char	 dir[PATH_MAX];
	int	 v2;
	int	 off;		/* R_* it serves, of those known */
	int	 known;		/* R_* probed */
};

/* Start probing pd->dir: a v2 directory tells all in one read. */
static void
pdir_init(struct pdir *pd)
{
	char	 buf[512];

	pd->off = pd->known = R_KILL;
	pd->v2 = 0;
	if (cg_read_at(pd->dir, "cgroup.subtree_control", buf, sizeof buf) < 0)
		return;
	pd->v2 = 1;
	pd->known = ~0;
	pd->off |= R_ACCT;
	if (cg_has_word(buf, "memory"))
		pd->off |= R_MEM | R_PEAK;
	if (cg_has_word(buf, "pids"))
		pd->off |= R_PIDS;
	if (cg_has_word(buf, "cpu"))
		pd->off |= R_CPU;
}

/* Can the children of pd serve role r (one R_* bit)? */
static int
pdir_has(struct pdir *pd, int r)
{
	const char	*file;
	int		 bits = r;

	if (!(pd->known & r)) {
		switch (r) {
		case R_MEM:
		case R_PEAK:
			file = "memory.limit_in_bytes";
			bits = R_MEM | R_PEAK;
			break;
		case R_PIDS:
			file = "pids.max";
			break;
		case R_CPU:
			file = "cpu.cfs_quota_us";
			break;
		default:
			file = "cpuacct.usage_user";
			break;
		}
		if (has_file(pd->dir, file))
			pd->off |= bits;
		pd->known |= bits;
	}
	return (pd->off & r) != 0;
}


/* Sleep ms milliseconds. */
static void
nap(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Is pid a zombie (or gone)? Zombies cannot be killed further. */
static int
is_zombie(pid_t pid)
{
	char	 path[64], buf[512], *p;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (readf(path, buf, sizeof buf) <= 0)
		return 1;
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return 0;
	return p[2] == 'Z' || p[2] == 'X';
}

/*
 * SIGKILL every live process listed in dir/cgroup.procs and in the
 * directories below; the number of live processes seen.
 */
static int
kill_procs(const char *dir)
{
	char		 path[PATH_MAX], *buf, *p, *end;
	struct dirent	*de;
	DIR		*d;
	long		 pid;
	int		 live = 0;
	size_t		 len = 1 << 16;

	if ((buf = malloc(len)) == NULL)
		return 0;
	if (cg_read_at(dir, "cgroup.procs", buf, len) > 0)
		for (p = buf; *p != '\0'; p = end) {
			pid = strtol(p, &end, 10);
			if (end == p)
				break;
			if (pid <= 0 || pid == (long)getpid() ||
			    is_zombie((pid_t)pid))
				continue;
			if (kill((pid_t)pid, SIGKILL) == 0)
				live++;
		}
	free(buf);
	if ((d = opendir(dir)) == NULL)
		return live;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir,
		    de->d_name) < sizeof path)
			live += kill_procs(path);
	}
	closedir(d);
	return live;
}

/* Remove dir and the directories below it; 0 or -1 with errno. */
static int
rmdir_tree(const char *dir)
{
	char		 path[PATH_MAX];
	struct dirent	*de;
	DIR		*d;

	if (rmdir(dir) == 0 || errno == ENOENT)
		return 0;	/* the usual case: no child cgroups */
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir,
		    de->d_name) < sizeof path)
			rmdir_tree(path);
	}
	closedir(d);
	if (rmdir(dir) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

/* Write one limit; 0, or -1 with err naming what failed. */
static int
set_limit(struct cgdir *cd, const char *file, const char *value,
    const char *what, char *err, size_t errlen)
{
	if (cg_write_at(cd->path, file, value) == 0)
		return 0;
	snprintf(err, errlen, "%s limit: %s/%s: %s", what, cd->path, file,
	    strerror(errno));
	return -1;
}

/* Write the limits asked for into the directories chosen for them. */
static int
apply_limits(struct cg *cg, const struct cg_limits *lim, char *err,
    size_t errlen)
{
	char		 v[64];
	uint64_t	 period, quota;
	int		 i;

	for (i = 0; i < cg->n; i++) {
		struct cgdir	*cd = &cg->d[i];

		if (cd->roles & R_MEM) {
			snprintf(v, sizeof v, "%llu",
			    (unsigned long long)lim->memory_bytes);
			if (set_limit(cd, cd->v2 ? "memory.max" :
			    "memory.limit_in_bytes", v, "memory", err,
			    errlen) == -1)
				return -1;
		}
		if (cd->roles & R_PIDS) {
			snprintf(v, sizeof v, "%llu",
			    (unsigned long long)lim->pids);
			if (set_limit(cd, "pids.max", v, "pids", err,
			    errlen) == -1)
				return -1;
		}
		if (cd->roles & R_CPU) {
			/* The kernel's least quota is 1 ms: a longer period
			 * for fewer than 10 millicores. */
			period = lim->cpu_millicores >= 10 ? 100000 : 1000000;
			quota = lim->cpu_millicores * period / 1000;
			if (cd->v2) {
				snprintf(v, sizeof v, "%llu %llu",
				    (unsigned long long)quota,
				    (unsigned long long)period);
				if (set_limit(cd, "cpu.max", v, "cpu", err,
				    errlen) == -1)
					return -1;
				continue;
			}
			snprintf(v, sizeof v, "%llu",
			    (unsigned long long)period);
			if (set_limit(cd, "cpu.cfs_period_us", v, "cpu", err,
			    errlen) == -1)
				return -1;
			snprintf(v, sizeof v, "%llu",
			    (unsigned long long)quota);
			if (set_limit(cd, "cpu.cfs_quota_us", v, "cpu", err,
			    errlen) == -1)
				return -1;
		}
	}
	return 0;
}

/* The directories of the ':'-list parent into pd; their number or -1. */
static int
parse_parent(const char *parent, struct pdir *pd, char *err, size_t errlen)
{
	const char	*p, *q;
	size_t		 len;
	int		 ndirs = 0;

	for (p = parent; *p != '\0'; p = *q == ':' ? q + 1 : q) {
		q = p + strcspn(p, ":");
		len = (size_t)(q - p);
		if (len == 0)
			continue;
		if (ndirs == CG_MAXDIRS || len >= PATH_MAX - 256) {
			snprintf(err, errlen, "cgroup parent '%s': too many "
			    "or too long directories", parent);
			return -1;
		}
		memcpy(pd[ndirs].dir, p, len);
		pd[ndirs].dir[len] = '\0';
		pdir_init(&pd[ndirs]);
		ndirs++;
	}
	return ndirs;
}

/*
 * Give each role the attempt needs to one directory (v2 first, then the
 * first v1) in role[]; 0, or -1 with err when a limit has none.
 */
static int
assign_roles(struct pdir *pd, int ndirs, const struct cg_limits *lim,
    int *role, const char *parent, char *err, size_t errlen)
{
	static const struct {
		int		 role;
		const char	*what;
	} need[] = {
		{ R_MEM, "memory" }, { R_PIDS, "pids" }, { R_CPU, "cpu" },
	};
	int	 want, r, i, j, pick;

	want = R_KILL | R_ACCT | R_PEAK;
	if (lim != NULL && lim->memory_bytes != 0)
		want |= R_MEM;
	if (lim != NULL && lim->pids != 0)
		want |= R_PIDS;
	if (lim != NULL && lim->cpu_millicores != 0)
		want |= R_CPU;
	for (i = 0; i < ndirs; i++)
		role[i] = 0;
	for (r = 1; r <= R_PEAK; r <<= 1) {
		if (!(want & r))
			continue;
		pick = -1;
		for (i = 0; i < ndirs && pick == -1; i++)
			if (pd[i].v2 && pdir_has(&pd[i], r))
				pick = i;
		for (i = 0; i < ndirs && pick == -1; i++)
			if (pdir_has(&pd[i], r))
				pick = i;
		if (pick != -1)
			role[pick] |= r;
	}
	/* Not a v1 memory cgroup for the peak alone: a memcg per attempt
	 * costs ~1 ms of CPU (made, then torn down asynchronously); the
	 * caller has rusage's. */
	for (i = 0; i < ndirs; i++)
		if (!pd[i].v2 && role[i] == R_PEAK)
			role[i] = 0;
	for (j = 0; j < (int)(sizeof need / sizeof need[0]); j++) {
		for (i = 0; i < ndirs; i++)
			if (role[i] & need[j].role)
				break;
		if ((want & need[j].role) && i == ndirs) {
			snprintf(err, errlen, "%s limit: no cgroup hierarchy "
			    "under '%s' has the %s controller", need[j].what,
			    parent, need[j].what);
			return -1;
		}
	}
	return 0;
}

/*
 * Which directories of parent serve the attempt's cgroup name, and for
 * what; made (make), with the limits, or only named. See cg_create.
 */
static struct cg *
plan(const char *parent, const char *name, const struct cg_limits *lim,
    int make, char *err, size_t errlen)
{
	struct pdir	 pd[CG_MAXDIRS];
	struct cgdir	*cd;
	struct cg	*cg;
	int		 role[CG_MAXDIRS];
	int		 ndirs, i;

	err[0] = '\0';
	if (parent == NULL || *parent == '\0')
		return NULL;
	if (!name_ok(name)) {
		snprintf(err, errlen, "cgroup name '%s': only letters, digits "
		    "and ._- may be used", name);
		return NULL;
	}
	if ((ndirs = parse_parent(parent, pd, err, errlen)) <= 0 ||
	    assign_roles(pd, ndirs, lim, role, parent, err, errlen) == -1)
		return NULL;
	if ((cg = calloc(1, sizeof *cg)) == NULL) {
		snprintf(err, errlen, "cgroup: out of memory");
		return NULL;
	}
	for (i = 0; i < ndirs; i++) {
		if (role[i] == 0)
			continue;
		cd = &cg->d[cg->n];
		/* dir is shorter than PATH_MAX - 256, name than 201 */
		if ((size_t)snprintf(cd->path, sizeof cd->path, "%s/%s",
		    pd[i].dir, name) >= sizeof cd->path ||
		    (size_t)snprintf(cd->procs, sizeof cd->procs,
		    "%s/%s/cgroup.procs", pd[i].dir, name) >= sizeof cd->procs)
			abort();
		cd->v2 = pd[i].v2;
		cd->roles = role[i];
		if (make && mkdir(cd->path, 0755) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "cgroup %s: %s", cd->path,
			    strerror(errno));
			cg_destroy(cg);
			return NULL;
		}
		cg->n++;
	}
	if (make && lim != NULL && apply_limits(cg, lim, err, errlen) == -1) {
		cg_destroy(cg);
		return NULL;
	}
	return cg;
}

/*
 * Make the cgroup name under every directory of parent that serves the
 * attempt, with the limits asked for. NULL with err[0] == '\0' when parent
 * names no hierarchy (the caller goes on without); NULL with err set on a
 * real error (a bad name, a limit no hierarchy can enforce, a directory
 * that cannot be made). The caller frees with cg_destroy().
 */
struct cg *
cg_create(const char *parent, const char *name, const struct cg_limits *lim,
    char *err, size_t errlen)
{
	return plan(parent, name, lim, 1, err, errlen);
}

/*
 * What cg_create(parent, name, lim) makes, or made in another process,
 * without making anything: for cg_kill, cg_usage and cg_destroy. NULL as
 * from cg_create.
 */
struct cg *
cg_plan(const char *parent, const char *name, const struct cg_limits *lim,
    char *err, size_t errlen)
{
	return plan(parent, name, lim, 0, err, errlen);
}

/*
 * The cgroup name under parent as it is (made by a cg_create of a shim
 * that is gone), to kill and remove with cg_destroy; NULL if none of its
 * directories exists (or name is not one cg_create makes).
 */
struct cg *
cg_find(const char *parent, const char *name)
{
	struct cg	*cg;
	struct cgdir	*cd;
	const char	*p, *q;
	size_t		 len;

	if (parent == NULL || *parent == '\0' || !name_ok(name) ||
	    (cg = calloc(1, sizeof *cg)) == NULL)
		return NULL;
	for (p = parent; *p != '\0' && cg->n < CG_MAXDIRS;
	    p = *q == ':' ? q + 1 : q) {
		q = p + strcspn(p, ":");
		if ((len = (size_t)(q - p)) == 0 || len >= PATH_MAX - 256)
			continue;
		cd = &cg->d[cg->n];
		snprintf(cd->path, sizeof cd->path, "%.*s/%s", (int)len, p,
		    name);
		snprintf(cd->procs, sizeof cd->procs, "%.*s/%s/cgroup.procs",
		    (int)len, p, name);
		if (access(cd->path, F_OK) == -1)
			continue;
		cd->v2 = has_file(cd->path, "cgroup.kill") ||
		    has_file(cd->path, "cgroup.events");
		cd->roles = R_KILL;
		cg->n++;
	}
	if (cg->n == 0) {
		free(cg);
		return NULL;
	}
	return cg;
}

/*
 * Move the calling process into every directory of cg; 0, or -1 with
 * errno. Async-signal-safe: for a child between fork and exec.
 */
int
cg_enter(struct cg *cg)
{
	int	 i;

	for (i = 0; i < cg->n; i++)
		if (writef(cg->d[i].procs, "0") == -1)
			return -1;
	return 0;
}

/*
 * Kill every process in cg: through cgroup.kill where the kernel has it
 * (atomic against fork), else SIGKILL to each live pid of cgroup.procs
 * until none is left (bounded: a fork loop cannot outrun it for long, as
 * every process seen is killed each round).
 */
void
cg_kill(struct cg *cg)
{
	int	 i, k = -1, round;

	for (i = 0; i < cg->n; i++)
		if ((cg->d[i].roles & R_KILL) &&
		    cg_write_at(cg->d[i].path, "cgroup.kill", "1") == 0)
			return;
	for (i = 0; i < cg->n && k == -1; i++)
		if (cg->d[i].roles & R_KILL)
			k = i;
	if (k == -1)
		return;
	for (round = 0; round < CG_WAIT_MS; round++) {
		if (kill_procs(cg->d[k].path) == 0)
			return;
		nap(1);
	}
}

/* Parse "key value" lines: the value of key, or -1. */
static int64_t
stat_field(const char *buf, const char *key)
{
	size_t		 n = strlen(key);
	const char	*p = buf;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, n) == 0 && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return -1;
}

/* A number in dir/file, or -1. */
static int64_t
read_num(const char *dir, const char *file)
{
	char	 buf[64];

	if (cg_read_at(dir, file, buf, sizeof buf) <= 0 ||
	    buf[0] < '0' || buf[0] > '9')
		return -1;
	return strtoll(buf, NULL, 10);
}

/*
 * CPU time (user, system; microseconds) of every process that has been
 * in cg, and its peak memory (KiB: memory.peak on v2, memory.max_usage_
 * in_bytes on v1, page cache included). Each is -1 when unknown; returns
 * 0 when any is known, else -1.
 */
int
cg_usage(struct cg *cg, int64_t *user_us, int64_t *sys_us,
    int64_t *maxrss_kb)
{
	char	 buf[1024];
	int64_t	 v;
	int	 i;

	*user_us = *sys_us = *maxrss_kb = -1;
	for (i = 0; i < cg->n; i++) {
		struct cgdir	*cd = &cg->d[i];

		if ((cd->roles & R_ACCT) && cd->v2 &&
		    cg_read_at(cd->path, "cpu.stat", buf, sizeof buf) > 0) {
			*user_us = stat_field(buf, "user_usec");
			*sys_us = stat_field(buf, "system_usec");
		} else if (cd->roles & R_ACCT) {
			if ((v = read_num(cd->path, "cpuacct.usage_user")) >= 0)
				*user_us = v / 1000;
			if ((v = read_num(cd->path, "cpuacct.usage_sys")) >= 0)
				*sys_us = v / 1000;
		}
		if (cd->roles & R_PEAK) {
			v = read_num(cd->path, cd->v2 ? "memory.peak" :
			    "memory.max_usage_in_bytes");
			if (v >= 0)
				*maxrss_kb = v / 1024;
		}
	}
	return *user_us >= 0 || *sys_us >= 0 || *maxrss_kb >= 0 ? 0 : -1;
}

/*
 * Kill everything in cg, wait (at most ~2 s) until its directories are
 * empty and remove them, then free cg. A directory still busy after that
 * is left behind.
 */
void
cg_destroy(struct cg *cg)
{
	int	 i, ms, left;

	if (cg == NULL)
		return;
	cg_kill(cg);
	for (ms = 0; ms <= CG_WAIT_MS; ms++) {
		left = 0;
		for (i = 0; i < cg->n; i++)
			if (cg->d[i].path[0] != '\0') {
				if (rmdir_tree(cg->d[i].path) == 0)
					cg->d[i].path[0] = '\0';
				else
					left++;
			}
		if (left == 0)
			break;
		if (ms % 50 == 49)
			cg_kill(cg);
		nap(1);
	}
	free(cg);
}

/* What the children of parent directory dir can serve (R_*). */
int
cg_offers(const char *dir)
{
	struct pdir	 pd;
	int		 r;

	snprintf(pd.dir, sizeof pd.dir, "%s", dir);
	pdir_init(&pd);
	for (r = 1; r <= R_PEAK; r <<= 1)
		pdir_has(&pd, r);
	return pd.off;
}
