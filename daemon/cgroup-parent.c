/*
 * cgroup-parent.c: where batchd may make attempts' cgroups (cg_parent()),
 * found once at start: the cgroup v2 mount and batchd's own cgroup there
 * (/proc/self/mountinfo, /proc/self/cgroup) + "/batchd-jobs", with the
 * memory, pids and cpu controllers enabled for it where they can be, and
 * the v1 pids, memory and cpu hierarchies for what v2 does not offer; or
 * the directories job_cgroup names; and, with cg_favor_dynmods(), whether
 * a process moves into a cgroup at once. batchd only: the shim's local
 * backend gets the answer in its job description and links cgroup.c alone.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup-int.h"

#define CG_JOBS		"batchd-jobs"	/* made under the own cgroup */
#define CG_DAEMON	"batchd-daemon"	/* where batchd moves itself, v2 */

/* Replaced by tests: where this process's cgroups and mounts are read. */
const char	*cg_proc_cgroup = "/proc/self/cgroup";
const char	*cg_proc_mountinfo = "/proc/self/mountinfo";

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

	if (cg_read_at(dir, "cgroup.controllers", avail, sizeof avail) < 0 ||
	    cg_read_at(dir, "cgroup.subtree_control", on, sizeof on) < 0)
		return;
	for (i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
		if (!cg_has_word(avail, ctl[i]) || cg_has_word(on, ctl[i]))
			continue;
		snprintf(plus, sizeof plus, "+%s", ctl[i]);
		if (cg_write_at(dir, "cgroup.subtree_control", plus) == 0 ||
		    errno != EBUSY || !own)
			continue;
		snprintf(self, sizeof self, "%d\n", (int)getpid());
		if (cg_read_at(dir, "cgroup.procs", procs, sizeof procs) < 0 ||
		    strcmp(procs, self) != 0)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", dir, CG_DAEMON);
		if ((mkdir(sub, 0755) == -1 && errno != EEXIST) ||
		    cg_write_at(sub, "cgroup.procs", "0") == -1)
			continue;
		cg_write_at(dir, "cgroup.subtree_control", plus);
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
		    cg_has_word(ctls, ctl)) {
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
		got = cg_offers(jobs);
		/* Not delegated (a login session): the root may give more. */
		if (strcmp(dir, m[i].point) != 0 && (got & R_PIDS) == 0 &&
		    (cg_offers(m[i].point) & R_PIDS) &&
		    jobs_dir(m[i].point, 1, 0, alt, sizeof alt) == 0 &&
		    (cg_offers(alt) & R_PIDS)) {
			rmdir(jobs);
			snprintf(jobs, sizeof jobs, "%s", alt);
			got = cg_offers(jobs);
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
			if (m[j].v2 || !cg_has_word(m[j].opts, v1[k].ctl) ||
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

/* Reconfigure the cgroup file system at m with its options + "favordynmods". */
static int
favor(const struct mnt *m, char *err, size_t errlen)
{
	char	 opts[sizeof m->opts], *p = opts, *o, *v;
	int	 fd, rc = -1;

	if ((fd = fspick(AT_FDCWD, m->point, FSPICK_CLOEXEC |
	    FSPICK_NO_AUTOMOUNT)) == -1) {
		snprintf(err, errlen, "%s: %s", m->point, strerror(errno));
		return -1;
	}
	snprintf(opts, sizeof opts, "%s", m->opts);
	while ((o = strsep(&p, ",")) != NULL) {
		/* rw/ro are the mount's; seclabel only says SELinux labels it */
		if (*o == '\0' || strcmp(o, "rw") == 0 || strcmp(o, "ro") == 0 ||
		    strcmp(o, "seclabel") == 0)
			continue;
		if ((v = strchr(o, '=')) != NULL)
			*v++ = '\0';
		if (fsconfig(fd, v != NULL ? FSCONFIG_SET_STRING :
		    FSCONFIG_SET_FLAG, o, v, 0) == -1) {
			snprintf(err, errlen, "%s: option %s: %s", m->point, o,
			    strerror(errno));
			goto out;
		}
	}
	if (fsconfig(fd, FSCONFIG_SET_FLAG, "favordynmods", NULL, 0) == -1 ||
	    fsconfig(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) == -1) {
		snprintf(err, errlen, "%s: %s", m->point, errno == EINVAL ?
		    "the kernel has no favordynmods (before 6.0)" :
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/*
 * Turn on favordynmods, the cgroup option under which a process moves
 * into a cgroup at once instead of after an RCU grace period (~10 ms on
 * the way to every job's start; writing cgroup.procs waits for one),
 * paid for by a slower path in every fork and exit of the host. It is
 * the kernel's, one for every hierarchy: set on the v2 mount (else the
 * first v1 one), keeping its other options. 1 when it was on already, 0
 * when turned on, -1 with err when it could not be (not root, before
 * Linux 6.0, no cgroup mount).
 */
int
cg_favor_dynmods(char *err, size_t errlen)
{
	struct mnt	*m;
	int		 nm, i, pick = -1, rc;

	if ((m = calloc(32, sizeof *m)) == NULL) {
		snprintf(err, errlen, "cgroup: out of memory");
		return -1;
	}
	nm = cgroup_mounts(m, 32);
	for (i = 0; i < nm; i++)
		if (pick == -1 || (m[i].v2 && !m[pick].v2))
			pick = i;
	if (pick == -1) {
		snprintf(err, errlen, "no cgroup file system is mounted");
		rc = -1;
	} else if (cg_has_word(m[pick].opts, "favordynmods"))
		rc = 1;
	else if ((rc = favor(&m[pick], err, errlen)) == 0) {
		/* Outside the initial cgroup namespace it is taken, not set. */
		nm = cgroup_mounts(m, 32);
		for (i = 0; i < nm; i++)
			if (cg_has_word(m[i].opts, "favordynmods"))
				break;
		if (i == nm) {
			snprintf(err, errlen, "the kernel did not take it");
			rc = -1;
		}
	}
	free(m);
	return rc;
}
