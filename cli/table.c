/*
 * table.c: rows of strings printed as aligned columns under a header, two
 * spaces apart; widths count UTF-8 characters, not bytes.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "batchctl.h"

struct table {
	size_t	  ncols;
	size_t	  nrows;	/* with the header */
	char	**cells;	/* nrows * ncols, owned */
};

/* Characters (not bytes) in a UTF-8 string. */
static size_t
width(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Add one row of t->ncols strings (NULL is "-"). */
static void
add_row(struct table *t, va_list ap)
{
	const char	*s;
	size_t		 i;

	t->cells = xreallocarray(t->cells, (t->nrows + 1) * t->ncols,
	    sizeof *t->cells);
	for (i = 0; i < t->ncols; i++) {
		s = va_arg(ap, const char *);
		t->cells[t->nrows * t->ncols + i] = xstrdup(s != NULL &&
		    *s != '\0' ? s : "-");
	}
	t->nrows++;
}

/* A table with the given column headers (NULL-terminated). */
struct table *
table_new(const char *first, ...)
{
	struct table	*t;
	va_list		 ap;

	t = xcalloc(1, sizeof *t);
	va_start(ap, first);
	for (t->ncols = 1; va_arg(ap, const char *) != NULL; t->ncols++)
		;
	va_end(ap);
	t->cells = xcalloc(t->ncols, sizeof *t->cells);
	t->cells[0] = xstrdup(first);
	va_start(ap, first);
	for (size_t i = 1; i < t->ncols; i++)
		t->cells[i] = xstrdup(va_arg(ap, const char *));
	va_end(ap);
	t->nrows = 1;
	return t;
}

/* Add a row: exactly as many strings as there are columns. */
void
table_add(struct table *t, ...)
{
	va_list	ap;

	va_start(ap, t);
	add_row(t, ap);
	va_end(ap);
}

/* Print the table; the last column is not padded. */
void
table_print(struct table *t, FILE *fp)
{
	size_t	*w, r, c, n;

	w = xcalloc(t->ncols, sizeof *w);
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if ((n = width(t->cells[r * t->ncols + c])) > w[c])
				w[c] = n;
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			fputs(s, fp);
			if (c + 1 == t->ncols)
				break;
			for (n = width(s); n < w[c] + 2; n++)
				fputc(' ', fp);
		}
		fputc('\n', fp);
	}
	free(w);
}

/* Free the table and its strings. */
void
table_free(struct table *t)
{
	size_t	i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
