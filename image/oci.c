/* OCI and Docker v2 image JSON (indexes, manifests, configs) parsed as hostile input with jansson.
 */
#include "oci.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "store.h"

static bool is_index_type(const char *mt)
{
	return !strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, DOCKER_MT_LIST);
}

static bool is_manifest_type(const char *mt)
{
	return !strcmp(mt, OCI_MT_MANIFEST) || !strcmp(mt, DOCKER_MT_MANIFEST);
}

bool oci_layer_media_ok(const char *media_type)
{
	static const char *const ok[] = {
	    "application/vnd.oci.image.layer.v1.tar",
	    "application/vnd.oci.image.layer.v1.tar+gzip",
	    "application/vnd.oci.image.layer.v1.tar+zstd",
	    "application/vnd.docker.image.rootfs.diff.tar",
	    "application/vnd.docker.image.rootfs.diff.tar.gzip",
	};
	if (!media_type)
		return false;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(media_type, ok[i]))
			return true;
	return false;
}

/* A document of at most STORE_SMALL_BLOB_MAX bytes that is a JSON object. */
static json_t *load(const char *json, size_t len, const char *what, char *err, size_t errlen)
{
	if (!json || len > STORE_SMALL_BLOB_MAX) {
		image_err(err, errlen, -EBADMSG, "%s: larger than %u bytes", what,
			  (unsigned)STORE_SMALL_BLOB_MAX);
		return NULL;
	}
	json_error_t je;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		image_err(err, errlen, -EBADMSG, "%s: invalid JSON at line %d: %.160s", what,
			  je.line, je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		image_err(err, errlen, -EBADMSG, "%s: not a JSON object", what);
		return NULL;
	}
	return root;
}

/*
 * o[key] as a string copied into dst (cap bytes with the NUL). Absent or null: "" (an error when
 * required). Any other type, or too long: an error, never a truncation.
 */
static int get_str(const json_t *o, const char *key, char *dst, size_t cap, bool required,
		   const char *what, char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);
	dst[0] = '\0';
	if (!v || json_is_null(v)) {
		if (required)
			return image_err(err, errlen, -EBADMSG, "%s: no \"%s\"", what, key);
		return 0;
	}
	if (!json_is_string(v))
		return image_err(err, errlen, -EBADMSG, "%s: \"%s\" is not a string", what, key);
	size_t n = json_string_length(v);
	if (n >= cap)
		return image_err(err, errlen, -EBADMSG, "%s: \"%s\" is longer than %zu bytes", what,
				 key, cap - 1);
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

static int check_schema(const json_t *root, const char *what, char *err, size_t errlen)
{
	const json_t *v = json_object_get(root, "schemaVersion");
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return image_err(err, errlen, -EBADMSG, "%s: schemaVersion is not 2", what);
	return 0;
}

static int parse_platform(const json_t *d, struct oci_desc *out, const char *what, char *err,
			  size_t errlen)
{
	const json_t *p = json_object_get(d, "platform");
	if (!p || json_is_null(p))
		return 0;
	if (!json_is_object(p))
		return image_err(err, errlen, -EBADMSG, "%s: \"platform\" is not an object", what);
	int rc = get_str(p, "os", out->os, sizeof(out->os), true, what, err, errlen);
	if (!rc)
		rc = get_str(p, "architecture", out->arch, sizeof(out->arch), true, what, err,
			     errlen);
	if (!rc)
		rc = get_str(p, "variant", out->variant, sizeof(out->variant), false, what, err,
			     errlen);
	return rc;
}

/* A descriptor: mediaType, digest (valid), size (an integer in 0..INT64_MAX). */
static int parse_desc(const json_t *d, struct oci_desc *out, const char *what, char *err,
		      size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(d))
		return image_err(err, errlen, -EBADMSG, "%s: not an object", what);
	int rc = get_str(d, "mediaType", out->media_type, sizeof(out->media_type), true, what, err,
			 errlen);
	if (rc)
		return rc;
	rc = get_str(d, "digest", out->digest, sizeof(out->digest), true, what, err, errlen);
	if (rc)
		return rc;
	if (!digest_valid(out->digest))
		return image_err(err, errlen, -EBADMSG, "%s: digest '%s' is not sha256:<64 hex>",
				 what, out->digest);
	const json_t *sz = json_object_get(d, "size");
	/* json_int_t is long long: within int64 by construction */
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return image_err(err, errlen, -EBADMSG,
				 "%s: \"size\" is not a non-negative integer", what);
	out->size = (uint64_t)json_integer_value(sz);
	return 0;
}

enum oci_kind oci_detect(const char *json, size_t len, const char *content_type)
{
	json_t *root = load(json, len, "document", NULL, 0);
	if (!root)
		return OCI_KIND_UNKNOWN;
	enum oci_kind k = OCI_KIND_UNKNOWN;
	const json_t *mt = json_object_get(root, "mediaType");
	char ct[OCI_MEDIA_MAX] = "";
	if (json_is_string(mt)) {
		snprintf(ct, sizeof(ct), "%s", json_string_value(mt));
	} else if (content_type) {
		/* the type without parameters ("; charset=utf-8") or surrounding blanks */
		size_t n = strcspn(content_type, ";");
		while (n && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
			n--;
		if (n < sizeof(ct))
			snprintf(ct, sizeof(ct), "%.*s", (int)n, content_type);
	}
	if (is_index_type(ct))
		k = OCI_KIND_INDEX;
	else if (is_manifest_type(ct))
		k = OCI_KIND_MANIFEST;
	else if (!json_is_string(mt) && json_is_array(json_object_get(root, "manifests")))
		k = OCI_KIND_INDEX;
	else if (!json_is_string(mt) && json_is_object(json_object_get(root, "config")) &&
		 json_is_array(json_object_get(root, "layers")))
		k = OCI_KIND_MANIFEST;
	json_decref(root);
	return k;
}

void oci_index_destroy(struct oci_index *ix)
{
	if (!ix)
		return;
	free(ix->v);
	ix->v = NULL;
	ix->n = 0;
}

int oci_parse_index(const char *json, size_t len, struct oci_index *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(json, len, "index", err, errlen);
	if (!root)
		return -EBADMSG;
	int rc = check_schema(root, "index", err, errlen);
	char mt[OCI_MEDIA_MAX];
	if (!rc)
		rc = get_str(root, "mediaType", mt, sizeof(mt), false, "index", err, errlen);
	if (!rc && mt[0] && !is_index_type(mt))
		rc = image_err(err, errlen, -EBADMSG, "index: media type '%s' is not an index", mt);
	const json_t *m = json_object_get(root, "manifests");
	if (!rc && !json_is_array(m))
		rc = image_err(err, errlen, -EBADMSG, "index: \"manifests\" is not an array");
	if (!rc && json_array_size(m) > OCI_INDEX_MAX)
		rc = image_err(err, errlen, -EBADMSG, "index: more than %d manifests",
			       OCI_INDEX_MAX);
	if (!rc && json_array_size(m)) {
		out->v = calloc(json_array_size(m), sizeof(*out->v));
		if (!out->v)
			rc = image_err(err, errlen, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; !rc && i < json_array_size(m); i++) {
		char what[48];
		snprintf(what, sizeof(what), "index: manifests[%zu]", i);
		const json_t *d = json_array_get(m, i);
		rc = parse_desc(d, &out->v[i], what, err, errlen);
		if (!rc)
			rc = parse_platform(d, &out->v[i], what, err, errlen);
		if (!rc)
			out->n = i + 1;
	}
	json_decref(root);
	if (rc)
		oci_index_destroy(out);
	return rc;
}

/* Appends to a fixed buffer; what does not fit is cut (the buffer stays NUL-terminated). */
static void append(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t n = strlen(s);
	if (*len + 1 >= cap)
		return;
	if (n > cap - 1 - *len)
		n = cap - 1 - *len;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

static bool is_attestation(const struct oci_desc *d)
{
	return !strcmp(d->os, "unknown") && !strcmp(d->arch, "unknown");
}

int oci_index_pick(const struct oci_index *ix, const char *os, const char *arch, char *err,
		   size_t errlen)
{
	int best = -1;
	for (size_t i = 0; ix && i < ix->n; i++) {
		const struct oci_desc *d = &ix->v[i];
		if (!is_manifest_type(d->media_type) || strcmp(d->os, os) || strcmp(d->arch, arch))
			continue;
		/* the plain entry over variants ("amd64" over "amd64/v3"); else the first */
		if (best < 0 || (ix->v[best].variant[0] && !d->variant[0]))
			best = (int)i;
	}
	if (best >= 0)
		return best;
	char list[512] = "";
	size_t len = 0, shown = 0;
	for (size_t i = 0; ix && i < ix->n; i++) {
		const struct oci_desc *d = &ix->v[i];
		if (is_attestation(d) || (!d->os[0] && !d->arch[0]))
			continue;
		char one[3 * OCI_PLATFORM_MAX + 4];
		snprintf(one, sizeof(one), "%s%s/%s%s%s", shown ? ", " : "", d->os, d->arch,
			 d->variant[0] ? "/" : "", d->variant);
		/* once: an index may list a platform twice (media types, variants of a variant) */
		bool dup = false;
		for (size_t k = 0; k < i && !dup; k++)
			dup = !strcmp(ix->v[k].os, d->os) && !strcmp(ix->v[k].arch, d->arch) &&
			      !strcmp(ix->v[k].variant, d->variant);
		if (dup)
			continue;
		append(list, sizeof(list), &len, one);
		shown++;
	}
	if (!shown)
		return image_err(err, errlen, -ENOENT,
				 "no %s/%s image (the index lists no platforms)", os, arch);
	return image_err(err, errlen, -ENOENT, "no %s/%s image (the index has %s)", os, arch, list);
}

int oci_parse_manifest(const char *json, size_t len, struct oci_manifest *out, char *err,
		       size_t errlen)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(json, len, "manifest", err, errlen);
	if (!root)
		return -EBADMSG;
	int rc = check_schema(root, "manifest", err, errlen);
	char mt[OCI_MEDIA_MAX];
	if (!rc)
		rc = get_str(root, "mediaType", mt, sizeof(mt), false, "manifest", err, errlen);
	if (!rc && mt[0] && !is_manifest_type(mt))
		rc = image_err(err, errlen, -EBADMSG,
			       "manifest: media type '%s' is not an image manifest", mt);
	if (!rc)
		rc = parse_desc(json_object_get(root, "config"), &out->config, "manifest: config",
				err, errlen);
	if (!rc && strcmp(out->config.media_type, OCI_MT_CONFIG) &&
	    strcmp(out->config.media_type, DOCKER_MT_CONFIG))
		rc = image_err(
		    err, errlen, -EBADMSG,
		    "manifest: config media type '%s' is not an image config (an artifact, "
		    "not a container image?)",
		    out->config.media_type);
	const json_t *l = json_object_get(root, "layers");
	if (!rc && !json_is_array(l))
		rc = image_err(err, errlen, -EBADMSG, "manifest: \"layers\" is not an array");
	if (!rc && json_array_size(l) > OCI_LAYERS_MAX)
		rc = image_err(err, errlen, -EBADMSG, "manifest: more than %d layers",
			       OCI_LAYERS_MAX);
	for (size_t i = 0; !rc && i < json_array_size(l); i++) {
		char what[48];
		snprintf(what, sizeof(what), "manifest: layers[%zu]", i);
		struct oci_desc *d = &out->layers[i];
		rc = parse_desc(json_array_get(l, i), d, what, err, errlen);
		if (!rc && !oci_layer_media_ok(d->media_type))
			rc = image_err(err, errlen, -EBADMSG,
				       "%s: media type '%s' is not a tar layer flint can apply "
				       "(foreign and non-distributable layers are not supported)",
				       what, d->media_type);
		if (!rc)
			out->nlayers = i + 1;
	}
	json_decref(root);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

void oci_config_destroy(struct oci_config *c)
{
	if (!c)
		return;
	char **vs[] = {c->env, c->entrypoint, c->cmd};
	size_t ns[] = {c->nenv, c->nentrypoint, c->ncmd};
	for (size_t k = 0; k < 3; k++) {
		for (size_t i = 0; vs[k] && i < ns[k]; i++)
			free(vs[k][i]);
		free(vs[k]);
	}
	free(c->working_dir);
	free(c->user);
	memset(c, 0, sizeof(*c));
}

/* o[key]: absent/null, or an array of at most OCI_ARGV_MAX strings; NULL-terminated copy. */
static int get_strv(const json_t *o, const char *key, char ***out, size_t *n, bool env, char *err,
		    size_t errlen)
{
	const json_t *a = json_object_get(o, key);
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return image_err(err, errlen, -EBADMSG, "config: \"%s\" is not an array", key);
	if (json_array_size(a) > OCI_ARGV_MAX)
		return image_err(err, errlen, -EBADMSG, "config: more than %d entries in \"%s\"",
				 OCI_ARGV_MAX, key);
	*out = calloc(json_array_size(a) + 1, sizeof(char *));
	if (!*out)
		return image_err(err, errlen, -ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *v = json_array_get(a, i);
		if (!json_is_string(v))
			return image_err(err, errlen, -EBADMSG, "config: %s[%zu] is not a string",
					 key, i);
		const char *s = json_string_value(v);
		if (env && (s[0] == '=' || !strchr(s, '=')))
			return image_err(err, errlen, -EBADMSG,
					 "config: %s[%zu] '%.64s' is not NAME=VALUE", key, i, s);
		if (!((*out)[i] = strdup(s)))
			return image_err(err, errlen, -ENOMEM, "out of memory");
		*n = i + 1;
	}
	return 0;
}

/* o[key]: absent/null/"" → NULL, else a string copy. */
static int get_dup(const json_t *o, const char *key, char **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return image_err(err, errlen, -EBADMSG, "config: \"%s\" is not a string", key);
	if (!json_string_length(v))
		return 0;
	if (!(*out = strdup(json_string_value(v))))
		return image_err(err, errlen, -ENOMEM, "out of memory");
	return 0;
}

static int parse_rootfs(const json_t *root, struct oci_config *out, char *err, size_t errlen)
{
	const json_t *r = json_object_get(root, "rootfs");
	if (!json_is_object(r))
		return image_err(err, errlen, -EBADMSG, "config: no \"rootfs\" object");
	const json_t *t = json_object_get(r, "type");
	if (!json_is_string(t) || strcmp(json_string_value(t), "layers"))
		return image_err(err, errlen, -EBADMSG, "config: rootfs.type is not \"layers\"");
	const json_t *ids = json_object_get(r, "diff_ids");
	if (!json_is_array(ids))
		return image_err(err, errlen, -EBADMSG, "config: rootfs.diff_ids is not an array");
	if (json_array_size(ids) > OCI_LAYERS_MAX)
		return image_err(err, errlen, -EBADMSG, "config: more than %d rootfs.diff_ids",
				 OCI_LAYERS_MAX);
	for (size_t i = 0; i < json_array_size(ids); i++) {
		const json_t *v = json_array_get(ids, i);
		if (!json_is_string(v) || !digest_valid(json_string_value(v)))
			return image_err(err, errlen, -EBADMSG,
					 "config: rootfs.diff_ids[%zu] is not sha256:<64 hex>", i);
	}
	out->nlayers_diff = json_array_size(ids);
	return 0;
}

int oci_parse_config(const char *json, size_t len, struct oci_config *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(json, len, "config", err, errlen);
	if (!root)
		return -EBADMSG;
	int rc = get_str(root, "os", out->os, sizeof(out->os), false, "config", err, errlen);
	if (!rc)
		rc = get_str(root, "architecture", out->arch, sizeof(out->arch), false, "config",
			     err, errlen);
	if (!rc)
		rc = parse_rootfs(root, out, err, errlen);
	const json_t *c = json_object_get(root, "config");
	if (!rc && c && !json_is_null(c) && !json_is_object(c))
		rc = image_err(err, errlen, -EBADMSG, "config: \"config\" is not an object");
	if (!rc && json_is_object(c)) {
		rc = get_strv(c, "Env", &out->env, &out->nenv, true, err, errlen);
		if (!rc)
			rc = get_strv(c, "Entrypoint", &out->entrypoint, &out->nentrypoint, false,
				      err, errlen);
		if (!rc)
			rc = get_strv(c, "Cmd", &out->cmd, &out->ncmd, false, err, errlen);
		if (!rc)
			rc = get_dup(c, "WorkingDir", &out->working_dir, err, errlen);
		if (!rc)
			rc = get_dup(c, "User", &out->user, err, errlen);
	}
	json_decref(root);
	if (rc)
		oci_config_destroy(out);
	return rc;
}
