/*
 * natsconf.c: the configuration's NATS client options, shared by batchd's
 * two connections (bus.c's, driven by the loop; ha-js.c's, by its thread).
 * Calls nothing of batchd's above the configuration.
 */
#include <stdlib.h>
#include <string.h>

#include "batchd.h"
#include "jetstream.h"

/* A client option refused: batchd cannot connect as configured. */
static void
opt_check(natsStatus s, const char *what)
{
	if (s != NATS_OK)
		fatal_code(EXIT_BUS, "nats: %s: %s", what,
		    natsStatus_GetText(s));
}

/*
 * The servers (nats_url: one URL or several, comma-separated),
 * credentials and TLS from the configuration into o: the bus's
 * connection's (bus.c) or HA's (ha-js.c); secrets from 0600 files.
 */
void
nats_options(natsOptions *o)
{
	const char	*urls[16];
	char		*list, *p, *secret, *cause;
	int		 n = 0;

	list = xstrdup(cfg->nats_url);
	for (p = strtok(list, ","); p != NULL && n < 16; p = strtok(NULL, ","))
		urls[n++] = p + strspn(p, " ");
	opt_check(natsOptions_SetServers(o, urls, n), "nats_url");
	free(list);

	if (cfg->nats_user != NULL) {
		if (config_secret_file("nats_password_file",
		    cfg->nats_password_file, &secret, &cause) == -1)
			fatal_code(EXIT_CONFIG, "%s", cause);
		opt_check(natsOptions_SetUserInfo(o, cfg->nats_user, secret),
		    "user");
		free(secret);
	}
	if (cfg->nats_token_file != NULL) {
		if (config_secret_file("nats_token_file", cfg->nats_token_file,
		    &secret, &cause) == -1)
			fatal_code(EXIT_CONFIG, "%s", cause);
		opt_check(natsOptions_SetToken(o, secret), "token");
		free(secret);
	}
	if (cfg->nats_nkey_seed_file != NULL) {
		if (config_secret_file("nats_nkey_seed_file",
		    cfg->nats_nkey_seed_file, &secret, &cause) == -1)
			fatal_code(EXIT_CONFIG, "%s", cause);
		free(secret);
		opt_check(natsOptions_SetNKeyFromSeed(o, cfg->nats_nkey,
		    cfg->nats_nkey_seed_file), "nkey seed");
	}
	if (cfg->nats_creds_file != NULL) {
		if (config_secret_file("nats_creds_file", cfg->nats_creds_file,
		    &secret, &cause) == -1)
			fatal_code(EXIT_CONFIG, "%s", cause);
		free(secret);
		opt_check(natsOptions_SetUserCredentialsFromFiles(o,
		    cfg->nats_creds_file, NULL), "creds");
	}
	if (cfg->nats_tls_ca != NULL || cfg->nats_tls_cert != NULL ||
	    strncmp(cfg->nats_url, "tls://", 6) == 0) {
		opt_check(natsOptions_SetSecure(o, true), "tls");
		if (cfg->nats_tls_ca != NULL)
			opt_check(natsOptions_LoadCATrustedCertificates(o,
			    cfg->nats_tls_ca), "tls ca");
		if (cfg->nats_tls_cert != NULL) {
			if (config_secret_file("nats_tls_key",
			    cfg->nats_tls_key, &secret, &cause) == -1)
				fatal_code(EXIT_CONFIG, "%s", cause);
			free(secret);
			opt_check(natsOptions_LoadCertificatesChain(o,
			    cfg->nats_tls_cert, cfg->nats_tls_key),
			    "tls certificate");
		}
	}
}
