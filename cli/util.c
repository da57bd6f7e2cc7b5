/*
 * util.c: what batchctl does when memory runs out (lib/xmalloc.c), and the
 * UUIDs users may type in either case (lib/names.c checks the shapes).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
