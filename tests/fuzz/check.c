/*
 * check.c: what the fuzz harness expects of the daemon: which requests
 * it must refuse (must_refuse(): the wire checks redone on the decoded
 * message) and what a successful reply may hold (check_reply()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "fuzz.h"
#include "../../lib/pbfield.h"

/* Is s[0..n) well-formed UTF-8 without NUL (RFC 3629)? */
static int
utf8_ok(const uint8_t *s, size_t n)
{
	size_t		i = 0, k, more;
	uint32_t	c, min;

	while (i < n) {
		c = s[i];
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
			c &= 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			c &= 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			c &= 0x07;
			min = 0x10000;
		} else
			return 0;
		if (n - i <= more)
			return 0;
		for (k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return 0;
		i += more + 1;
	}
	return 1;
}

static int
uuid_ok(const char *s)
{
	size_t	i;

	if (strlen(s) != UUID_LEN)
		return 0;
	for (i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

static int
uuid_field(const char *name)
{
	size_t	n = strlen(name);

	return strcmp(name, "uuid") == 0 ||
	    (n > 5 && strcmp(name + n - 5, "_uuid") == 0) ||
	    (n > 6 && strcmp(name + n - 6, "_uuids") == 0);
}

/* Longest value the API takes for a request string field, by its name. */
static size_t
string_max(const char *name)
{
	static const struct {
		const char	*name;
		size_t		 max;
	} limits[] = {
		{ "name", NAME_MAX_LEN }, { "description", DESC_MAX },
		{ "path", PATH_MAX_LEN }, { "repo_url", PATH_MAX_LEN },
		{ "username", NAME_MAX_LEN }, { "token", PATH_MAX_LEN },
		{ "reference", NAME_MAX_LEN }, { "bucket_path", PATH_MAX_LEN },
		{ "region", NAME_MAX_LEN }, { "source_location", PATH_MAX_LEN },
		{ "args", ARGS_MAX }, { "instance_type", NAME_MAX_LEN },
		{ "version", NAME_MAX_LEN }, { "page_token", WIRE_PAGE_TOKEN_MAX },
		{ "idempotency_key", IDEM_MAX }, { "key", ENV_KEY_MAX },
		{ "value", ENV_VAL_MAX }, { "sql_query", MAX_MESSAGE },
		{ "text", TEXT_MAX },
		{ "cron", CRON_MAX }, { "timezone", NAME_MAX_LEN },
	};
	size_t	i;

	for (i = 0; i < sizeof limits / sizeof limits[0]; i++)
		if (strcmp(limits[i].name, name) == 0)
			return limits[i].max;
	return (size_t)-1;
}

/*
 * protobuf-c's allocations while decoding, each prefixed with its size: a
 * string's length on the wire is its allocation's size - 1, which strlen()
 * cannot tell once the string holds a NUL.
 */
#define PB_HDR	16

static void *
pb_alloc(void *data, size_t n)
{
	uint8_t	*p;

	(void)data;
	p = xmalloc(PB_HDR + n);
	memcpy(p, &n, sizeof n);
	return p + PB_HDR;
}

static void
pb_free(void *data, void *p)
{
	(void)data;
	if (p != NULL)
		free((uint8_t *)p - PB_HDR);
}

static ProtobufCAllocator	pb_allocator = { pb_alloc, pb_free, NULL };

/* Length on the wire of a string decoded with pb_allocator. */
static size_t
wire_strlen(const char *s)
{
	size_t	n;

	if (s == protobuf_c_empty_string)
		return 0;
	memcpy(&n, s - PB_HDR, sizeof n);
	return n - 1;
}

/* A walk over a decoded message: a request to judge or a reply to check. */
struct walk {
	int		 reply;
	const char	*ws;		/* reply: the request's workspace */
	char		 bad[256];	/* request: why it must be refused */
};

static void	walk_message(struct walk *, const ProtobufCMessage *, int);

static void
bad(struct walk *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bad(struct walk *w, const char *fmt, ...)
{
	va_list	ap;

	if (w->bad[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(w->bad, sizeof w->bad, fmt, ap);
	va_end(ap);
}

static void
walk_string(struct walk *w, const ProtobufCMessageDescriptor *md,
    const ProtobufCFieldDescriptor *f, const char *s)
{
	size_t	n = wire_strlen(s);

	if (!utf8_ok((const uint8_t *)s, n))
		bad(w, "%s.%s is not valid UTF-8%s", md->short_name, f->name,
		    strlen(s) != n ? " (it holds a NUL)" : "");
	if (*s != '\0' && uuid_field(f->name) && !uuid_ok(s))
		bad(w, "%s.%s '%.40s' is not a UUID", md->short_name, f->name,
		    s);
	if (w->reply) {
		if (strcmp(f->name, "workspace") == 0 &&
		    strcmp(s, w->ws) != 0)
			bad(w, "%s of workspace '%.64s' in a reply to '%s'",
			    md->short_name, s, w->ws);
		if (md == &batchd__v1__git_source__descriptor &&
		    strcmp(f->name, "token") == 0 && *s != '\0' &&
		    strcmp(s, "****") != 0)
			bad(w, "a git token in clear in a reply");
		return;
	}
	if (n > string_max(f->name))
		bad(w, "%s.%s is %zu bytes", md->short_name, f->name, n);
	if (strcmp(f->name, "key") == 0 && (n == 0 || strchr(s, '=') != NULL))
		bad(w, "env key '%.40s'", s);
	if (uuid_field(f->name) && f->label == PROTOBUF_C_LABEL_REPEATED &&
	    n == 0)
		bad(w, "%s.%s has an empty entry", md->short_name, f->name);
}

static void
walk_value(struct walk *w, const ProtobufCMessageDescriptor *md,
    const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
	const ProtobufCMessage	*sub;
	const char		*s;
	uint32_t		 u;
	int64_t			 i;
	int			 e;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if ((s = *(char *const *)p) != NULL)
			walk_string(w, md, f, s);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		if ((sub = *(ProtobufCMessage *const *)p) != NULL)
			walk_message(w, sub, depth + 1);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		memcpy(&e, p, sizeof e);
		if (protobuf_c_enum_descriptor_get_value(f->descriptor,
		    e) == NULL)
			bad(w, "%s.%s has the unknown value %d",
			    md->short_name, f->name, e);
		break;
	case PROTOBUF_C_TYPE_UINT32:
		memcpy(&u, p, sizeof u);
		if (w->reply)
			break;
		if (strcmp(f->name, "page_size") == 0 && u > PAGE_MAX)
			bad(w, "page_size %u", u);
		if (strcmp(f->name, "max_bytes") == 0 && u > (1u << 20))
			bad(w, "max_bytes %u", u);
		break;
	case PROTOBUF_C_TYPE_INT64:
		memcpy(&i, p, sizeof i);
		if (!w->reply && strncmp(f->name, "submitted_", 10) == 0 &&
		    i < 0)
			bad(w, "%s %lld", f->name, (long long)i);
		break;
	default:
		break;
	}
}

static void
walk_message(struct walk *w, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor	*md = m->descriptor;
	const ProtobufCFieldDescriptor		*f;
	const char				*b = (const char *)m, *v;
	size_t					 n, i, j;

	if (depth > 16)
		return;
	for (j = 0; j < md->n_fields; j++) {
		f = &md->fields[j];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(b + f->quantifier_offset);
			v = *(const char *const *)(b + f->offset);
			if (!w->reply && strcmp(f->name, "env") == 0 &&
			    n > ENV_MAX)
				bad(w, "%zu env entries", n);
			if (!w->reply && strcmp(f->name, "cluster_uuids") == 0 &&
			    n > 1000)
				bad(w, "%zu cluster_uuids", n);
		} else {
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    *(const uint32_t *)(b + f->quantifier_offset) !=
			    f->id)
				continue;
			n = 1;
			v = b + f->offset;
		}
		for (i = 0; i < n; i++)
			walk_value(w, md, f, v + i * pbfield_elem_size(f), depth);
	}
}

/*
 * Why the daemon must refuse this payload of verb v with INVALID_ARGUMENT,
 * or NULL. Sets *field to the field the refusal must name, if known.
 */
const char *
must_refuse(const struct fverb *v, const uint8_t *data, size_t len, const char **field)
{
	static struct walk	 w;
	ProtobufCMessage	*m;

	*field = NULL;
	if (len > MAX_MESSAGE) {
		*field = "payload";
		return "over max_message_bytes";
	}
	if ((m = protobuf_c_message_unpack(v->request, &pb_allocator,
	    len, data)) == NULL) {
		*field = "payload";
		return "not a valid message";
	}
	memset(&w, 0, sizeof w);
	walk_message(&w, m, 0);
	protobuf_c_message_free_unpacked(m, &pb_allocator);
	return w.bad[0] != '\0' ? w.bad : NULL;
}

/* A successful reply: decodes as the verb's reply and breaks no rule. */
void
check_reply(const struct fverb *v, const char *ws)
{
	ProtobufCMessage	*m;
	struct walk		 w;

	if ((m = protobuf_c_message_unpack(v->reply, &pb_allocator,
	    pub.len, pub.p)) == NULL)
		fail("the reply of %s is not a valid %s", v->name,
		    v->reply->short_name);
	memset(&w, 0, sizeof w);
	w.reply = 1;
	w.ws = ws;
	walk_message(&w, m, 0);
	protobuf_c_message_free_unpacked(m, &pb_allocator);
	if (w.bad[0] != '\0')
		fail("reply of %s: %s", v->name, w.bad);
}
