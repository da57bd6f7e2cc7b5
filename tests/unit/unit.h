/* unit.h: what a unit test file shares with unit.c's runner. */
#ifndef BATCHD_UNIT_H
#define BATCHD_UNIT_H

#include <stdio.h>

extern int	 failed;	/* set by CHECK */
extern char	 why[512];	/* what failed */
extern char	 skip_note[256];	/* set: passed by skipping, saying why */

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		snprintf(why, sizeof why, "%s:%d: %s", __FILE__,	\
		    __LINE__, #cond);					\
		failed = 1;						\
		return;							\
	}								\
} while (0)

/* cgroup.c */
void	test_cgroup_names(void);
void	test_cgroup_kill(void);
void	test_cgroup_pids(void);
void	test_cgroup_memory(void);
void	test_cgroup_usage(void);
void	test_cgroup_cpu(void);
void	test_cgroup_parent_paths(void);

#endif
