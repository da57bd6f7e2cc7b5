/* cgroup.h: see cgroup.c. libc only: no batchd.h. */
#ifndef BATCHD_CGROUP_H
#define BATCHD_CGROUP_H

#include <stddef.h>
#include <stdint.h>

struct cg;			/* one attempt's cgroup */

struct cg_limits {
	uint64_t	 memory_bytes;	/* 0: no limit */
	uint64_t	 pids;		/* 0: no limit */
	uint64_t	 cpu_millicores;	/* 0: no limit */
};

struct cg	*cg_create(const char *, const char *, const struct cg_limits *,
		    char *, size_t);
struct cg	*cg_plan(const char *, const char *,
		    const struct cg_limits *, char *, size_t);
struct cg	*cg_find(const char *, const char *);
int		 cg_enter(struct cg *);
void		 cg_kill(struct cg *);
int		 cg_usage(struct cg *, int64_t *, int64_t *, int64_t *);
void		 cg_destroy(struct cg *);
int		 cg_parent(const char *, char *, size_t, char *, size_t);
int		 cg_favor_dynmods(char *, size_t);
extern const char *cg_proc_cgroup;	/* replaced by tests */
extern const char *cg_proc_mountinfo;	/* replaced by tests */

#endif
