/*
 * client.c: the NATS side of batchctl. One connection, made on first use
 * from the global options; requests are synchronous
 * (natsConnection_Request) and subscriptions are read with
 * natsSubscription_NextMsg.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batchctl.h"
#include "../lib/clock.h"

/* Say why a NATS call failed, with cnats' own details when it has any. */
static void
bus_error(const char *what, natsStatus s)
{
	natsStatus	 ls;
	const char	*text = nats_GetLastError(&ls);

	if (text != NULL && *text != '\0' && ls == s &&
	    strstr(text, natsStatus_GetText(s)) == NULL)
		fprintf(stderr, "batchctl: %s: %s (%s)\n", what,
		    natsStatus_GetText(s), text);
	else
		fprintf(stderr, "batchctl: %s: %s\n", what,
		    natsStatus_GetText(s));
}

/*
 * The servers of list, URLs separated by commas (cnats' SetURL takes one):
 * the first one that answers is used, the others when it goes.
 */
static natsStatus
set_servers(natsOptions *o, const char *list)
{
	natsStatus	  s;
	const char	**v = NULL;
	char		 *copy, *p, *u;
	int		  n = 0;

	copy = xstrdup(list);
	for (p = copy; (u = strsep(&p, ",")) != NULL; ) {
		u += strspn(u, " \t");
		u[strcspn(u, " \t")] = '\0';
		if (*u == '\0')
			continue;
		v = xreallocarray(v, (size_t)n + 1, sizeof *v);
		v[n++] = u;
	}
	s = n == 0 ? natsOptions_SetURL(o, list) :
	    natsOptions_SetServers(o, v, n);
	free(v);
	free(copy);
	return s;
}

/* Connect to ctl.server unless connected: 0 or an exit code. */
int
client_connect(void)
{
	natsStatus	s;
	char		*what;

	if (ctl.nc != NULL)
		return 0;
	if (!ws_valid(ctl.ws)) {
		fprintf(stderr, "batchctl: workspace '%s' is not a name of 1 "
		    "to 64 letters, digits, '_' or '-'\n", ctl.ws);
		return EXIT_USAGE;
	}
	if (*ctl.prefix == '\0' || strpbrk(ctl.prefix, " \t*>") != NULL) {
		fprintf(stderr, "batchctl: subject prefix '%s' is not "
		    "valid\n", ctl.prefix);
		return EXIT_USAGE;
	}
	if ((s = natsOptions_Create(&ctl.opts)) != NATS_OK ||
	    (s = set_servers(ctl.opts, ctl.server)) != NATS_OK ||
	    (s = natsOptions_SetTimeout(ctl.opts, ctl.timeout_ms)) !=
	    NATS_OK) {
		bus_error("NATS options", s);
		return EXIT_BUS;
	}
	if (ctl.creds != NULL && (s = natsOptions_SetUserCredentialsFromFiles(
	    ctl.opts, ctl.creds, NULL)) != NATS_OK) {
		xasprintf(&what, "credentials %s", ctl.creds);
		bus_error(what, s);
		free(what);
		return EXIT_USAGE;
	}
	if ((s = natsConnection_Connect(&ctl.nc, ctl.opts)) != NATS_OK) {
		ctl.nc = NULL;
		xasprintf(&what, "cannot connect to %s", ctl.server);
		bus_error(what, s);
		free(what);
		return EXIT_BUS;
	}
	return 0;
}

/* Close the connection and release cnats (at exit). */
void
client_close(void)
{
	if (ctl.nc != NULL) {
		natsConnection_Close(ctl.nc);
		natsConnection_Destroy(ctl.nc);
		ctl.nc = NULL;
	}
	if (ctl.opts != NULL) {
		natsOptions_Destroy(ctl.opts);
		ctl.opts = NULL;
	}
	nats_Close();
}

/* "{prefix}.v1.{ws}.{suffix}"; owned by the caller. */
char *
client_subject(const char *suffix)
{
	char	*s;

	xasprintf(&s, "%s.v1.%s.%s", ctl.prefix, ctl.ws, suffix);
	return s;
}

/* Print an error reply: "batchctl: CODE: message (field: X)". */
void
client_error(const Batchd__V1__Error *e)
{
	fprintf(stderr, "batchctl: %s: %s", fmt_enum(
	    &batchd__v1__error_code__descriptor, e->code),
	    *e->message != '\0' ? e->message : "(no message)");
	if (*e->field != '\0')
		fprintf(stderr, " (field: %s)", e->field);
	fputc('\n', stderr);
}

/*
 * Requests are retried so that a failover of batchd's leader (ha = on)
 * shows as a slower answer, not an error; every try counts against one
 * deadline, --timeout from the first.
 *
 * "No responders" means that no batchd was subscribed when the request
 * reached the server: it was done nowhere, so it is sent again after
 * 50 ms, doubling to 1 s, whatever the verb.
 *
 * No reply within a try (a third of --timeout) does not mean not done: the
 * leader may have committed it and died before answering. Such a request
 * is sent again only if doing it twice is the same as doing it once:
 *   - reads (get, list, logs, events);
 *   - a request with an idempotency key (submissions: client_call() puts
 *     a random one in when the user gave none), answered with the first
 *     run;
 *   - create of a named object: a repeat is refused ALREADY_EXISTS;
 *     delete and cancel by uuid: a repeat is refused NOT_FOUND or
 *     FAILED_PRECONDITION ("is CANCELLED already"); pause, resume and
 *     update set a state that a repeat sets again. Such an error after a
 *     try timed out gets a note that the first try may have done it.
 * Any other verb (run.cancel_all: runs submitted meanwhile; and
 * schedule.trigger: a second run) gets a single try of the whole timeout.
 */

/* What a try that timed out allows. */
enum repeat {
	ONCE,		/* no repeat: it may have been done */
	REPEAT,		/* a repeat changes nothing more */
	READ		/* a read: it changed nothing */
};

static const struct {
	const char	*action;	/* the verb's last word */
	enum repeat	 r;
} repeats[] = {
	{ "get", READ }, { "list", READ }, { "logs", READ },
	{ "events", READ }, { "create", REPEAT }, { "update", REPEAT },
	{ "delete", REPEAT }, { "cancel", REPEAT }, { "pause", REPEAT },
	{ "resume", REPEAT }
};

#define BACKOFF_MIN_MS	50
#define BACKOFF_MAX_MS	1000

/* May verb (keyed: with an idempotency key) be sent again after a try
 * timed out? */
static enum repeat
verb_repeat(const char *verb, int keyed)
{
	const char	*action = strrchr(verb, '.');
	size_t		 i;

	if (keyed)
		return REPEAT;
	action = action != NULL ? action + 1 : verb;
	for (i = 0; i < sizeof repeats / sizeof repeats[0]; i++)
		if (strcmp(action, repeats[i].action) == 0)
			return repeats[i].r;
	return ONCE;
}

/* The empty idempotency keys of one request, filled in for packing. */
struct idem {
	char	***slot;	/* where each key was put */
	char	 **was;		/* and what was there */
	size_t	   n;
	int	   keyed;	/* a key is in the request, given or put */
	char	  *key;		/* the request's own key, owned */
};

/*
 * Put a new key into m's field idempotency_key if it has one, empty; top:
 * m is the request itself.
 */
static void
idem_one(ProtobufCMessage *m, struct idem *id, int top)
{
	const ProtobufCFieldDescriptor	*f;
	char				**slot;

	f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
	    "idempotency_key");
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING ||
	    f->label == PROTOBUF_C_LABEL_REPEATED)
		return;
	slot = (char **)(void *)((char *)m + f->offset);
	id->keyed = 1;
	if (*slot != NULL && **slot != '\0') {
		if (top)
			id->key = xstrdup(*slot);
		return;
	}
	id->slot = xreallocarray(id->slot, id->n + 1, sizeof *id->slot);
	id->was = xreallocarray(id->was, id->n + 1, sizeof *id->was);
	id->slot[id->n] = slot;
	id->was[id->n] = *slot;
	*slot = uuid_new();
	if (top)
		id->key = xstrdup(*slot);
	id->n++;
}

/*
 * A submission that carries no idempotency key gets a random one, so that
 * a try that timed out may be repeated without a second run: in req's own
 * field and in those of the messages of its repeated fields (a batch of
 * submissions). idem_undo() puts req back as it was.
 */
static void
idem_fill(ProtobufCMessage *req, struct idem *id)
{
	const ProtobufCFieldDescriptor	*f;
	ProtobufCMessage		**v;
	size_t				  i, j, n;

	memset(id, 0, sizeof *id);
	idem_one(req, id, 1);
	for (i = 0; i < req->descriptor->n_fields; i++) {
		f = &req->descriptor->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
		    f->label != PROTOBUF_C_LABEL_REPEATED)
			continue;
		n = *(size_t *)(void *)((char *)req + f->quantifier_offset);
		v = *(ProtobufCMessage ***)(void *)((char *)req + f->offset);
		for (j = 0; j < n; j++)
			idem_one(v[j], id, 0);
	}
}

/* Put back what idem_fill() changed; the key stays in id->key. */
static void
idem_undo(struct idem *id)
{
	size_t	i;

	for (i = 0; i < id->n; i++) {
		free(*id->slot[i]);
		*id->slot[i] = id->was[i];
	}
	free(id->slot);
	free(id->was);
	id->slot = NULL;
	id->was = NULL;
	id->n = 0;
}

/* Sleep ms milliseconds. */
static void
sleep_ms(int64_t ms)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !ctl_interrupted)
		;
}

/*
 * Send buf to subject until it is answered (*msg) or the deadline:
 * NATS_OK, or the status of the last try. *timedout is set if a try of a
 * request that is not a read got no reply in time (it may have been
 * done).
 */
static natsStatus
request(const char *subject, const uint8_t *buf, size_t len,
    enum repeat r, natsMsg **msg, int *timedout)
{
	natsStatus	s;
	int64_t		now, end, left, try_ms, backoff = BACKOFF_MIN_MS;
	int		noted = 0;

	now = mono_ms();
	end = now + ctl.timeout_ms;
	try_ms = r != ONCE ? ctl.timeout_ms / 3 : ctl.timeout_ms;
	*timedout = 0;
	for (;;) {
		left = end - now;
		s = natsConnection_Request(msg, ctl.nc, subject,
		    (const void *)buf, (int)len, left < try_ms ? left : try_ms);
		if (s == NATS_TIMEOUT && r != READ)
			*timedout = 1;
		if ((s != NATS_NO_RESPONDERS && (s != NATS_TIMEOUT ||
		    r == ONCE)) || ctl_interrupted)
			return s;
		now = mono_ms();
		/* The last try gets some time to be answered. */
		if (end - now <= BACKOFF_MIN_MS)
			return s;
		if (s != NATS_NO_RESPONDERS) {
			backoff = BACKOFF_MIN_MS;
			continue;
		}
		if (!noted && isatty(STDERR_FILENO)) {
			fprintf(stderr, "batchctl: nothing answers on %s "
			    "yet (a failover?): trying again for %.3gs\n",
			    subject, (end - now) / 1000.0);
			noted = 1;
		}
		sleep_ms(backoff < end - now - BACKOFF_MIN_MS ? backoff :
		    end - now - BACKOFF_MIN_MS);
		if (backoff < BACKOFF_MAX_MS)
			backoff *= 2;
		now = mono_ms();
	}
}

/* Say why a request got no reply; id->key is its idempotency key. */
static void
no_reply(const char *subject, natsStatus s, int timedout,
    const struct idem *id)
{
	char	*what;

	if (s == NATS_TIMEOUT || (s == NATS_NO_RESPONDERS && timedout))
		fprintf(stderr, "batchctl: no reply on %s within %.3gs: is "
		    "batchd running?\n", subject, ctl.timeout_ms / 1000.0);
	else if (s == NATS_NO_RESPONDERS)
		fprintf(stderr, "batchctl: nothing answers on %s within "
		    "%.3gs: is batchd running, with subject prefix '%s'?\n",
		    subject, ctl.timeout_ms / 1000.0, ctl.prefix);
	else {
		xasprintf(&what, "request on %s", subject);
		bus_error(what, s);
		free(what);
	}
	if (!timedout)
		return;
	if (id->key != NULL)
		fprintf(stderr, "batchctl: it may have been done: repeated "
		    "with --idempotency-key %s it is done once\n", id->key);
	else if (id->keyed)
		fprintf(stderr, "batchctl: it may have been done: repeated "
		    "with the same idempotency keys it is done once\n");
	else
		fprintf(stderr, "batchctl: it may have been done: check "
		    "before repeating it\n");
}

/*
 * Send req to {prefix}.v1.{ws}.{verb} and decode the reply as rd. Returns
 * 0 with *out set (the caller frees it with
 * protobuf_c_message_free_unpacked), or an exit code: EXIT_SERVER for an
 * error reply (printed), EXIT_BUS when there was no usable reply. req is
 * left as it was (an idempotency key is added to a copy).
 */
int
client_call(const char *verb, void *req,
    const ProtobufCMessageDescriptor *rd, void **out)
{
	const ProtobufCFieldDescriptor	*f;
	ProtobufCMessage		*rep;
	Batchd__V1__Error		*e;
	natsMsg				*msg = NULL;
	natsStatus			 s;
	struct idem			 id;
	uint8_t				*buf;
	size_t				 len;
	char				*subject;
	int				 rc, timedout;

	*out = NULL;
	if ((rc = client_connect()) != 0)
		return rc;
	idem_fill(req, &id);
	len = protobuf_c_message_get_packed_size(req);
	buf = xmalloc(len);
	protobuf_c_message_pack(req, buf);
	idem_undo(&id);
	subject = client_subject(verb);
	s = request(subject, buf, len, verb_repeat(verb, id.keyed),
	    &msg, &timedout);
	free(buf);
	if (s != NATS_OK) {
		no_reply(subject, s, timedout, &id);
		free(id.key);
		free(subject);
		return EXIT_BUS;
	}
	free(id.key);
	rep = protobuf_c_message_unpack(rd, NULL,
	    (size_t)natsMsg_GetDataLength(msg),
	    (const uint8_t *)natsMsg_GetData(msg));
	natsMsg_Destroy(msg);
	if (rep == NULL) {
		fprintf(stderr, "batchctl: %s: the reply is not a %s\n",
		    subject, rd->name);
		free(subject);
		return EXIT_BUS;
	}
	free(subject);
	f = protobuf_c_message_descriptor_get_field(rd, 1);
	if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
	    f->descriptor == &batchd__v1__error__descriptor) {
		e = *(Batchd__V1__Error **)(void *)((char *)rep + f->offset);
		if (e != NULL && e->code != BATCHD__V1__ERROR_CODE__OK) {
			client_error(e);
			if (timedout)
				fprintf(stderr, "batchctl: note: an earlier "
				    "try of this request got no reply in "
				    "time and may have done it\n");
			protobuf_c_message_free_unpacked(rep, NULL);
			return EXIT_SERVER;
		}
	}
	*out = rep;
	return 0;
}

/*
 * verb (a KIND.get) for the record arg names: by uuid if arg looks like
 * one (in lower case), else by name; reqd describes the request, a
 * message with the fields uuid and name. As client_call().
 */
int
client_get(const char *verb, const ProtobufCMessageDescriptor *reqd,
    const char *arg, const ProtobufCMessageDescriptor *rd, void **out)
{
	const ProtobufCFieldDescriptor	*f;
	ProtobufCMessage		*req;
	char				*v;
	int				 byid = uuid_like(arg), rc;

	req = xcalloc(1, reqd->sizeof_message);
	protobuf_c_message_init(reqd, req);
	f = protobuf_c_message_descriptor_get_field_by_name(reqd,
	    byid ? "uuid" : "name");
	v = byid ? uuid_lower(arg) : xstrdup(arg);
	*(char **)((char *)req + f->offset) = v;
	rc = client_call(verb, req, rd, out);
	free(v);
	free(req);
	return rc;
}

/*
 * The uuid (owned) of the record arg names: arg itself if it looks like a
 * uuid, else what verb (a KIND.get, as client_get()) answers: the uuid of
 * the record its reply (of type rd) carries, "" if none. 0 or an exit
 * code.
 */
int
client_resolve(const char *verb, const ProtobufCMessageDescriptor *reqd,
    const char *arg, const ProtobufCMessageDescriptor *rd, char **uuid)
{
	const ProtobufCFieldDescriptor	*f, *u;
	ProtobufCMessage		*rep, *rec = NULL;
	unsigned			 i;
	int				 rc;

	if (uuid_like(arg)) {
		*uuid = uuid_lower(arg);
		return 0;
	}
	if ((rc = client_get(verb, reqd, arg, rd, (void **)&rep)) != 0)
		return rc;
	for (i = 0; i < rd->n_fields && rec == NULL; i++) {
		f = &rd->fields[i];
		if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    strcmp(f->name, "error") != 0)
			rec = *(ProtobufCMessage **)((char *)rep + f->offset);
	}
	u = rec == NULL ? NULL :
	    protobuf_c_message_descriptor_get_field_by_name(rec->descriptor,
	    "uuid");
	*uuid = xstrdup(u != NULL ? *(char **)((char *)rec + u->offset) : "");
	protobuf_c_message_free_unpacked(rep, NULL);
	return 0;
}

/* Subscribe to {prefix}.v1.{ws}.{suffix}: 0 or an exit code. */
int
client_subscribe(const char *suffix, natsSubscription **sub)
{
	natsStatus	 s;
	char		*subject;
	int		 rc;

	*sub = NULL;
	if ((rc = client_connect()) != 0)
		return rc;
	subject = client_subject(suffix);
	if ((s = natsConnection_SubscribeSync(sub, ctl.nc, subject)) !=
	    NATS_OK) {
		*sub = NULL;
		bus_error(subject, s);
		free(subject);
		return EXIT_BUS;
	}
	free(subject);
	/* Make sure the server has the interest before anything is sent. */
	if ((s = natsConnection_FlushTimeout(ctl.nc, ctl.timeout_ms)) !=
	    NATS_OK) {
		bus_error("flush", s);
		natsSubscription_Destroy(*sub);
		*sub = NULL;
		return EXIT_BUS;
	}
	return 0;
}

/*
 * The next message of sub within ms milliseconds: 0 with *msg set (the
 * caller destroys it), 1 if none came (or some were dropped: the caller
 * has other ways to catch up), or EXIT_BUS.
 */
int
client_next(natsSubscription *sub, int64_t ms, natsMsg **msg)
{
	natsStatus	s;

	*msg = NULL;
	s = natsSubscription_NextMsg(msg, sub, ms);
	switch (s) {
	case NATS_OK:
		return 0;
	case NATS_TIMEOUT:
	case NATS_SLOW_CONSUMER:
		*msg = NULL;
		return 1;
	default:
		*msg = NULL;
		bus_error("subscription", s);
		return EXIT_BUS;
	}
}

/*
 * Every page of list verb `verb`: req's page_size and page_token (found by
 * name) are set here, page after page, until the last page or limit items
 * (0: all); the repeated field `field` of each reply (rd) is gathered into
 * pg, whose items point into its replies. 0 or an exit code of
 * client_call(); pages_free(pg) in either case.
 */
int
client_list(const char *verb, ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *rd, const char *field, size_t limit,
    struct pages *pg)
{
	const ProtobufCFieldDescriptor	*fsize, *ftoken, *fitems, *fnext;
	ProtobufCMessage		*rep;
	const char			*token = "";
	void				**v;
	size_t				 i, cnt;
	int				 rc;

	memset(pg, 0, sizeof *pg);
	fsize = protobuf_c_message_descriptor_get_field_by_name(
	    req->descriptor, "page_size");
	ftoken = protobuf_c_message_descriptor_get_field_by_name(
	    req->descriptor, "page_token");
	fitems = protobuf_c_message_descriptor_get_field_by_name(rd, field);
	fnext = protobuf_c_message_descriptor_get_field_by_name(rd,
	    "next_page_token");
	if (fsize == NULL || ftoken == NULL || fitems == NULL ||
	    fnext == NULL || fitems->label != PROTOBUF_C_LABEL_REPEATED)
		abort();	/* not a list verb: a bug here */
	do {
		*(uint32_t *)(void *)((char *)req + fsize->offset) =
		    limit == 0 || limit - pg->n > PAGE_MAX ? PAGE_MAX :
		    (uint32_t)(limit - pg->n);
		*(const char **)(void *)((char *)req + ftoken->offset) = token;
		if ((rc = client_call(verb, req, rd, (void **)&rep)) != 0)
			return rc;
		pg->reps = xreallocarray(pg->reps, pg->nreps + 1,
		    sizeof *pg->reps);
		pg->reps[pg->nreps++] = rep;
		cnt = *(size_t *)(void *)((char *)rep +
		    fitems->quantifier_offset);
		v = *(void ***)(void *)((char *)rep + fitems->offset);
		pg->items = xreallocarray(pg->items, pg->n + cnt,
		    sizeof *pg->items);
		for (i = 0; i < cnt && (limit == 0 || pg->n < limit); i++)
			pg->items[pg->n++] = v[i];
		token = *(const char **)(void *)((char *)rep + fnext->offset);
	} while (*token != '\0' && (limit == 0 || pg->n < limit));
	return 0;
}

void
pages_free(struct pages *pg)
{
	size_t	i;

	for (i = 0; i < pg->nreps; i++)
		protobuf_c_message_free_unpacked(pg->reps[i], NULL);
	free(pg->reps);
	free(pg->items);
	memset(pg, 0, sizeof *pg);
}
