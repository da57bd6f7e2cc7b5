/*
 * util.c: clocks, identifiers, name checks, errors and key-value lists.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uuid/uuid.h>

#include "batchd.h"
#include "../lib/words.h"

/* Wall-clock milliseconds since the epoch (timestamps users see). */
int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void	(*uuid_new_hook)(char *);	/* the fuzzer's fixed UUIDs */

/*
 * Write a new UUID, lower-case canonical, into out[UUID_LEN + 1]: version 7
 * (RFC 9562), 48 bits of Unix milliseconds, a 12-bit counter that keeps
 * the identifiers one thread gives strictly increasing within a
 * millisecond (method 1 of the RFC; starting at a random value below 2048,
 * borrowing the next millisecond if it would wrap), then 62 random bits.
 * Identifiers given in order sort in order, as strings too: B-trees keyed
 * by them (run_ids, clusters, definitions) take appends, not random
 * inserts. The random bits come from a buffer filled by getrandom(2), one
 * system call per 25 identifiers.
 */
void
uuid_new(char *out)
{
	static _Thread_local uint8_t	 pool[256];
	static _Thread_local size_t	 used = sizeof pool;
	static _Thread_local int64_t	 last_ms;
	static _Thread_local unsigned	 counter;
	uuid_t				 u;
	int64_t				 ms = now_ms();
	ssize_t				 n;
	int				 i;

	if (uuid_new_hook != NULL) {
		uuid_new_hook(out);
		return;
	}
	if (used + 10 > sizeof pool) {
		n = getrandom(pool, sizeof pool, 0);
		for (i = 0; n != (ssize_t)sizeof pool &&
		    i < (int)sizeof pool; i += 16)
			uuid_generate(pool + i);	/* libuuid's sources */
		used = 0;
	}
	if (ms > last_ms) {
		last_ms = ms;
		counter = ((unsigned)pool[used] << 8 | pool[used + 1]) & 0x7ff;
	} else if (++counter > 0xfff) {
		last_ms++;		/* 4096 in one ms: borrow the next */
		counter = 0;
	}
	for (i = 0; i < 6; i++)
		u[i] = (uint8_t)(last_ms >> (40 - 8 * i));
	u[6] = (uint8_t)(0x70 | counter >> 8);
	u[7] = (uint8_t)counter;
	memcpy(u + 8, pool + used + 2, 8);
	u[8] = (uint8_t)(0x80 | (u[8] & 0x3f));	/* the RFC variant */
	used += 10;
	uuid_unparse_lower(u, out);
}

/* Is s[0..len) well-formed UTF-8 (no overlongs, surrogates or NULs)? */
int
utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n, k;
	uint32_t		 c;

	while (i < len) {
		if (p[i] == 0)
			return 0;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			n = 1;
			c = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			n = 2;
			c = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			n = 3;
			c = p[i] & 0x07;
		} else
			return 0;
		for (k = 1; k <= n; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				return 0;
			c = (c << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 1 && c < 0x80) || (n == 2 && c < 0x800) ||
		    (n == 3 && c < 0x10000) || c > 0x10ffff ||
		    (c >= 0xd800 && c <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* Big-endian 8-byte integers: LMDB keys that sort numerically. */
void
be64_put(void *p, uint64_t v)
{
	uint8_t	*b = p;
	int	 i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = v & 0xff;
}

uint64_t
be64_get(const void *p)
{
	const uint8_t	*b = p;
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

/* Fill in a refusal: code, the request field at fault, and a message. */
void
error_set(struct error *e, enum errcode code, const char *field,
    const char *fmt, ...)
{
	va_list	ap;

	e->code = code;
	snprintf(e->field, sizeof e->field, "%s", field == NULL ? "" : field);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

/*
 * The refusal e is about item i of a list field ("runs"): its field
 * becomes "runs[3].depends_on" (the field itself if it named none).
 */
void
error_within(struct error *e, const char *list, size_t i)
{
	char	f[sizeof e->field * 2];

	snprintf(f, sizeof f, "%s[%zu]%s%s", list, i,
	    *e->field != '\0' ? "." : "", e->field);
	f[sizeof e->field - 1] = '\0';	/* cut, as error_set() would */
	memcpy(e->field, f, sizeof e->field);
}

const char *
errcode_name(enum errcode c)
{
	static const char *names[] = { "OK", "INVALID_ARGUMENT", "NOT_FOUND",
	    "ALREADY_EXISTS", "FAILED_PRECONDITION", "QUEUE_FULL",
	    "CLUSTER_PAUSED", "UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED" };

	if ((size_t)c < sizeof names / sizeof names[0])
		return names[c];
	return "?";
}

void
kvlist_free(struct kvlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Deep copy src into the empty list dst. */
void
kvlist_copy(struct kvlist *dst, const struct kvlist *src)
{
	size_t	i;

	dst->n = 0;
	dst->v = NULL;
	for (i = 0; i < src->n; i++)
		kvlist_set(dst, src->v[i].key, src->v[i].value);
}

const char *
kvlist_get(const struct kvlist *l, const char *key)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return l->v[i].value;
	return NULL;
}

/* Set key to value, replacing an existing entry. */
void
kvlist_set(struct kvlist *l, const char *key, const char *value)
{
	size_t	i;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].key, key) == 0) {
			free(l->v[i].value);
			l->v[i].value = xstrdup(value);
			return;
		}
	}
	l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
	l->v[l->n].key = xstrdup(key);
	l->v[l->n].value = xstrdup(value);
	l->n++;
}

/*
 * mkdir -p with mode for every created directory; 0 or -1 with errno.
 * The directory itself first: its parents are made only when one is
 * missing (an attempt's directory is made on every dispatch).
 */
int
mkdir_p(const char *path, mode_t mode)
{
	char	*p, *s;
	int	 rc = 0;

	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	p = xstrdup(path);
	if ((s = strrchr(p, '/')) != NULL && s != p) {
		*s = '\0';
		rc = mkdir_p(p, mode);
	}
	free(p);
	if (rc == 0 && mkdir(path, mode) == -1 && errno != EEXIST)
		rc = -1;
	return rc;
}

/* Check that args split into words; refuse naming field otherwise. */
int
args_valid(const char *args, const char *field, struct error *e)
{
	char		**w = NULL;
	const char	 *cause;
	size_t		  n = 0;
	int		  rc;

	if (args == NULL)
		return 0;
	rc = words_split_why(args, &w, &n, &cause);
	words_free(w);
	if (rc == -1) {
		error_set(e, E_INVALID, field, "%s: %s", field, cause);
		return -1;
	}
	return 0;
}

/*
 * CRC-32 (IEEE 802.3, as zlib's) of p[0..n) continuing crc (0 to start),
 * eight bytes a step ("slicing-by-8"): the redo log checks every frame.
 */
uint32_t
crc32_ieee(uint32_t crc, const void *data, size_t n)
{
	static uint32_t	 t[8][256];
	const uint8_t	*p = data;
	uint32_t	 a, b, c;
	int		 i, j;

	if (t[0][1] == 0) {
		for (i = 0; i < 256; i++) {
			for (c = (uint32_t)i, j = 0; j < 8; j++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			t[0][i] = c;
		}
		for (i = 0; i < 256; i++)
			for (j = 1; j < 8; j++)
				t[j][i] = (t[j - 1][i] >> 8) ^
				    t[0][t[j - 1][i] & 0xff];
	}
	crc = ~crc;
	for (; n >= 8; p += 8, n -= 8) {
		a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
		    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		b = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
		    (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		crc = t[7][a & 0xff] ^ t[6][(a >> 8) & 0xff] ^
		    t[5][(a >> 16) & 0xff] ^ t[4][a >> 24] ^
		    t[3][b & 0xff] ^ t[2][(b >> 8) & 0xff] ^
		    t[1][(b >> 16) & 0xff] ^ t[0][b >> 24];
	}
	while (n-- > 0)
		crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
