/*
 * source_s3.c: S3 sources. The job's file is the object {bucket_path}/
 * {source_location}: bucket_path is "bucket/prefix", the key is prefix + "/"
 * + source_location with leading, trailing and repeated slashes dropped. It
 * is downloaded with libcurl, signed with AWS Signature Version 4
 * (CURLOPT_AWS_SIGV4, x-amz-content-sha256 signed along, as S3 wants), into
 * {workdir}/{last component of source_location}.
 *
 * Where: with the setting endpoint (batchd's s3_endpoint), path-style
 * {endpoint}/{bucket}/{key}, for any S3-compatible store; without it,
 * https://{bucket}.s3.{region}.amazonaws.com/{key} (path-style on that host
 * for a bucket with a dot, which the wildcard certificate does not cover).
 *
 * Settings: endpoint, access_key_id, secret_access_key, session_token (batchd
 * sets them from its configuration or its own AWS_* environment, exec.c);
 * from [plugin.s3] in batchd.conf: proxy (none unless set: the job's
 * environment, which the fetch runs in, must not route credentials through
 * a proxy of the job's choosing) and ca_file (for a store with a private CA).
 *
 * The secret never leaves this process but inside the signature; the session
 * token is sent as x-amz-security-token and struck from any server's words
 * quoted in a message. This runs in a child of the shim that makes one fetch
 * and exits: single-threaded, libcurl's global state is set up here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "plugin.h"

#define CONNECT_TIMEOUT_S	30
#define LOW_SPEED_TIME_S	60	/* give up below 1 byte/s for this long */

/* SHA-256 of the empty body of a GET. */
#define EMPTY_SHA256	"e3b0c44298fc1c149afbf4c8996fb924" \
			"27ae41e4649b934ca495991b7852b855"

/* One download: the body of a 2xx into fd, of anything else into body. */
struct s3_get {
	CURL	*curl;
	int	 fd;
	int	 werrno;	/* of a failed write(2), or 0 */
	char	 body[4096];	/* an error's XML, truncated */
	size_t	 blen;
};

/* libcurl's write callback; returning less than given aborts. */
static size_t
s3_data(char *p, size_t size, size_t n, void *arg)
{
	struct s3_get	*g = arg;
	size_t		 len = size * n, off, room;
	ssize_t		 w;
	long		 status = 0;

	curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status / 100 != 2) {
		room = sizeof g->body - 1 - g->blen;
		if (len < room)
			room = len;
		memcpy(g->body + g->blen, p, room);
		g->blen += room;
		g->body[g->blen] = '\0';
		return len;
	}
	for (off = 0; off < len; off += (size_t)w)
		if ((w = write(g->fd, p + off, len - off)) == -1) {
			if (errno == EINTR) {
				w = 0;
				continue;
			}
			g->werrno = errno;
			return 0;
		}
	return len;
}

/* The text of the first <tag> of an S3 error document in buf, or "". */
static void
s3_xml(const char *doc, const char *tag, char *buf, size_t len)
{
	char		 open[64], close[64];
	const char	*s, *e;

	buf[0] = '\0';
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	if ((s = strstr(doc, open)) == NULL)
		return;
	s += strlen(open);
	if ((e = strstr(s, close)) == NULL)
		return;
	snprintf(buf, len, "%.*s", (int)(e - s), s);
}

/* Replace each occurrence of secret in s with "****" (in place). */
static void
s3_redact(char *s, const char *secret)
{
	size_t	 n;
	char	*at;

	if (secret == NULL || (n = strlen(secret)) < 4)
		return;
	while ((at = strstr(s, secret)) != NULL) {
		memcpy(at, "****", 4);
		memmove(at + 4, at + n, strlen(at + n) + 1);
	}
}

/*
 * prefix + "/" + name without leading, trailing or repeated slashes;
 * malloc(3)ed, or NULL.
 */
static char *
s3_key(const char *prefix, const char *name)
{
	char		*key, *k;
	const char	*parts[2] = { prefix, name }, *p;
	size_t		 i;

	if ((key = malloc(strlen(prefix) + strlen(name) + 2)) == NULL)
		return NULL;
	k = key;
	for (i = 0; i < 2; i++) {
		if (k > key && k[-1] != '/')
			*k++ = '/';
		for (p = parts[i]; *p != '\0'; p++) {
			if (*p == '/' && (k == key || k[-1] == '/'))
				continue;
			*k++ = *p;
		}
	}
	if (k > key && k[-1] == '/')
		k--;
	*k = '\0';
	return key;
}

/*
 * s with every byte %-encoded but RFC 3986's unreserved ones (and '/' if
 * keep_slash): the form of S3's canonical URI in SigV4, which libcurl signs
 * as it is in the URL. malloc(3)ed, or NULL.
 */
static char *
s3_encode(const char *s, int keep_slash)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*out, *o;
	unsigned char		 c;

	if ((out = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	for (o = out; (c = (unsigned char)*s) != '\0'; s++) {
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || (c == '/' && keep_slash)) {
			*o++ = (char)c;
			continue;
		}
		*o++ = '%';
		*o++ = hex[c >> 4];
		*o++ = hex[c & 15];
	}
	*o = '\0';
	return out;
}

/* Are all of s's characters in set, and is s not empty? */
static int
s3_valid(const char *s, const char *set)
{
	return *s != '\0' && s[strspn(s, set)] == '\0';
}

/* The object's URL; malloc(3)ed, or NULL. */
static char *
s3_url(const char *endpoint, const char *bucket, const char *region,
    const char *key)
{
	char	*ekey, *url = NULL;
	size_t	 n;
	int	 rc;

	if ((ekey = s3_encode(key, 1)) == NULL)
		return NULL;
	if (endpoint != NULL) {
		n = strlen(endpoint);
		while (n > 0 && endpoint[n - 1] == '/')
			n--;
		rc = asprintf(&url, "%.*s/%s/%s", (int)n, endpoint, bucket,
		    ekey);
	} else if (strchr(bucket, '.') != NULL)
		rc = asprintf(&url, "https://s3.%s.amazonaws.com/%s/%s",
		    region, bucket, ekey);
	else
		rc = asprintf(&url, "https://%s.s3.%s.amazonaws.com/%s",
		    bucket, region, ekey);
	free(ekey);
	return rc == -1 ? NULL : url;
}

/* Why the GET of s3://{name} failed with HTTP status, into err. */
static void
s3_status(const struct s3_get *g, long status, const char *name, char *err,
    size_t errlen)
{
	char	code[128], msg[512], what[700];

	s3_xml(g->body, "Code", code, sizeof code);
	s3_xml(g->body, "Message", msg, sizeof msg);
	if (*code != '\0' && *msg != '\0')
		snprintf(what, sizeof what, " (%s: %s)", code, msg);
	else if (*code != '\0')
		snprintf(what, sizeof what, " (%s)", code);
	else
		what[0] = '\0';
	if (strcmp(code, "NoSuchKey") == 0 ||
	    (status == 404 && *code == '\0'))
		snprintf(err, errlen, "s3://%s: no such key", name);
	else if (strcmp(code, "NoSuchBucket") == 0)
		snprintf(err, errlen, "s3://%s: no such bucket", name);
	else if (status == 403)
		snprintf(err, errlen, "s3://%s: access denied%s", name, what);
	else
		snprintf(err, errlen, "s3://%s: HTTP %ld%s", name, status,
		    what);
}

/* GET url into fd; 0, or -1 with err. */
static int
s3_download(const struct batchd_job *job, const char *url, const char *name,
    const char *sigv4, int fd, char *err, size_t errlen)
{
	struct s3_get		*g;
	struct curl_slist	*hdrs = NULL, *h;
	const char		*token = job->setting("session_token");
	const char		*proxy = job->setting("proxy");
	const char		*ca = job->setting("ca_file");
	char			 cerr[CURL_ERROR_SIZE], *line;
	long			 status = 0;
	CURLcode		 rc;
	int			 ret = -1;

	if ((g = calloc(1, sizeof *g)) == NULL ||
	    (g->curl = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "s3://%s: cannot set up libcurl", name);
		free(g);
		return -1;
	}
	g->fd = fd;
	hdrs = curl_slist_append(NULL, "x-amz-content-sha256: " EMPTY_SHA256);
	if (hdrs != NULL && token != NULL && *token != '\0') {
		h = NULL;
		if (asprintf(&line, "x-amz-security-token: %s", token) != -1) {
			h = curl_slist_append(hdrs, line);
			free(line);
		}
		if (h == NULL) {
			curl_slist_free_all(hdrs);
			hdrs = NULL;
		}
	}
	if (hdrs == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	cerr[0] = '\0';
	curl_easy_setopt(g->curl, CURLOPT_URL, url);
	curl_easy_setopt(g->curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(g->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(g->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(g->curl, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(g->curl, CURLOPT_USERAGENT, "batchd");
	curl_easy_setopt(g->curl, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(g->curl, CURLOPT_USERNAME,
	    job->setting("access_key_id"));
	curl_easy_setopt(g->curl, CURLOPT_PASSWORD,
	    job->setting("secret_access_key"));
	curl_easy_setopt(g->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(g->curl, CURLOPT_PROXY, proxy != NULL ? proxy : "");
	if (ca != NULL)
		curl_easy_setopt(g->curl, CURLOPT_CAINFO, ca);
	curl_easy_setopt(g->curl, CURLOPT_CONNECTTIMEOUT,
	    (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(g->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(g->curl, CURLOPT_LOW_SPEED_TIME,
	    (long)LOW_SPEED_TIME_S);
	curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, s3_data);
	curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, g);

	rc = curl_easy_perform(g->curl);
	curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &status);
	if (g->werrno != 0)
		snprintf(err, errlen, "s3://%s: writing: %s", name,
		    strerror(g->werrno));
	else if (rc != CURLE_OK)
		snprintf(err, errlen, "s3://%s: %s", name,
		    *cerr != '\0' ? cerr : curl_easy_strerror(rc));
	else if (status / 100 != 2)
		s3_status(g, status, name, err, errlen);
	else
		ret = 0;
	s3_redact(err, token);
	s3_redact(err, job->setting("secret_access_key"));
out:
	curl_easy_cleanup(g->curl);
	curl_slist_free_all(hdrs);
	free(g);
	return ret;
}

static int
fetch(const struct batchd_job *job, char **file, char *err, size_t errlen)
{
	const char	*id = job->setting("access_key_id");
	const char	*secret = job->setting("secret_access_key");
	const char	*endpoint = job->setting("endpoint");
	const char	*slash, *base;
	char		*bucket = NULL, *key = NULL, *url = NULL, *name = NULL;
	char		 sigv4[128];
	int		 fd = -1, made = 0, rc = -1;

	*file = NULL;
	if (endpoint != NULL && *endpoint == '\0')
		endpoint = NULL;
	if (id == NULL || *id == '\0') {
		snprintf(err, errlen, "no S3 credentials (s3_access_key_id / "
		    "AWS_ACCESS_KEY_ID)");
		return -1;
	}
	if (secret == NULL || *secret == '\0') {
		snprintf(err, errlen, "no S3 secret (s3_secret_access_key_file "
		    "/ AWS_SECRET_ACCESS_KEY)");
		return -1;
	}
	if ((slash = strchr(job->bucket_path, '/')) == NULL)
		slash = job->bucket_path + strlen(job->bucket_path);
	if ((bucket = strndup(job->bucket_path,
	    (size_t)(slash - job->bucket_path))) == NULL ||
	    (key = s3_key(*slash == '/' ? slash + 1 : slash,
	    job->source_location)) == NULL ||
	    asprintf(&name, "%s/%s", bucket, key) == -1) {
		name = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!s3_valid(bucket, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")) {
		snprintf(err, errlen, "s3://%s: '%s' is not a bucket name",
		    name, bucket);
		goto out;
	}
	if (!s3_valid(job->region, "abcdefghijklmnopqrstuvwxyz0123456789-") ||
	    strlen(job->region) > 64) {
		snprintf(err, errlen, "s3://%s: '%s' is not a region", name,
		    job->region);
		goto out;
	}
	if (*key == '\0') {
		snprintf(err, errlen, "s3://%s: no key", name);
		goto out;
	}
	base = strrchr(key, '/');
	base = base == NULL ? key : base + 1;
	if (strcmp(base, ".") == 0) {
		snprintf(err, errlen, "s3://%s: no file name", name);
		goto out;
	}
	if ((url = s3_url(endpoint, bucket, job->region, key)) == NULL ||
	    asprintf(file, "%s/%s", job->workdir, base) == -1) {
		*file = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", job->region);
	if ((fd = open(*file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1) {
		snprintf(err, errlen, "%s: %s", *file, strerror(errno));
		goto out;
	}
	made = 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "s3://%s: cannot set up libcurl", name);
		goto out;
	}
	rc = s3_download(job, url, name, sigv4, fd, err, errlen);
	curl_global_cleanup();
	if (close(fd) == -1 && rc == 0) {
		snprintf(err, errlen, "%s: %s", *file, strerror(errno));
		rc = -1;
	}
	fd = -1;
out:
	if (fd != -1)
		close(fd);
	if (rc == -1 && *file != NULL) {
		if (made)
			unlink(*file);
		free(*file);
		*file = NULL;
	}
	free(bucket);
	free(key);
	free(name);
	free(url);
	return rc;
}

const struct batchd_plugin batchd_plugin = {
	.abi = BATCHD_PLUGIN_ABI,
	.kind = BATCHD_PLUGIN_SOURCE,
	.name = "s3",
	.handles = BATCHD_SOURCE_S3,
	.u.source = { .fetch = fetch },
};
