/*
 * util.c: what batchctl does when memory runs out (lib/xmalloc.c), and the
 * UUIDs users may type in either case (lib/names.c checks the shapes).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "batchctl.h"

/* lib/xmalloc.c ran out of memory: there is nothing sensible to do. */
void
xmalloc_fail(const char *what, size_t n, size_t size)
{
	fputs("batchctl: out of memory\n", stderr);
	abort();
}

/* Is s shaped like a UUID (8-4-4-4-12 hex digits, either case)? Names are
 * not. */
int
uuid_like(const char *s)
{
	char	*l = uuid_lower(s);
	int	 r = uuid_valid(l);

	free(l);
	return r;
}

/* A UUID in the lower case batchd wants; owned by the caller. */
char *
uuid_lower(const char *arg)
{
	char	*s = xstrdup(arg), *p;

	for (p = s; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

/* A random (version 4) UUID; owned by the caller. */
char *
uuid_new(void)
{
	unsigned char	 b[16];
	char		*s;
	size_t		 got = 0;
	ssize_t		 n;

	while (got < sizeof b) {
		if ((n = getrandom(b + got, sizeof b - got, 0)) == -1) {
			perror("batchctl: getrandom");
			abort();
		}
		got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	xasprintf(&s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return s;
}
