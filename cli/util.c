/*
 * util.c: allocation that cannot fail, and the checks of names batchctl
 * makes before it sends anything.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

/* Give up: there is nothing sensible to do without memory. */
static void
nomem(void)
{
	fputs("batchctl: out of memory\n", stderr);
	abort();
}

/* malloc(3) that does not return NULL. */
void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		nomem();
	return p;
}

/* calloc(3) that does not return NULL. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		nomem();
	return p;
}

/* reallocarray(3) that does not return NULL. */
void *
xreallocarray(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n == 0 ? 1 : n, size == 0 ? 1 : size)) ==
	    NULL)
		nomem();
	return p;
}

/* strdup(3) that does not return NULL. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		nomem();
	return p;
}

/* asprintf(3) that does not fail; *ret is owned by the caller. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		nomem();
	return n;
}

/* Is s shaped like a UUID (8-4-4-4-12 hex digits)? Names are not. */
int
uuid_like(const char *s)
{
	size_t	i;

	if (strlen(s) != UUID_LEN)
		return 0;
	for (i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i]))
			return 0;
	}
	return 1;
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

/* Is s a workspace name batchd accepts: [A-Za-z0-9_-]{1,64}? */
int
ws_valid(const char *s)
{
	size_t	n = strlen(s);

	return n >= 1 && n <= 64 &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-") == n;
}
