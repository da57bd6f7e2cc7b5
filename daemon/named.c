/*
 * named.c: records named in their workspace (job definitions, clusters,
 * schedules): one loaded by uuid or by name, and the .get and .list verbs'
 * handlers. A kind of record is a const table (struct named_kind,
 * NAMED_KIND()) beside the module that owns it (jobdef.c, cluster.c,
 * schedule.c); its name index maps "{ws}/{name}" to its uuid
 * (store-rec.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

/* The record's workspace and name, where the kind says they are. */
static const char *
field(const void *rec, size_t off)
{
	return *(char *const *)((const char *)rec + off);
}

/*
 * Load a record of kind k of workspace ws into rec, by uuid or, if uuid is
 * NULL, by name. Returns 0 (found), 0 with e set (refused), or a storage
 * error.
 */
int
named_load(struct txn *t, const struct named_kind *k, const char *ws,
    const char *uuid, const char *name, void *rec, struct error *e)
{
	char		 id[UUID_LEN + 1];
	int		 rc;

	if (uuid == NULL && name == NULL) {
		error_set(e, E_INVALID, "uuid", "uuid or name is required");
		return 0;
	}
	if (uuid == NULL) {
		rc = store_resolve_name(t, k->names, ws, name, id);
		if (rc == MDB_NOTFOUND)
			goto notfound;
		if (rc != 0)
			return rc;
		uuid = id;
	}
	rc = k->get(t, uuid, rec);
	if (rc == MDB_NOTFOUND)
		goto notfound;
	if (rc != 0)
		return rc;
	if (strcmp(field(rec, k->ws), ws) != 0) {
		k->free(rec);
		goto notfound;
	}
	return 0;
notfound:
	error_set(e, E_NOT_FOUND, uuid != NULL ? "uuid" : "name",
	    "%s '%s' not found in workspace '%s'", k->what,
	    uuid != NULL ? uuid : name, ws);
	return 0;
}

/* KIND.get: a record by uuid or name. */
int
named_get(struct txn *t, const struct named_kind *k, struct request *r,
    struct buf *out, struct error *e)
{
	void	*rec = xcalloc(1, k->size);
	int	 rc;

	if ((rc = named_load(t, k, r->ws, r->uuid, r->name, rec, e)) == 0 &&
	    e->code == E_OK) {
		k->reply(out, rec);
		k->free(rec);
	}
	free(rec);
	return rc;
}

/*
 * KIND.list: a page of records, by name: as many as page_size asks and
 * the reply can carry (wire_list_room()); the next page starts after the
 * last one.
 */
int
named_list(struct txn *t, const struct named_kind *k, struct request *r,
    struct buf *out, struct error *e)
{
	struct pagepos	 more;
	char		**uuids, *next, *recs, what[64];
	size_t		 n, i, got = 0, room = wire_list_room(r), sz;
	int		 rc;

	memset(&more, 0, sizeof more);
	if ((rc = store_scan_names(t, k->names, r->ws,
	    r->page.set ? r->page.name : NULL, r->page_size, &uuids, &n,
	    &next)) != 0)
		goto out;
	more.set = next != NULL;
	recs = xcalloc(n, k->size);
	for (i = 0; i < n; i++) {
		if ((rc = k->get(t, uuids[i], recs + got * k->size)) != 0)
			break;
		if ((sz = k->wire_size(recs + got * k->size)) > room) {
			if (got == 0) {
				snprintf(what, sizeof what, "a %s is too "
				    "large to send", k->what);
				wire_error_too_large(e, "page_token", sz,
				    r->reply_max, what);
			}
			k->free(recs + got * k->size);
			more.set = 1;
			break;
		}
		room -= sz;
		got++;
	}
	if (got > 0)
		snprintf(more.name, sizeof more.name, "%s",
		    field(recs + (got - 1) * k->size, k->name));
	if (rc == 0 && e->code == E_OK)
		k->reply_page(out, r->ws, recs, got, more.set ? &more : NULL);
	for (i = 0; i < got; i++)
		k->free(recs + i * k->size);
	free(recs);
out:
	for (i = 0; i < n; i++)
		free(uuids[i]);
	free(uuids);
	free(next);
	return rc;
}
