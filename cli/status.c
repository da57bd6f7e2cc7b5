/*
 * status.c: "batchctl status": who leads each partition of a batchd in
 * high availability (ha = on), and how far behind each standby is.
 *
 * It reads what the nodes publish in JetStream, not batchd: the KV bucket
 * {ha_stream} holds leader.{p} (the name of the leader of partition p)
 * and node.{name} (a JSON record each node puts every lease/3: its role
 * and applied sequence per partition); both expire with the lease, so a
 * dead node's record and a lost leadership disappear. The stream
 * {ha_stream}_{p} is partition p's replicated log: its last sequence
 * minus what a node applied is the node's lag.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

enum { O_HA_STREAM = 256 };

/* One node's view of one partition, from its node.{name} record. */
struct member {
	char		*node;
	char		*role;
	uint64_t	 applied;
	uint64_t	 failovers;
	int64_t		 updated_ms;
};

/* One partition: its leader key, its log's last sequence, its members. */
struct part {
	unsigned	 p;
	char		*leader;	/* NULL: no leader.{p} key */
	uint64_t	 last_seq;
	int		 have_stream;
	struct member	*m;
	size_t		 n;
};

struct status {
	const char	*bucket;
	struct part	*parts;		/* by partition number */
	size_t		 n;
};

/* Partition p of st, added if new (kept sorted by number). */
static struct part *
part_get(struct status *st, unsigned p)
{
	size_t	i;

	for (i = 0; i < st->n && st->parts[i].p <= p; i++)
		if (st->parts[i].p == p)
			return &st->parts[i];
	st->parts = xreallocarray(st->parts, st->n + 1, sizeof *st->parts);
	memmove(&st->parts[i + 1], &st->parts[i],
	    (st->n - i) * sizeof *st->parts);
	memset(&st->parts[i], 0, sizeof st->parts[i]);
	st->parts[i].p = p;
	st->n++;
	return &st->parts[i];
}

static void
status_free(struct status *st)
{
	size_t	i, j;

	for (i = 0; i < st->n; i++) {
		for (j = 0; j < st->parts[i].n; j++) {
			free(st->parts[i].m[j].node);
			free(st->parts[i].m[j].role);
		}
		free(st->parts[i].m);
		free(st->parts[i].leader);
	}
	free(st->parts);
}

/* A partition number from the text after "leader.": -1 if not one. */
static long
part_number(const char *s)
{
	char		*end;
	unsigned long	 v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > 65535)
		return -1;
	return (long)v;
}

/* A non-negative JSON integer, 0 if missing or not one. */
static uint64_t
json_u64(json_t *o, const char *k)
{
	json_t	*v = json_object_get(o, k);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    (uint64_t)json_integer_value(v) : 0;
}

/* Take node.{name}'s record (value v) into st; a bad one is said. */
static void
take_node(struct status *st, const char *name, const char *v, int len)
{
	json_error_t	 je;
	json_t		*j, *ps, *e, *jr;
	struct part	*pt;
	struct member	*m;
	size_t		 i;
	long		 p;

	if ((j = json_loadb(v, (size_t)len, 0, &je)) == NULL ||
	    !json_is_array(ps = json_object_get(j, "partitions"))) {
		fprintf(stderr, "batchctl: %s: node.%s is not a node record\n",
		    st->bucket, name);
		json_decref(j);
		return;
	}
	json_array_foreach(ps, i, e) {
		if (!json_is_integer(json_object_get(e, "partition")) ||
		    (p = (long)json_integer_value(json_object_get(e,
		    "partition"))) < 0 || p > 65535)
			continue;
		pt = part_get(st, (unsigned)p);
		pt->m = xreallocarray(pt->m, pt->n + 1, sizeof *pt->m);
		m = &pt->m[pt->n++];
		m->node = xstrdup(name);
		jr = json_object_get(e, "role");
		m->role = xstrdup(json_is_string(jr) ? json_string_value(jr) :
		    "?");
		m->applied = json_u64(e, "applied");
		m->failovers = json_u64(j, "failovers");
		m->updated_ms = (int64_t)json_u64(j, "updated_ms");
	}
	json_decref(j);
}

/* Read the bucket's keys into st: 0 or an exit code (said). */
static int
read_bucket(jsCtx *js, struct status *st)
{
	kvStore		*kv = NULL;
	kvKeysList	 keys = { NULL, 0 };
	kvWatchOptions	 wo;
	kvEntry		*e;
	natsStatus	 s;
	const char	*k;
	long		 p;
	int		 i;

	s = js_KeyValue(&kv, js, st->bucket);
	if (s == NATS_NOT_FOUND || s == NATS_NO_RESPONDERS) {
		fprintf(stderr, "batchctl: batchd is not in high availability "
		    "mode here: no KV bucket %s%s\n", st->bucket,
		    s == NATS_NO_RESPONDERS ? " (JetStream is not enabled)" :
		    "");
		return EXIT_FAILED;
	}
	if (s != NATS_OK) {
		fprintf(stderr, "batchctl: KV bucket %s: %s\n", st->bucket,
		    natsStatus_GetText(s));
		return EXIT_BUS;
	}
	kvWatchOptions_Init(&wo);
	wo.Timeout = ctl.timeout_ms;
	s = kvStore_Keys(&keys, kv, &wo);
	if (s != NATS_OK && s != NATS_NOT_FOUND) {
		fprintf(stderr, "batchctl: KV bucket %s: keys: %s\n",
		    st->bucket, natsStatus_GetText(s));
		kvStore_Destroy(kv);
		return EXIT_BUS;
	}
	for (i = 0; i < keys.Count; i++) {
		k = keys.Keys[i];
		if (kvStore_Get(&e, kv, k) != NATS_OK)
			continue;	/* expired since it was listed */
		if (strncmp(k, "leader.", 7) == 0 &&
		    (p = part_number(k + 7)) != -1) {
			free(part_get(st, (unsigned)p)->leader);
			part_get(st, (unsigned)p)->leader = xstrdup(
			    kvEntry_ValueString(e));
		} else if (strncmp(k, "node.", 5) == 0)
			take_node(st, k + 5, kvEntry_Value(e),
			    kvEntry_ValueLen(e));
		kvEntry_Destroy(e);
	}
	kvKeysList_Destroy(&keys);
	kvStore_Destroy(kv);
	return 0;
}

/* The last sequence of each partition's log. */
static void
read_streams(jsCtx *js, struct status *st)
{
	jsStreamInfo	*si;
	char		*name;
	size_t		 i;

	for (i = 0; i < st->n; i++) {
		xasprintf(&name, "%s_%u", st->bucket, st->parts[i].p);
		si = NULL;
		if (js_GetStreamInfo(&si, js, name, NULL, NULL) == NATS_OK) {
			st->parts[i].last_seq = si->State.LastSeq;
			st->parts[i].have_stream = 1;
		}
		jsStreamInfo_Destroy(si);
		free(name);
	}
}

/* How far behind the log m is ("-" if the log was not found). */
static const char *
lag(const struct part *pt, const struct member *m, char *buf, size_t len)
{
	if (!pt->have_stream)
		return "-";
	snprintf(buf, len, "%llu", (unsigned long long)(pt->last_seq >
	    m->applied ? pt->last_seq - m->applied : 0));
	return buf;
}

static void
print_table(const struct status *st)
{
	const struct part	*pt;
	const struct member	*m;
	struct table		*t;
	char			 p[16], ap[24], lg[24], fo[24], ago[32];
	size_t			 i, j;

	t = table_new("PARTITION", "LEADER", "NODE", "ROLE", "APPLIED", "LAG",
	    "FAILOVERS", "SEEN", NULL);
	for (i = 0; i < st->n; i++) {
		pt = &st->parts[i];
		snprintf(p, sizeof p, "%u", pt->p);
		if (pt->n == 0)
			table_add(t, p, pt->leader != NULL ? pt->leader :
			    "(none)", NULL, NULL, NULL, NULL, NULL, NULL);
		for (j = 0; j < pt->n; j++) {
			m = &pt->m[j];
			snprintf(ap, sizeof ap, "%llu",
			    (unsigned long long)m->applied);
			snprintf(fo, sizeof fo, "%llu",
			    (unsigned long long)m->failovers);
			table_add(t, p, pt->leader != NULL ? pt->leader :
			    "(none)", m->node, m->role, ap,
			    lag(pt, m, lg, sizeof lg), fo,
			    fmt_ago(m->updated_ms, ago, sizeof ago));
		}
	}
	table_print(t, stdout);
	table_free(t);
}

static void
print_json(const struct status *st)
{
	const struct part	*pt;
	const struct member	*m;
	json_t			*top, *ps, *jp, *ns, *jn;
	size_t			 i, j;

	top = json_object();
	json_object_set_new(top, "bucket", json_string(st->bucket));
	ps = json_array();
	for (i = 0; i < st->n; i++) {
		pt = &st->parts[i];
		jp = json_object();
		json_object_set_new(jp, "partition", json_integer(pt->p));
		json_object_set_new(jp, "leader", pt->leader != NULL ?
		    json_string(pt->leader) : json_null());
		json_object_set_new(jp, "lastSeq", pt->have_stream ?
		    json_integer((json_int_t)pt->last_seq) : json_null());
		ns = json_array();
		for (j = 0; j < pt->n; j++) {
			m = &pt->m[j];
			jn = json_object();
			json_object_set_new(jn, "node", json_string(m->node));
			json_object_set_new(jn, "role", json_string(m->role));
			json_object_set_new(jn, "applied",
			    json_integer((json_int_t)m->applied));
			json_object_set_new(jn, "lag", pt->have_stream ?
			    json_integer((json_int_t)(pt->last_seq >
			    m->applied ? pt->last_seq - m->applied : 0)) :
			    json_null());
			json_object_set_new(jn, "failovers",
			    json_integer((json_int_t)m->failovers));
			json_object_set_new(jn, "updatedMs",
			    json_integer((json_int_t)m->updated_ms));
			json_array_append_new(ns, jn);
		}
		json_object_set_new(jp, "nodes", ns);
		json_array_append_new(ps, jp);
	}
	json_object_set_new(top, "partitions", ps);
	json_dumpf(top, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(top);
}

/* "status [--ha-stream NAME]". */
int
status_cmd(const struct cmd *self, int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "ha-stream", required_argument, NULL, O_HA_STREAM },
		{ NULL, 0, NULL, 0 }
	};
	struct status			 st;
	struct opts			 o;
	jsCtx				*js = NULL;
	jsOptions			 jo;
	const char			*v;
	int				 c, rc;

	memset(&st, 0, sizeof st);
	st.bucket = (v = getenv("BATCHD_HA_STREAM")) != NULL && *v != '\0' ?
	    v : "BATCHD_HA";
	opt_init(&o, self, argc, argv, "", longopts);
	while ((c = opt_next(&o)) != -1)
		if (c == O_HA_STREAM)
			st.bucket = optarg;
	if (o.rc != -1 || opt_args(&o, 0, 0) == -1)
		return o.rc;
	if (!ws_valid(st.bucket))
		return usage_error(self, "--ha-stream: '%s' is not a name of "
		    "1 to 64 letters, digits, '_' or '-'", st.bucket);
	if ((rc = client_connect()) != 0)
		return rc;
	jsOptions_Init(&jo);
	jo.Wait = ctl.timeout_ms;
	if (natsConnection_JetStream(&js, ctl.nc, &jo) != NATS_OK) {
		fprintf(stderr, "batchctl: cannot use JetStream\n");
		return EXIT_BUS;
	}
	if ((rc = read_bucket(js, &st)) == 0) {
		read_streams(js, &st);
		if (ctl.out == OUT_JSON)
			print_json(&st);
		else
			print_table(&st);
	}
	jsCtx_Destroy(js);
	status_free(&st);
	return rc;
}
