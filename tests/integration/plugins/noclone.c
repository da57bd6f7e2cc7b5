/*
 * noclone.c: an LD_PRELOAD for batchd-shim in test_run_exec.py. clone(2),
 * the way the local backend starts a job (glibc's fork does not go through
 * this symbol), fails with EAGAIN, as it does when a user is out of
 * processes; the file named by $NOCLONE_MARK says the shim met it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int
clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	const char	*mark;
	int		 fd;

	(void)fn;
	(void)stack;
	(void)flags;
	(void)arg;
	if ((mark = getenv("NOCLONE_MARK")) != NULL &&
	    (fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) != -1)
		close(fd);
	errno = EAGAIN;
	return -1;
}
