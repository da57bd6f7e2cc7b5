/*
 * xmalloc.c: allocation that cannot fail, compiled into batchd and
 * batchctl. A program would rather stop than answer wrongly when memory
 * runs out; how it stops is its own xmalloc_fail().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* malloc(3) that does not return NULL. */
void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		xmalloc_fail("malloc", n, 1);
	return p;
}

/* calloc(3) that does not return NULL. */
void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if ((p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size)) == NULL)
		xmalloc_fail("calloc", nmemb, size);
	return p;
}

/* reallocarray(3) that does not return NULL (nor overflows). */
void *
xreallocarray(void *old, size_t nmemb, size_t size)
{
	void	*p;

	if ((p = reallocarray(old, nmemb == 0 ? 1 : nmemb,
	    size == 0 ? 1 : size)) == NULL)
		xmalloc_fail("reallocarray", nmemb, size);
	return p;
}

/* strdup(3) that does not return NULL. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		xmalloc_fail("strdup", strlen(s) + 1, 1);
	return p;
}

/* strndup(3) that does not return NULL. */
char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		xmalloc_fail("strndup", n + 1, 1);
	return p;
}

/* asprintf(3) that does not fail; *ret is owned by the caller. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n < 0)
		xmalloc_fail("vasprintf", 0, 0);
	return n;
}
