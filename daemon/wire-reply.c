/*
 * wire-reply.c: replies, and their size. Every reply fits the server's
 * max_payload (request.reply_max): the list handlers add items while
 * wire_size_*() of the next one fits in what wire_list_room() left, and
 * cut the page short (its next_page_token starts after the last item
 * included) when it does not; api.c refuses any other reply over the
 * bound, with the error wire_error_too_large() makes. An item of a list
 * costs its tag (fields 2: one byte), its length and its bytes, as the
 * reply carries it (secrets masked).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "wire.h"

/* The Error of e, into m; NULL when e says no error. */
static Batchd__V1__Error *
error_out(Batchd__V1__Error *m, const struct error *e)
{
	if (e == NULL || e->code == E_OK)
		return NULL;
	batchd__v1__error__init(m);
	m->code = (Batchd__V1__ErrorCode)e->code;
	m->message = (char *)e->message;
	m->field = (char *)e->field;
	return m;
}


static size_t
varint_len(size_t n)
{
	size_t	len = 1;

	for (; n >= 0x80; n >>= 7)
		len++;
	return len;
}

/* Bytes m costs as an item of a list reply: tag, length, message. */
size_t
wire_item_size(const ProtobufCMessage *m)
{
	size_t	n = protobuf_c_message_get_packed_size(m);

	return 1 + varint_len(n) + n;
}

/*
 * Bytes a list reply to q has for its items: reply_max less the longest
 * next_page_token field. SIZE_MAX without a bound (reply_max 0).
 */
size_t
wire_list_room(const struct request *q)
{
	size_t	reserve = 1 + varint_len(WIRE_PAGE_TOKEN_MAX) +
		    WIRE_PAGE_TOKEN_MAX;

	if (q->reply_max == 0)
		return SIZE_MAX;
	return q->reply_max > reserve ? q->reply_max - reserve : 0;
}

size_t
wire_size_jobdef(const struct jobdef *d)
{
	struct pb_jobdef	p;
	size_t			n;

	wire_jobdef_out(&p, d, 1);
	n = wire_item_size(&p.d.base);
	wire_jobdef_out_free(&p);
	return n;
}

size_t
wire_size_cluster(const struct cluster *c)
{
	Batchd__V1__Cluster		m;
	Batchd__V1__ClusterConfig	cc;

	wire_cluster_out(&m, &cc, c);
	return wire_item_size(&m.base);
}

size_t
wire_size_run(const struct run *r)
{
	struct pb_run	p;
	size_t		n;

	wire_run_out(&p, r, 1);
	n = wire_item_size(&p.r.base);
	wire_run_out_free(&p);
	return n;
}

/*
 * e: a reply of n bytes would pass the server's max_payload max. field
 * names the request field that chose the object, what (or NULL) says
 * which object it is.
 */
void
wire_error_too_large(struct error *e, const char *field, size_t n,
    size_t max, const char *what)
{
	error_set(e, E_PRECONDITION, field, "reply of %zu bytes exceeds the "
	    "server's max_payload %zu%s%.120s", n, max,
	    what != NULL ? ": " : "", what != NULL ? what : "");
}

/* An error-only reply; field 1 of every reply type, so it decodes as any. */
void
wire_reply_error(struct buf *b, const struct error *e)
{
	Batchd__V1__DeleteReply	m = BATCHD__V1__DELETE_REPLY__INIT;
	Batchd__V1__Error	em;

	m.error = error_out(&em, e);
	wire_pack(b, &m.base);
}

void
wire_reply_delete(struct buf *b)
{
	wire_reply_error(b, NULL);
}

void
wire_reply_jobdef(struct buf *b, const struct jobdef *d)
{
	Batchd__V1__JobDefinitionReply	m = BATCHD__V1__JOB_DEFINITION_REPLY__INIT;
	struct pb_jobdef		p;

	wire_jobdef_out(&p, d, 1);
	m.job_definition = &p.d;
	wire_pack(b, &m.base);
	wire_jobdef_out_free(&p);
}

/* A page of definitions; more: where the next starts, NULL on the last. */
void
wire_reply_jobdefs(struct buf *b, const char *ws, struct jobdef *d, size_t n,
    const struct pagepos *more)
{
	Batchd__V1__ListJobDefinitionsReply m =
	    BATCHD__V1__LIST_JOB_DEFINITIONS_REPLY__INIT;
	struct pb_jobdef		*p;
	Batchd__V1__JobDefinition	**pp;
	char				*token;
	size_t				 i;

	p = xcalloc(n, sizeof *p);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		wire_jobdef_out(&p[i], &d[i], 1);
		pp[i] = &p[i].d;
	}
	m.n_job_definitions = n;
	m.job_definitions = pp;
	token = more != NULL ? wire_page_token(PAGE_JOBDEFS, ws, more) : NULL;
	m.next_page_token = wire_str_out(token);
	wire_pack(b, &m.base);
	for (i = 0; i < n; i++)
		wire_jobdef_out_free(&p[i]);
	free(p);
	free(pp);
	free(token);
}

void
wire_reply_cluster(struct buf *b, const struct cluster *c)
{
	Batchd__V1__ClusterReply	m = BATCHD__V1__CLUSTER_REPLY__INIT;
	Batchd__V1__Cluster		cm;
	Batchd__V1__ClusterConfig	cc;

	wire_cluster_out(&cm, &cc, c);
	m.cluster = &cm;
	wire_pack(b, &m.base);
}

/* A page of clusters; more: where the next starts, NULL on the last. */
void
wire_reply_clusters(struct buf *b, const char *ws, struct cluster *c,
    size_t n, const struct pagepos *more)
{
	Batchd__V1__ListClustersReply	m = BATCHD__V1__LIST_CLUSTERS_REPLY__INIT;
	Batchd__V1__Cluster		*cm, **pp;
	Batchd__V1__ClusterConfig	*cc;
	char				*token;
	size_t				 i;

	cm = xcalloc(n, sizeof *cm);
	cc = xcalloc(n, sizeof *cc);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		wire_cluster_out(&cm[i], &cc[i], &c[i]);
		pp[i] = &cm[i];
	}
	m.n_clusters = n;
	m.clusters = pp;
	token = more != NULL ? wire_page_token(PAGE_CLUSTERS, ws, more) : NULL;
	m.next_page_token = wire_str_out(token);
	wire_pack(b, &m.base);
	free(cm);
	free(cc);
	free(pp);
	free(token);
}

void
wire_reply_run(struct buf *b, const struct run *r)
{
	Batchd__V1__JobRunReply	m = BATCHD__V1__JOB_RUN_REPLY__INIT;
	struct pb_run		p;

	wire_run_out(&p, r, 1);
	m.job_run = &p.r;
	wire_pack(b, &m.base);
	wire_run_out_free(&p);
}

/* A page of runs; more: where the next starts, NULL on the last. */
void
wire_reply_runs(struct buf *b, const char *ws, struct run *r, size_t n,
    const struct pagepos *more)
{
	Batchd__V1__ListJobRunsReply	m = BATCHD__V1__LIST_JOB_RUNS_REPLY__INIT;
	struct pb_run			*p;
	Batchd__V1__JobRun		**pp;
	char				*token;
	size_t				 i;

	p = xcalloc(n, sizeof *p);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		wire_run_out(&p[i], &r[i], 1);
		pp[i] = &p[i].r;
	}
	m.n_job_runs = n;
	m.job_runs = pp;
	token = more != NULL ? wire_page_token(PAGE_RUNS, ws, more) : NULL;
	m.next_page_token = wire_str_out(token);
	wire_pack(b, &m.base);
	for (i = 0; i < n; i++)
		wire_run_out_free(&p[i]);
	free(p);
	free(pp);
	free(token);
}

/* run.submit_batch's and run.rerun's reply: the runs made, in order. */
void
wire_reply_submitted(struct buf *b, struct run *r, size_t n)
{
	Batchd__V1__SubmitJobRunsReply	m = BATCHD__V1__SUBMIT_JOB_RUNS_REPLY__INIT;
	struct pb_run			*p;
	Batchd__V1__JobRun		**pp;
	size_t				 i;

	p = xcalloc(n, sizeof *p);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		wire_run_out(&p[i], &r[i], 1);
		pp[i] = &p[i].r;
	}
	m.n_job_runs = n;
	m.job_runs = pp;
	wire_pack(b, &m.base);
	for (i = 0; i < n; i++)
		wire_run_out_free(&p[i]);
	free(p);
	free(pp);
}

void
wire_reply_cancelled(struct buf *b, char **uuids, size_t n)
{
	Batchd__V1__CancelJobRunsReply	m = BATCHD__V1__CANCEL_JOB_RUNS_REPLY__INIT;

	m.cancelled = (uint32_t)n;
	m.n_run_uuids = n;
	m.run_uuids = uuids;
	wire_pack(b, &m.base);
}

static void
logchunk_out(Batchd__V1__LogChunk *m, const struct logchunk *c)
{
	batchd__v1__log_chunk__init(m);
	m->run_uuid = (char *)c->run_uuid;
	m->attempt = c->attempt;
	m->stream = (Batchd__V1__LogStream)c->stream;
	m->offset = c->offset;
	m->data.data = (uint8_t *)c->data;
	m->data.len = c->len;
	m->eof = c->eof;
	m->encoding = (Batchd__V1__LogEncoding)c->encoding;
	m->size = (uint32_t)c->size;
}

void
wire_reply_logs(struct buf *b, struct logchunk *c, size_t n, uint64_t next,
    int eof)
{
	Batchd__V1__JobRunLogsReply	m = BATCHD__V1__JOB_RUN_LOGS_REPLY__INIT;
	Batchd__V1__LogChunk		*cm, **pp;
	size_t				 i;

	cm = xcalloc(n, sizeof *cm);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		logchunk_out(&cm[i], &c[i]);
		pp[i] = &cm[i];
	}
	m.n_chunks = n;
	m.chunks = pp;
	m.next_offset = next;
	m.eof = eof;
	wire_pack(b, &m.base);
	free(cm);
	free(pp);
}

void
wire_reply_events(struct buf *b, struct runevent *e, size_t n)
{
	Batchd__V1__JobRunEventsReply	 m = BATCHD__V1__JOB_RUN_EVENTS_REPLY__INIT;
	Batchd__V1__JobRunStatusEvent	*em, **pp;
	Batchd__V1__ResourceUsage	*u;
	size_t				 i;

	em = xcalloc(n, sizeof *em);
	u = xcalloc(n, sizeof *u);
	pp = xcalloc(n, sizeof *pp);
	for (i = 0; i < n; i++) {
		wire_event_out(&em[i], &u[i], &e[i]);
		pp[i] = &em[i];
	}
	m.n_events = n;
	m.events = pp;
	wire_pack(b, &m.base);
	free(em);
	free(u);
	free(pp);
}

/*
 * A LogChunk but its data's bytes, into head (WIRE_LOGCHUNK_HEAD bytes at
 * most): every other field, then the data field's tag and length; c->len
 * bytes of data follow it to make the message (fields may come in any
 * order; protobuf-c leaves an empty data out). The publisher reads a log
 * straight into the place after the head: its bytes are not copied again
 * to be packed. Returns the head's length.
 */
size_t
wire_logchunk_head(uint8_t *head, const struct logchunk *c)
{
	Batchd__V1__LogChunk	m;
	struct logchunk		h = *c;
	size_t			n;
	uint64_t		v;

	h.data = NULL;
	h.len = 0;
	logchunk_out(&m, &h);
	if (protobuf_c_message_get_packed_size(&m.base) >
	    WIRE_LOGCHUNK_HEAD - 11)
		fatalx("log chunk head of %s too large", c->run_uuid);
	n = protobuf_c_message_pack(&m.base, head);
	if (c->len > 0) {
		head[n++] = 5 << 3 | 2;		/* data, length-delimited */
		for (v = c->len; v >= 0x80; v >>= 7)
			head[n++] = (uint8_t)(v | 0x80);
		head[n++] = (uint8_t)v;
	}
	return n;
}

