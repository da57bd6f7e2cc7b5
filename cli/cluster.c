/*
 * cluster.c: "batchctl cluster ...": clusters (cluster.* verbs).
 */
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

#define AUTO_RESUME_SET	\
    BATCHD__V1__CREATE_CLUSTER_REQUEST__AUTO_RESUME_OPT_AUTO_RESUME

enum { O_CONFIG = 256, O_NO_AUTO_RESUME };

static int	cluster_create(const struct cmd *, int, char **);
static int	cluster_get(const struct cmd *, int, char **);
static int	cluster_list(const struct cmd *, int, char **);
static int	cluster_verb(const struct cmd *, int, char **);
static int	cluster_delete(const struct cmd *, int, char **);

static const struct cmd cluster_cmds[] = {
	{ "create", cluster_create, "cluster create NAME --config FILE "
	  "[--no-auto-resume]",
	  "Create a cluster and print it.\n"
	  "\n"
	  "  --config FILE        the cluster configuration, JSON:\n"
	  "                       {\"instanceType\": \"m5.large\", "
	  "\"workersQuantity\": 2,\n"
	  "                        \"version\": \"3.5\"}\n"
	  "  --no-auto-resume     a run submitted while the cluster is paused\n"
	  "                       is refused (CLUSTER_PAUSED) instead of\n"
	  "                       resuming it" },
	{ "get", cluster_get, "cluster get UUID|NAME",
	  "Print a cluster." },
	{ "list", cluster_list, "cluster list",
	  "List the clusters of the workspace, by name." },
	{ "pause", cluster_verb, "cluster pause UUID|NAME",
	  "Pause a cluster: queued runs wait; the running one goes on." },
	{ "resume", cluster_verb, "cluster resume UUID|NAME",
	  "Resume a paused cluster." },
	{ "delete", cluster_delete, "cluster delete UUID|NAME",
	  "Delete a cluster that has no runs queued or running." },
	{ NULL, NULL, NULL, NULL }
};

/* "batchctl cluster ...". */
int
cluster_main(const struct cmd *self, int argc, char **argv)
{
	return cmd_dispatch(self, cluster_cmds, argc, argv);
}

/* cluster.get by uuid or name (client_get()). */
static int
get(const char *arg, Batchd__V1__ClusterReply **rep)
{
	return client_get("cluster.get",
	    &batchd__v1__get_cluster_request__descriptor, arg,
	    &batchd__v1__cluster_reply__descriptor, (void **)rep);
}

/* The uuid of the cluster named or identified by arg (owned). */
int
cluster_resolve(const char *arg, char **uuid)
{
	return client_resolve("cluster.get",
	    &batchd__v1__get_cluster_request__descriptor, arg,
	    &batchd__v1__cluster_reply__descriptor, uuid);
}

/* Print the cluster of a reply and free the reply. */
static void
show_reply(Batchd__V1__ClusterReply *rep)
{
	if (rep->cluster != NULL)
		show_cluster(rep->cluster);
	protobuf_c_message_free_unpacked(&rep->base, NULL);
}

/* Parse a command that takes only UUID|NAME; resolve it into *uuid. */
static int
one_cluster(const struct cmd *self, int argc, char **argv, char **uuid)
{
	struct opts	o;

	*uuid = NULL;
	if (opt_plain(&o, self, argc, argv, 1, 1) != -1)
		return o.rc;
	return cluster_resolve(o.args[0], uuid);
}

/* "cluster create NAME --config FILE [--no-auto-resume]". */
static int
cluster_create(const struct cmd *self, int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "no-auto-resume", no_argument, NULL, O_NO_AUTO_RESUME },
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__CreateClusterRequest req =
	    BATCHD__V1__CREATE_CLUSTER_REQUEST__INIT;
	Batchd__V1__ClusterReply	*rep;
	struct opts			 o;
	const char			*config = NULL;
	char				*cause;
	int				 c, rc;

	opt_init(&o, self, argc, argv, "", longopts);
	while ((c = opt_next(&o)) != -1) {
		switch (c) {
		case O_CONFIG:
			config = optarg;
			break;
		case O_NO_AUTO_RESUME:
			req.auto_resume_opt_case = AUTO_RESUME_SET;
			req.auto_resume = 0;
			break;
		}
	}
	if (o.rc != -1 || opt_args(&o, 1, 1) == -1)
		return o.rc;
	if (config == NULL)
		return usage_error(self, "--config is required");
	req.name = o.args[0];
	if ((req.config = conf_cluster(config, &cause)) == NULL) {
		fprintf(stderr, "batchctl: %s\n", cause);
		free(cause);
		return EXIT_USAGE;
	}
	if ((rc = client_call("cluster.create", &req,
	    &batchd__v1__cluster_reply__descriptor, (void **)&rep)) == 0)
		show_reply(rep);
	protobuf_c_message_free_unpacked(&req.config->base, NULL);
	return rc;
}

/* "cluster get UUID|NAME". */
static int
cluster_get(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__ClusterReply	*rep;
	struct opts			 o;
	int				 rc;

	if (opt_plain(&o, self, argc, argv, 1, 1) != -1)
		return o.rc;
	if ((rc = get(o.args[0], &rep)) == 0)
		show_reply(rep);
	return rc;
}

/* "cluster list": every page. */
static int
cluster_list(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__ListClustersRequest	 req =
	    BATCHD__V1__LIST_CLUSTERS_REQUEST__INIT;
	struct pages			 pg;
	struct opts			 o;
	int				 rc;

	if (opt_plain(&o, self, argc, argv, 0, 0) != -1)
		return o.rc;
	if ((rc = client_list("cluster.list", &req.base,
	    &batchd__v1__list_clusters_reply__descriptor, "clusters", 0,
	    &pg)) == 0)
		show_clusters((Cluster **)pg.items, pg.n);
	pages_free(&pg);
	return rc;
}

/* "cluster pause" and "cluster resume": the verb is the command's name. */
static int
cluster_verb(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__GetClusterRequest	 req =
	    BATCHD__V1__GET_CLUSTER_REQUEST__INIT;
	Batchd__V1__ClusterReply	*rep;
	char				*uuid, *verb;
	int				 rc;

	if ((rc = one_cluster(self, argc, argv, &uuid)) != 0 || uuid == NULL)
		return rc;
	req.uuid = uuid;
	xasprintf(&verb, "cluster.%s", self->name);
	if ((rc = client_call(verb, &req,
	    &batchd__v1__cluster_reply__descriptor, (void **)&rep)) == 0)
		show_reply(rep);
	free(verb);
	free(uuid);
	return rc;
}

/* "cluster delete UUID|NAME". */
static int
cluster_delete(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__GetClusterRequest	 req =
	    BATCHD__V1__GET_CLUSTER_REQUEST__INIT;
	Batchd__V1__DeleteReply		*rep;
	char				*uuid;
	int				 rc;

	if ((rc = one_cluster(self, argc, argv, &uuid)) != 0 || uuid == NULL)
		return rc;
	req.uuid = uuid;
	if ((rc = client_call("cluster.delete", &req,
	    &batchd__v1__delete_reply__descriptor, (void **)&rep)) == 0) {
		show_deleted("cluster", uuid);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	free(uuid);
	return rc;
}
