/*
 * unbuffered.c: an example third-party plugin, built out of tree against
 * the installed <batchd/plugin.h>. A runner of PYTHON jobs that runs the
 * interpreter unbuffered (python3 -u), so every line reaches the logs as it
 * is printed. To use it instead of the built-in "python":
 *
 *	make BATCHD_INCLUDE=/usr/local/include
 *	cp unbuffered.so /usr/local/lib/batchd/plugins/
 *	plugins = workspace,unbuffered,sql,local	(batchd.conf)
 *
 * Build with -DABI_FOR_TESTS=N to get a plugin of another ABI version,
 * which batchd refuses at start.
 */
#include <stdlib.h>
#include <string.h>

#include <batchd/plugin.h>

#ifndef ABI_FOR_TESTS
#define ABI_FOR_TESTS	BATCHD_PLUGIN_ABI
#endif

static int
command(const struct batchd_job *job, const char *file, char ***argv,
    char **stdin_path, char *err, size_t errlen)
{
	char	**v;

	(void)job;
	(void)err;
	(void)errlen;
	/* Arguments are left out to keep the example short. */
	if ((v = calloc(4, sizeof *v)) == NULL ||
	    (v[0] = strdup("python3")) == NULL ||
	    (v[1] = strdup("-u")) == NULL || (v[2] = strdup(file)) == NULL)
		return -1;
	*argv = v;
	*stdin_path = NULL;
	return 0;
}

const struct batchd_plugin batchd_plugin = {
	.abi = ABI_FOR_TESTS,
	.kind = BATCHD_PLUGIN_RUNNER,
	.name = "unbuffered",
	.handles = BATCHD_JOB_PYTHON,
	.u.runner = { .command = command },
};
