/*
 * xmalloc.c: allocation that cannot fail (batchd dies on out-of-memory
 * rather than answering wrongly) and the growable buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		fatal("malloc %zu", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if ((p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size)) == NULL)
		fatal("calloc %zu*%zu", nmemb, size);
	return p;
}

void *
xreallocarray(void *old, size_t nmemb, size_t size)
{
	void	*p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		fatalx("reallocarray: overflow %zu*%zu", nmemb, size);
	if ((p = realloc(old, nmemb * size == 0 ? 1 : nmemb * size)) == NULL)
		fatal("realloc %zu*%zu", nmemb, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatal("strndup");
	return p;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vasprintf");
	return n;
}

/* Append len bytes to b (or len unset bytes if data is NULL), growing b
 * geometrically. */
void
buf_add(struct buf *b, const void *data, size_t len)
{
	size_t	cap;

	if (b->len + len > b->cap) {
		cap = b->cap == 0 ? 256 : b->cap;
		while (cap < b->len + len)
			cap *= 2;
		b->p = xreallocarray(b->p, 1, cap);
		b->cap = cap;
	}
	if (data != NULL && len != 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

/* Empty b for reuse; its memory goes back if it grew past keep bytes (a
 * big turn's buffer is not held for the small ones after it). */
void
buf_reset(struct buf *b, size_t keep)
{
	if (b->cap > keep)
		buf_free(b);
	b->len = 0;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
