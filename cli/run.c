/*
 * run.c: "batchctl run ...": submitting, listing and cancelling runs
 * (run.* verbs); the waiting is in follow.c, "run logs" in logs.c and
 * "run events" in events.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchctl.h"

#define ARGS_SET	BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__ARGS_OPT_ARGS

enum {
	O_CLUSTER = 256, O_CLUSTER_CONFIG, O_ARGS, O_ENV, O_IDEM, O_WAIT,
	O_FOLLOW, O_JOBDEF, O_STATUS, O_LIMIT, O_AFTER, O_RERUN_OF
};

static int	run_submit(const struct cmd *, int, char **);
static int	run_sql(const struct cmd *, int, char **);
static int	run_get(const struct cmd *, int, char **);
static int	run_list(const struct cmd *, int, char **);
static int	run_cancel(const struct cmd *, int, char **);
static int	run_cancel_all(const struct cmd *, int, char **);

#define WAIT_HELP \
	"  --wait                wait until the run ends, then print it\n" \
	"  --follow              print its output (stdout and stderr as the\n" \
	"                        job wrote them) and status changes (on\n" \
	"                        stderr) until it ends\n" \
	"\n" \
	"With --wait or --follow the exit status is the run's: 0 SUCCEEDED,\n" \
	"1 FAILED, 2 CANCELLED (3, 4, 5 and 130 as for every command).\n" \
	"With --follow standard output is the job's: -o json is ignored."

static const struct cmd run_cmds[] = {
	{ "submit", run_submit, "run submit DEF [--cluster UUID|NAME] "
	  "[--args ARGS] [--env K=V]... [--idempotency-key KEY] "
	  "[--after RUN[:COND]]... [--wait] [--follow] [policy options]",
	  "Submit a run of the job definition DEF (a UUID or a name) and\n"
	  "print it.\n"
	  "\n"
	  "  --cluster UUID|NAME   run on this cluster (default: a new\n"
	  "                        cluster from the definition's cluster\n"
	  "                        configuration, deleted when the run ends)\n"
	  "  --args ARGS           the job's arguments for this run\n"
	  "  --env K=V             an environment variable for this run\n"
	  "                        (repeatable)\n"
	  "  --idempotency-key KEY a repeat with the same key returns the\n"
	  "                        first run\n"
	  "  --after RUN[:COND]    wait until run RUN (a UUID) has ended so:\n"
	  "                        succeeded (the default), failed or ended\n"
	  "                        (repeatable; at most 64)\n"
	  WAIT_HELP "\n"
	  "\n"
	  "For this run only, over the definition's configuration:\n"
	  POLICY_RUN_HELP },
	{ "sql", run_sql, "run sql QUERY [--cluster UUID|NAME | "
	  "--cluster-config FILE] [--env K=V]... [--idempotency-key KEY] "
	  "[--wait] [--follow]",
	  "Submit an SQL query as a run and print it.\n"
	  "\n"
	  "  --cluster UUID|NAME   run on this cluster\n"
	  "  --cluster-config FILE on a new cluster of this configuration\n"
	  "                        (JSON, see batchctl cluster create --help)\n"
	  "  --env K=V             an environment variable (repeatable)\n"
	  "  --idempotency-key KEY a repeat with the same key returns the\n"
	  "                        first run\n"
	  WAIT_HELP },
	{ "submit-batch", flow_submit_batch, "run submit-batch FILE.json",
	  "Submit a pipeline: every run of FILE.json, or none, and print\n"
	  "them. FILE.json: {\"runs\": [ITEM, ...]}, each ITEM\n"
	  "{\"name\", \"jobdef\", \"cluster\", \"args\", \"env\",\n"
	  "\"idempotencyKey\", \"after\": [\"NAME[:COND]\", ...]}: after\n"
	  "names an earlier item (or a run's UUID); COND is succeeded (the\n"
	  "default), failed or ended." },
	{ "rerun", flow_rerun, "run rerun RUN [--repair]",
	  "Run an ended run again (the same definition, configuration, args,\n"
	  "env and cluster) and print the new run.\n"
	  "\n"
	  "  --repair    also run again every run downstream of it that its\n"
	  "              end cancelled (UPSTREAM_FAILED), rewired to the new\n"
	  "              runs" },
	{ "get", run_get, "run get UUID",
	  "Print a run, its attempts, and the runs it waits for and that\n"
	  "wait for it." },
	{ "list", run_list, "run list [--jobdef UUID|NAME] "
	  "[--cluster UUID|NAME] [--status STATUS] [--rerun-of RUN] [--limit N]",
	  "List runs, newest first.\n"
	  "\n"
	  "  --jobdef UUID|NAME    only the runs of this definition\n"
	  "  --cluster UUID|NAME   only the runs on this cluster\n"
	  "  --status STATUS       only runs in this status: PENDING, RUNNING,\n"
	  "                        SUCCEEDED, FAILED or CANCELLED\n"
	  "  --rerun-of RUN        only the runs made again from RUN (run rerun)\n"
	  "  --limit N             at most N runs (default 50; 0: all)" },
	{ "cancel", run_cancel, "run cancel UUID",
	  "Cancel a pending or running run and print it." },
	{ "cancel-all", run_cancel_all, "run cancel-all [--cluster UUID|NAME]"
	  "... [--jobdef UUID|NAME]",
	  "Cancel every pending or running run of the clusters and/or the\n"
	  "definition given, and print how many were cancelled.\n"
	  "\n"
	  "  --cluster UUID|NAME   runs on this cluster (repeatable)\n"
	  "  --jobdef UUID|NAME    runs of this definition" },
	{ "logs", logs_cmd, "run logs RUN [--attempt N] [--stderr] [-f]",
	  "Print the output of a run's attempt (the latest by default).\n"
	  "\n"
	  "  --attempt N     this attempt (1 is the first)\n"
	  "  --stderr        the stderr stream instead of stdout\n"
	  "  -f, --follow    print what is stored, then the output as it\n"
	  "                  comes, until the attempt (without --attempt:\n"
	  "                  the run) ends" },
	{ "events", events_history, "run events RUN",
	  "Print the history of a run's status changes." },
	{ NULL, NULL, NULL, NULL }
};

/* "batchctl run ...". */
int
run_main(const struct cmd *self, int argc, char **argv)
{
	return cmd_dispatch(self, run_cmds, argc, argv);
}

/* run.get: 0 with *rep (freed by the caller), or an exit code. */
int
run_fetch(const char *uuid, Batchd__V1__JobRunReply **rep)
{
	Batchd__V1__GetJobRunRequest	 req =
	    BATCHD__V1__GET_JOB_RUN_REQUEST__INIT;
	char				*u = uuid_lower(uuid);
	int				 rc;

	req.uuid = u;
	rc = client_call("run.get", &req,
	    &batchd__v1__job_run_reply__descriptor, (void **)rep);
	free(u);
	return rc;
}

/* The options submit and sql share. */
struct submit {
	const char	 *cluster;
	const char	 *cluster_config;
	char		 *args;
	char		**env;		/* "K=V" from argv */
	size_t		  nenv;
	char		 *idem;
	int		  wait, follow;
};

/* Take one of the shared options: 0, or an exit code. */
static int
submit_opt(const struct cmd *self, struct submit *s, int c, char *arg)
{
	switch (c) {
	case O_CLUSTER:
		s->cluster = arg;
		break;
	case O_CLUSTER_CONFIG:
		s->cluster_config = arg;
		break;
	case O_ARGS:
		s->args = arg;
		break;
	case O_ENV:
		if (strchr(arg, '=') == NULL || *arg == '=')
			return usage_error(self, "--env: '%s' is not "
			    "NAME=VALUE", arg);
		s->env = xreallocarray(s->env, s->nenv + 1, sizeof *s->env);
		s->env[s->nenv++] = arg;
		break;
	case O_IDEM:
		s->idem = arg;
		break;
	case O_WAIT:
		s->wait = 1;
		break;
	case O_FOLLOW:
		s->follow = 1;
		break;
	}
	return 0;
}

/* The map entries (of message type d) of "K=V" strings; see env_free. */
static void **
env_entries(const ProtobufCMessageDescriptor *d, char **kv, size_t n)
{
	ProtobufCMessage	 *m;
	void			**v;
	const char		 *eq;
	size_t			  i;

	v = xcalloc(n, sizeof *v);
	for (i = 0; i < n; i++) {
		m = xmalloc(d->sizeof_message);
		protobuf_c_message_init(d, m);
		eq = strchr(kv[i], '=');
		xasprintf((char **)(void *)((char *)m + d->fields[0].offset),
		    "%.*s", (int)(eq - kv[i]), kv[i]);
		*(char **)(void *)((char *)m + d->fields[1].offset) =
		    xstrdup(eq + 1);
		v[i] = m;
	}
	return v;
}

/* Free what env_entries() made. */
static void
env_free(void **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(v[i], NULL);
	free(v);
}

/*
 * After the submission was answered: print the run, or wait for it or
 * follow it as asked. Frees rep.
 */
static int
submitted(struct submit *s, struct follow *f, Batchd__V1__JobRunReply *rep)
{
	Batchd__V1__JobRunReply		*last;
	Batchd__V1__JobRunStatus	 st;
	int				 rc;

	if (f == NULL) {
		show_run(rep->job_run);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
		return 0;
	}
	rc = follow_run(f, rep->job_run, 0, &st);
	if (!s->follow && rc <= EXIT_CANCELLED &&
	    run_fetch(rep->job_run->uuid, &last) == 0) {
		show_run(last->job_run);
		protobuf_c_message_free_unpacked(&last->base, NULL);
	}
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	return rc;
}

/* Subscribe for --wait or --follow before submitting: 0 or exit code. */
static int
prepare(struct submit *s, struct follow **f)
{
	int	flags;

	*f = NULL;
	if (!s->wait && !s->follow)
		return 0;
	if (s->follow)
		flags = FOLLOW_STATUS | FOLLOW_STDOUT | FOLLOW_STDERR;
	else
		flags = isatty(STDERR_FILENO) ? FOLLOW_SPINNER : 0;
	*f = follow_new(flags, run_fetch);
	return follow_subscribe(*f, NULL);
}

/* "run submit DEF [...]": run.submit, then print, wait or follow. */
static int
run_submit(const struct cmd *self, int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "cluster", required_argument, NULL, O_CLUSTER },
		{ "args", required_argument, NULL, O_ARGS },
		{ "env", required_argument, NULL, O_ENV },
		{ "idempotency-key", required_argument, NULL, O_IDEM },
		{ "wait", no_argument, NULL, O_WAIT },
		{ "follow", no_argument, NULL, O_FOLLOW },
		{ "after", required_argument, NULL, O_AFTER },
		POLICY_RUN_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__SubmitJobRunRequest	 req =
	    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__INIT;
	Batchd__V1__JobRunReply		*rep;
	struct submit			 s;
	struct policy			 p;
	struct follow			*f = NULL;
	struct opts			 o;
	char				*def = NULL, *cluster = NULL;
	int				 c, rc = 0;

	memset(&s, 0, sizeof s);
	memset(&p, 0, sizeof p);
	opt_init(&o, self, argc, argv, "", longopts);
	while ((c = opt_next(&o)) != -1 &&
	    ((rc = policy_opt(self, &p, c, optarg)) == 0 || (rc == -1 &&
	    (rc = c == O_AFTER ? flow_after(self, &req, optarg) :
	    submit_opt(self, &s, c, optarg)) == 0)))
		;
	if (rc != 0 || o.rc != -1 || opt_args(&o, 1, 1) == -1) {
		free(s.env);
		policy_free(&p);
		flow_free_deps(&req);
		return rc != 0 ? rc : o.rc;
	}
	if ((rc = jobdef_resolve(o.args[0], &def)) != 0)
		goto out;
	if (s.cluster != NULL && (rc = cluster_resolve(s.cluster,
	    &cluster)) != 0)
		goto out;
	req.job_definition_uuid = def;
	req.cluster_uuid = cluster != NULL ? cluster : "";
	if (s.args != NULL) {
		req.args = s.args;
		req.args_opt_case = ARGS_SET;
	}
	req.n_env = s.nenv;
	req.env = (Batchd__V1__SubmitJobRunRequest__EnvEntry **)env_entries(
	    &batchd__v1__submit_job_run_request__env_entry__descriptor,
	    s.env, s.nenv);
	req.idempotency_key = s.idem != NULL ? s.idem : "";
	policy_submit(&p, &req);
	if ((rc = prepare(&s, &f)) == 0 && (rc = client_call("run.submit",
	    &req, &batchd__v1__job_run_reply__descriptor,
	    (void **)&rep)) == 0)
		rc = submitted(&s, f, rep);
	env_free((void **)req.env, req.n_env);
	if (req.retry_strategy != NULL)
		protobuf_c_message_free_unpacked(&req.retry_strategy->base,
		    NULL);
out:
	flow_free_deps(&req);
	policy_free(&p);
	follow_free(f);
	free(s.env);
	free(def);
	free(cluster);
	return rc;
}

/* "run sql QUERY [...]": run.submit_sql, then print, wait or follow. */
static int
run_sql(const struct cmd *self, int argc, char **argv)
{
	static const struct option		 longopts[] = {
		{ "cluster", required_argument, NULL, O_CLUSTER },
		{ "cluster-config", required_argument, NULL,
		    O_CLUSTER_CONFIG },
		{ "env", required_argument, NULL, O_ENV },
		{ "idempotency-key", required_argument, NULL, O_IDEM },
		{ "wait", no_argument, NULL, O_WAIT },
		{ "follow", no_argument, NULL, O_FOLLOW },
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__SubmitSqlJobRunRequest	 req =
	    BATCHD__V1__SUBMIT_SQL_JOB_RUN_REQUEST__INIT;
	Batchd__V1__JobRunReply			*rep;
	struct submit				 s;
	struct follow				*f = NULL;
	struct opts				 o;
	char					*cluster = NULL, *cause;
	int					 c, rc = 0;

	memset(&s, 0, sizeof s);
	opt_init(&o, self, argc, argv, "", longopts);
	while ((c = opt_next(&o)) != -1 &&
	    (rc = submit_opt(self, &s, c, optarg)) == 0)
		;
	if (rc != 0 || o.rc != -1 || opt_args(&o, 1, 1) == -1) {
		free(s.env);
		return rc != 0 ? rc : o.rc;
	}
	if (s.cluster != NULL && s.cluster_config != NULL) {
		free(s.env);
		return usage_error(self, "--cluster and --cluster-config "
		    "exclude each other");
	}
	if (s.cluster_config != NULL && (req.cluster_config =
	    conf_cluster(s.cluster_config, &cause)) == NULL) {
		fprintf(stderr, "batchctl: %s\n", cause);
		free(cause);
		rc = EXIT_USAGE;
		goto out;
	}
	if (s.cluster != NULL && (rc = cluster_resolve(s.cluster,
	    &cluster)) != 0)
		goto out;
	req.sql_query = o.args[0];
	req.cluster_uuid = cluster != NULL ? cluster : "";
	req.n_env = s.nenv;
	req.env = (Batchd__V1__SubmitSqlJobRunRequest__EnvEntry **)
	    env_entries(
	    &batchd__v1__submit_sql_job_run_request__env_entry__descriptor,
	    s.env, s.nenv);
	req.idempotency_key = s.idem != NULL ? s.idem : "";
	if ((rc = prepare(&s, &f)) == 0 && (rc = client_call(
	    "run.submit_sql", &req, &batchd__v1__job_run_reply__descriptor,
	    (void **)&rep)) == 0)
		rc = submitted(&s, f, rep);
	env_free((void **)req.env, req.n_env);
out:
	if (req.cluster_config != NULL)
		protobuf_c_message_free_unpacked(&req.cluster_config->base,
		    NULL);
	follow_free(f);
	free(s.env);
	free(cluster);
	return rc;
}

/* Parse a command that takes only a run's UUID. */
static int
one_run(const struct cmd *self, int argc, char **argv, struct opts *o)
{
	opt_init(o, self, argc, argv, "", NULL);
	while (opt_next(o) != -1)
		;
	if (o->rc != -1 || opt_args(o, 1, 1) == -1)
		return o->rc;
	return -1;
}

/* "run get UUID". */
static int
run_get(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__JobRunReply	*rep;
	struct opts		 o;
	int			 rc;

	if ((rc = one_run(self, argc, argv, &o)) != -1)
		return rc;
	if ((rc = run_fetch(o.args[0], &rep)) == 0) {
		show_run(rep->job_run);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	return rc;
}

/* "run cancel UUID". */
static int
run_cancel(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__CancelJobRunRequest	 req =
	    BATCHD__V1__CANCEL_JOB_RUN_REQUEST__INIT;
	Batchd__V1__JobRunReply		*rep;
	struct opts			 o;
	int				 rc;

	if ((rc = one_run(self, argc, argv, &o)) != -1)
		return rc;
	req.uuid = uuid_lower(o.args[0]);
	if ((rc = client_call("run.cancel", &req,
	    &batchd__v1__job_run_reply__descriptor, (void **)&rep)) == 0) {
		show_run(rep->job_run);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	free(req.uuid);
	return rc;
}

/* "run list [...]": pages until --limit runs. */
static int
run_list(const struct cmd *self, int argc, char **argv)
{
	static const struct option	  longopts[] = {
		{ "jobdef", required_argument, NULL, O_JOBDEF },
		{ "cluster", required_argument, NULL, O_CLUSTER },
		{ "status", required_argument, NULL, O_STATUS },
		{ "rerun-of", required_argument, NULL, O_RERUN_OF },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__ListJobRunsRequest	  req =
	    BATCHD__V1__LIST_JOB_RUNS_REQUEST__INIT;
	struct pages			  pg = { 0 };
	struct opts			  o;
	const char			 *jobdef = NULL, *cluster = NULL;
	char				 *def = NULL, *cl = NULL;
	uint32_t			  limit = 50;
	int				  c, rc = 0;

	opt_init(&o, self, argc, argv, "", longopts);
	while ((c = opt_next(&o)) != -1 && rc == 0) {
		switch (c) {
		case O_JOBDEF:
			jobdef = optarg;
			break;
		case O_CLUSTER:
			cluster = optarg;
			break;
		case O_STATUS:
			if (fmt_parse_status(optarg, &req.status) == -1)
				rc = usage_error(self, "--status: '%s' is not "
				    "PENDING, RUNNING, SUCCEEDED, FAILED or "
				    "CANCELLED", optarg);
			break;
		case O_RERUN_OF:
			req.rerun_of = optarg;
			break;
		case O_LIMIT:
			rc = opt_uint(self, "--limit", optarg, &limit);
			break;
		}
	}
	if (rc != 0 || o.rc != -1 || opt_args(&o, 0, 0) == -1)
		return rc != 0 ? rc : o.rc;
	if (jobdef != NULL && (rc = jobdef_resolve(jobdef, &def)) != 0)
		goto out;
	if (cluster != NULL && (rc = cluster_resolve(cluster, &cl)) != 0)
		goto out;
	req.job_definition_uuid = def != NULL ? def : "";
	req.cluster_uuid = cl != NULL ? cl : "";
	if ((rc = client_list("run.list", &req.base,
	    &batchd__v1__list_job_runs_reply__descriptor, "job_runs", limit,
	    &pg)) == 0)
		show_runs((JobRun **)pg.items, pg.n);
out:
	pages_free(&pg);
	free(def);
	free(cl);
	return rc;
}

/* "run cancel-all [--cluster X]... [--jobdef Y]". */
static int
run_cancel_all(const struct cmd *self, int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "cluster", required_argument, NULL, O_CLUSTER },
		{ "jobdef", required_argument, NULL, O_JOBDEF },
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__CancelJobRunsRequest req =
	    BATCHD__V1__CANCEL_JOB_RUNS_REQUEST__INIT;
	Batchd__V1__CancelJobRunsReply	*rep;
	struct opts			 o;
	const char			*jobdef = NULL, **clusters = NULL;
	char				*def = NULL;
	size_t				 ncl = 0, i;
	int				 c, rc = 0;

	opt_init(&o, self, argc, argv, "", longopts);
	while ((c = opt_next(&o)) != -1) {
		switch (c) {
		case O_CLUSTER:
			clusters = xreallocarray(clusters, ncl + 1,
			    sizeof *clusters);
			clusters[ncl++] = optarg;
			break;
		case O_JOBDEF:
			jobdef = optarg;
			break;
		}
	}
	if (o.rc != -1 || opt_args(&o, 0, 0) == -1) {
		free(clusters);
		return o.rc;
	}
	if (ncl == 0 && jobdef == NULL) {
		free(clusters);
		return usage_error(self, "give --cluster or --jobdef");
	}
	req.cluster_uuids = xcalloc(ncl, sizeof *req.cluster_uuids);
	for (i = 0; i < ncl; i++) {
		if ((rc = cluster_resolve(clusters[i],
		    &req.cluster_uuids[i])) != 0)
			goto out;
		req.n_cluster_uuids++;
	}
	if (jobdef != NULL && (rc = jobdef_resolve(jobdef, &def)) != 0)
		goto out;
	req.job_definition_uuid = def != NULL ? def : "";
	if ((rc = client_call("run.cancel_all", &req,
	    &batchd__v1__cancel_job_runs_reply__descriptor,
	    (void **)&rep)) != 0)
		goto out;
	if (ctl.out == OUT_JSON)
		pbjson_print(rep);
	else {
		printf("cancelled %u run%s\n", rep->cancelled,
		    rep->cancelled == 1 ? "" : "s");
		for (i = 0; i < rep->n_run_uuids; i++)
			printf("%s\n", rep->run_uuids[i]);
	}
	protobuf_c_message_free_unpacked(&rep->base, NULL);
out:
	for (i = 0; i < req.n_cluster_uuids; i++)
		free(req.cluster_uuids[i]);
	free(req.cluster_uuids);
	free(clusters);
	free(def);
	return rc;
}
