/*
 * local.h: what the local backend's two sides share (backend_local.c, the
 * supervisor's; local-init.c, the sandbox's init's): the messages on their
 * socket, the attempt's handle and what init and the job need.
 */
#ifndef LOCAL_H
#define LOCAL_H

#include <sys/types.h>

#include <stdint.h>
#include <limits.h>

#include "cgroup.h"
#include "plugin.h"

#pragma GCC visibility push(hidden)

/* The job's stack: execvpe() copies argv onto it for a script without
 * "#!" (as posix_spawn sizes its own). */
#define CHILD_STACK	(256 * 1024)
#define START_MAX	(64 * 1024 * 1024)	/* bound of a start message */

/* What init tells the supervisor, one write each (< PIPE_BUF). */
enum { REP_STARTED = 1, REP_FAILED, REP_EXITED };
struct report {
	int	 what;
	int	 status;		/* REP_EXITED: the job's */
	int64_t	 user_us, sys_us, maxrss_kb;	/* of all init reaped */
	char	 text[512];		/* REP_FAILED: why */
};

/* The start, to init: this, then len bytes of NUL-terminated strings
 * (argv, env, exposed_ro, exposed_rw, n[] of each); stdin, stdout and
 * stderr ride with it (SCM_RIGHTS). */
struct startmsg {
	uint32_t	 len;
	uint32_t	 n[4];
};

/* The prepare, to an exec'd init (local-init): this, then len bytes of
 * NUL-terminated strings: workdir, workspace_dir, the cgroup's parent
 * ("": none) and name. */
struct prepmsg {
	uint32_t	 len;
	uint32_t	 uid, gid;
	uint64_t	 nofile, as, cpu;
	struct cg_limits lim;
};

struct local {
	pid_t		 pid;		/* init, as the host sees it */
	int		 sock;		/* to init: the start; from it: reports */
	char		*cgparent;	/* job->cgroup_parent, or NULL */
	char		 cgname[128];	/* "{run_uuid}.{attempt}" */
	struct cg_limits lim;
	struct cg	*cg;		/* what init made, once needed */
};

/* What init and the job need; init has a copy of the supervisor's. */
struct spawn {
	const struct batchd_job	*job;
	const struct local	*l;		/* its cgroup's name, limits */
	char			**argv, **env, **ro, **rw;
	int			 in, out, err, sock, shim;	/* shim: pidfd */
	int			 userns;	/* map outer_uid/gid to themselves */
	uid_t			 outer_uid;
	gid_t			 outer_gid;
	char			*jstack;	/* the job's stack, jssize bytes */
	size_t			 jssize;
	char			 work[PATH_MAX];	/* job->workdir, resolved */
	char			 ws[PATH_MAX];	/* job->workspace_dir, or "" */
	char			 root[PATH_MAX];	/* DIR/root */
};

/* local-init.c */
int	 local_init(void *);	/* pid 1 of the sandbox; never returns */
int	 local_fail(char *, size_t, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	 local_read_full(int, void *, size_t);
void	 local_report(int, const struct report *);
int	 local_gone(int);

#pragma GCC visibility pop

#endif /* LOCAL_H */
