/* Image references: parsing and Docker's normalization (docker.io, library/, latest). */
#include "ref.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int ref_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int ref_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool ref_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: lowercase alnum runs joined by '.', '_', '__' or '-'s (the distribution
 * spec). */
static bool ref_component_ok(const char *p, size_t n)
{
	if (n == 0 || !ref_lower_alnum(p[0]) || !ref_lower_alnum(p[n - 1]))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = p[i];
		if (ref_lower_alnum(c))
			continue;
		if (c == '.' || c == '-' || c == '_') {
			if (!ref_lower_alnum(p[i - 1]) && !(c == '_' && p[i - 1] == '_') &&
			    !(c == '-' && p[i - 1] == '-'))
				return false;
			continue;
		}
		return false;
	}
	return true;
}

static bool ref_tag_ok(const char *t, size_t n)
{
	if (n == 0 || n >= REF_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_';
		if (!(word || (i > 0 && (c == '.' || c == '-'))))
			return false;
	}
	return true;
}

/* host[:port]: dot-separated labels of letters, digits and inner '-', then an optional port. */
static bool ref_registry_ok(const char *h, size_t n)
{
	size_t colon = n, label = 0;
	if (n == 0 || n >= REF_REGISTRY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (h[i] == ':') {
			colon = i;
			break;
		}
	for (size_t i = 0; i <= colon; i++) {
		char c = i < colon ? h[i] : '.';
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (c == '.') {
			/* a label: not empty, no '-' at either end */
			if (label == i || h[label] == '-' || h[i - 1] == '-')
				return false;
			label = i + 1;
		} else if (!alnum && c != '-') {
			return false;
		}
	}
	if (colon < n) {
		unsigned long port = 0;
		if (colon + 1 == n || n - colon - 1 > 5)
			return false;
		for (size_t i = colon + 1; i < n; i++) {
			if (h[i] < '0' || h[i] > '9')
				return false;
			port = port * 10 + (unsigned long)(h[i] - '0');
		}
		if (port == 0 || port > 65535)
			return false;
	}
	return true;
}

int ref_parse(const char *s, struct image_ref *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (!s || !*s)
		return ref_fail(err, errlen, "empty image reference");
	size_t len = strlen(s);
	if (len >= REF_STR_MAX)
		return ref_fail(err, errlen, "image reference is longer than %d bytes",
				REF_STR_MAX - 1);

	const char *at = strchr(s, '@');
	size_t name_len = at ? (size_t)(at - s) : len;
	if (at) {
		if (!digest_valid(at + 1))
			return ref_fail(
			    err, errlen,
			    "%s: the digest must be sha256: and 64 lowercase hex digits", s);
		memcpy(r->digest, at + 1, strlen(at + 1) + 1);
	}
	/* The tag is after the last ':' that follows the last '/' (a registry port is before it).
	 */
	const char *slash = memrchr(s, '/', name_len);
	const char *colon =
	    memrchr(slash ? slash : s, ':', name_len - (size_t)((slash ? slash : s) - s));
	size_t path_len = name_len;
	if (colon) {
		size_t tl = name_len - (size_t)(colon + 1 - s);
		if (!ref_tag_ok(colon + 1, tl))
			return ref_fail(
			    err, errlen,
			    "%s: a tag is 1 to 128 letters, digits, '_', '.' or '-' (not first)",
			    s);
		memcpy(r->tag, colon + 1, tl);
		path_len = (size_t)(colon - s);
	}
	if (path_len == 0)
		return ref_fail(err, errlen, "%s: no repository name", s);

	/* Registry: a first component with '.', ':' or "localhost", when more components follow. */
	const char *path = s;
	const char *first_slash = memchr(s, '/', path_len);
	if (first_slash) {
		size_t hl = (size_t)(first_slash - s);
		bool is_host = memchr(s, '.', hl) || memchr(s, ':', hl) ||
			       (hl == 9 && !memcmp(s, "localhost", 9));
		if (is_host) {
			if (!ref_registry_ok(s, hl))
				return ref_fail(err, errlen, "%s: bad registry name", s);
			memcpy(r->registry, s, hl);
			path = first_slash + 1;
			path_len -= hl + 1;
		}
	}
	if (!r->registry[0])
		memcpy(r->registry, "docker.io", sizeof("docker.io"));
	if (!strcmp(r->registry, "index.docker.io") || !strcmp(r->registry, "registry-1.docker.io"))
		memcpy(r->registry, "docker.io", sizeof("docker.io"));

	/* Validate the repository's components. */
	size_t start = 0, ncomp = 0;
	for (size_t i = 0; i <= path_len; i++) {
		if (i == path_len || path[i] == '/') {
			if (!ref_component_ok(path + start, i - start))
				return ref_fail(
				    err, errlen,
				    "%s: repository names are lowercase letters and digits, "
				    "separated by '/', '.', '_' or '-'",
				    s);
			ncomp++;
			start = i + 1;
		}
	}
	bool library = !strcmp(r->registry, "docker.io") && ncomp == 1;
	if (path_len + (library ? 8 : 0) >= REF_REPO_MAX)
		return ref_fail(err, errlen, "%s: repository name too long", s);
	snprintf(r->repo, sizeof(r->repo), "%s%.*s", library ? "library/" : "", (int)path_len,
		 path);
	if (!r->tag[0] && !r->digest[0])
		memcpy(r->tag, "latest", sizeof("latest"));
	return 0;
}

void ref_format_name(const struct image_ref *r, char *out, size_t cap)
{
	if (r->tag[0])
		snprintf(out, cap, "%s/%s:%s", r->registry, r->repo, r->tag);
	else
		snprintf(out, cap, "%s/%s@%s", r->registry, r->repo, r->digest);
}

void ref_format(const struct image_ref *r, char *out, size_t cap)
{
	if (r->tag[0] && r->digest[0])
		snprintf(out, cap, "%s/%s:%s@%s", r->registry, r->repo, r->tag, r->digest);
	else
		ref_format_name(r, out, cap);
}
