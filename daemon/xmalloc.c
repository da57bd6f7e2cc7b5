/*
 * xmalloc.c: batchd's side of lib/xmalloc.c (what running out of memory
 * does: fatal()) and the growable buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

/* lib/xmalloc.c ran out of memory: batchd dies rather than answer wrongly. */
void
xmalloc_fail(const char *what, size_t n, size_t size)
{
	fatal("%s %zu*%zu", what, n, size);
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
