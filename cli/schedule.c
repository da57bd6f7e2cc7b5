/*
 * schedule.c: "batchctl schedule ...": schedules (schedule.* verbs) and
 * their history (run.list by schedule_uuid). create takes a cron job in
 * the product's JSON shape (--config, conf.c), the options overriding it.
 *
 * The requests are built on the heap, every field malloc'ed, and freed
 * with protobuf_c_message_free_unpacked(m, NULL).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batchctl.h"

#define C_ARGS_SET	BATCHD__V1__CREATE_SCHEDULE_REQUEST__ARGS_OPT_ARGS
#define C_MAX_SET	\
    BATCHD__V1__CREATE_SCHEDULE_REQUEST__MAX_CONCURRENT_RUNS_OPT_MAX_CONCURRENT_RUNS
#define U_DESC_SET	\
    BATCHD__V1__UPDATE_SCHEDULE_REQUEST__DESCRIPTION_OPT_DESCRIPTION
#define U_CLUSTER_SET	\
    BATCHD__V1__UPDATE_SCHEDULE_REQUEST__CLUSTER_UUID_OPT_CLUSTER_UUID
#define U_ARGS_SET	BATCHD__V1__UPDATE_SCHEDULE_REQUEST__ARGS_OPT_ARGS
#define U_MAX_SET	\
    BATCHD__V1__UPDATE_SCHEDULE_REQUEST__MAX_CONCURRENT_RUNS_OPT_MAX_CONCURRENT_RUNS
#define U_PAUSE_SET	\
    BATCHD__V1__UPDATE_SCHEDULE_REQUEST__PAUSE_CLUSTER_WHEN_FINISHED_OPT_PAUSE_CLUSTER_WHEN_FINISHED

enum {
	O_CONFIG = 256, O_CRON, O_TZ, O_DEF, O_CLUSTER, O_CLUSTER_CONFIG,
	O_ARGS, O_ENV, O_MAX, O_MISFIRE, O_PAUSE_CLUSTER, O_PAUSED,
	O_DESCRIPTION, O_NO_CLUSTER, O_NO_CLUSTER_CONFIG, O_NO_ARGS,
	O_NO_ENV, O_KEEP_CLUSTER
};

static int	sched_create(const struct cmd *, int, char **);
static int	sched_get(const struct cmd *, int, char **);
static int	sched_list(const struct cmd *, int, char **);
static int	sched_update(const struct cmd *, int, char **);
static int	sched_verb(const struct cmd *, int, char **);
static int	sched_trigger(const struct cmd *, int, char **);
static int	sched_history(const struct cmd *, int, char **);

#define CRON_HELP \
	"The cron expression has five fields (minute hour day-of-month\n" \
	"month day-of-week) or six with seconds first: *, lists, ranges,\n" \
	"steps, month and weekday names; or @yearly, @monthly, @weekly,\n" \
	"@daily, @hourly. Day-of-month and day-of-week combine as in Vixie\n" \
	"cron: when neither begins with '*', a day matching either fires.\n" \
	"Times are wall-clock times of --tz (an IANA zone, default\n" \
	"Etc/UTC): a time a DST change skips fires at the gap's end, one\n" \
	"it repeats fires once, at its first occurrence.\n"

#define SCHED_JSON_HELP \
	"The cron job file (\"-\": standard input) is JSON:\n" \
	"  {\"name\": \"nightly-etl\", \"schedule\": \"0 2 * * *\",\n" \
	"   \"timezone\": \"Europe/Berlin\", \"jobDefinitionUUID\": \"etl\",\n" \
	"   \"clusterUUID\": \"etl-cluster\", \"maxConcurrentRuns\": 1,\n" \
	"   \"pauseClusterWhenFinished\": true,\n" \
	"   \"args\": {\"args\": \"--day today\"}, \"envVars\": {\"K\": \"v\"},\n" \
	"   \"misfirePolicy\": \"RUN_ONCE\", \"paused\": false,\n" \
	"   \"description\": \"...\"}\n" \
	"jobDefinitionUUID and clusterUUID take names too; instead of\n" \
	"clusterUUID, \"clusterConfig\" {\"instanceType\", \"workersQuantity\",\n" \
	"\"version\"} makes a new cluster for each run. Unknown keys are\n" \
	"errors. Options given override the file.\n"

#define COMMON_HELP \
	"  --cron EXPR             when it fires (below)\n" \
	"  --tz ZONE               its time zone (default Etc/UTC)\n" \
	"  --def DEF               the job definition (UUID or name)\n" \
	"  --cluster CLUSTER       the cluster its runs go to (UUID or\n" \
	"                          name); default: a new one per run\n" \
	"  --cluster-config FILE   that new cluster's configuration (JSON\n" \
	"                          as for jobdef create); default: the\n" \
	"                          definition's\n" \
	"  --args ARGS             replace the definition's args\n" \
	"  --env K=V               an environment variable (repeatable)\n" \
	"  --max-concurrent N      skip a fire while N of its runs have\n" \
	"                          not ended (default 1; 0: no limit)\n" \
	"  --misfire skip|run-once fires missed while batchd was down:\n" \
	"                          skipped (default), or one run for the\n" \
	"                          latest\n" \
	"  --pause-cluster-when-finished   pause --cluster when a run ends\n" \
	"  --description TEXT      what it is for\n"

static const struct cmd sched_cmds[] = {
	{ "create", sched_create, "schedule create [NAME] [--config FILE] "
	  "[--cron EXPR] [--tz ZONE] [--def DEF] [options]",
	  "Create a schedule and print it: batchd starts a run of the job\n"
	  "definition at every fire of the cron expression.\n"
	  "\n"
	  "  --config FILE           a cron job (JSON, below)\n"
	  COMMON_HELP
	  "  --paused                create it paused\n"
	  "\n" CRON_HELP "\n" SCHED_JSON_HELP },
	{ "get", sched_get, "schedule get UUID|NAME",
	  "Print a schedule: its next fire in local time and in its zone." },
	{ "list", sched_list, "schedule list",
	  "List the schedules of the workspace, by name; NEXT FIRE is in\n"
	  "your local time ($TZ)." },
	{ "update", sched_update, "schedule update UUID|NAME [options]",
	  "Change a schedule and print it. What is not given is kept; a new\n"
	  "--cron or --tz plans the next fire from now.\n"
	  "\n"
	  COMMON_HELP
	  "  --no-cluster            a new cluster per run again\n"
	  "  --no-cluster-config     the definition's cluster configuration\n"
	  "  --no-args               the definition's args again\n"
	  "  --no-env                no environment variables of its own\n"
	  "  --keep-cluster          do not pause the cluster when runs end\n"
	  "\n" CRON_HELP },
	{ "delete", sched_verb, "schedule delete UUID|NAME",
	  "Delete a schedule. The runs it started are kept." },
	{ "pause", sched_verb, "schedule pause UUID|NAME",
	  "Stop a schedule firing; runs already started go on." },
	{ "resume", sched_verb, "schedule resume UUID|NAME",
	  "Fire again from now on (fires missed while paused are not made\n"
	  "up)." },
	{ "trigger", sched_trigger, "schedule trigger UUID|NAME",
	  "Start one run now, outside the cron, also when paused, and print\n"
	  "it. It counts against the schedule's max concurrent runs." },
	{ "history", sched_history, "schedule history UUID|NAME",
	  "List the runs the schedule started, newest first." },
	{ NULL, NULL, NULL, NULL }
};

/* "batchctl schedule ...". */
int
schedule_main(const struct cmd *self, int argc, char **argv)
{
	return cmd_dispatch(self, sched_cmds, argc, argv);
}

/* schedule.get by uuid (if arg looks like one) or by name. */
static int
get(const char *arg, Batchd__V1__ScheduleReply **rep)
{
	return client_get("schedule.get",
	    &batchd__v1__get_schedule_request__descriptor, arg,
	    &batchd__v1__schedule_reply__descriptor, (void **)rep);
}

/* The uuid of the schedule named or identified by arg (owned). */
static int
resolve(const char *arg, char **uuid)
{
	return client_resolve("schedule.get",
	    &batchd__v1__get_schedule_request__descriptor, arg,
	    &batchd__v1__schedule_reply__descriptor, uuid);
}

/* Print the schedule of a reply and free the reply. */
static void
show_reply(Batchd__V1__ScheduleReply *rep)
{
	if (rep->schedule != NULL)
		show_schedule(rep->schedule);
	protobuf_c_message_free_unpacked(&rep->base, NULL);
}

/* Replace a malloc'ed string field with a copy of s. */
static void
set(char **dst, const char *s)
{
	if (*dst != NULL && *dst != protobuf_c_empty_string)
		free(*dst);
	*dst = xstrdup(s);
}

/* Add "K=V" to an env map of entry type d; 0 or EXIT_USAGE (said). */
static int
env_add(const struct cmd *self, const ProtobufCMessageDescriptor *d,
    void ***env, size_t *n, const char *kv)
{
	Batchd__V1__JobConfig__EnvEntry	*e;	/* all entries are alike */
	const char			*eq = strchr(kv, '=');

	if (eq == NULL || eq == kv)
		return usage_error(self, "--env: '%s' is not NAME=VALUE", kv);
	e = xmalloc(d->sizeof_message);
	protobuf_c_message_init(d, e);
	e->key = xstrndup(kv, (size_t)(eq - kv));
	e->value = xstrdup(eq + 1);
	*env = xreallocarray(*env, *n + 1, sizeof **env);
	(*env)[(*n)++] = e;
	return 0;
}

/* --misfire's value; 0, or EXIT_USAGE (said). */
static int
misfire(const struct cmd *self, const char *arg, Batchd__V1__MisfirePolicy *p)
{
	if (strcasecmp(arg, "skip") == 0)
		*p = BATCHD__V1__MISFIRE_POLICY__SKIP;
	else if (strcasecmp(arg, "run-once") == 0 ||
	    strcasecmp(arg, "run_once") == 0)
		*p = BATCHD__V1__MISFIRE_POLICY__RUN_ONCE;
	else
		return usage_error(self, "--misfire: '%s' is not skip or "
		    "run-once", arg);
	return 0;
}

/* Replace a definition or cluster reference (a name) by its uuid. */
static int
resolve_ref(char **ref, int (*fn)(const char *, char **))
{
	char	*uuid;
	int	 rc;

	if (*ref == NULL || **ref == '\0')
		return 0;
	if ((rc = fn(*ref, &uuid)) != 0)
		return rc;
	set(ref, uuid);
	free(uuid);
	return 0;
}

/* One option of create into m; 0 or an exit code. */
static int
create_opt(const struct cmd *self, ScheduleConf *m, int c, const char *arg)
{
	char	*cause;

	switch (c) {
	case O_CRON:
		set(&m->cron, arg);
		break;
	case O_TZ:
		set(&m->timezone, arg);
		break;
	case O_DEF:
		set(&m->job_definition_uuid, arg);
		break;
	case O_CLUSTER:
		set(&m->cluster_uuid, arg);
		break;
	case O_CLUSTER_CONFIG:
		if (m->cluster_config != NULL)
			protobuf_c_message_free_unpacked(
			    &m->cluster_config->base, NULL);
		if ((m->cluster_config = conf_cluster(arg, &cause)) == NULL) {
			fprintf(stderr, "batchctl: %s\n", cause);
			free(cause);
			return EXIT_USAGE;
		}
		break;
	case O_ARGS:
		set(&m->args, arg);
		m->args_opt_case = C_ARGS_SET;
		break;
	case O_ENV:
		return env_add(self,
		    &batchd__v1__create_schedule_request__env_entry__descriptor,
		    (void ***)&m->env, &m->n_env, arg);
	case O_MAX:
		m->max_concurrent_runs_opt_case = C_MAX_SET;
		return opt_uint(self, "--max-concurrent", arg,
		    &m->max_concurrent_runs);
	case O_MISFIRE:
		return misfire(self, arg, &m->misfire_policy);
	case O_PAUSE_CLUSTER:
		m->pause_cluster_when_finished = 1;
		break;
	case O_PAUSED:
		m->paused = 1;
		break;
	case O_DESCRIPTION:
		set(&m->description, arg);
		break;
	}
	return 0;
}

#define COMMON_OPTS \
	{ "cron", required_argument, NULL, O_CRON }, \
	{ "tz", required_argument, NULL, O_TZ }, \
	{ "def", required_argument, NULL, O_DEF }, \
	{ "cluster", required_argument, NULL, O_CLUSTER }, \
	{ "cluster-config", required_argument, NULL, O_CLUSTER_CONFIG }, \
	{ "args", required_argument, NULL, O_ARGS }, \
	{ "env", required_argument, NULL, O_ENV }, \
	{ "max-concurrent", required_argument, NULL, O_MAX }, \
	{ "misfire", required_argument, NULL, O_MISFIRE }, \
	{ "pause-cluster-when-finished", no_argument, NULL, \
	    O_PAUSE_CLUSTER }, \
	{ "description", required_argument, NULL, O_DESCRIPTION }

/* The cron job of --config (or an empty one); NULL after saying why. */
static ScheduleConf *
create_base(int argc, char **argv)
{
	ScheduleConf	*m;
	const char	*file = NULL;
	char		*cause;
	int		 i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			file = argv[i + 1];
			break;
		}
		if (strncmp(argv[i], "--config=", 9) == 0) {
			file = argv[i] + 9;
			break;
		}
	}
	if (file == NULL) {
		m = xmalloc(sizeof *m);
		batchd__v1__create_schedule_request__init(m);
		return m;
	}
	if ((m = conf_schedule(file, &cause)) == NULL) {
		fprintf(stderr, "batchctl: %s\n", cause);
		free(cause);
	}
	return m;
}

/* "schedule create [NAME] [--config FILE] [...]". */
static int
sched_create(const struct cmd *self, int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		COMMON_OPTS,
		{ "paused", no_argument, NULL, O_PAUSED },
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__ScheduleReply	*rep;
	ScheduleConf			*m;
	struct opts			 o;
	int				 c, rc = 0;

	/* The file first: the options override what it says. */
	if ((m = create_base(argc, argv)) == NULL)
		return EXIT_USAGE;
	opt_init(&o, self, argc, argv, "", longopts);
	while ((c = opt_next(&o)) != -1 && (rc = create_opt(self, m, c,
	    optarg)) == 0)
		;
	if (rc == 0 && (o.rc != -1 || opt_args(&o, 0, 1) == -1)) {
		rc = o.rc;	/* --help: 0 */
		goto out;
	}
	if (rc != 0)
		goto out;
	if (o.nargs == 1)
		set(&m->name, o.args[0]);
	if (*m->name == '\0' || *m->cron == '\0' ||
	    *m->job_definition_uuid == '\0') {
		rc = usage_error(self, "%s is required", *m->name == '\0' ?
		    "NAME" : *m->cron == '\0' ? "--cron" : "--def");
		goto out;
	}
	if ((rc = resolve_ref(&m->job_definition_uuid, jobdef_resolve)) ==
	    0 && (rc = resolve_ref(&m->cluster_uuid, cluster_resolve)) == 0 &&
	    (rc = client_call("schedule.create", m,
	    &batchd__v1__schedule_reply__descriptor, (void **)&rep)) == 0)
		show_reply(rep);
out:
	protobuf_c_message_free_unpacked(&m->base, NULL);
	return rc;
}

/* Parse a command that takes only UUID|NAME; resolve it into *uuid. */
static int
one(const struct cmd *self, int argc, char **argv, char **uuid)
{
	struct opts	o;

	*uuid = NULL;
	opt_init(&o, self, argc, argv, "", NULL);
	while (opt_next(&o) != -1)
		;
	if (o.rc != -1 || opt_args(&o, 1, 1) == -1)
		return o.rc;
	return resolve(o.args[0], uuid);
}

/* "schedule get UUID|NAME". */
static int
sched_get(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__ScheduleReply	*rep;
	struct opts			 o;
	int				 rc;

	opt_init(&o, self, argc, argv, "", NULL);
	while (opt_next(&o) != -1)
		;
	if (o.rc != -1 || opt_args(&o, 1, 1) == -1)
		return o.rc;
	if ((rc = get(o.args[0], &rep)) == 0)
		show_reply(rep);
	return rc;
}

/* "schedule list": every page. */
static int
sched_list(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__ListSchedulesRequest	req =
	    BATCHD__V1__LIST_SCHEDULES_REQUEST__INIT;
	struct pages				pg;
	struct opts				o;
	int					rc;

	opt_init(&o, self, argc, argv, "", NULL);
	while (opt_next(&o) != -1)
		;
	if (o.rc != -1 || opt_args(&o, 0, 0) == -1)
		return o.rc;
	if ((rc = client_list("schedule.list", &req.base,
	    &batchd__v1__list_schedules_reply__descriptor, "schedules", 0,
	    &pg)) == 0)
		show_schedules((Schedule **)pg.items, pg.n);
	pages_free(&pg);
	return rc;
}

/* One option of update into m; 0 or an exit code. */
static int
update_opt(const struct cmd *self, Batchd__V1__UpdateScheduleRequest *m,
    int c, const char *arg)
{
	char	*cause;

	switch (c) {
	case O_CRON:
		set(&m->cron, arg);
		break;
	case O_TZ:
		set(&m->timezone, arg);
		break;
	case O_DEF:
		set(&m->job_definition_uuid, arg);
		break;
	case O_CLUSTER:
	case O_NO_CLUSTER:
		set(&m->cluster_uuid, c == O_CLUSTER ? arg : "");
		m->cluster_uuid_opt_case = U_CLUSTER_SET;
		break;
	case O_CLUSTER_CONFIG:
		if (m->cluster_config != NULL)
			protobuf_c_message_free_unpacked(
			    &m->cluster_config->base, NULL);
		if ((m->cluster_config = conf_cluster(arg, &cause)) == NULL) {
			fprintf(stderr, "batchctl: %s\n", cause);
			free(cause);
			return EXIT_USAGE;
		}
		break;
	case O_NO_CLUSTER_CONFIG:
		m->clear_cluster_config = 1;
		break;
	case O_ARGS:
		set(&m->args, arg);
		m->args_opt_case = U_ARGS_SET;
		break;
	case O_NO_ARGS:
		m->clear_args = 1;
		break;
	case O_ENV:
		return env_add(self,
		    &batchd__v1__update_schedule_request__env_entry__descriptor,
		    (void ***)&m->env, &m->n_env, arg);
	case O_NO_ENV:
		m->clear_env = 1;
		break;
	case O_MAX:
		m->max_concurrent_runs_opt_case = U_MAX_SET;
		return opt_uint(self, "--max-concurrent", arg,
		    &m->max_concurrent_runs);
	case O_MISFIRE:
		return misfire(self, arg, &m->misfire_policy);
	case O_PAUSE_CLUSTER:
	case O_KEEP_CLUSTER:
		m->pause_cluster_when_finished = c == O_PAUSE_CLUSTER;
		m->pause_cluster_when_finished_opt_case = U_PAUSE_SET;
		break;
	case O_DESCRIPTION:
		set(&m->description, arg);
		m->description_opt_case = U_DESC_SET;
		break;
	}
	return 0;
}

/* "schedule update UUID|NAME [...]": only what is given changes. */
static int
sched_update(const struct cmd *self, int argc, char **argv)
{
	static const struct option		 longopts[] = {
		COMMON_OPTS,
		{ "no-cluster", no_argument, NULL, O_NO_CLUSTER },
		{ "no-cluster-config", no_argument, NULL,
		    O_NO_CLUSTER_CONFIG },
		{ "no-args", no_argument, NULL, O_NO_ARGS },
		{ "no-env", no_argument, NULL, O_NO_ENV },
		{ "keep-cluster", no_argument, NULL, O_KEEP_CLUSTER },
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__UpdateScheduleRequest	*m;
	Batchd__V1__ScheduleReply		*rep;
	struct opts				 o;
	int					 c, rc = 0;

	m = xmalloc(sizeof *m);
	batchd__v1__update_schedule_request__init(m);
	opt_init(&o, self, argc, argv, "", longopts);
	while ((c = opt_next(&o)) != -1 && (rc = update_opt(self, m, c,
	    optarg)) == 0)
		;
	if (rc == 0 && (o.rc != -1 || opt_args(&o, 1, 1) == -1)) {
		rc = o.rc;	/* --help: 0 */
		goto out;
	}
	if (rc != 0)
		goto out;
	if (protobuf_c_message_get_packed_size(&m->base) == 0) {
		rc = usage_error(self, "nothing to change");
		goto out;
	}
	if ((rc = resolve(o.args[0], &m->uuid)) == 0 &&
	    (rc = resolve_ref(&m->job_definition_uuid, jobdef_resolve)) ==
	    0 && (rc = resolve_ref(&m->cluster_uuid, cluster_resolve)) == 0 &&
	    (rc = client_call("schedule.update", m,
	    &batchd__v1__schedule_reply__descriptor, (void **)&rep)) == 0)
		show_reply(rep);
out:
	protobuf_c_message_free_unpacked(&m->base, NULL);
	return rc;
}

/* "schedule delete|pause|resume UUID|NAME". */
static int
sched_verb(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__GetScheduleRequest	 req =
	    BATCHD__V1__GET_SCHEDULE_REQUEST__INIT;
	Batchd__V1__ScheduleReply	*rep;
	char				*uuid, verb[32];
	int				 rc;

	if ((rc = one(self, argc, argv, &uuid)) != 0 || uuid == NULL)
		return rc;
	req.uuid = uuid;
	snprintf(verb, sizeof verb, "schedule.%s", self->name);
	if ((rc = client_call(verb, &req,
	    &batchd__v1__schedule_reply__descriptor, (void **)&rep)) == 0) {
		if (strcmp(self->name, "delete") == 0) {
			show_deleted("schedule", uuid);
			protobuf_c_message_free_unpacked(&rep->base, NULL);
		} else
			show_reply(rep);
	}
	free(uuid);
	return rc;
}

/* "schedule trigger UUID|NAME": the run it started. */
static int
sched_trigger(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__GetScheduleRequest	 req =
	    BATCHD__V1__GET_SCHEDULE_REQUEST__INIT;
	Batchd__V1__JobRunReply		*rep;
	char				*uuid;
	int				 rc;

	if ((rc = one(self, argc, argv, &uuid)) != 0 || uuid == NULL)
		return rc;
	req.uuid = uuid;
	if ((rc = client_call("schedule.trigger", &req,
	    &batchd__v1__job_run_reply__descriptor, (void **)&rep)) == 0) {
		show_run(rep->job_run);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	free(uuid);
	return rc;
}

/* "schedule history UUID|NAME": run.list of its runs. */
static int
sched_history(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__ListJobRunsRequest	req =
	    BATCHD__V1__LIST_JOB_RUNS_REQUEST__INIT;
	struct pages			pg;
	char				*uuid;
	int				rc;

	if ((rc = one(self, argc, argv, &uuid)) != 0 || uuid == NULL)
		return rc;
	req.schedule_uuid = uuid;
	if ((rc = client_list("run.list", &req.base,
	    &batchd__v1__list_job_runs_reply__descriptor, "job_runs", 0,
	    &pg)) == 0)
		show_runs((JobRun **)pg.items, pg.n);
	pages_free(&pg);
	free(uuid);
	return rc;
}
