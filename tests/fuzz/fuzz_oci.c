/*
 * libFuzzer harness for image/oci.c: every input is parsed as an index, a manifest and a config
 * (registries and archives hand us all three). Beyond "no crash, no leak": whatever is accepted
 * honours the caps and holds only valid digests, strings fit their buffers, errors are non-empty,
 * and a pick returns an entry of the index or -ENOENT.
 *
 *   make build/fuzz/fuzz_oci && build/fuzz/fuzz_oci -max_total_time=60 tests/fuzz/corpus/fuzz_oci
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_desc(const struct oci_desc *d)
{
	check(digest_valid(d->digest));
	check(d->size <= INT64_MAX);
	check(memchr(d->media_type, '\0', sizeof(d->media_type)) != NULL);
	check(memchr(d->os, '\0', sizeof(d->os)) != NULL);
	check(memchr(d->arch, '\0', sizeof(d->arch)) != NULL);
	check(memchr(d->variant, '\0', sizeof(d->variant)) != NULL);
}

static void check_strv(char **v, size_t n)
{
	check(n <= OCI_ARGV_MAX);
	check(!v == !n || (v && !n));
	for (size_t i = 0; v && i < n; i++)
		check(v[i] != NULL);
	if (v)
		check(v[n] == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	char err[256];

	enum oci_kind k = oci_detect(json, size, "application/vnd.oci.image.index.v1+json");
	check(k == OCI_KIND_UNKNOWN || k == OCI_KIND_INDEX || k == OCI_KIND_MANIFEST);

	struct oci_index ix;
	err[0] = '\0';
	int rc = oci_parse_index(json, size, &ix, err, sizeof(err));
	if (rc == 0) {
		check(ix.n <= OCI_INDEX_MAX);
		for (size_t i = 0; i < ix.n; i++)
			check_desc(&ix.v[i]);
		int p = oci_index_pick(&ix, "linux", "amd64", err, sizeof(err));
		check(p == -ENOENT || (p >= 0 && (size_t)p < ix.n));
		if (p >= 0)
			check(!strcmp(ix.v[p].os, "linux") && !strcmp(ix.v[p].arch, "amd64"));
		else
			check(err[0] != '\0');
		oci_index_destroy(&ix);
	} else {
		check(rc == -EBADMSG || rc == -ENOMEM);
		check(err[0] != '\0' && ix.v == NULL);
	}

	struct oci_manifest *m = malloc(sizeof(*m));
	check(m != NULL);
	err[0] = '\0';
	rc = oci_parse_manifest(json, size, m, err, sizeof(err));
	if (rc == 0) {
		check(m->nlayers <= OCI_LAYERS_MAX);
		check_desc(&m->config);
		for (size_t i = 0; i < m->nlayers; i++) {
			check_desc(&m->layers[i]);
			check(oci_layer_media_ok(m->layers[i].media_type));
		}
	} else {
		check(err[0] != '\0' && m->nlayers == 0);
	}
	free(m);

	struct oci_config c;
	err[0] = '\0';
	rc = oci_parse_config(json, size, &c, err, sizeof(err));
	if (rc == 0) {
		check_strv(c.env, c.nenv);
		check_strv(c.entrypoint, c.nentrypoint);
		check_strv(c.cmd, c.ncmd);
		for (size_t i = 0; i < c.nenv; i++)
			check(strchr(c.env[i], '=') != NULL && c.env[i][0] != '=');
		check(c.nlayers_diff <= OCI_LAYERS_MAX);
		check(!c.working_dir || c.working_dir[0]);
		oci_config_destroy(&c);
	} else {
		check(err[0] != '\0' && c.env == NULL && c.cmd == NULL);
	}
	return 0;
}
