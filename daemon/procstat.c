/*
 * procstat.c: a process's start time, so a pid saved in a file is not
 * mistaken for another process that got the same pid later, and the files
 * that record one ("pid starttime"). Compiled into batchd, batchd-shim and
 * the local backend (which use libc only).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"

/* Start time of pid (0: this process) in clock ticks since boot, or 0. */
unsigned long long
proc_start_time(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 v = 0;
	ssize_t			 n;
	int			 fd, i;

	if (pid == 0)
		snprintf(path, sizeof path, "/proc/self/stat");
	else
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Field 22, counted after the command name, which may hold spaces. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		v = strtoull(p + 1, NULL, 10);
	return v;
}

/*
 * Write "pid starttime" to path, atomically (a temporary file of this
 * process renamed over it), so a reader sees a whole line or none. 0, or
 * -1 with errno.
 */
int
pidfile_write(const char *path, pid_t pid)
{
	char	tmp[4096], line[64];
	int	fd, n, e;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.%d.tmp", path,
	    (int)getpid()) >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	n = snprintf(line, sizeof line, "%d %llu\n", (int)pid,
	    proc_start_time(pid == getpid() ? 0 : pid));
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	if (write(fd, line, n) != n || close(fd) == -1 ||
	    rename(tmp, path) == -1) {
		e = errno;
		close(fd);	/* EBADF when closed above: harmless */
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}
