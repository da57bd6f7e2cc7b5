/*
 * nosplice.c: an LD_PRELOAD for batchd-shim in test_run_exec.py. splice(2)
 * from one pipe into another fails with EINVAL, as it may where a kernel or
 * a pipe cannot move pages; the first refusal creates the file named by
 * $NOSPLICE_MARK, so the test knows the shim met one. Every other splice
 * (the relay into the log file) is the real one.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static int
is_pipe(int fd)
{
	struct stat	st;

	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

ssize_t
splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t len,
    unsigned int flags)
{
	static ssize_t	(*real)(int, loff_t *, int, loff_t *, size_t,
			    unsigned int);
	static int	 marked;
	const char	*mark;
	int		 fd, saved;

	if (is_pipe(in) && is_pipe(out)) {
		saved = EINVAL;
		if (!marked && (mark = getenv("NOSPLICE_MARK")) != NULL &&
		    (fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC,
		    0600)) != -1) {
			close(fd);
			marked = 1;
		}
		errno = saved;
		return -1;
	}
	if (real == NULL &&
	    (real = (ssize_t (*)(int, loff_t *, int, loff_t *, size_t,
	    unsigned int))dlsym(RTLD_NEXT, "splice")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real(in, in_off, out, out_off, len, flags);
}

/* Only the shim is preloaded: the job's environment (the shim's) stays
 * what batchd built, and the job's sandbox does not hold this file. */
__attribute__((constructor)) static void
only_the_shim(void)
{
	unsetenv("LD_PRELOAD");
}
