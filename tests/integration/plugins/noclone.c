/*
 * noclone.c: an LD_PRELOAD for batchd-shim in test_run_exec.py. clone(2),
 * the way the local backend starts a job (glibc's fork does not go through
 * this symbol), fails with EAGAIN, as it does when a user is out of
 * processes; the file named by $NOCLONE_MARK says the shim met it. With
 * $NOCLONE_NAMESPACES set, only a clone into new namespaces fails, with
 * EPERM, as where the kernel or a seccomp policy forbids them; every other
 * clone is the real one.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int
clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	static int	(*real)(int (*)(void *), void *, int, void *, ...);
	const char	*mark;
	int		 fd, ns = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUSER;

	if (getenv("NOCLONE_NAMESPACES") != NULL && (flags & ns) == 0) {
		if (real == NULL)
			real = (int (*)(int (*)(void *), void *, int, void *,
			    ...))dlsym(RTLD_NEXT, "clone");
		return real(fn, stack, flags, arg);
	}
	if ((mark = getenv("NOCLONE_MARK")) != NULL &&
	    (fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) != -1)
		close(fd);
	errno = getenv("NOCLONE_NAMESPACES") != NULL ? EPERM : EAGAIN;
	return -1;
}
