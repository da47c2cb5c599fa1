/* flintd's image table: image names and aliases → root-filesystem files, from a config file or built in. */
#include "images.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "validate.h"

#define IMAGES_FILE_MAX	 (1u << 20) /* a config is a few lines; refuse to slurp anything big */
#define IMAGES_NAMES_MAX 4096	    /* names + aliases over all images: duplicate checks stay cheap */

/* Names seen so far, with the line that defined them, for duplicate errors. */
struct seen {
	const char *name;
	unsigned line;
};

void images_destroy(struct image_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->v && i < t->n; i++) {
		struct image *im = &t->v[i];
		free(im->name);
		free(im->path);
		for (size_t k = 0; im->aliases && k < im->naliases; k++)
			free(im->aliases[k]);
		free(im->aliases);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

const struct image *images_resolve(const struct image_table *t, const char *name_or_alias)
{
	if (!t || !name_or_alias)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].name, name_or_alias))
			return &t->v[i];
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < t->v[i].naliases; k++)
			if (!strcmp(t->v[i].aliases[k], name_or_alias))
				return &t->v[i];
	return NULL;
}

/* Appends with truncation: once something does not fit, the text ends in "..." and stays so. */
struct sbuf {
	char *p;
	size_t cap, len;
	bool full;
};

static void sb_put(struct sbuf *b, const char *s)
{
	if (b->full)
		return;
	size_t n = strlen(s);
	if (b->len + n < b->cap) {
		memcpy(b->p + b->len, s, n + 1);
		b->len += n;
		return;
	}
	b->full = true;
	/* Keep as much as fits before "...", then the ellipsis (or as much of it as fits). */
	size_t keep = b->cap > 4 ? b->cap - 4 : 0;
	if (b->len > keep)
		b->len = keep;
	if (keep > b->len) {
		size_t more = keep - b->len < n ? keep - b->len : n;
		memcpy(b->p + b->len, s, more);
		b->len += more;
	}
	size_t dots = b->cap - 1 - b->len < 3 ? b->cap - 1 - b->len : 3;
	memcpy(b->p + b->len, "...", dots);
	b->len += dots;
	b->p[b->len] = '\0';
}

void images_describe(const struct image_table *t, char *buf, size_t cap)
{
	if (!buf || !cap)
		return;
	struct sbuf b = { .p = buf, .cap = cap };
	buf[0] = '\0';
	for (size_t i = 0; t && i < t->n; i++) {
		if (i)
			sb_put(&b, ", ");
		sb_put(&b, t->v[i].name);
		for (size_t k = 0; k < t->v[i].naliases; k++) {
			sb_put(&b, k ? ", " : " (");
			sb_put(&b, t->v[i].aliases[k]);
		}
		if (t->v[i].naliases)
			sb_put(&b, ")");
	}
}

static int set_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int set_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* The state of one parse; everything it holds is released by parse_free or moved into the table. */
struct parse {
	struct image_table t;
	struct seen *seen;
	size_t nseen;
	char *err;
	size_t errlen;
};

static int note_name(struct parse *ps, const char *name, unsigned line)
{
	for (size_t i = 0; i < ps->nseen; i++)
		if (!strcmp(ps->seen[i].name, name))
			return set_err(ps->err, ps->errlen, -EINVAL,
				       "line %u: '%.256s' is already defined on line %u", line, name,
				       ps->seen[i].line);
	if (ps->nseen >= IMAGES_NAMES_MAX)
		return set_err(ps->err, ps->errlen, -E2BIG, "line %u: more than %d names and aliases",
			       line, IMAGES_NAMES_MAX);
	ps->seen[ps->nseen].name = name;
	ps->seen[ps->nseen].line = line;
	ps->nseen++;
	return 0;
}

/* PATH, joined to base_dir when relative. */
static char *make_path(const char *base_dir, const char *p, size_t n)
{
	char *out;
	if (p[0] == '/')
		return strndup(p, n);
	if (asprintf(&out, "%s/%.*s", base_dir, (int)n, p) < 0)
		return NULL;
	return out;
}

#define MAX_TOKENS (IMAGES_LINE_MAX / 2 + 1)

/* One "image NAME PATH [ALIAS...]" line, already split into tokens. */
static int parse_image(struct parse *ps, const char *base_dir, unsigned line, char **tok, size_t *tlen,
		       size_t ntok)
{
	if (ntok < 3)
		return set_err(ps->err, ps->errlen, -EINVAL,
			       "line %u: expected 'image NAME PATH [ALIAS...]'", line);
	if (ps->t.n >= IMAGES_MAX)
		return set_err(ps->err, ps->errlen, -E2BIG, "line %u: more than %d images", line, IMAGES_MAX);
	for (size_t i = 1; i < ntok; i++)
		tok[i][tlen[i]] = '\0'; /* the tokenizer's buffer is ours to cut */
	for (size_t i = 1; i < ntok; i++) {
		if (i == 2)
			continue;
		if (!valid_image_name(tok[i]))
			return set_err(ps->err, ps->errlen, -EINVAL,
				       "line %u: invalid image name '%.256s' (1-256 characters of "
				       "letters, digits and ._/:@-)",
				       line, tok[i]);
	}
	struct image *v = realloc(ps->t.v, (ps->t.n + 1) * sizeof(*v));
	if (!v)
		return set_err(ps->err, ps->errlen, -ENOMEM, "out of memory");
	ps->t.v = v;
	struct image *im = &v[ps->t.n];
	memset(im, 0, sizeof(*im));
	ps->t.n++; /* from here on images_destroy frees what im holds */
	im->name = strdup(tok[1]);
	im->path = make_path(base_dir, tok[2], tlen[2]);
	im->aliases = calloc(ntok - 3 + 1, sizeof(char *));
	if (!im->name || !im->path || !im->aliases)
		return set_err(ps->err, ps->errlen, -ENOMEM, "out of memory");
	for (size_t i = 3; i < ntok; i++, im->naliases++)
		if (!(im->aliases[i - 3] = strdup(tok[i])))
			return set_err(ps->err, ps->errlen, -ENOMEM, "out of memory");
	int rc = note_name(ps, im->name, line);
	for (size_t k = 0; rc == 0 && k < im->naliases; k++)
		rc = note_name(ps, im->aliases[k], line);
	return rc;
}

int images_parse(struct image_table *t, const char *text, size_t len, const char *base_dir,
		 char *err, size_t errlen)
{
	struct parse ps = { .err = err, .errlen = errlen };
	char *linebuf = malloc(IMAGES_LINE_MAX + 1);
	char **tok = malloc(MAX_TOKENS * sizeof(char *));
	size_t *tlen = malloc(MAX_TOKENS * sizeof(size_t));
	int rc = 0;
	t->v = NULL;
	t->n = 0;
	if (err && errlen)
		err[0] = '\0';
	if (!base_dir)
		base_dir = ".";
	ps.seen = malloc(IMAGES_NAMES_MAX * sizeof(*ps.seen));
	if (!linebuf || !tok || !tlen || !ps.seen) {
		rc = set_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	unsigned line = 0;
	for (size_t pos = 0; pos < len && rc == 0;) {
		line++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		if (n > IMAGES_LINE_MAX) {
			rc = set_err(err, errlen, -EINVAL, "line %u: longer than %d bytes", line,
				     IMAGES_LINE_MAX);
			break;
		}
		memcpy(linebuf, text + pos, n);
		pos += n + (nl ? 1 : 0);
		if (n && linebuf[n - 1] == '\r')
			n--;
		linebuf[n] = '\0';
		size_t ntok = 0;
		for (size_t i = 0; i < n;) {
			unsigned char c = (unsigned char)linebuf[i];
			if (c == ' ' || c == '\t') {
				i++;
				continue;
			}
			if (ntok == 0 && c == '#')
				break;
			size_t start = i;
			while (i < n && linebuf[i] != ' ' && linebuf[i] != '\t') {
				c = (unsigned char)linebuf[i];
				if (c < 0x20 || c == 0x7f) {
					rc = set_err(err, errlen, -EINVAL,
						     "line %u: control character in the line", line);
					goto out;
				}
				i++;
			}
			tok[ntok] = linebuf + start;
			tlen[ntok++] = i - start;
		}
		if (ntok == 0)
			continue;
		if (tlen[0] != 5 || memcmp(tok[0], "image", 5) != 0) {
			rc = set_err(err, errlen, -EINVAL,
				     "line %u: unknown directive '%.*s' (expected 'image NAME PATH [ALIAS...]')",
				     line, (int)(tlen[0] > 64 ? 64 : tlen[0]), tok[0]);
			break;
		}
		rc = parse_image(&ps, base_dir, line, tok, tlen, ntok);
	}
	if (rc == 0 && ps.t.n == 0)
		rc = set_err(err, errlen, -EINVAL, "no images defined");
out:
	free(linebuf);
	free(tok);
	free(tlen);
	free(ps.seen);
	if (rc < 0)
		images_destroy(&ps.t);
	else
		*t = ps.t;
	return rc;
}

static int builtin(struct image_table *t, const char *base_path, char *err, size_t errlen)
{
	/* No aliases: a name of another image (alpine, python:...) on this one would be a lie. */
	static const char *const aliases[] = { NULL };
	const size_t na = 0;
	if (!base_path)
		return set_err(err, errlen, -EINVAL, "no image config and no default base image path");
	t->v = calloc(1, sizeof(*t->v));
	if (!t->v)
		goto nomem;
	t->n = 1;
	struct image *im = &t->v[0];
	im->name = strdup("base");
	im->path = strdup(base_path);
	im->aliases = calloc(na + 1, sizeof(char *));
	if (!im->name || !im->path || !im->aliases)
		goto nomem;
	for (; im->naliases < na; im->naliases++)
		if (!(im->aliases[im->naliases] = strdup(aliases[im->naliases])))
			goto nomem;
	return 0;
nomem:
	images_destroy(t);
	return set_err(err, errlen, -ENOMEM, "out of memory");
}

int images_init(struct image_table *t, const char *config_path, const char *default_base_path,
		char *err, size_t errlen)
{
	t->v = NULL;
	t->n = 0;
	if (err && errlen)
		err[0] = '\0';
	if (!config_path)
		return builtin(t, default_base_path, err, errlen);

	int fd = open(config_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return set_err(err, errlen, -e, "%s: %s", config_path, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)IMAGES_FILE_MAX) {
		close(fd);
		return set_err(err, errlen, -EINVAL, "%s: not a regular file of at most %u bytes",
			       config_path, IMAGES_FILE_MAX);
	}
	char *text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		return set_err(err, errlen, -ENOMEM, "out of memory");
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* shrank under us: parse what is there */
		got += (size_t)r;
	}
	close(fd);

	/* Relative PATHs are relative to the config file's directory, not flintd's cwd. */
	char *dir = strdup(config_path);
	if (!dir) {
		free(text);
		return set_err(err, errlen, -ENOMEM, "out of memory");
	}
	char *slash = strrchr(dir, '/');
	const char *base = ".";
	if (slash == dir)
		base = "/";
	else if (slash) {
		*slash = '\0';
		base = dir;
	}
	char perr[512];
	int rc = images_parse(t, text, got, base, perr, sizeof(perr));
	if (rc < 0)
		set_err(err, errlen, rc, "%s: %s", config_path, perr);
	free(dir);
	free(text);
	return rc;
}
