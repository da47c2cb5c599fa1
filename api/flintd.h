/* flintd's process-wide settings, fixed after startup (read-only from then on). */
#ifndef FLINTD_H
#define FLINTD_H

#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "images.h"
#include "vm.h"

struct flintd_opts {
	const char *listen, *api_key_file, *state_dir, *images_file;
	unsigned pool, max_sandboxes, max_connections;
	unsigned boot_timeout_s; /* a VM that is not ready by then fails */
	unsigned exec_timeout_s; /* default per-command limit; 0: none */
	size_t max_output;	 /* bytes of output kept per command */
	unsigned default_ttl_s;	 /* sandboxes' time-to-live unless extended; 0: none */
	bool keep_sandboxes;	 /* on SIGTERM leave sandboxes running for the next flintd */
	bool verbose;
	struct vm_spec default_spec; /* what the pool boots */
	const char *boot_disk;	     /* flint's base image: every VM boots flint-init from it */
	const char *default_image;   /* a request without "image" gets this (--default-image) */
	bool pull_missing;	     /* --pull missing: pull unknown images on first use */
	struct net_globals net;	     /* --net-dns, --net-allow: every VM with a network */
};

extern struct flintd_opts flintd;
extern struct image_table flintd_images;
extern struct auth flintd_auth;

#endif
