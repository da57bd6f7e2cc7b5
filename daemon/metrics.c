/*
 * metrics.c: counters and histograms for /metrics (Prometheus text format).
 *
 * Everything here is touched on the loop thread only, except the NATS
 * connection counters, which cnats threads bump with atomic builtins.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "batchd.h"

static const double buckets_s[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
};
#define NBUCKETS (sizeof buckets_s / sizeof buckets_s[0])

struct hist {
	uint64_t	counts[NBUCKETS + 1];	/* last: +Inf */
	uint64_t	n;
	double		sum;
};

static uint64_t		requests[VERB_MAX][E__COUNT];	/* by verb_index() */
static struct hist	latency[VERB_MAX];
static uint64_t		transitions[RS_CANCELLED + 1][R__COUNT];
static uint64_t		log_bytes[3];
static uint64_t		fires[FO__COUNT];
static struct hist	fire_lag;

static void	hist_add(struct hist *, double);

/* A request was answered with code after us microseconds. */
void
metrics_request(const struct verb_entry *verb, enum errcode code, int64_t us)
{
	int	v = verb_index(verb);

	if (v < 0 || code >= E__COUNT)
		return;
	requests[v][code]++;
	hist_add(&latency[v], (double)us / 1e6);
}

/* A committed status transition. */
void
metrics_transition(enum rstatus to, enum reason why)
{
	if (to <= RS_CANCELLED && why < R__COUNT)
		transitions[to][why]++;
}

void
metrics_log_bytes(enum logstream s, size_t n)
{
	if (s <= LS_STDERR)
		log_bytes[s] += n;
}

static const char *
reason_label(enum reason r)
{
	static const char *names[R__COUNT] = {
		"", "RECENTLY_SUBMITTED", "IN_QUEUE", "NON_ZERO_EXIT_CODE",
		"TIMEOUT", "CANCELLED_BY_USER", "RETRY_PENDING",
		"SOURCE_FETCH_FAILED", "SPAWN_FAILED", "KILLED_BY_SIGNAL",
		"DAEMON_RESTARTED", "CLUSTER_DELETED", "RUNNING_ATTEMPT",
		"SUPERVISOR_LOST", [R_QUEUE_TIMEOUT] = "QUEUE_TIMEOUT",
		[R_WAITING_DEPS] = "WAITING_FOR_DEPENDENCIES",
		[R_UPSTREAM_FAILED] = "UPSTREAM_FAILED"
	};

	return names[r] != NULL ? names[r] : "";
}

/* n fires of schedules came to outcome o (committed). */
void
metrics_fire(enum fireout o, uint64_t n)
{
	if (o < FO__COUNT)
		fires[o] += n;
}

/* Count s seconds into histogram h. */
static void
hist_add(struct hist *h, double s)
{
	size_t	i;

	for (i = 0; i < NBUCKETS && s > buckets_s[i]; i++)
		;
	h->counts[i]++;
	h->n++;
	h->sum += s;
}

/* A fire on time came ms after its instant. */
void
metrics_fire_lag(int64_t ms)
{
	hist_add(&fire_lag, ms < 0 ? 0 : (double)ms / 1e3);
}

/* Write the schedules' fires and fire lag to b. */
static void
render_fires(struct evbuffer *b)
{
	static const char	*names[FO__COUNT] = { "run", "trigger",
	    "downtime", "missed", "concurrency", "queue_full",
	    "cluster_paused", "not_found", "refused" };
	uint64_t		 cum = 0;
	size_t			 i;
	int			 o;

	evbuffer_add_printf(b, "# HELP batchd_schedule_fires_total Fires of "
	    "schedules, by outcome: a run started (run, trigger) or why "
	    "none.\n# TYPE batchd_schedule_fires_total counter\n");
	for (o = 0; o < FO__COUNT; o++)
		evbuffer_add_printf(b, "batchd_schedule_fires_total{outcome="
		    "\"%s\"} %llu\n", names[o], (unsigned long long)fires[o]);
	evbuffer_add_printf(b, "# HELP batchd_schedule_fire_lag_seconds From a "
	    "fire's instant to its run's submission (fires missed while "
	    "batchd was down left out).\n# TYPE "
	    "batchd_schedule_fire_lag_seconds histogram\n");
	for (i = 0; i <= NBUCKETS; i++) {
		cum += fire_lag.counts[i];
		if (i < NBUCKETS)
			evbuffer_add_printf(b, "batchd_schedule_fire_lag_"
			    "seconds_bucket{le=\"%g\"} %llu\n", buckets_s[i],
			    (unsigned long long)cum);
		else
			evbuffer_add_printf(b, "batchd_schedule_fire_lag_"
			    "seconds_bucket{le=\"+Inf\"} %llu\n",
			    (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "batchd_schedule_fire_lag_seconds_sum %g\n"
	    "batchd_schedule_fire_lag_seconds_count %llu\n# TYPE "
	    "batchd_schedules gauge\nbatchd_schedules %zu\n", fire_lag.sum,
	    (unsigned long long)fire_lag.n, store_entries(DB_SCHEDULES));
}

/* A label value with \, " and newlines escaped, in a static buffer. */
static const char *
label(const char *s)
{
	static char	out[2 * NAME_MAX_LEN + 1];
	size_t		i = 0;

	for (; *s != '\0' && i + 2 < sizeof out; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			out[i++] = '\\';
			out[i++] = *s == '\n' ? 'n' : *s;
		} else
			out[i++] = *s;
	}
	out[i] = '\0';
	return out;
}

struct depth_arg {
	struct evbuffer	*b;
	uint64_t	 queued, active;
};

static void
depth_cb(const struct cluster *c, void *arg)
{
	struct depth_arg	*d = arg;

	evbuffer_add_printf(d->b, "batchd_queue_depth{workspace=\"%s\","
	    "cluster=\"%s\",name=\"%s\"} %u\n", c->ws, c->uuid,
	    label(c->name), c->queued);
	d->queued += c->queued;
	d->active += c->active_run[0] != '\0';
}

/* Write the requests' counts and latencies, by verb, to b. */
static void
render_requests(struct evbuffer *b)
{
	const struct verb_entry	*verb;
	int			 v, c;
	size_t			 i;
	uint64_t		 cum;

	evbuffer_add_printf(b, "# HELP batchd_requests_total Requests "
	    "answered, by verb and reply code.\n# TYPE batchd_requests_total "
	    "counter\n");
	for (v = 0; (verb = verb_at(v)) != NULL; v++)
		for (c = 0; c < E__COUNT; c++)
			if (requests[v][c] != 0)
				evbuffer_add_printf(b, "batchd_requests_total"
				    "{verb=\"%s\",code=\"%s\"} %llu\n",
				    verb->name, errcode_name(c),
				    (unsigned long long)requests[v][c]);
	evbuffer_add_printf(b, "# HELP batchd_request_duration_seconds "
	    "From receipt to reply, commit included.\n# TYPE "
	    "batchd_request_duration_seconds histogram\n");
	for (v = 0; (verb = verb_at(v)) != NULL; v++) {
		if (latency[v].n == 0)
			continue;
		cum = 0;
		for (i = 0; i <= NBUCKETS; i++) {
			cum += latency[v].counts[i];
			if (i < NBUCKETS)
				evbuffer_add_printf(b,
				    "batchd_request_duration_seconds_bucket"
				    "{verb=\"%s\",le=\"%g\"} %llu\n",
				    verb->name, buckets_s[i],
				    (unsigned long long)cum);
			else
				evbuffer_add_printf(b,
				    "batchd_request_duration_seconds_bucket"
				    "{verb=\"%s\",le=\"+Inf\"} %llu\n",
				    verb->name, (unsigned long long)cum);
		}
		evbuffer_add_printf(b, "batchd_request_duration_seconds_sum"
		    "{verb=\"%s\"} %g\nbatchd_request_duration_seconds_count"
		    "{verb=\"%s\"} %llu\n", verb->name, latency[v].sum,
		    verb->name, (unsigned long long)latency[v].n);
	}
}

/* Write every metric to b. */
/* HA (ha = on): this node's role, position and lag; failovers. */
static void
render_ha(struct evbuffer *b)
{
	uint64_t	term;
	unsigned	p = cfg->partition;

	if (!cfg->ha)
		return;
	term = ha_term();
	evbuffer_add_printf(b, "# HELP batchd_ha_leader 1 while this node "
	    "leads the partition.\n# TYPE batchd_ha_leader gauge\n"
	    "batchd_ha_leader{partition=\"%u\",node=\"%s\",role=\"%s\"} "
	    "%d\n", p, cfg->ha_node, ha_role(), ha_may_act());
	evbuffer_add_printf(b, "# HELP batchd_ha_position The partition "
	    "stream's last message this node has applied.\n# TYPE "
	    "batchd_ha_position gauge\nbatchd_ha_position{partition=\"%u\"} "
	    "%llu\n# HELP batchd_ha_lag Messages of the stream this standby "
	    "has not applied yet.\n# TYPE batchd_ha_lag gauge\n"
	    "batchd_ha_lag{partition=\"%u\"} %llu\n", p,
	    (unsigned long long)ha_position(), p,
	    (unsigned long long)ha_js_lag());
	evbuffer_add_printf(b, "# HELP batchd_ha_failovers_total Takeovers "
	    "of the partition after its first leader.\n# TYPE "
	    "batchd_ha_failovers_total counter\n"
	    "batchd_ha_failovers_total{partition=\"%u\"} %llu\n", p,
	    (unsigned long long)(term > 0 ? term - 1 : 0));
}

void
metrics_render(struct evbuffer *b)
{
	struct depth_arg	 d = { b, 0, 0 };
	size_t			 used, size;
	uint64_t		 reconnects, disconnects;
	int			 s, r;

	render_requests(b);
	evbuffer_add_printf(b, "# HELP batchd_run_transitions_total Committed "
	    "run status transitions, by new status and reason.\n# TYPE "
	    "batchd_run_transitions_total counter\n");
	for (s = 1; s <= RS_CANCELLED; s++)
		for (r = 0; r < R__COUNT; r++)
			if (transitions[s][r] != 0)
				evbuffer_add_printf(b,
				    "batchd_run_transitions_total{status=\"%s\","
				    "reason=\"%s\"} %llu\n", rstatus_name(s),
				    reason_label(r),
				    (unsigned long long)transitions[s][r]);
	evbuffer_add_printf(b, "# HELP batchd_queue_depth Runs waiting per "
	    "cluster.\n# TYPE batchd_queue_depth gauge\n");
	store_each_cluster(depth_cb, &d);
	evbuffer_add_printf(b, "# TYPE batchd_runs_queued gauge\n"
	    "batchd_runs_queued %llu\n# TYPE batchd_clusters_busy gauge\n"
	    "batchd_clusters_busy %llu\n# TYPE batchd_processes gauge\n"
	    "batchd_processes %zu\n", (unsigned long long)d.queued,
	    (unsigned long long)d.active, exec_count());
	evbuffer_add_printf(b, "# HELP batchd_outbox_depth Status events "
	    "committed but not yet confirmed on NATS.\n# TYPE "
	    "batchd_outbox_depth gauge\nbatchd_outbox_depth %llu\n# TYPE "
	    "batchd_outbox_dropped_total counter\n"
	    "batchd_outbox_dropped_total %llu\n",
	    (unsigned long long)outbox_depth(),
	    (unsigned long long)outbox_dropped());
	store_usage(&used, &size);
	evbuffer_add_printf(b, "# HELP batchd_lmdb_map_used_bytes Pages in "
	    "use.\n# TYPE batchd_lmdb_map_used_bytes gauge\n"
	    "batchd_lmdb_map_used_bytes %zu\n# TYPE batchd_lmdb_map_size_bytes "
	    "gauge\nbatchd_lmdb_map_size_bytes %zu\n", used, size);
	evbuffer_add_printf(b, "# HELP batchd_config_snapshots Run "
	    "configurations stored, each shared by the runs of it.\n# TYPE "
	    "batchd_config_snapshots gauge\nbatchd_config_snapshots %zu\n",
	    store_entries(DB_CONFIGS));
	evbuffer_add_printf(b, "# TYPE batchd_log_bytes_total counter\n"
	    "batchd_log_bytes_total{stream=\"stdout\"} %llu\n"
	    "batchd_log_bytes_total{stream=\"stderr\"} %llu\n",
	    (unsigned long long)log_bytes[LS_STDOUT],
	    (unsigned long long)log_bytes[LS_STDERR]);
	render_fires(b);
	render_ha(b);
	bus_counts(&reconnects, &disconnects);
	evbuffer_add_printf(b, "# HELP batchd_nats_connected 1 while connected "
	    "to NATS.\n# TYPE batchd_nats_connected gauge\n"
	    "batchd_nats_connected %d\n# TYPE batchd_nats_reconnects_total "
	    "counter\nbatchd_nats_reconnects_total %llu\n# TYPE "
	    "batchd_nats_disconnects_total counter\n"
	    "batchd_nats_disconnects_total %llu\n", bus_connected(),
	    (unsigned long long)reconnects, (unsigned long long)disconnects);
}
