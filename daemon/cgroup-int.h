/*
 * cgroup-int.h: what cgroup.c lends cgroup-parent.c; nothing else
 * includes it.
 */
#ifndef CGROUP_INT_H
#define CGROUP_INT_H

#include <sys/types.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC	0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC	0x27e0eb
#endif

/* What a directory can do for an attempt. */
#define R_KILL		0x01	/* kill every process (kill or procs) */
#define R_MEM		0x02	/* memory limit */
#define R_PIDS		0x04	/* process limit */
#define R_CPU		0x08	/* CPU bandwidth limit */
#define R_ACCT		0x10	/* CPU time used */
#define R_PEAK		0x20	/* peak memory */

/* The R_* a parent directory offers its children. */
int	 cg_offers(const char *);

/* Read dir/file into buf (NUL-terminated); its length or -1. */
ssize_t	 cg_read_at(const char *, const char *, char *, size_t);
/* Write s to dir/file; 0 or -1 (errno). */
int	 cg_write_at(const char *, const char *, const char *);
/* Is word one of the tokens (space, comma or newline separated) of list? */
int	 cg_has_word(const char *, const char *);

#endif /* CGROUP_INT_H */
