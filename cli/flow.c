/*
 * flow.c: workflows in batchctl: "run submit --after RUN[:COND]" (its
 * parser), "run submit-batch FILE.json" (a pipeline whose items name each
 * other) and "run rerun RUN [--repair]". The run.submit_batch request is
 * made from the file, its items' "after" names turned into indexes of
 * earlier items; batchd makes all the runs or none.
 *
 * A pipeline file:
 *   {"runs": [{"name": "extract", "jobdef": "etl", "cluster": "main",
 *              "args": "--day 1", "env": {"K": "V"},
 *              "idempotencyKey": "...", "after": ["NAME or RUN[:COND]"]},
 *             ...]}
 * (or the array alone). COND: succeeded (the default), failed, ended.
 */
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

typedef Batchd__V1__Dependency		Dependency;
typedef Batchd__V1__SubmitJobRunRequest	SubmitReq;

/* The condition named by s (NULL or "": the default); -1 if none. */
static int
cond_parse(const char *s)
{
	if (s == NULL || *s == '\0' || strcmp(s, "succeeded") == 0)
		return BATCHD__V1__DEPENDENCY_CONDITION__AFTER_SUCCEEDED;
	if (strcmp(s, "failed") == 0)
		return BATCHD__V1__DEPENDENCY_CONDITION__AFTER_FAILED;
	if (strcmp(s, "ended") == 0)
		return BATCHD__V1__DEPENDENCY_CONDITION__AFTER_ENDED;
	return -1;
}

/*
 * "TARGET[:COND]" into a new Dependency: TARGET the name of an earlier
 * item of names (n of them: an index) or a run's UUID. NULL with *cause.
 */
static Dependency *
dep_parse(const char *spec, char *const *names, size_t n, char **cause)
{
	Dependency	*d;
	char		*t = xstrdup(spec), *c;
	size_t		 i;
	int		 cond;

	if ((c = strrchr(t, ':')) != NULL)
		*c++ = '\0';
	if ((cond = cond_parse(c)) == -1) {
		xasprintf(cause, "'%s': the condition is not succeeded, failed "
		    "or ended", spec);
		free(t);
		return NULL;
	}
	d = xcalloc(1, sizeof *d);
	batchd__v1__dependency__init(d);
	d->condition = cond;
	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], t) == 0)
			break;
	if (i < n) {
		d->target_case = BATCHD__V1__DEPENDENCY__TARGET_INDEX;
		d->index = (uint32_t)i;
		free(t);
	} else if (uuid_like(t)) {
		d->target_case = BATCHD__V1__DEPENDENCY__TARGET_RUN_UUID;
		d->run_uuid = uuid_lower(t);
		free(t);
	} else {
		xasprintf(cause, "'%s' is no earlier item's name and no run's "
		    "UUID", spec);
		free(t);
		free(d);
		return NULL;
	}
	return d;
}

/* "run submit --after RUN[:COND]": add it to req; 0 or an exit code. */
int
flow_after(const struct cmd *self, SubmitReq *req, const char *spec)
{
	Dependency	*d;
	char		*cause;

	if ((d = dep_parse(spec, NULL, 0, &cause)) == NULL) {
		usage_error(self, "--after %s", cause);
		free(cause);
		return EXIT_USAGE;
	}
	req->depends_on = xreallocarray(req->depends_on, req->n_depends_on + 1,
	    sizeof *req->depends_on);
	req->depends_on[req->n_depends_on++] = d;
	return 0;
}

/* Free what flow_after() and the pipeline reader added to req. */
void
flow_free_deps(SubmitReq *req)
{
	size_t	i;

	for (i = 0; i < req->n_depends_on; i++) {
		if (req->depends_on[i]->target_case ==
		    BATCHD__V1__DEPENDENCY__TARGET_RUN_UUID)
			free(req->depends_on[i]->run_uuid);
		free(req->depends_on[i]);
	}
	free(req->depends_on);
	req->depends_on = NULL;
	req->n_depends_on = 0;
}

/* ------------------------------------------------------------ pipelines */

/* A string member of item, or NULL; -1 with *cause if not a string. */
static int
member(json_t *item, const char *key, size_t i, const char **out,
    char **cause)
{
	json_t	*v = json_object_get(item, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v)) {
		xasprintf(cause, "runs[%zu].%s is not a string", i, key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* Item i's env and after into r (names: the items' names so far). */
static int
item_lists(json_t *item, size_t i, SubmitReq *r, char *const *names,
    char **cause)
{
	json_t		*env = json_object_get(item, "env");
	json_t		*after = json_object_get(item, "after"), *v;
	const char	*k;
	char		*why;
	size_t		 j;

	if (env != NULL && !json_is_object(env))
		return xasprintf(cause, "runs[%zu].env is not an object", i), -1;
	json_object_foreach(env, k, v) {
		Batchd__V1__SubmitJobRunRequest__EnvEntry *e;

		if (!json_is_string(v))
			return xasprintf(cause, "runs[%zu].env.%s is not a "
			    "string", i, k), -1;
		e = xcalloc(1, sizeof *e);
		batchd__v1__submit_job_run_request__env_entry__init(e);
		e->key = xstrdup(k);
		e->value = xstrdup(json_string_value(v));
		r->env = xreallocarray(r->env, r->n_env + 1, sizeof *r->env);
		r->env[r->n_env++] = e;
	}
	if (after != NULL && !json_is_array(after))
		return xasprintf(cause, "runs[%zu].after is not an array", i),
		    -1;
	json_array_foreach(after, j, v) {
		Dependency	*d;

		if (!json_is_string(v) || (d = dep_parse(json_string_value(v),
		    names, i, &why)) == NULL) {
			if (!json_is_string(v))
				xasprintf(cause, "runs[%zu].after[%zu] is not "
				    "a string", i, j);
			else {
				xasprintf(cause, "runs[%zu].after[%zu]: %s", i,
				    j, why);
				free(why);
			}
			return -1;
		}
		r->depends_on = xreallocarray(r->depends_on,
		    r->n_depends_on + 1, sizeof *r->depends_on);
		r->depends_on[r->n_depends_on++] = d;
	}
	return 0;
}

/* Item i of a pipeline into r; its name into *name. 0 or an exit code. */
static int
item_read(json_t *item, size_t i, SubmitReq *r, char **names, char **cause)
{
	const char	*name, *def, *cluster, *args, *idem;
	char		*uuid;
	int		 rc;

	if (!json_is_object(item)) {
		xasprintf(cause, "runs[%zu] is not an object", i);
		return EXIT_USAGE;
	}
	if (member(item, "name", i, &name, cause) == -1 ||
	    member(item, "jobdef", i, &def, cause) == -1 ||
	    member(item, "cluster", i, &cluster, cause) == -1 ||
	    member(item, "args", i, &args, cause) == -1 ||
	    member(item, "idempotencyKey", i, &idem, cause) == -1 ||
	    item_lists(item, i, r, names, cause) == -1)
		return EXIT_USAGE;
	names[i] = name != NULL ? xstrdup(name) : NULL;
	if (def == NULL) {
		xasprintf(cause, "runs[%zu].jobdef is required", i);
		return EXIT_USAGE;
	}
	if ((rc = jobdef_resolve(def, &uuid)) != 0)
		return rc;
	r->job_definition_uuid = uuid;
	r->cluster_uuid = "";
	if (cluster != NULL && (rc = cluster_resolve(cluster,
	    &r->cluster_uuid)) != 0)
		return rc;
	if (args != NULL) {
		r->args_opt_case = BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__ARGS_OPT_ARGS;
		r->args = xstrdup(args);
	}
	r->idempotency_key = xstrdup(idem != NULL ? idem : "");
	return 0;
}

/* Free a request read by item_read(). */
static void
item_free(SubmitReq *r)
{
	size_t	i;

	flow_free_deps(r);
	for (i = 0; i < r->n_env; i++) {
		free(r->env[i]->key);
		free(r->env[i]->value);
		free(r->env[i]);
	}
	free(r->env);
	if (*r->job_definition_uuid != '\0')
		free(r->job_definition_uuid);
	if (*r->cluster_uuid != '\0')
		free(r->cluster_uuid);
	if (r->args_opt_case != 0)
		free(r->args);
	if (r->idempotency_key != protobuf_c_empty_string)
		free(r->idempotency_key);
	free(r);
}

/* The pipeline in path into req; 0 or an exit code (said). */
static int
pipeline_read(const char *path, Batchd__V1__SubmitJobRunsRequest *req)
{
	json_t		*root, *runs, *item;
	json_error_t	 je;
	char		**names, *cause = NULL;
	size_t		 i, n;
	int		 rc = 0;

	if ((root = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL) {
		fprintf(stderr, "batchctl: %s:%d: %s\n", path, je.line, je.text);
		return EXIT_USAGE;
	}
	runs = json_is_array(root) ? root : json_object_get(root, "runs");
	if (!json_is_array(runs) || (n = json_array_size(runs)) == 0) {
		fprintf(stderr, "batchctl: %s: no \"runs\" array of items\n",
		    path);
		json_decref(root);
		return EXIT_USAGE;
	}
	names = xcalloc(n, sizeof *names);
	req->runs = xcalloc(n, sizeof *req->runs);
	json_array_foreach(runs, i, item) {
		req->runs[i] = xcalloc(1, sizeof *req->runs[i]);
		batchd__v1__submit_job_run_request__init(req->runs[i]);
		req->n_runs = i + 1;
		if ((rc = item_read(item, i, req->runs[i], names, &cause)) != 0)
			break;
	}
	if (cause != NULL) {
		fprintf(stderr, "batchctl: %s: %s\n", path, cause);
		free(cause);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	json_decref(root);
	return rc;
}

/* The runs of a SubmitJobRunsReply, printed. */
static int
made(const char *verb, void *req)
{
	Batchd__V1__SubmitJobRunsReply	*rep;
	int				 rc;

	if ((rc = client_call(verb, req,
	    &batchd__v1__submit_job_runs_reply__descriptor,
	    (void **)&rep)) == 0) {
		show_runs(rep->job_runs, rep->n_job_runs);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	return rc;
}

/* "run submit-batch FILE.json": run.submit_batch. */
int
flow_submit_batch(const struct cmd *self, int argc, char **argv)
{
	Batchd__V1__SubmitJobRunsRequest	req =
	    BATCHD__V1__SUBMIT_JOB_RUNS_REQUEST__INIT;
	struct opts				o;
	size_t					i;
	int					rc;

	if ((rc = opt_plain(&o, self, argc, argv, 1, 1)) != -1)
		return rc;
	if ((rc = pipeline_read(o.args[0], &req)) == 0)
		rc = made("run.submit_batch", &req);
	for (i = 0; i < req.n_runs; i++)
		item_free(req.runs[i]);
	free(req.runs);
	return rc;
}

/* "run rerun RUN [--repair]": run.rerun. */
int
flow_rerun(const struct cmd *self, int argc, char **argv)
{
	static const struct option	longopts[] = {
		{ "repair", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	Batchd__V1__RerunJobRunRequest	req =
	    BATCHD__V1__RERUN_JOB_RUN_REQUEST__INIT;
	struct opts			o;
	int				c, rc;

	opt_init(&o, self, argc, argv, "", longopts);
	while ((c = opt_next(&o)) != -1)
		if (c == 'r')
			req.repair_downstream = 1;
	if (o.rc != -1 || opt_args(&o, 1, 1) == -1)
		return o.rc;
	req.uuid = uuid_lower(o.args[0]);
	rc = made("run.rerun", &req);
	free(req.uuid);
	return rc;
}
