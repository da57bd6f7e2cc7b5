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

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC	0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC	0x27e0eb
#endif

#define CG_MAXDIRS	8		/* hierarchies in a parent */
#define CG_JOBS		"batchd-jobs"	/* made under the own cgroup */
#define CG_DAEMON	"batchd-daemon"	/* where batchd moves itself, v2 */
#define CG_WAIT_MS	2000		/* cg_destroy's bound */

/* Replaced by tests: where this process's cgroups and mounts are read. */
const char	*cg_proc_cgroup = "/proc/self/cgroup";
const char	*cg_proc_mountinfo = "/proc/self/mountinfo";

/* What a directory can do for an attempt. */
#define R_KILL		0x01	/* kill every process (kill or procs) */
#define R_MEM		0x02	/* memory limit */
#define R_PIDS		0x04	/* process limit */
#define R_CPU		0x08	/* CPU bandwidth limit */
#define R_ACCT		0x10	/* CPU time used */
#define R_PEAK		0x20	/* peak memory */

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
static int
has_word(const char *list, const char *word)
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
static ssize_t
read_at(const char *dir, const char *file, char *buf, size_t len)
{
	char	 path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >=
	    sizeof path)
		return -1;
	return readf(path, buf, len);
}

/* Write s to dir/file; 0 or -1 with errno. */
static int
write_at(const char *dir, const char *file, const char *s)
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
	if (read_at(pd->dir, "cgroup.subtree_control", buf, sizeof buf) < 0)
		return;
	pd->v2 = 1;
	pd->known = ~0;
	pd->off |= R_ACCT;
	if (has_word(buf, "memory"))
		pd->off |= R_MEM | R_PEAK;
	if (has_word(buf, "pids"))
		pd->off |= R_PIDS;
	if (has_word(buf, "cpu"))
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

/* What the children of parent directory dir can serve (R_*). */
static int
offers(const char *dir)
{
	struct pdir	 pd;
	int		 r;

	snprintf(pd.dir, sizeof pd.dir, "%s", dir);
	pdir_init(&pd);
	for (r = 1; r <= R_PEAK; r <<= 1)
		pdir_has(&pd, r);
	return pd.off;
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
	if (read_at(dir, "cgroup.procs", buf, len) > 0)
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
	if (write_at(cd->path, file, value) == 0)
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

/*
 * Which directories of parent serve the attempt's cgroup name, and for
 * what; made (make), with the limits, or only named. See cg_create.
 */
static struct cg *
plan(const char *parent, const char *name, const struct cg_limits *lim,
    int make, char *err, size_t errlen)
{
	static const struct {
		int		 role;
		const char	*what;
	} need[] = {
		{ R_MEM, "memory" }, { R_PIDS, "pids" }, { R_CPU, "cpu" },
	};
	struct pdir	 pd[CG_MAXDIRS];
	int		 role[CG_MAXDIRS];
	int		 ndirs = 0, want, r, i, j, pick;
	const char	*p, *q;
	struct cg	*cg;
	size_t		 len;

	err[0] = '\0';
	if (parent == NULL || *parent == '\0')
		return NULL;
	if (!name_ok(name)) {
		snprintf(err, errlen, "cgroup name '%s': only letters, digits "
		    "and ._- may be used", name);
		return NULL;
	}
	for (p = parent; *p != '\0'; p = *q == ':' ? q + 1 : q) {
		q = p + strcspn(p, ":");
		len = (size_t)(q - p);
		if (len == 0)
			continue;
		if (ndirs == CG_MAXDIRS || len >= PATH_MAX - 256) {
			snprintf(err, errlen, "cgroup parent '%s': too many "
			    "or too long directories", parent);
			return NULL;
		}
		memcpy(pd[ndirs].dir, p, len);
		pd[ndirs].dir[len] = '\0';
		pdir_init(&pd[ndirs]);
		role[ndirs] = 0;
		ndirs++;
	}
	if (ndirs == 0)
		return NULL;

	/* Each role to one directory: v2 first, then the first v1. */
	want = R_KILL | R_ACCT | R_PEAK;
	if (lim != NULL && lim->memory_bytes != 0)
		want |= R_MEM;
	if (lim != NULL && lim->pids != 0)
		want |= R_PIDS;
	if (lim != NULL && lim->cpu_millicores != 0)
		want |= R_CPU;
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
			return NULL;
		}
	}

	if ((cg = calloc(1, sizeof *cg)) == NULL) {
		snprintf(err, errlen, "cgroup: out of memory");
		return NULL;
	}
	for (i = 0; i < ndirs; i++) {
		struct cgdir	*cd;

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
		    write_at(cg->d[i].path, "cgroup.kill", "1") == 0)
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

	if (read_at(dir, file, buf, sizeof buf) <= 0 ||
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
		    read_at(cd->path, "cpu.stat", buf, sizeof buf) > 0) {
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

/*
 * Enable the controllers (of memory, pids, cpu) that dir offers for its
 * children. A v2 cgroup with processes cannot ("no internal processes",
 * EBUSY): when batchd is alone in it (a systemd service with
 * Delegate=yes), it moves itself into {dir}/batchd-daemon first.
 */
static void
v2_enable(const char *dir, int own)
{
	static const char	*ctl[] = { "memory", "pids", "cpu" };
	char			 avail[512], on[512], sub[PATH_MAX], plus[16];
	char			 procs[64], self[32];
	size_t			 i;

	if (read_at(dir, "cgroup.controllers", avail, sizeof avail) < 0 ||
	    read_at(dir, "cgroup.subtree_control", on, sizeof on) < 0)
		return;
	for (i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
		if (!has_word(avail, ctl[i]) || has_word(on, ctl[i]))
			continue;
		snprintf(plus, sizeof plus, "+%s", ctl[i]);
		if (write_at(dir, "cgroup.subtree_control", plus) == 0 ||
		    errno != EBUSY || !own)
			continue;
		snprintf(self, sizeof self, "%d\n", (int)getpid());
		if (read_at(dir, "cgroup.procs", procs, sizeof procs) < 0 ||
		    strcmp(procs, self) != 0)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", dir, CG_DAEMON);
		if ((mkdir(sub, 0755) == -1 && errno != EEXIST) ||
		    write_at(sub, "cgroup.procs", "0") == -1)
			continue;
		write_at(dir, "cgroup.subtree_control", plus);
	}
}

/*
 * Make {dir}/batchd-jobs (v2: with the controllers enabled that can be);
 * 0 with its path in out, or -1.
 */
static int
jobs_dir(const char *dir, int v2, int own, char *out, size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s/%s", dir, CG_JOBS) >= outlen ||
	    strchr(out, ':') != NULL)
		return -1;
	if (v2)
		v2_enable(dir, own);
	if (mkdir(out, 0755) == -1 && (errno != EEXIST ||
	    access(out, W_OK) == -1))
		return -1;
	if (v2)
		v2_enable(out, 0);
	return 0;
}

/* One line of /proc/self/mountinfo that is a cgroup mount. */
struct mnt {
	char	 point[PATH_MAX];
	char	 root[PATH_MAX];
	char	 opts[256];
	int	 v2;
};

/* The cgroup mounts of this process (at most max); their number. */
static int
cgroup_mounts(struct mnt *m, int max)
{
	char	 line[4096], *f[10], *p, *dash;
	FILE	*fp;
	int	 n = 0, i;

	if ((fp = fopen(cg_proc_mountinfo, "re")) == NULL)
		return 0;
	while (n < max && fgets(line, sizeof line, fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if ((dash = strstr(line, " - ")) == NULL)
			continue;
		*dash = '\0';
		p = line;
		for (i = 0; i < 5 && (f[i] = strsep(&p, " ")) != NULL; i++)
			;
		if (i < 5)
			continue;
		p = dash + 3;
		for (i = 5; i < 8 && (f[i] = strsep(&p, " ")) != NULL; i++)
			;
		if (i < 8)
			continue;
		if (strcmp(f[5], "cgroup2") != 0 && strcmp(f[5], "cgroup") != 0)
			continue;
		/* mountinfo escapes spaces as \040; such mounts are skipped */
		if (strchr(f[4], '\\') != NULL || strchr(f[3], '\\') != NULL)
			continue;
		snprintf(m[n].point, sizeof m[n].point, "%s", f[4]);
		snprintf(m[n].root, sizeof m[n].root, "%s", f[3]);
		snprintf(m[n].opts, sizeof m[n].opts, "%s", f[7]);
		m[n].v2 = strcmp(f[5], "cgroup2") == 0;
		n++;
	}
	fclose(fp);
	return n;
}

/*
 * This process's path in the hierarchy with controller ctl (NULL: the v2
 * one, "0::") from /proc/self/cgroup, into out; 0 or -1.
 */
static int
own_path(const char *ctl, char *out, size_t outlen)
{
	char	 line[PATH_MAX + 256], *ctls, *path;
	FILE	*fp;
	int	 rc = -1;

	if ((fp = fopen(cg_proc_cgroup, "re")) == NULL)
		return -1;
	while (rc == -1 && fgets(line, sizeof line, fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if ((ctls = strchr(line, ':')) == NULL)
			continue;
		*ctls++ = '\0';
		if ((path = strchr(ctls, ':')) == NULL)
			continue;
		*path++ = '\0';
		if (ctl == NULL ? strcmp(line, "0") == 0 && *ctls == '\0' :
		    has_word(ctls, ctl)) {
			snprintf(out, outlen, "%s", path);
			rc = 0;
		}
	}
	fclose(fp);
	return rc;
}

/* The directory of own path p in mount m (p relative to its root). */
static int
mount_dir(const struct mnt *m, const char *p, char *out, size_t outlen)
{
	size_t	 rl = strlen(m->root);

	if (strcmp(m->root, "/") != 0) {
		if (strncmp(p, m->root, rl) != 0 ||
		    (p[rl] != '/' && p[rl] != '\0'))
			return -1;
		p += rl;
	}
	if (strcmp(p, "/") == 0)
		p = "";
	if ((size_t)snprintf(out, outlen, "%s%s", m->point, p) >= outlen)
		return -1;
	return 0;
}

/* Append dir to the ':'-list out unless there; 0 or -1 if no room. */
static int
append(char *out, size_t outlen, const char *dir)
{
	size_t	 len = strlen(out), dl = strlen(dir);
	char	*p = out;

	while ((p = strstr(p, dir)) != NULL) {
		if ((p == out || p[-1] == ':') && (p[dl] == ':' ||
		    p[dl] == '\0'))
			return 0;
		p += dl;
	}
	if (len + dl + 2 > outlen)
		return -1;
	if (len != 0)
		out[len++] = ':';
	memcpy(out + len, dir, dl + 1);
	return 0;
}

/* Use a configured ':'-list of directories, made if missing; 0 or -1. */
static int
configured_parent(const char *conf, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char		 dir[PATH_MAX];
	struct statfs	 sf;
	const char	*p, *q;
	size_t		 len;

	for (p = conf; *p != '\0'; p = *q == ':' ? q + 1 : q) {
		q = p + strcspn(p, ":");
		if ((len = (size_t)(q - p)) == 0)
			continue;
		if (len >= sizeof dir - 256 || *p != '/') {
			snprintf(err, errlen, "job_cgroup: '%.*s' is not an "
			    "absolute path", (int)len, p);
			return -1;
		}
		memcpy(dir, p, len);
		dir[len] = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "job_cgroup: %s: %s", dir,
			    strerror(errno));
			return -1;
		}
		if (statfs(dir, &sf) == -1 ||
		    (sf.f_type != CGROUP2_SUPER_MAGIC &&
		    sf.f_type != CGROUP_SUPER_MAGIC)) {
			snprintf(err, errlen, "job_cgroup: %s is not in a "
			    "cgroup file system", dir);
			return -1;
		}
		if (access(dir, W_OK) == -1) {
			snprintf(err, errlen, "job_cgroup: %s: %s", dir,
			    strerror(errno));
			return -1;
		}
		if (sf.f_type == CGROUP2_SUPER_MAGIC)
			v2_enable(dir, 0);
		if (append(out, outlen, dir) == -1) {
			snprintf(err, errlen, "job_cgroup: too long");
			return -1;
		}
	}
	return 0;
}

/*
 * Find the parent under which attempt cgroups are made, into out (a
 * ':'-list of directories, one per hierarchy; "" for none). configured:
 * "" or NULL for automatic, "off" for none, else the list to use.
 * Automatic: {v2 mount}{own path}/batchd-jobs, with memory, pids and cpu
 * enabled for children where they are offered (else the same under the
 * v2 root when that gets more); then, for each of pids, memory and cpu
 * that v2 does not give (and cpuacct when there is no v2), the v1 mount
 * with its own path there + /batchd-jobs. Returns 0 (out "" with err
 * saying why when nothing is writable), or -1 with err when a configured
 * list cannot be used.
 */
int
cg_parent(const char *configured, char *out, size_t outlen, char *err,
    size_t errlen)
{
	static const struct {
		const char	*ctl;
		int		 role;
	} v1[] = {
		{ "pids", R_PIDS }, { "memory", R_MEM }, { "cpu", R_CPU },
		{ "cpuacct", R_ACCT },
	};
	struct mnt	*m;
	char		 own[PATH_MAX], dir[PATH_MAX], jobs[PATH_MAX];
	char		 alt[PATH_MAX];
	int		 nm, i, j, got = 0, have_v2 = 0;
	size_t		 k;

	out[0] = '\0';
	err[0] = '\0';
	if (configured != NULL && strcmp(configured, "off") == 0)
		return 0;
	if (configured != NULL && *configured != '\0') {
		if (configured_parent(configured, out, outlen, err,
		    errlen) == -1) {
			out[0] = '\0';
			return -1;
		}
		return 0;
	}
	if ((m = calloc(32, sizeof *m)) == NULL) {
		snprintf(err, errlen, "cgroup: out of memory");
		return 0;
	}
	nm = cgroup_mounts(m, 32);
	for (i = 0; i < nm && !have_v2; i++) {
		if (!m[i].v2 || own_path(NULL, own, sizeof own) == -1 ||
		    mount_dir(&m[i], own, dir, sizeof dir) == -1 ||
		    jobs_dir(dir, 1, 1, jobs, sizeof jobs) == -1)
			continue;
		got = offers(jobs);
		/* Not delegated (a login session): the root may give more. */
		if (strcmp(dir, m[i].point) != 0 && (got & R_PIDS) == 0 &&
		    (offers(m[i].point) & R_PIDS) &&
		    jobs_dir(m[i].point, 1, 0, alt, sizeof alt) == 0 &&
		    (offers(alt) & R_PIDS)) {
			rmdir(jobs);
			snprintf(jobs, sizeof jobs, "%s", alt);
			got = offers(jobs);
		}
		if (append(out, outlen, jobs) == 0)
			have_v2 = 1;
	}
	for (k = 0; k < sizeof v1 / sizeof v1[0]; k++) {
		if (got & v1[k].role)
			continue;
		if (v1[k].role == R_ACCT && have_v2)
			continue;	/* v2 cpu.stat is always there */
		for (j = 0; j < nm; j++) {
			if (m[j].v2 || !has_word(m[j].opts, v1[k].ctl) ||
			    own_path(v1[k].ctl, own, sizeof own) == -1 ||
			    mount_dir(&m[j], own, dir, sizeof dir) == -1 ||
			    jobs_dir(dir, 0, 0, jobs, sizeof jobs) == -1)
				continue;
			append(out, outlen, jobs);
			break;
		}
	}
	free(m);
	if (out[0] == '\0')
		snprintf(err, errlen, "no writable cgroup hierarchy");
	return 0;
}
