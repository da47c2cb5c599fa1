/* The guest kernel command line, built with every length checked. */
#include "cmdline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../common/flint_port.h"
#include "layout.h"
#include "log.h"
#include "net/frame.h"

int base64url_encode(char *out, size_t cap, const unsigned char *in, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
	if (need >= cap || need > (size_t)0x7fffffff)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = tab[(v >> 6) & 63];
		if (i + 2 < len)
			out[o++] = tab[v & 63];
	}
	out[o] = '\0';
	return (int)o;
}

struct buf {
	char *p;
	size_t cap, len;
	bool overflow;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	if (b->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->overflow = true;
		b->p[b->len] = '\0';
		return;
	}
	b->len += (size_t)n;
}

/* The one-shot argv, NUL-separated, base64url'd so no quoting rule of Linux's parser applies. */
static int put_run(struct buf *b, const struct vm_config *cfg)
{
	unsigned char raw[LAYOUT_CMDLINE_MAX];
	size_t n = 0;
	for (unsigned i = 0; i < cfg->argc; i++) {
		size_t l = strlen(cfg->argv[i]) + 1;
		if (l > sizeof(raw) - n) {
			log_err("the command is too long for the kernel command line "
				"(the agent, not the command line, carries long commands)");
			return -E2BIG;
		}
		memcpy(raw + n, cfg->argv[i], l);
		n += l;
	}
	char enc[LAYOUT_CMDLINE_MAX];
	if (base64url_encode(enc, sizeof(enc), raw, n) < 0) {
		log_err("the command is too long for the kernel command line");
		return -E2BIG;
	}
	put(b, " " FLINT_CMDLINE_RUN "%s", enc);
	return 0;
}

/* flint.net=ADDR/PREFIX,GATEWAY,DNS,MTU for flint-init (the kernel's ip= would wait for links). */
static void put_net(struct buf *b, const struct net_config *n)
{
	char a[16], g[16] = "", d[16] = "";
	if (n->mode == NET_NONE || !n->guest_ip)
		return;
	if (n->gateway)
		ip4_str(n->gateway, g);
	if (n->dns)
		ip4_str(n->dns, d);
	put(b, " " FLINT_CMDLINE_NET "%s/%u,%s,%s,%u", ip4_str(n->guest_ip, a), n->prefix, g, d,
	    n->mtu ? n->mtu : CONFIG_NET_MTU_DEFAULT);
}

int cmdline_build(char *out, size_t cap, const struct vm_config *cfg, bool pvm, unsigned nr_mmio)
{
	struct buf b = { .p = out, .cap = cap };
	if (cap == 0)
		return -E2BIG;
	out[0] = '\0';
	/*
	 * reboot=k: a reboot is a write to the i8042 port, which we see.
	 * panic=-1: a panic reboots at once instead of hanging the vCPU.
	 * io_delay=none, no_timer_check: skip port-0x80 delays and the PIT check, pure boot cost.
	 */
	put(&b, "console=ttyS0 reboot=k panic=-1 io_delay=none no_timer_check"
		" flint_port=0x%x",
	    FLINT_PORT);
	if (cfg->verbose == 0)
		put(&b, " quiet");
	/* The root is always mounted read-only: flint-init layers each VM's writes over it. */
	if (cfg->nr_disks > 0)
		put(&b, " root=/dev/vda ro rootfstype=ext4 init=/sbin/flint-init");
	for (unsigned i = 0; i < nr_mmio; i++)
		put(&b, " virtio_mmio.device=4K@0x%llx:%u",
		    (unsigned long long)(LAYOUT_VIRTIO_BASE + i * LAYOUT_VIRTIO_STRIDE),
		    LAYOUT_VIRTIO_IRQ_BASE + i);
	if (pvm)
		put(&b, " " CMDLINE_PVM_FLAGS);
	put_net(&b, &cfg->net);
	if (cfg->argc > 0) {
		int r = put_run(&b, cfg);
		if (r < 0)
			return r;
	}
	if (cfg->cmdline_extra && cfg->cmdline_extra[0])
		put(&b, " %s", cfg->cmdline_extra);
	if (b.overflow) {
		log_err("the kernel command line would exceed %zu bytes (a shorter command or "
			"--cmdline-extra helps)",
			cap - 1);
		return -E2BIG;
	}
	return 0;
}
