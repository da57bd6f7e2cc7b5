/*
 * wire-field.c: the fields every message shares, both ways: strings
 * (checked for size and UTF-8 where a request enters), UUIDs, enums and
 * env maps into structs; packing and string fields out. Requests are
 * unpacked with wire_allocator, which lets wire_str_in() see a string cut
 * short by a NUL byte. The messages themselves are wire.c's and its
 * neighbours'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "wire.h"

/*
 * Requests are unpacked with an allocator that keeps each block's size in
 * front of it, so wire_str_in() can tell a string cut short by a NUL byte (C
 * strings end there; protobuf strings do not) from a whole one.
 */
#define WIRE_HDR	16

static void *
wire_alloc(void *ud, size_t n)
{
	size_t	*p;

	(void)ud;
	if ((p = malloc(n + WIRE_HDR)) == NULL)
		return NULL;
	*p = n;
	return (char *)p + WIRE_HDR;
}

static void
wire_free(void *ud, void *p)
{
	(void)ud;
	if (p != NULL)
		free((char *)p - WIRE_HDR);
}

ProtobufCAllocator wire_allocator = { wire_alloc, wire_free, NULL };

/* The size of a block from wire_alloc(). */
static size_t
wire_size(const void *p)
{
	return *(const size_t *)(const void *)((const char *)p - WIRE_HDR);
}

/*
 * Copy a wire string into *dst after checking its size and encoding (a
 * request's: e set; a record's is taken as it is). Empty strings become
 * NULL. Returns 0, or -1 with e set.
 */
int
wire_str_in(char **dst, const char *src, size_t max, const char *field,
    struct error *e)
{
	size_t	len;

	free(*dst);
	*dst = NULL;
	/* Absent strings are protobuf-c's static "", not ours. */
	if (src == NULL || src == protobuf_c_empty_string)
		return 0;
	len = strlen(src);
	if (e == NULL) {
		*dst = len != 0 ? xstrndup(src, len) : NULL;
		return 0;
	}
	if (len + 1 != wire_size(src)) {
		error_set(e, E_INVALID, field, "%s holds a NUL byte", field);
		return -1;
	}
	if (len == 0)
		return 0;
	if (len > max) {
		error_set(e, E_INVALID, field, "%s is longer than %zu bytes",
		    field, max);
		return -1;
	}
	if (!utf8_valid(src, len)) {
		error_set(e, E_INVALID, field, "%s is not valid UTF-8", field);
		return -1;
	}
	*dst = xstrndup(src, len);
	return 0;
}

/* A UUID field: empty (NULL) or canonical lower-case. */
int
wire_uuid_in(char **dst, const char *src, const char *field, struct error *e)
{
	if (wire_str_in(dst, src, UUID_LEN + 8, field, e) == -1)
		return -1;
	if (e != NULL && *dst != NULL && !uuid_valid(*dst)) {
		error_set(e, E_INVALID, field, "%s '%.40s' is not a lower-case "
		    "UUID", field, *dst);
		return -1;
	}
	return 0;
}

/*
 * An env map: at most ENV_MAX entries, each name and value bounded, and
 * ENV_TOTAL_MAX bytes of names and values in all (what a definition's
 * snapshot and a run's record carry). A record's (e NULL) is taken as it
 * is: a run's holds its definition's env and its own. 0, or -1 with e set.
 */
int
wire_env_in(struct kvlist *dst, void **entries, size_t n, const char *field,
    struct error *e)
{
	Batchd__V1__JobConfig__EnvEntry	*kv;
	char				*k = NULL, *v = NULL;
	char				 f[96];
	size_t				 i, total = 0;

	if (e == NULL) {
		for (i = 0; i < n; i++) {
			kv = entries[i];
			kvlist_set(dst, kv->key, kv->value);
		}
		return 0;
	}
	if (n > ENV_MAX) {
		error_set(e, E_INVALID, field, "%s has more than %d entries",
		    field, ENV_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		kv = entries[i];
		total += (kv->key != NULL ? strlen(kv->key) : 0) +
		    (kv->value != NULL ? strlen(kv->value) : 0);
	}
	if (total > ENV_TOTAL_MAX) {
		error_set(e, E_INVALID, field, "%s holds %zu bytes of names "
		    "and values, more than the limit of %d", field, total,
		    ENV_TOTAL_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		/* All env entry types share this layout. */
		kv = entries[i];
		snprintf(f, sizeof f, "%s.key", field);
		if (wire_str_in(&k, kv->key, ENV_KEY_MAX, f, e) == -1)
			goto fail;
		if (k == NULL || strchr(k, '=') != NULL) {
			error_set(e, E_INVALID, f, "%s: an environment variable "
			    "name must be non-empty and without '='", f);
			goto fail;
		}
		snprintf(f, sizeof f, "%s[%s]", field, k);
		if (wire_str_in(&v, kv->value, ENV_VAL_MAX, f, e) == -1)
			goto fail;
		kvlist_set(dst, k, v == NULL ? "" : v);
		free(k);
		free(v);
		k = v = NULL;
	}
	return 0;
fail:
	free(k);
	free(v);
	return -1;
}

/* An enum's value, known to be in 0..max (a request's: e set). */
int
wire_enum_in(int *dst, int v, int max, const char *field, struct error *e)
{
	if (e != NULL && (v < 0 || v > max)) {
		error_set(e, E_INVALID, field, "%s: unknown value %d", field, v);
		return -1;
	}
	*dst = v;
	return 0;
}


/* ------------------------------------------------------------ out */

/* Pack any message into b (replacing its contents). */
void
wire_pack(struct buf *b, const ProtobufCMessage *m)
{
	size_t	n;

	b->len = 0;
	n = protobuf_c_message_get_packed_size(m);
	buf_add(b, NULL, n);
	protobuf_c_message_pack(m, b->p);
}

/* A string field's value: "" for NULL. */
char *
wire_str_out(const char *s)
{
	return (char *)(s == NULL ? "" : s);
}
