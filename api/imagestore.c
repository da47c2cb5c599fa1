/* flintd and the image store: resolve, pull once for many requests, apply run settings. */
#include "imagestore.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../image/catalog.h"
#include "../image/pull.h"
#include "flintd.h"
#include "log.h"

static struct store store;
static bool store_ok;
static enum imagestore_pull pull_mode;

/* Run settings by digest, loaded once: a digest's settings never change. */
struct cfg_entry {
	char digest[DIGEST_STR_MAX];
	struct image_info info;
	struct cfg_entry *next;
};

/* A pull in progress, joined by every request for the same name. */
struct inflight {
	char name[REF_STR_MAX];
	bool done;
	int rc;
	char err[1024];
	unsigned refs;
	pthread_cond_t cv;
	struct inflight *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cfg_entry *cfgs;
static struct inflight *pulls;

int imagestore_init(const char *state_dir, enum imagestore_pull pull, char *err, size_t errlen)
{
	char dir[STORE_PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/images", state_dir) >= (int)sizeof(dir)) {
		snprintf(err, errlen, "state dir path too long");
		return -ENAMETOOLONG;
	}
	int r = store_open(&store, dir, err, errlen);
	if (r)
		return r;
	store_ok = true;
	pull_mode = pull;
	return 0;
}

void imagestore_destroy(void)
{
	pthread_mutex_lock(&lock);
	while (cfgs) {
		struct cfg_entry *e = cfgs;
		cfgs = e->next;
		image_info_destroy(&e->info);
		free(e);
	}
	pthread_mutex_unlock(&lock);
	store_ok = false;
}

/* The cached settings of a digest (loaded on first use); NULL when not installed. */
static const struct image_info *cfg_get(const char *digest)
{
	pthread_mutex_lock(&lock);
	struct cfg_entry *e;
	for (e = cfgs; e; e = e->next)
		if (!strcmp(e->digest, digest))
			break;
	if (!e && (e = calloc(1, sizeof(*e)))) {
		char err[256];
		char ref[DIGEST_STR_MAX];
		snprintf(ref, sizeof(ref), "%s", digest);
		if (catalog_lookup(&store, ref, &e->info, err, sizeof(err)) == 0) {
			snprintf(e->digest, sizeof(e->digest), "%s", digest);
			e->next = cfgs;
			cfgs = e;
		} else {
			free(e);
			e = NULL;
		}
	}
	pthread_mutex_unlock(&lock);
	return e ? &e->info : NULL;
}

static void pull_log(void *ctx, const char *line)
{
	log_info("images", "%s: %s", (const char *)ctx, line);
}

/* Pull name, or wait for the pull of it already running. */
static int pull_shared(const char *name, char *err, size_t errlen)
{
	pthread_mutex_lock(&lock);
	struct inflight *p;
	for (p = pulls; p; p = p->next)
		if (!strcmp(p->name, name))
			break;
	if (p) {
		p->refs++;
		while (!p->done)
			pthread_cond_wait(&p->cv, &lock);
	} else if ((p = calloc(1, sizeof(*p)))) {
		snprintf(p->name, sizeof(p->name), "%s", name);
		pthread_cond_init(&p->cv, NULL);
		p->refs = 1;
		p->next = pulls;
		pulls = p;
		pthread_mutex_unlock(&lock);

		struct registry_opts o = {0};
		struct registry_env env;
		registry_opts_from_env(&o, &env);
		log_info("images", "pulling %s", name);
		int rc = image_pull(&store, name, NULL, &o, pull_log, (void *)name, NULL, p->err,
				    sizeof(p->err));
		if (rc)
			log_warn("images", "pull %s: %s", name, p->err);
		else
			log_info("images", "pulled %s", name);

		pthread_mutex_lock(&lock);
		p->rc = rc;
		p->done = true;
		/* Later requests must see the store, not this result: unlist it now. */
		for (struct inflight **pp = &pulls; *pp; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				break;
			}
		pthread_cond_broadcast(&p->cv);
	} else {
		pthread_mutex_unlock(&lock);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = p->rc;
	snprintf(err, errlen, "%s", p->err);
	if (--p->refs == 0) {
		pthread_cond_destroy(&p->cv);
		free(p);
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int imagestore_resolve(const char *name, struct vm_spec *spec, char *err, size_t errlen)
{
	struct image_info info;
	char e[1024];
	if (!store_ok) {
		snprintf(err, errlen, "Unknown image '%s' (flintd has no image store)", name);
		return 400;
	}
	int r = catalog_lookup(&store, name, &info, e, sizeof(e));
	if (r == -ENOENT && pull_mode == IMAGESTORE_PULL_MISSING) {
		r = pull_shared(name, e, sizeof(e));
		if (r) {
			snprintf(err, errlen, "Cannot pull image '%s': %s", name, e);
			return r == -EINVAL ? 400 : r == -ENOENT ? 404 : 502;
		}
		r = catalog_lookup(&store, name, &info, e, sizeof(e));
	}
	if (r == -ENOENT) {
		snprintf(err, errlen,
			 "Unknown image '%s': %s. Pull it with 'flint image pull %s' (or start "
			 "flintd with --pull missing); 'base' is flint's built-in image",
			 name, e, name);
		return 400;
	}
	if (r) {
		snprintf(err, errlen, "Image '%s': %s", name, e);
		return r == -EINVAL ? 400 : 500;
	}
	snprintf(spec->image, sizeof(spec->image), "%s", info.name);
	snprintf(spec->image_digest, sizeof(spec->image_digest), "%s", info.digest);
	snprintf(spec->rootfs, sizeof(spec->rootfs), "%s", info.rootfs);
	image_info_destroy(&info);
	/* Cached now: an image removed from the store later keeps its settings for its VMs. */
	if (!cfg_get(spec->image_digest)) {
		snprintf(err, errlen,
			 "Image '%s' was removed from the store while it was looked up", name);
		return 400;
	}
	return 0;
}

bool imagestore_apply(const struct vm_spec *spec, const char *const **env, const char **cwd,
		      const char **user, const char **buf, size_t cap)
{
	if (!spec->image_digest[0] || !store_ok)
		return true;
	const struct image_info *i = cfg_get(spec->image_digest);
	if (!i)
		return true; /* removed from the store since: the VM has its disk open still */
	size_t nover = 0;
	while (*env && (*env)[nover])
		nover++;
	if (i->cfg.nenv + nover + 1 > cap)
		return false;
	image_env_merge(&i->cfg, *env, nover, buf);
	*env = buf;
	if (!*cwd)
		*cwd = i->cfg.cwd;
	if (!*user)
		*user = i->cfg.user;
	return true;
}

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t k = 0; k < n; k++)
		json_array_append_new(a, json_string(v[k]));
	return a;
}

static json_t *settings_json(const struct image_info *i)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "env",
			 strv_json(i->cfg.env, i->cfg.nenv), "working_dir",
			 i->cfg.cwd ? json_string(i->cfg.cwd) : json_null(), "user",
			 i->cfg.user_name ? json_string(i->cfg.user_name) : json_null(), "uid_gid",
			 i->cfg.user ? json_string(i->cfg.user) : json_null(), "entrypoint",
			 strv_json(i->cfg.entrypoint, i->cfg.nentrypoint), "cmd",
			 strv_json(i->cfg.cmd, i->cfg.ncmd));
}

char *imagestore_settings_json(const struct vm_spec *spec)
{
	if (!spec->image_digest[0])
		return NULL;
	const struct image_info *i = cfg_get(spec->image_digest);
	if (!i)
		return NULL;
	json_t *o = settings_json(i);
	/* A header value: one line of ASCII (control characters are escaped by jansson, DEL here).
	 */
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	size_t n = 0, dels = 0;
	for (; s && s[n]; n++)
		dels += s[n] == 0x7f;
	if (!s || !dels)
		return s;
	char *e = malloc(n + dels * 5 + 1), *q = e;
	for (size_t k = 0; e && k < n; k++) {
		if (s[k] == 0x7f) {
			memcpy(q, "\\u007f", 6);
			q += 6;
		} else {
			*q++ = s[k];
		}
	}
	if (e)
		*q = '\0';
	free(s);
	return e;
}

json_t *imagestore_list(void)
{
	json_t *a = json_array();
	for (size_t k = 0; k < flintd_images.n; k++)
		json_array_append_new(a,
				      json_pack("{s:s, s:s, s:b}", "name", flintd_images.v[k].name,
						"path", flintd_images.v[k].path, "builtin", 1));
	struct image_info *v = NULL;
	size_t n = 0;
	char err[256];
	if (store_ok && catalog_list(&store, &v, &n, err, sizeof(err)) == 0) {
		for (size_t k = 0; k < n; k++)
			json_array_append_new(
			    a,
			    json_pack("{s:s, s:s, s:I, s:I, s:i, s:I, s:o, s:b}", "name", v[k].name,
				      "digest", v[k].digest, "size", (json_int_t)v[k].content_bytes,
				      "disk_bytes", (json_int_t)v[k].rootfs_bytes, "layers",
				      (int)v[k].layers, "created", (json_int_t)v[k].created,
				      "config", settings_json(&v[k]), "builtin", 0));
		catalog_list_free(v, n);
	}
	return a;
}
