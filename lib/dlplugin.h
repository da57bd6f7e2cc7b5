/* dlplugin.h: opening one plugin's shared object (dlplugin.c). */
#ifndef BATCHD_DLPLUGIN_H
#define BATCHD_DLPLUGIN_H

#include <stddef.h>

struct batchd_plugin;

const struct batchd_plugin *dlplugin_open(const char *, void **, char *,
	    size_t);

#endif
