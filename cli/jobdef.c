/*
 * jobdef.c: "batchctl jobdef ...": job definitions (jobdef.* verbs).
 */
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

#define DESC_SET	\
    BATCHD__V1__UPDATE_JOB_DEFINITION_REQUEST__DESCRIPTION_OPT_DESCRIPTION

enum {
	O_CONFIG = 256, O_CLUSTER_CONFIG, O_NO_CLUSTER_CONFIG, O_DESCRIPTION
};

static int	jobdef_create(const struct cmd *, int, char **);
static int	jobdef_get(const struct cmd *, int, char **);
static int	jobdef_list(const struct cmd *, int, char **);
static int	jobdef_update(const struct cmd *, int, char **);
static int	jobdef_delete(const struct cmd *, int, char **);

#define JOB_JSON_HELP \
	"The job configuration file (\"-\": standard input) is JSON:\n" \
	"  {\"source\": {\"type\": \"WORKSPACE\", \"definition\": " \
	"{\"path\": \"jobs\"}},\n" \
	"   \"type\": \"PYTHON\", \"sourceLocation\": \"etl.py\",\n" \
	"   \"args\": {\"args\": \"--day 2026-11-24\"},\n" \
	"   \"retryStrategy\": {\"numRetries\": 2, " \
	"\"delayBetweenRetries\": 1,\n" \
	"                     \"retryOnTimeout\": false},\n" \
	"   \"timeout\": 60, \"envVars\": {\"STAGE\": \"prod\"}}\n" \
	"A GIT source's definition has repoUrl, username, token and\n" \
	"reference; an S3 source's has bucketPath and region. \"args\" may\n" \
	"also be a string. \"timeout\" and \"delayBetweenRetries\" are in\n" \
	"minutes; \"timeoutSeconds\" and \"delayBetweenRetriesSeconds\" give\n" \
	"seconds instead. Unknown keys are errors.\n" \
	"The cluster configuration file is JSON:\n" \
	"  {\"instanceType\": \"m5.large\", \"workersQuantity\": 2, " \
	"\"version\": \"3.5\"}\n"

static const struct cmd jobdef_cmds[] = {
	{ "create", jobdef_create, "jobdef create NAME --config FILE | "
	  "--text FILE | --code CODE [--cluster-config FILE] "
	  "[--description TEXT] [policy options]",
	  "Create a job definition and print it.\n"
	  "\n"
	  "  --config FILE           the job configuration (JSON, below)\n"
	  "  --cluster-config FILE   a default cluster for runs submitted\n"
	  "                          without one (JSON, below)\n"
	  "  --description TEXT      what the job is for\n"
	  "\n"
	  "These set fields of the configuration (over --config's):\n"
	  POLICY_JOB_HELP
	  "\n" JOB_JSON_HELP },
	{ "get", jobdef_get, "jobdef get UUID|NAME",
	  "Print a job definition." },
	{ "list", jobdef_list, "jobdef list",
	  "List the job definitions of the workspace, by name." },
	{ "update", jobdef_update, "jobdef update UUID|NAME [--config FILE] "
	  "[--cluster-config FILE | --no-cluster-config] "
	  "[--description TEXT] [policy options]",
	  "Change a job definition and print it. What is not given is kept.\n"
	  "\n"
	  "  --config FILE           replace the job configuration\n"
	  "  --cluster-config FILE   replace the default cluster\n"
	  "  --no-cluster-config     remove the default cluster\n"
	  "  --description TEXT      replace the description\n"
	  "\n"
	  "The policy options of \"batchctl jobdef create --help\" change\n"
	  "those fields of the configuration (--config's, else the stored\n"
	  "one). The files are as for \"batchctl jobdef create --help\"." },
	{ "delete", jobdef_delete, "jobdef delete UUID|NAME",
	  "Delete a job definition. Its runs are kept." },
	{ NULL, NULL, NULL, NULL }
};

/* "batchctl jobdef ...". */
int
jobdef_main(const struct cmd *self, int argc, char **argv)
{
	return cmd_dispatch(self, jobdef_cmds, argc, argv);
}

/* Read --config into *cfg: 0 or EXIT_USAGE (said). */
static int
load_job(const char *file, JobConfig **cfg)
{
	char	*cause;

	if ((*cfg = conf_job(file, &cause)) == NULL) {
		fprintf(stderr, "batchctl: %s\n", cause);
		free(cause);
		return EXIT_USAGE;
	}
	return 0;
}

/* Read --cluster-config into *cc: 0 or EXIT_USAGE (said). */
static int
load_cluster(const char *file, ClusterConfig **cc)
{
	char	*cause;

	if ((*cc = conf_cluster(file, &cause)) == NULL) {
		fprintf(stderr, "batchctl: %s\n", cause);
		free(cause);
		return EXIT_USAGE;
	}
	return 0;
}

/* jobdef.get by uuid or name (client_get()). */
static int
get(const char *arg, Batchd__V1__JobDefinitionReply **rep)
{
	return client_get("jobdef.get",
	    &batchd__v1__get_job_definition_request__descriptor, arg,
	    &batchd__v1__job_definition_reply__descriptor, (void **)rep);
}

/* The uuid of the definition named or identified by arg (owned). */
int
jobdef_resolve(const char *arg, char **uuid)
{
	return client_resolve("jobdef.get",
	    &batchd__v1__get_job_definition_request__descriptor, arg,
	    &batchd__v1__job_definition_reply__descriptor, uuid);
}

/* Print the definition of a reply and free the reply. */
static void
show_reply(Batchd__V1__JobDefinitionReply *rep)
{
	if (rep->job_definition != NULL)
		show_jobdef(rep->job_definition);
	protobuf_c_message_free_unpacked(&rep->base, NULL);
}

/* "jobdef create NAME --config FILE [--cluster-config FILE] ...". */
static int
jobdef_create(const struct cmd *self, int argc, char **argv)
{
	static const struct option		 longopts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "cluster-config", required_argument, NULL,
		    O_CLUSTER_CONFIG },
		{ "description", required_argument, NULL, O_DESCRIPTION },
		POLICY_JOB_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__CreateJobDefinitionRequest	 req =
	    BATCHD__V1__CREATE_JOB_DEFINITION_REQUEST__INIT;
	Batchd__V1__JobDefinitionReply		*rep;
	struct opts				 o;
	struct policy				 p;
	const char				*config = NULL, *cluster = NULL;
	int					 c, rc = 0;

	memset(&p, 0, sizeof p);
	opt_init(&o, self, argc, argv, "", longopts);
	while (rc == 0 && (c = opt_next(&o)) != -1) {
		switch (c) {
		case O_CONFIG:
			config = optarg;
			break;
		case O_CLUSTER_CONFIG:
			cluster = optarg;
			break;
		case O_DESCRIPTION:
			req.description = optarg;
			break;
		default:
			if ((rc = policy_opt(self, &p, c, optarg)) == -1)
				rc = 0;
			break;
		}
	}
	if (rc != 0 || o.rc != -1 || opt_args(&o, 1, 1) == -1) {
		policy_free(&p);
		return rc != 0 ? rc : o.rc;
	}
	if (config == NULL && p.text == NULL) {
		policy_free(&p);
		return usage_error(self, "--config, --text or --code is "
		    "required");
	}
	req.name = o.args[0];
	if (config != NULL && (rc = load_job(config, &req.config)) != 0)
		goto out;
	if (policy_any(&p))
		policy_job(&p, &req.config);
	if (cluster != NULL &&
	    (rc = load_cluster(cluster, &req.cluster_config)) != 0)
		goto out;
	if ((rc = client_call("jobdef.create", &req,
	    &batchd__v1__job_definition_reply__descriptor,
	    (void **)&rep)) == 0)
		show_reply(rep);
out:
	policy_free(&p);
	if (req.config != NULL)
		protobuf_c_message_free_unpacked(&req.config->base, NULL);
	if (req.cluster_config != NULL)
		protobuf_c_message_free_unpacked(&req.cluster_config->base,
		    NULL);
	return rc;
}

/*
 * The stored configuration of definition arg, for the policy options of
 * an update given without --config (secrets come back masked, which
 * batchd takes as "keep"). 0 with *cfg, or an exit code.
 */
static int
stored_config(const char *arg, JobConfig **cfg)
{
	Batchd__V1__JobDefinitionReply	*rep;
	int				 rc;

	if ((rc = get(arg, &rep)) != 0)
		return rc;
	if (rep->job_definition != NULL) {
		*cfg = rep->job_definition->config;
		rep->job_definition->config = NULL;
	}
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	return 0;
}

/* "jobdef get UUID|NAME". */
static int
jobdef_get(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__JobDefinitionReply	*rep;
	struct opts			 o;
	int				 rc;

	if (opt_plain(&o, self, argc, argv, 1, 1) != -1)
		return o.rc;
	if ((rc = get(o.args[0], &rep)) == 0)
		show_reply(rep);
	return rc;
}

/* "jobdef list": every page. */
static int
jobdef_list(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__ListJobDefinitionsRequest	 req =
	    BATCHD__V1__LIST_JOB_DEFINITIONS_REQUEST__INIT;
	struct pages				 pg;
	struct opts				 o;
	int					 rc;

	if (opt_plain(&o, self, argc, argv, 0, 0) != -1)
		return o.rc;
	if ((rc = client_list("jobdef.list", &req.base,
	    &batchd__v1__list_job_definitions_reply__descriptor,
	    "job_definitions", 0, &pg)) == 0)
		show_jobdefs((JobDef **)pg.items, pg.n);
	pages_free(&pg);
	return rc;
}

/* "jobdef update UUID|NAME [...]": only what is given changes. */
static int
jobdef_update(const struct cmd *self, int argc, char **argv)
{
	static const struct option		 longopts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "cluster-config", required_argument, NULL,
		    O_CLUSTER_CONFIG },
		{ "no-cluster-config", no_argument, NULL,
		    O_NO_CLUSTER_CONFIG },
		{ "description", required_argument, NULL, O_DESCRIPTION },
		POLICY_JOB_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__UpdateJobDefinitionRequest	 req =
	    BATCHD__V1__UPDATE_JOB_DEFINITION_REQUEST__INIT;
	Batchd__V1__JobDefinitionReply		*rep;
	struct opts				 o;
	struct policy				 p;
	const char				*config = NULL, *cluster = NULL;
	char					*uuid = NULL;
	int					 c, rc = 0;

	memset(&p, 0, sizeof p);
	opt_init(&o, self, argc, argv, "", longopts);
	while (rc == 0 && (c = opt_next(&o)) != -1) {
		switch (c) {
		case O_CONFIG:
			config = optarg;
			break;
		case O_CLUSTER_CONFIG:
			cluster = optarg;
			break;
		case O_NO_CLUSTER_CONFIG:
			req.clear_cluster_config = 1;
			break;
		case O_DESCRIPTION:
			req.description = optarg;
			req.description_opt_case = DESC_SET;
			break;
		default:
			if ((rc = policy_opt(self, &p, c, optarg)) == -1)
				rc = 0;
			break;
		}
	}
	if (rc == 0 && (o.rc != -1 || opt_args(&o, 1, 1) == -1)) {
		policy_free(&p);
		return o.rc;
	}
	if (rc == 0 && cluster != NULL && req.clear_cluster_config)
		rc = usage_error(self, "--cluster-config and "
		    "--no-cluster-config exclude each other");
	else if (rc == 0 && config == NULL && cluster == NULL &&
	    !req.clear_cluster_config && req.description_opt_case == 0 &&
	    !policy_any(&p))
		rc = usage_error(self, "nothing to change");
	if (rc != 0)
		goto out;
	if (config != NULL && (rc = load_job(config, &req.config)) != 0)
		goto out;
	if (config == NULL && policy_any(&p) &&
	    (rc = stored_config(o.args[0], &req.config)) != 0)
		goto out;
	if (policy_any(&p))
		policy_job(&p, &req.config);
	if (cluster != NULL &&
	    (rc = load_cluster(cluster, &req.cluster_config)) != 0)
		goto out;
	if ((rc = jobdef_resolve(o.args[0], &uuid)) != 0)
		goto out;
	req.uuid = uuid;
	if ((rc = client_call("jobdef.update", &req,
	    &batchd__v1__job_definition_reply__descriptor,
	    (void **)&rep)) == 0)
		show_reply(rep);
out:
	policy_free(&p);
	free(uuid);
	if (req.config != NULL)
		protobuf_c_message_free_unpacked(&req.config->base, NULL);
	if (req.cluster_config != NULL)
		protobuf_c_message_free_unpacked(&req.cluster_config->base,
		    NULL);
	return rc;
}

/* "jobdef delete UUID|NAME". */
static int
jobdef_delete(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__DeleteJobDefinitionRequest	 req =
	    BATCHD__V1__DELETE_JOB_DEFINITION_REQUEST__INIT;
	Batchd__V1__DeleteReply			*rep;
	struct opts				 o;
	char					*uuid = NULL;
	int					 rc;

	if (opt_plain(&o, self, argc, argv, 1, 1) != -1)
		return o.rc;
	if ((rc = jobdef_resolve(o.args[0], &uuid)) != 0)
		return rc;
	req.uuid = uuid;
	if ((rc = client_call("jobdef.delete", &req,
	    &batchd__v1__delete_reply__descriptor, (void **)&rep)) == 0) {
		show_deleted("job definition", uuid);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	free(uuid);
	return rc;
}
