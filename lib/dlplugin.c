/*
 * dlplugin.c: the one plugin loader, compiled into batchd (which checks
 * every plugin at start) and batchd-shim (which loads the ones of its job).
 * libc and dlopen(3) only; what each program checks beyond the ABI (the
 * name, the kind) is its own.
 */
#include <dlfcn.h>
#include <stdio.h>

#include "dlplugin.h"
#include "../daemon/plugin.h"

/*
 * dlopen(3) path and find its struct batchd_plugin, of an ABI from
 * BATCHD_PLUGIN_ABI_MIN to BATCHD_PLUGIN_ABI (callers look at p->abi
 * before a field added since the oldest). The
 * plugin, with *handle for dlclose(3); or NULL with err[0..errlen) saying
 * why (and nothing left open).
 */
const struct batchd_plugin *
dlplugin_open(const char *path, void **handle, char *err, size_t errlen)
{
	const struct batchd_plugin	*p;
	void				*h;

	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, errlen, "%s", dlerror());
		return NULL;
	}
	if ((p = dlsym(h, "batchd_plugin")) == NULL) {
		snprintf(err, errlen, "%s exports no batchd_plugin", path);
		goto fail;
	}
	if (p->abi < BATCHD_PLUGIN_ABI_MIN || p->abi > BATCHD_PLUGIN_ABI) {
		snprintf(err, errlen, "%s has ABI version %u, batchd needs %d "
		    "to %d", path, p->abi, BATCHD_PLUGIN_ABI_MIN,
		    BATCHD_PLUGIN_ABI);
		goto fail;
	}
	*handle = h;
	return p;
fail:
	dlclose(h);
	return NULL;
}
