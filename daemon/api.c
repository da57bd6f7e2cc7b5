/*
 * api.c: a NATS command becomes an op, run by its verb's entry (verb.c).
 *
 * Subject: {prefix}.v1.{ws}.{kind}.{verb}; "{kind}.{verb}" names the verb's
 * entry (verb.c). The message is decoded and checked by the entry's
 * decoder (wire-request.c) when its op is applied, inside the loop turn's
 * transaction; the entry's handler writes its reply into the op's buffer
 * and returns 0, or returns a storage error that aborts its writes. The
 * reply is published after the commit; if the commit fails the client
 * gets UNAVAILABLE instead.
 *
 * Every reply fits the server's max_payload (a larger one would be dropped
 * by the server, and the client would wait in vain): list handlers cut a
 * page short to fit (wire-reply.c), and any other reply over it undoes
 * the op's writes and is answered FAILED_PRECONDITION, naming the request
 * field that chose the object (the entry's object). A handler that refuses
 * after it wrote (an item of a batch) returns ECANCELED with its error
 * set: its writes are undone and the error answered. Requests whose reply
 * subject is not one literal subject are dropped unanswered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

struct msg_op {
	struct op	 op;		/* first: ops are cast back */
	char		*subject;
	char		*reply;
	void		*data;
	size_t		 len;
	struct buf	 out;
	int64_t		 t0;		/* receipt, for the latency metric */
	const struct verb_entry *verb;
	enum errcode	 code;
	size_t		 reply_max;	/* the server's max_payload */
	size_t		 too_large;	/* a reply over it: its bytes */
	const char	*object;	/* the field that chose its object */
	struct error	 undone;	/* ECANCELED: the refusal */
};

/*
 * The partition a workspace belongs to (partitions > 1): the NATS
 * server's subject mapping {{partition(P,1)}} hashes the workspace token
 * with FNV-1a (32 bits) modulo P; batchd computes the same to refuse what
 * a client sent straight to another partition's subject.
 */
uint32_t
ws_partition(const char *ws)
{
	uint32_t	h = 2166136261u;

	if (cfg->partitions <= 1)
		return 0;
	for (; *ws != '\0'; ws++)
		h = (h ^ (uint8_t)*ws) * 16777619u;
	return h % cfg->partitions;
}

/*
 * Split "{prefix}.v1.{ws}.{kind}.{verb}" into ws and verb; 0, or -1 with e
 * set.
 */
static int
parse_subject(const char *subject, char *ws, const struct verb_entry **v,
    struct error *e)
{
	size_t		 plen = strlen(cfg->subject_prefix);
	const char	*p, *dot1, *dot2;

	if (strncmp(subject, cfg->subject_prefix, plen) != 0 ||
	    strncmp(subject + plen, ".v1.", 4) != 0) {
		error_set(e, E_INVALID, "subject", "subject '%.100s' is not "
		    "a batchd v1 subject", subject);
		return -1;
	}
	p = subject + plen + 4;
	if ((dot1 = strchr(p, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL ||
	    strchr(dot2 + 1, '.') != NULL) {
		error_set(e, E_INVALID, "subject", "subject '%.100s' is not "
		    "{prefix}.v1.{workspace}.{kind}.{verb}", subject);
		return -1;
	}
	if ((size_t)(dot1 - p) > WS_MAX) {
		error_set(e, E_INVALID, "workspace", "workspace name is longer "
		    "than %d", WS_MAX);
		return -1;
	}
	memcpy(ws, p, dot1 - p);
	ws[dot1 - p] = '\0';
	if (!ws_valid(ws)) {
		error_set(e, E_INVALID, "workspace", "workspace '%.64s' is not "
		    "[A-Za-z0-9_-]{1,64}", ws);
		return -1;
	}
	if (ws_partition(ws) != cfg->partition) {
		error_set(e, E_INVALID, "workspace", "workspace '%s' is served "
		    "by partition %u, not %u", ws, ws_partition(ws),
		    cfg->partition);
		return -1;
	}
	if ((*v = verb_find(dot1 + 1)) == NULL) {
		error_set(e, E_INVALID, "subject", "unknown verb '%.40s'",
		    dot1 + 1);
		return -1;
	}
	return 0;
}

static void
reply_publish(void *arg)
{
	struct msg_op	*m = arg;

	bus_publish(m->reply, m->out.p, m->out.len);
	metrics_request(m->verb, m->code, mono_us() - m->t0);
}

static void
msg_op_free(struct op *op)
{
	struct msg_op	*m = (struct msg_op *)op;

	free(m->subject);
	free(m->reply);
	free(m->data);
	buf_free(&m->out);
	free(m);
}

static int
msg_op_apply(struct op *op, struct txn *t)
{
	struct msg_op	*m = (struct msg_op *)op;
	struct request	 req;
	struct error	 e = { 0 };
	int		 rc = 0;

	memset(&req, 0, sizeof req);
	req.reply_max = m->reply_max;
	if (parse_subject(m->subject, req.ws, &req.verb, &e) == 0 &&
	    wire_request_decode(req.verb, m->data, m->len, &req, &e) == 0)
		rc = req.verb->exec(t, &req, &m->out, &e);
	if (rc == ECANCELED && e.code != E_OK)
		m->undone = e;		/* msg_op_fail() answers it */
	if ((rc == 0 || rc == ECANCELED) && e.code != E_OK) {
		log_debug("refused verb=%s ws=%s code=%s field=%s: %s",
		    req.verb != NULL ? req.verb->name : "?", req.ws,
		    errcode_name(e.code),
		    e.field, e.message);
		if (rc == 0)
			wire_reply_error(&m->out, &e);
	} else if (rc == 0 && m->out.len > m->reply_max) {
		/*
		 * The server would drop it: refuse the request instead, and
		 * undo what it wrote (msg_op_fail() answers).
		 */
		m->too_large = m->out.len;
		m->object = req.verb->object;
		if (req.uuid == NULL && req.name != NULL &&
		    strcmp(m->object, "uuid") == 0)
			m->object = "name";	/* a get by name */
		rc = EMSGSIZE;
	}
	m->verb = req.verb;
	m->code = e.code;
	request_free(&req);
	if (rc == 0)
		txn_defer(t, reply_publish, m, NULL);
	return rc;
}

/*
 * The op's writes were not committed: answer with the storage error, or
 * say the reply was too large to send.
 */
static void
msg_op_fail(struct op *op, int rc)
{
	struct msg_op	*m = (struct msg_op *)op;
	struct error	 e;

	if ((rc == EMSGSIZE && m->too_large != 0) ||
	    (rc == ECANCELED && m->undone.code != E_OK)) {
		if (rc == ECANCELED)
			e = m->undone;
		else {
			wire_error_too_large(&e, m->object, m->too_large,
			    m->reply_max, "nothing was changed");
			log_warnx("request refused subject=%s: %s",
			    m->subject, e.message);
		}
		wire_reply_error(&m->out, &e);
		bus_publish(m->reply, m->out.p, m->out.len);
		metrics_request(m->verb, e.code, mono_us() - m->t0);
		msg_op_free(op);
		return;
	}
	if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EIO || rc == EDQUOT)
		error_set(&e, E_UNAVAILABLE, "", "storage cannot take the "
		    "write now: %s", mdb_strerror(rc));
	else
		error_set(&e, E_INTERNAL, "", "storage error: %s",
		    mdb_strerror(rc));
	log_warnx("request failed subject=%s: %s", m->subject, e.message);
	wire_reply_error(&m->out, &e);
	bus_publish(m->reply, m->out.p, m->out.len);
	metrics_request(m->verb, e.code, mono_us() - m->t0);
	msg_op_free(op);
}

/*
 * Is reply under reply_prefix? "{ws}" in the prefix stands for the
 * request's workspace, so one workspace's clients cannot have batchd
 * answer into another's inboxes.
 */
static int
reply_allowed(const char *subject, const char *reply)
{
	const char	*p = cfg->reply_prefix, *ph, *ws, *end;
	size_t		 plen = strlen(cfg->subject_prefix), n;

	if ((ph = strstr(p, "{ws}")) == NULL)
		return strncmp(reply, p, strlen(p)) == 0;
	if (strncmp(reply, p, (size_t)(ph - p)) != 0)
		return 0;
	reply += ph - p;
	/* The workspace: the token after "{prefix}.v1." of the subject. */
	if (strncmp(subject, cfg->subject_prefix, plen) != 0 ||
	    strncmp(subject + plen, ".v1.", 4) != 0)
		return 0;
	ws = subject + plen + 4;
	if ((end = strchr(ws, '.')) == NULL)
		return 0;
	n = (size_t)(end - ws);
	if (strncmp(reply, ws, n) != 0)
		return 0;
	reply += n;
	return strncmp(reply, ph + 4, strlen(ph + 4)) == 0;
}

/*
 * Is reply one subject batchd may publish to: dot-separated tokens, none
 * empty or a wildcard ("*", ">"), no blank or control character? A reply
 * to "_INBOX.>" would reach every inbox listening.
 */
static int
reply_literal(const char *reply)
{
	const char	*p, *tok = reply;

	for (p = reply;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == tok ||
			    (p - tok == 1 && (*tok == '*' || *tok == '>')))
				return 0;
			if (*p == '\0')
				return 1;
			tok = p + 1;
		} else if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return 0;
	}
}

/* Loop thread: a message from the bus. Copies what it keeps. */
void
api_message(const char *subject, const char *reply, const void *data,
    size_t len)
{
	struct msg_op	*m;

	if (reply == NULL || *reply == '\0') {
		log_debug("message without reply subject=%s dropped", subject);
		return;
	}
	if (!ha_may_act()) {	/* a leader past its lease answers nothing */
		log_debug("message subject=%s dropped: not leading", subject);
		return;
	}
	if (!reply_literal(reply)) {
		log_warnx("message subject=%s with reply subject %.64s that is "
		    "not one literal subject dropped", subject, reply);
		return;
	}
	/*
	 * batchd publishes with its own rights: a reply subject of the
	 * client's choosing could make it publish into another workspace.
	 */
	if (!reply_allowed(subject, reply)) {
		log_warnx("message subject=%s with reply subject %.64s outside "
		    "%s dropped", subject, reply, cfg->reply_prefix);
		return;
	}
	m = xcalloc(1, sizeof *m);
	m->op.apply = msg_op_apply;
	m->op.fail = msg_op_fail;
	m->op.free = msg_op_free;
	m->subject = xstrdup(subject);
	m->reply = xstrdup(reply);
	m->data = xmalloc(len);
	if (len != 0)
		memcpy(m->data, data, len);
	m->len = len;
	m->t0 = mono_us();
	m->reply_max = bus_max_payload();
	store_submit(&m->op);
}
