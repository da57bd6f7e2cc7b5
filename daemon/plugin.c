/*
 * plugin.c: the plugins named in the configuration (key "plugins"), checked
 * at start: each {plugin_dir}/{name}.so must load and export a
 * batchd_plugin of ABI BATCHD_PLUGIN_ABI whose name is the configured one.
 * batchd itself calls no plugin; it hands their paths to each attempt's
 * supervisor (exec.c, shim.c), which loads and calls them.
 *
 * Which plugin serves a job: the source plugin of its source type, the
 * runner of its job type, and the backend of its cluster's instance type
 * ("[instance.TYPE] backend = NAME"), else the "backend" key.
 */
#include <sys/stat.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchd.h"
#include "plugin.h"
#include "../lib/dlplugin.h"

#define MAX_PLUGINS	64

static struct plugin_ent {
	char	*name;
	char	*path;
	int	 kind;
	int	 handles;
} ents[MAX_PLUGINS];
static size_t	nents;
static char	*dir;

static const char *
kind_name(int k)
{
	return k == BATCHD_PLUGIN_SOURCE ? "source" :
	    k == BATCHD_PLUGIN_RUNNER ? "runner" :
	    k == BATCHD_PLUGIN_BACKEND ? "backend" : "unknown";
}

/* The default plugin directory: beside the binary, or ../lib/batchd. */
static char *
default_dir(void)
{
	char		 self[PATH_MAX], *slash, *d;
	struct stat	 st;
	ssize_t		 n;

	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		return xstrdup("/usr/local/lib/batchd/plugins");
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	xasprintf(&d, "%s/plugins", self);
	if (stat(d, &st) == 0)
		return d;
	free(d);
	xasprintf(&d, "%s/../lib/batchd/plugins", self);
	return d;
}

/* Load one plugin to check it; 0 or -1 with *cause. */
static int
check_one(const char *name, char **cause)
{
	const struct batchd_plugin	*p;
	struct plugin_ent		*e;
	char				*path, err[PATH_MAX + 128];
	void				*h;

	if (nents == MAX_PLUGINS) {
		xasprintf(cause, "more than %d plugins", MAX_PLUGINS);
		return -1;
	}
	xasprintf(&path, "%s/%s.so", dir, name);
	if ((p = dlplugin_open(path, &h, err, sizeof err)) == NULL) {
		xasprintf(cause, "plugin '%s': %s", name, err);
		free(path);
		return -1;
	}
	if (p->name == NULL || strcmp(p->name, name) != 0) {
		xasprintf(cause, "plugin '%s': %s calls itself '%s'", name,
		    path, p->name == NULL ? "" : p->name);
		goto fail;
	}
	if (p->kind < BATCHD_PLUGIN_SOURCE || p->kind > BATCHD_PLUGIN_BACKEND) {
		xasprintf(cause, "plugin '%s': unknown kind %d", name, p->kind);
		goto fail;
	}
	e = &ents[nents++];
	e->name = xstrdup(name);
	e->path = path;
	e->kind = p->kind;
	e->handles = p->handles;
	log_info("plugin %s kind=%s handles=%d path=%s", name,
	    kind_name(p->kind), p->handles, path);
	dlclose(h);
	return 0;
fail:
	dlclose(h);
	free(path);
	return -1;
}

static const struct plugin_ent *
find(int kind, int handles, const char *name)
{
	size_t	i;

	for (i = 0; i < nents; i++)
		if (ents[i].kind == kind && (name != NULL ?
		    strcmp(ents[i].name, name) == 0 : ents[i].handles ==
		    handles))
			return &ents[i];
	return NULL;
}

/* Load and check every configured plugin; 0, or -1 with *cause. */
int
plugin_init(char **cause)
{
	char	*list, *p, *name;
	size_t	 i;

	dir = cfg->plugin_dir != NULL ? xstrdup(cfg->plugin_dir) :
	    default_dir();
	list = xstrdup(cfg->plugins);
	for (p = list; (name = strsep(&p, ", ")) != NULL;) {
		if (*name == '\0')
			continue;
		if (check_one(name, cause) == -1) {
			free(list);
			return -1;
		}
	}
	free(list);
	if (find(BATCHD_PLUGIN_BACKEND, 0, cfg->backend) == NULL) {
		xasprintf(cause, "backend '%s' is not among the plugins",
		    cfg->backend);
		return -1;
	}
	for (i = 0; i < cfg->sections.n; i++) {
		const char *k = cfg->sections.v[i].key;

		if (strncmp(k, "instance.", 9) == 0 &&
		    strcmp(k + strlen(k) - 8, ".backend") == 0 &&
		    find(BATCHD_PLUGIN_BACKEND, 0,
		    cfg->sections.v[i].value) == NULL) {
			xasprintf(cause, "[%.*s] backend '%s' is not among the "
			    "plugins", (int)(strlen(k) - 8), k,
			    cfg->sections.v[i].value);
			return -1;
		}
	}
	return 0;
}

void
plugin_free(void)
{
	size_t	i;

	for (i = 0; i < nents; i++) {
		free(ents[i].name);
		free(ents[i].path);
	}
	nents = 0;
	free(dir);
	dir = NULL;
}

/* Path of the source plugin of a source type, or NULL. */
const char *
plugin_source(int type)
{
	const struct plugin_ent	*e = find(BATCHD_PLUGIN_SOURCE, type, NULL);

	return e != NULL ? e->path : NULL;
}

/* Path of the runner of a job type, or NULL. */
const char *
plugin_runner(int type)
{
	const struct plugin_ent	*e = find(BATCHD_PLUGIN_RUNNER, type, NULL);

	return e != NULL ? e->path : NULL;
}

/* The backend serving clusters of an instance type: name and path. */
const char *
plugin_backend(const char *instance_type, const char **name)
{
	const struct plugin_ent	*e;
	const char		*b = NULL;
	char			*key;

	if (instance_type != NULL) {
		xasprintf(&key, "instance.%s.backend", instance_type);
		b = kvlist_get(&cfg->sections, key);
		free(key);
	}
	if (b == NULL)
		b = cfg->backend;
	e = find(BATCHD_PLUGIN_BACKEND, 0, b);
	if (name != NULL)
		*name = b;
	return e != NULL ? e->path : NULL;
}

/* The name of the plugin at path (for its settings). */
const char *
plugin_name(const char *path)
{
	size_t	i;

	for (i = 0; i < nents; i++)
		if (strcmp(ents[i].path, path) == 0)
			return ents[i].name;
	return NULL;
}
