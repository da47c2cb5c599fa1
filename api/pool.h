/*
 * The warm pool: VMs of one spec (the default image and settings) booted ahead of demand and
 * kept idle, so that `fast` requests and default sandboxes skip the boot. Bounded by its target;
 * one background thread refills it as VMs are taken or die. A VM leaves the pool at most once.
 */
#ifndef FLINTD_POOL_H
#define FLINTD_POOL_H

#include <stdbool.h>

#include "vm.h"

int pool_init(unsigned target, const struct vm_spec *spec);
/* Stop refilling and destroy the idle VMs (a boot in progress is waited for and destroyed). */
void pool_destroy(void);
/* A ready VM of exactly this spec (now owned by the caller), or NULL. */
struct vm *pool_take(const struct vm_spec *spec);
bool vm_spec_equal(const struct vm_spec *a, const struct vm_spec *b);
unsigned pool_ready(void);
unsigned pool_target(void);
const char *pool_image(void);

#endif
