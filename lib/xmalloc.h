/* xmalloc.h: allocation that cannot fail (xmalloc.c). */
#ifndef BATCHD_XMALLOC_H
#define BATCHD_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * What running out of memory does: each program that links xmalloc.c
 * defines it (batchd: fatal(); batchctl: a message and abort()). what names
 * the call, n and size its request; it does not return.
 */
void	 xmalloc_fail(const char *what, size_t n, size_t size)
	    __attribute__((noreturn));

#endif
