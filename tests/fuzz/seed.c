/*
 * seed.c: the state every fuzz input starts from, made through the API
 * (seed()); its objects have the UUIDs seed_uuid() names, which
 * make_seeds.py and batchd.dict use too.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "batchd/v1/batchd.pb-c.h"
#include "fuzz.h"

/* The UUID the n-th uuid_new() call gives. */
const char *
seed_uuid(int n)
{
	static char	s[8][UUID_LEN + 1];
	static int	k;
	char		*p = s[k++ % 8];

	snprintf(p, UUID_LEN + 1, "00000000-0000-4000-8000-%012x", n);
	return p;
}

/* Send a seeding request; abort unless it succeeds. Reply in pub. */
static void
seed_call(const char *ws, const struct fverb *v, const ProtobufCMessage *m)
{
	Batchd__V1__DeleteReply	*r;
	uint8_t			*buf;
	char			*subject;
	size_t			 n;

	n = protobuf_c_message_get_packed_size(m);
	buf = xmalloc(n + 1);
	protobuf_c_message_pack(m, buf);
	xasprintf(&subject, "batchd.v1.%s.%s", ws, v->name);
	cur_subject = subject;
	send_request(subject, buf, n);
	if (pub.replies != 1 ||
	    (r = batchd__v1__delete_reply__unpack(NULL, pub.len,
	    pub.p)) == NULL)
		fail("seeding: no valid reply");
	if (r->error != NULL)
		fail("seeding: refused: %s (%s): %s",
		    errcode_name((enum errcode)r->error->code), r->error->field,
		    r->error->message);
	batchd__v1__delete_reply__free_unpacked(r, NULL);
	cur_subject = NULL;
	free(subject);
	free(buf);
}

/* The UUID in the reply of the last seeding request must be number n. */
static void
seed_expect(const struct fverb *v, int n)
{
	ProtobufCMessage	*m;
	const char		*got = "";

	m = protobuf_c_message_unpack(v->reply, NULL, pub.len, pub.p);
	if (m == NULL)
		fail("seeding: reply does not decode");
	if (v->reply == &batchd__v1__job_definition_reply__descriptor)
		got = ((Batchd__V1__JobDefinitionReply *)m)->job_definition->uuid;
	else if (v->reply == &batchd__v1__cluster_reply__descriptor)
		got = ((Batchd__V1__ClusterReply *)m)->cluster->uuid;
	else if (v->reply == &batchd__v1__job_run_reply__descriptor)
		got = ((Batchd__V1__JobRunReply *)m)->job_run->uuid;
	else if (v->reply == &batchd__v1__schedule_reply__descriptor)
		got = ((Batchd__V1__ScheduleReply *)m)->schedule->uuid;
	if (strcmp(got, seed_uuid(n)) != 0)
		fail("seeding: got uuid %s, make_seeds.py expects %s", got,
		    seed_uuid(n));
	protobuf_c_message_free_unpacked(m, NULL);
}

static void
seed_jobdef(const char *ws, const char *name, Batchd__V1__JobConfig *c,
    Batchd__V1__ClusterConfig *cc, int n)
{
	Batchd__V1__CreateJobDefinitionRequest	m =
	    BATCHD__V1__CREATE_JOB_DEFINITION_REQUEST__INIT;

	m.name = (char *)name;
	m.description = "seeded by the fuzz harness";
	m.config = c;
	m.cluster_config = cc;
	seed_call(ws, fverb("jobdef.create"), &m.base);
	seed_expect(fverb("jobdef.create"), n);
}

static void
seed_cluster(const char *ws, const char *name, int workers, int auto_resume,
    int n)
{
	Batchd__V1__CreateClusterRequest	m =
	    BATCHD__V1__CREATE_CLUSTER_REQUEST__INIT;
	Batchd__V1__ClusterConfig		c =
	    BATCHD__V1__CLUSTER_CONFIG__INIT;

	c.instance_type = "small";
	c.workers_quantity = workers;
	c.version = "1.0";
	m.name = (char *)name;
	m.config = &c;
	if (auto_resume != -1) {
		m.auto_resume_opt_case =
		    BATCHD__V1__CREATE_CLUSTER_REQUEST__AUTO_RESUME_OPT_AUTO_RESUME;
		m.auto_resume = auto_resume;
	}
	seed_call(ws, fverb("cluster.create"), &m.base);
	seed_expect(fverb("cluster.create"), n);
}

/* A verb taking just a uuid (cluster.pause, run.cancel). */
static void
seed_by_uuid(const char *ws, const struct fverb *v, int n)
{
	Batchd__V1__GetClusterRequest	c = BATCHD__V1__GET_CLUSTER_REQUEST__INIT;
	Batchd__V1__GetJobRunRequest	r = BATCHD__V1__GET_JOB_RUN_REQUEST__INIT;

	c.uuid = r.uuid = (char *)seed_uuid(n);
	seed_call(ws, v, strcmp(v->name, "cluster.pause") == 0 ? &c.base :
	    &r.base);
}

static void
seed_submit(const char *ws, int def, int cluster, const char *idem, int n)
{
	Batchd__V1__SubmitJobRunRequest	m =
	    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__INIT;

	m.job_definition_uuid = (char *)seed_uuid(def);
	if (cluster != 0)
		m.cluster_uuid = (char *)seed_uuid(cluster);
	if (idem != NULL)
		m.idempotency_key = (char *)idem;
	seed_call(ws, fverb("run.submit"), &m.base);
	seed_expect(fverb("run.submit"), n);
}

static void
seed_schedule(const char *ws, const char *name, const char *cron,
    const char *tz, int def, int cluster, int paused, int n)
{
	Batchd__V1__CreateScheduleRequest	m =
	    BATCHD__V1__CREATE_SCHEDULE_REQUEST__INIT;

	m.name = (char *)name;
	m.cron = (char *)cron;
	m.timezone = (char *)tz;
	m.job_definition_uuid = (char *)seed_uuid(def);
	m.cluster_uuid = (char *)seed_uuid(cluster);
	m.paused = paused;
	seed_call(ws, fverb("schedule.create"), &m.base);
	seed_expect(fverb("schedule.create"), n);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fputs(text, f);
	fclose(f);
}

/*
 * The seeded state; make_seeds.py names the same UUIDs (seed_uuid(n)).
 * Workspace "w":
 *  1 jobdef py      WORKSPACE jobs/main.py, 2 retries without delay,
 *                   a default cluster configuration
 *  2 jobdef git     GIT with a token, no default cluster
 *  3 jobdef slow    WORKSPACE, 1 retry after an hour, default cluster
 *  4 cluster c1     idle
 *  5 cluster paused        paused, auto_resume off
 *  6 cluster resumable     paused, auto_resume on
 *  7 cluster busy   held by run 8, runs 9 and 10 queued (queue_cap 2: full)
 *  8 run slow@busy  PENDING, waiting to retry after attempt 1
 *  9 run py@busy    PENDING in queue, idempotency key "k1"
 * 10 run py@busy    PENDING in queue
 * 11 run py         ephemeral cluster 12 (deleted): FAILED after 3
 *                   attempts; attempt 1 has stdout and stderr
 * 13 run sql@c1     FAILED (spawning is replaced)
 * 14 run git@c1     FAILED (GIT fetch unsupported)
 * 15 cluster hold   held by run 16
 * 16 run slow@hold  PENDING, waiting to retry
 * 17 run py@hold    CANCELLED while queued, idempotency key "k2"
 * Workspace "o": 18 jobdef py, 19 cluster c1, 20 run slow-like@c1 PENDING
 * (waiting to retry).
 * 21 schedule nightly  py@c1, 02:30 Europe/Berlin, paused
 * 22 schedule often    slow@busy, every second (never fired here: the
 *                      harness runs no timer)
 * No run stays RUNNING: nothing is spawned.
 */
void
seed(void)
{
	Batchd__V1__JobConfig		c = BATCHD__V1__JOB_CONFIG__INIT;
	Batchd__V1__JobSource		s = BATCHD__V1__JOB_SOURCE__INIT;
	Batchd__V1__WorkspaceSource	wsrc = BATCHD__V1__WORKSPACE_SOURCE__INIT;
	Batchd__V1__GitSource		git = BATCHD__V1__GIT_SOURCE__INIT;
	Batchd__V1__RetryStrategy	rs = BATCHD__V1__RETRY_STRATEGY__INIT;
	Batchd__V1__JobConfig__EnvEntry	env = BATCHD__V1__JOB_CONFIG__ENV_ENTRY__INIT;
	Batchd__V1__JobConfig__EnvEntry	*envp[1] = { &env };
	Batchd__V1__ClusterConfig	cc = BATCHD__V1__CLUSTER_CONFIG__INIT;
	Batchd__V1__SubmitSqlJobRunRequest sql =
	    BATCHD__V1__SUBMIT_SQL_JOB_RUN_REQUEST__INIT;
	char				*path;
	const char			*wss[] = { "w", "o" };
	int				 i;

	for (i = 0; i < 2; i++) {
		xasprintf(&path, "%s/%s/jobs", cfg->workspace_root, wss[i]);
		if (mkdir_p(path, 0700) == -1)
			fatal("%s", path);
		free(path);
		xasprintf(&path, "%s/%s/jobs/main.py", cfg->workspace_root,
		    wss[i]);
		write_file(path, "print('hello')\n");
		free(path);
	}

	wsrc.path = "jobs";
	s.type = BATCHD__V1__SOURCE_TYPE__WORKSPACE;
	s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE;
	s.workspace = &wsrc;
	c.source = &s;
	c.type = BATCHD__V1__JOB_TYPE__PYTHON;
	c.source_location = "main.py";
	c.args = "--n 1 'a b'";
	rs.num_retries_opt_case =
	    BATCHD__V1__RETRY_STRATEGY__NUM_RETRIES_OPT_NUM_RETRIES;
	rs.num_retries = 2;
	rs.retry_delay_seconds_opt_case =
	    BATCHD__V1__RETRY_STRATEGY__RETRY_DELAY_SECONDS_OPT_RETRY_DELAY_SECONDS;
	rs.retry_delay_seconds = 0;
	c.retry_strategy = &rs;
	c.timeout_seconds_opt_case =
	    BATCHD__V1__JOB_CONFIG__TIMEOUT_SECONDS_OPT_TIMEOUT_SECONDS;
	c.timeout_seconds = 60;
	env.key = "GREETING";
	env.value = "hi";
	c.n_env = 1;
	c.env = envp;
	cc.instance_type = "small";
	cc.workers_quantity = 2;
	cc.version = "3.12";
	seed_jobdef("w", "py", &c, &cc, 1);

	git.repo_url = "https://example.com/repo.git";
	git.username = "fuzz";
	git.token = "s3cr3t-token";
	git.reference = "main";
	s.type = BATCHD__V1__SOURCE_TYPE__GIT;
	s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_GIT;
	s.git = &git;
	c.retry_strategy = NULL;
	seed_jobdef("w", "git", &c, NULL, 2);

	s.type = BATCHD__V1__SOURCE_TYPE__WORKSPACE;
	s.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE;
	s.workspace = &wsrc;
	rs.num_retries = 1;
	rs.retry_delay_seconds = 3600;
	c.retry_strategy = &rs;
	cc.workers_quantity = 1;
	seed_jobdef("w", "slow", &c, &cc, 3);

	seed_cluster("w", "c1", 1, -1, 4);
	seed_cluster("w", "paused", 1, 0, 5);
	seed_by_uuid("w", fverb("cluster.pause"), 5);
	seed_cluster("w", "resumable", 4, 1, 6);
	seed_by_uuid("w", fverb("cluster.pause"), 6);
	seed_cluster("w", "busy", 1, -1, 7);

	seed_submit("w", 3, 7, NULL, 8);	/* holds busy, retry pending */
	seed_submit("w", 1, 7, "k1", 9);	/* queued */
	seed_submit("w", 1, 7, NULL, 10);	/* queued: busy is full */
	seed_submit("w", 1, 0, NULL, 11);	/* ephemeral 12, 3 attempts */

	sql.sql_query = "select 1;";
	sql.cluster_uuid = (char *)seed_uuid(4);
	seed_call("w", fverb("run.submit_sql"), &sql.base);
	seed_expect(fverb("run.submit_sql"), 13);
	seed_submit("w", 2, 4, NULL, 14);	/* GIT: fetch fails */

	seed_cluster("w", "hold", 1, -1, 15);
	seed_submit("w", 3, 15, NULL, 16);	/* holds hold */
	seed_submit("w", 1, 15, "k2", 17);	/* queued ... */
	seed_by_uuid("w", fverb("run.cancel"), 17);	/* ... and cancelled */

	seed_jobdef("o", "py", &c, &cc, 18);
	seed_cluster("o", "c1", 1, -1, 19);
	seed_submit("o", 18, 19, NULL, 20);	/* retry pending */

	seed_schedule("w", "nightly", "30 2 * * *", "Europe/Berlin", 1, 4, 1,
	    21);
	seed_schedule("w", "often", "* * * * * *", "Etc/UTC", 3, 7, 0, 22);

	/* Output for run.logs: attempt 1 of run 11 wrote something. */
	path = logs_path(seed_uuid(11), 1, LS_STDOUT);
	write_file(path, "hello from attempt 1\nline 2\n");
	free(path);
	path = logs_path(seed_uuid(11), 1, LS_STDERR);
	write_file(path, "Traceback: boom\n");
	free(path);
}
