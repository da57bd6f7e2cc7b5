/*
 * console.c: the web console's files, served by http.c from console_dir
 * (default: "console" beside batchd, else ../console, else
 * ../share/batchd/console): GET / is its index.html, GET /NAME one file
 * of that directory (no subdirectory, no dot file, no symlink), and
 * /console-config.json what the page needs to reach NATS over WebSocket.
 * Every answer carries a Content-Security-Policy that lets the page load
 * nothing from another origin and connect only to console_nats_ws (or, unset,
 * to WebSockets on loopback). The page has no API here: it speaks the
 * protobuf API over NATS like every client.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "batchd.h"

static char	*dir;		/* the console's directory, NULL: none */
static char	*csp;

static const struct {
	const char	*ext;
	const char	*type;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".png", "image/png" },
	{ ".svg", "image/svg+xml" },
	{ ".map", "application/json" },
};

/* The default directory: the first of the candidates holding index.html. */
static char *
default_dir(void)
{
	static const char *rel[] = { "console", "../console",
	    "../share/batchd/console" };
	char		 self[PATH_MAX], *slash, *d;
	struct stat	 st;
	ssize_t		 n;
	size_t		 i;

	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		return NULL;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	for (i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		xasprintf(&d, "%s/%s/index.html", self, rel[i]);
		if (stat(d, &st) == 0) {
			*strrchr(d, '/') = '\0';
			return d;
		}
		free(d);
	}
	return NULL;
}

void
console_init(void)
{
	const char	*ws = cfg->console_nats_ws;

	dir = cfg->console_dir != NULL ? xstrdup(cfg->console_dir) :
	    default_dir();
	xasprintf(&csp, "default-src 'none'; script-src 'self'; "
	    "style-src 'self'; img-src 'self' data:; connect-src 'self' %s; "
	    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	    ws != NULL ? ws : "ws://127.0.0.1:* ws://localhost:*");
	if (dir != NULL)
		log_info("console served from %s", dir);
}

void
console_free(void)
{
	free(dir);
	free(csp);
	dir = csp = NULL;
}

static void
answer(struct evhttp_request *req, int code, const char *reason,
    struct evbuffer *b, const char *type)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Content-Security-Policy", csp);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_send_reply(req, code, reason, b);
}

/* s as a JSON string. */
static void
json_str(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			evbuffer_add_printf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			evbuffer_add_printf(b, "\\u%04x", (unsigned char)*s);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void
config_json(struct evhttp_request *req, struct evbuffer *b)
{
	evbuffer_add_printf(b, "{\"nats_ws\": ");
	json_str(b, cfg->console_nats_ws);
	evbuffer_add_printf(b, ", \"prefix\": ");
	json_str(b, cfg->subject_prefix);
	evbuffer_add_printf(b, ", \"workspace\": ");
	json_str(b, cfg->default_workspace);
	evbuffer_add_printf(b, ", \"reply_prefix\": ");
	json_str(b, cfg->reply_prefix);
	evbuffer_add_printf(b, "}\n");
	answer(req, 200, "OK", b, "application/json");
}

/* The type of a file the console may serve by its name, or NULL. */
static const char *
type_of(const char *name)
{
	const char	*p, *dot;
	size_t		 i;

	if (*name == '\0' || *name == '.' || strlen(name) > NAME_MAX)
		return NULL;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._-", *p) == NULL)
			return NULL;
	if ((dot = strrchr(name, '.')) == NULL)
		return NULL;
	for (i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

/* Answer GET path if it is the console's; 1 if answered, 0 if not. */
int
console_serve(struct evhttp_request *req, const char *path,
    struct evbuffer *b)
{
	const char	*name, *type;
	struct stat	 st;
	int		 dfd, fd;

	if (strcmp(path, "/console-config.json") == 0) {
		config_json(req, b);
		return 1;
	}
	if (dir == NULL || path[0] != '/')
		return 0;
	name = strcmp(path, "/") == 0 ? "index.html" : path + 1;
	if ((type = type_of(name)) == NULL)
		return 0;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd == -1)
		return 0;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	/* evbuffer_add_file owns fd from here, failing or not. */
	if (evbuffer_add_file(b, fd, 0, st.st_size) == -1)
		return 0;
	answer(req, 200, "OK", b, type);
	return 1;
}
