/*
 * wire-reply.c's tests: a log chunk's head, and a listing page that
 * fills a reply to its bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "unit.h"

/*
 * A LogChunk's head, then its data: one message, every field as given,
 * encoded (ZSTD, with its size) or not.
 */
void
test_wire_logchunk_head(void)
{
	static const size_t	 lens[] = { 0, 1, 127, 128, 300, 1 << 20 };
	Batchd__V1__LogChunk	*m;
	struct logchunk		 c;
	uint8_t			*msg;
	size_t			 i, n, k;

	msg = xmalloc(WIRE_LOGCHUNK_HEAD + (1 << 20));
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		memset(&c, 0, sizeof c);
		c.run_uuid = "01a210ba-8990-7185-98d9-0ba2d17c16d2";
		c.attempt = 4000000000u;
		c.stream = LS_STDERR;
		c.offset = 123456789012345ull;
		c.len = lens[i];
		c.eof = lens[i] == 0;
		if (i % 2 == 1) {	/* and as batchd sends compressed data */
			c.encoding = LE_ZSTD;
			c.size = 4000000000u;
		}
		n = wire_logchunk_head(msg, &c);
		CHECK(n <= WIRE_LOGCHUNK_HEAD);
		for (k = 0; k < c.len; k++)
			msg[n + k] = (uint8_t)(k * 7 + i);
		m = batchd__v1__log_chunk__unpack(NULL, n + c.len, msg);
		CHECK(m != NULL);
		CHECK(strcmp(m->run_uuid, c.run_uuid) == 0);
		CHECK(m->attempt == c.attempt && m->offset == c.offset);
		CHECK(m->stream == BATCHD__V1__LOG_STREAM__STDERR);
		CHECK(m->eof == (protobuf_c_boolean)c.eof);
		CHECK(m->data.len == c.len);
		CHECK(c.len == 0 || memcmp(m->data.data, msg + n, c.len) == 0);
		CHECK(m->encoding == (i % 2 == 1 ?
		    BATCHD__V1__LOG_ENCODING__ZSTD :
		    BATCHD__V1__LOG_ENCODING__IDENTITY));
		CHECK(m->size == c.size);
		batchd__v1__log_chunk__free_unpacked(m, NULL);
	}
	free(msg);
}

/*
 * A page filled as the list handlers fill it (items while their size fits
 * wire_list_room()) is a reply within reply_max, the longest next page
 * token included; one more item would not have fit.
 */
void
test_wire_list_fits(void)
{
	struct request	 q;
	struct jobdef	 d[20];
	struct pagepos	 more;
	struct buf	 b = { 0 };
	char		 val[700];
	size_t		 i, room, n = 0, sz = 0;

	memset(&q, 0, sizeof q);
	q.reply_max = 4096;
	CHECK(wire_list_room(&q) < 4096);
	memset(d, 0, sizeof d);
	memset(val, 'v', sizeof val - 1);
	val[sizeof val - 1] = '\0';
	for (i = 0; i < 20; i++) {
		uuid_new(d[i].uuid);
		d[i].ws = xstrdup("w");
		d[i].name = xmalloc(NAME_MAX_LEN + 1);
		memset(d[i].name, 'a' + (int)i, NAME_MAX_LEN);
		d[i].name[NAME_MAX_LEN] = '\0';
		d[i].config.source.type = SRC_GIT;
		d[i].config.source.token = xstrdup("a-long-secret-token");
		kvlist_set(&d[i].config.env, "API_TOKEN", val);
	}
	room = wire_list_room(&q);
	for (n = 0; n < 20 && (sz = wire_size_jobdef(&d[n])) <= room; n++)
		room -= sz;
	CHECK(n > 1 && n < 20);
	CHECK(sz > room);
	memset(&more, 0, sizeof more);
	more.set = 1;
	snprintf(more.name, sizeof more.name, "%s", d[n - 1].name);
	wire_reply_jobdefs(&b, "w", d, n, &more);
	CHECK(b.len <= q.reply_max);
	/* Secrets are masked in what was measured and sent. */
	CHECK(memmem(b.p, b.len, "a-long-secret-token", 19) == NULL);
	CHECK(memmem(b.p, b.len, val, 100) == NULL);
	q.reply_max = 0;
	CHECK(wire_list_room(&q) == SIZE_MAX);
	buf_free(&b);
	for (i = 0; i < 20; i++)
		jobdef_free(&d[i]);
}
