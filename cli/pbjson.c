/*
 * pbjson.c: protobuf messages as JSON, derived from the protobuf-c
 * descriptors so that fields added to the proto appear without code here.
 * The mapping follows proto3's JSON one: lowerCamelCase names, enums by
 * name, maps as objects, bytes in base64, message fields omitted when
 * unset and one-member oneofs ("presence") only when set; unlike it, 64-bit
 * integers are JSON numbers and scalar fields are always written. A Git
 * token is never printed: it is "****" when set.
 */
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"
#include "../lib/pbfield.h"

static json_t	*value(const ProtobufCFieldDescriptor *, const void *);

/* "source_location" -> "sourceLocation". */
static void
camel(const char *name, char *dst, size_t len)
{
	size_t	n = 0;
	int	up = 0;

	for (; *name != '\0' && n + 1 < len; name++) {
		if (*name == '_') {
			up = 1;
			continue;
		}
		dst[n++] = up && *name >= 'a' && *name <= 'z' ?
		    (char)(*name - 'a' + 'A') : *name;
		up = 0;
	}
	dst[n] = '\0';
}

/* A JSON string of s; bytes that are not UTF-8 become '?'. */
static json_t *
string(const char *s)
{
	json_t	*j;
	char	*copy, *p;

	if ((j = json_string(s != NULL ? s : "")) != NULL)
		return j;
	copy = xstrdup(s);
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* Bytes in base64. */
static json_t *
base64(const ProtobufCBinaryData *b)
{
	static const char	 a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	json_t			*j;
	char			*out;
	size_t			 i, n = 0;
	uint32_t		 v;

	out = xmalloc((b->len + 2) / 3 * 4 + 1);
	for (i = 0; i < b->len; i += 3) {
		v = (uint32_t)b->data[i] << 16;
		if (i + 1 < b->len)
			v |= (uint32_t)b->data[i + 1] << 8;
		if (i + 2 < b->len)
			v |= b->data[i + 2];
		out[n++] = a[(v >> 18) & 63];
		out[n++] = a[(v >> 12) & 63];
		out[n++] = i + 1 < b->len ? a[(v >> 6) & 63] : '=';
		out[n++] = i + 2 < b->len ? a[v & 63] : '=';
	}
	out[n] = '\0';
	j = json_string(out);
	free(out);
	return j;
}

/* Is f a map<,> (a repeated message named *Entry of key and value)? */
static int
is_map(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor	*d = f->descriptor;
	size_t					 n;

	if (f->type != PROTOBUF_C_TYPE_MESSAGE || d->n_fields != 2 ||
	    strcmp(d->fields[0].name, "key") != 0 ||
	    strcmp(d->fields[1].name, "value") != 0)
		return 0;
	n = strlen(d->name);
	return n > 5 && strcmp(d->name + n - 5, "Entry") == 0;
}

/* A map field: an object of its entries. */
static json_t *
map(const ProtobufCFieldDescriptor *f, ProtobufCMessage *const *v,
    size_t n)
{
	const ProtobufCMessageDescriptor	*d = f->descriptor;
	json_t					*o, *k;
	size_t					 i;

	o = json_object();
	for (i = 0; i < n; i++) {
		k = value(&d->fields[0], (const char *)v[i] +
		    d->fields[0].offset);
		if (json_is_string(k))
			json_object_set_new(o, json_string_value(k),
			    value(&d->fields[1], (const char *)v[i] +
			    d->fields[1].offset));
		json_decref(k);
	}
	return o;
}

/* The JSON value of the field f stored at p. */
static json_t *
value(const ProtobufCFieldDescriptor *f, const void *p)
{
	const ProtobufCEnumValue	*ev;
	const ProtobufCMessage		*m;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_integer((json_int_t)*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor,
		    *(const int *)p);
		return ev != NULL ? json_string(ev->name) :
		    json_integer(*(const int *)p);
	case PROTOBUF_C_TYPE_STRING:
		return string(*(char *const *)p);
	case PROTOBUF_C_TYPE_BYTES:
		return base64(p);
	case PROTOBUF_C_TYPE_MESSAGE:
		m = *(ProtobufCMessage *const *)p;
		return m != NULL ? pbjson_message(m) : json_null();
	}
	return json_null();
}

/* The JSON object of a message; the caller json_decref()s it. */
json_t *
pbjson_message(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor	*d = m->descriptor;
	const ProtobufCFieldDescriptor		*f;
	const char				*base = (const char *)m;
	const char				*member;
	json_t					*o, *v;
	size_t					 i, j, n;
	char					 key[128];

	o = json_object();
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		member = base + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + f->quantifier_offset);
			if (is_map(f))
				v = map(f, *(ProtobufCMessage *const *const *)
				    member, n);
			else {
				v = json_array();
				for (j = 0; j < n; j++)
					json_array_append_new(v, value(f,
					    *(const char *const *)member +
					    j * pbfield_elem_size(f)));
			}
		} else {
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    *(const uint32_t *)(base + f->quantifier_offset) !=
			    f->id)
				continue;
			if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
			    f->type != PROTOBUF_C_TYPE_MESSAGE &&
			    f->type != PROTOBUF_C_TYPE_STRING &&
			    !*(const protobuf_c_boolean *)(base +
			    f->quantifier_offset))
				continue;
			if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    *(void *const *)member == NULL)
				continue;
			if (d == &batchd__v1__git_source__descriptor &&
			    strcmp(f->name, "token") == 0)
				v = json_string(**(char *const *)member !=
				    '\0' ? "****" : "");
			else
				v = value(f, member);
		}
		camel(f->name, key, sizeof key);
		json_object_set_new(o, key, v);
	}
	return o;
}

/* Print one message as indented JSON on stdout. */
void
pbjson_print(const void *m)
{
	json_t	*j = pbjson_message(m);

	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(j);
}

/* Print messages as an indented JSON array on stdout. */
void
pbjson_print_list(void **ms, size_t n)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, pbjson_message(ms[i]));
	json_dumpf(a, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(a);
}

/* Print one message as a line of compact JSON and flush (streams). */
void
pbjson_print_line(const void *m)
{
	json_t	*j = pbjson_message(m);

	json_dumpf(j, stdout, JSON_COMPACT);
	putchar('\n');
	fflush(stdout);
	json_decref(j);
}
