/*
 * procstat.c: a process's start time, so a pid saved in a file is not
 * mistaken for another process that got the same pid later. Compiled into
 * batchd and into batchd-shim (which uses libc only).
 */
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
