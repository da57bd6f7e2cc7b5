/*
 * http.c: the operators' HTTP endpoint (libevent's evhttp, on the loop):
 *   /metrics  Prometheus text format (metrics.c)
 *   /healthz  200 while the loop turns (this handler runs on it)
 *   /readyz   200 when storage is open and NATS is connected, else 503;
 *             503 too on an HA standby (it answers no command)
 *   /         the web console's files (console.c)
 * Off unless http_listen is set ("127.0.0.1:9464").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "batchd.h"

static struct evhttp	*http;

static void
reply(struct evhttp_request *req, int code, const char *reason,
    struct evbuffer *b, const char *type)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evhttp_send_reply(req, code, reason, b);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	const char	*path = evhttp_uri_get_path(
	    evhttp_request_get_evhttp_uri(req));
	struct evbuffer	*b = evbuffer_new();

	(void)arg;
	if (path == NULL)
		path = "/";
	if (strcmp(path, "/metrics") == 0) {
		metrics_render(b);
		reply(req, 200, "OK", b,
		    "text/plain; version=0.0.4; charset=utf-8");
	} else if (strcmp(path, "/healthz") == 0) {
		evbuffer_add_printf(b, "ok\n");
		reply(req, 200, "OK", b, "text/plain");
	} else if (strcmp(path, "/readyz") == 0) {
		if (!ha_may_act()) {
			evbuffer_add_printf(b, "%s: another node leads\n",
			    ha_role());
			reply(req, 503, "Service Unavailable", b, "text/plain");
		} else if (bus_connected()) {
			evbuffer_add_printf(b, "ready\n");
			reply(req, 200, "OK", b, "text/plain");
		} else {
			evbuffer_add_printf(b, "nats not connected\n");
			reply(req, 503, "Service Unavailable", b, "text/plain");
		}
	} else if (!console_serve(req, path, b)) {
		evbuffer_add_printf(b, "not found\n");
		reply(req, 404, "Not Found", b, "text/plain");
	}
	evbuffer_free(b);
}

/* Listen on "host:port" or "[v6]:port"; 0, or -1 with *cause. */
int
http_start(const char *listen, char **cause)
{
	char		*host, *colon;
	unsigned long	 port;

	host = xstrdup(listen);
	if ((colon = strrchr(host, ':')) == NULL) {
		xasprintf(cause, "http_listen '%s' is not host:port", listen);
		free(host);
		return -1;
	}
	*colon = '\0';
	port = strtoul(colon + 1, NULL, 10);
	if (port == 0 || port > 65535) {
		xasprintf(cause, "http_listen '%s': bad port", listen);
		free(host);
		return -1;
	}
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	console_init();
	http = evhttp_new(base);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, on_request, NULL);
	if (evhttp_bind_socket(http, host, (uint16_t)port) != 0) {
		xasprintf(cause, "http_listen %s: cannot bind", listen);
		evhttp_free(http);
		http = NULL;
		free(host);
		return -1;
	}
	log_info("http listening on %s", listen);
	free(host);
	return 0;
}

void
http_stop(void)
{
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
	console_free();
}
