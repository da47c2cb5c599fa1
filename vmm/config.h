/* flint-vmm's configuration, as parsed from the command line (vmm/args.c). */
#ifndef FLINT_CONFIG_H
#define FLINT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_DISKS_MAX 8u
#define CONFIG_VSOCK_CID_DEFAULT 3u
#define CONFIG_VSOCK_CID_MIN 3u		   /* 0-2 are reserved: hypervisor, local, host */
#define CONFIG_VSOCK_CID_MAX 0xfffffffeu /* 0xffffffff is VMADDR_CID_ANY */
#define CONFIG_VSOCK_PATH_MAX 96u	   /* PATH_<port> must still fit a Unix socket address */
#define CONFIG_NET_FWD_MAX 32u	   /* hostfwd= entries (flintd allows 32 ports) */
#define CONFIG_NET_ALLOW_MAX 32u   /* allow= entries */
#define CONFIG_NET_NAME_MAX 253u   /* a host name in allow=, as text */
#define CONFIG_NET_IFNAME_MAX 15u  /* a tap device's name (IFNAMSIZ - 1) */
#define CONFIG_NET_MTU_DEFAULT 1500u
#define CONFIG_CONTROL_PATH_MAX 107u	   /* a Unix socket address: sun_path less its NUL */

enum console_mode { CONSOLE_DEFAULT, CONSOLE_STDOUT, CONSOLE_FILE, CONSOLE_NONE };
enum pvm_mode { PVM_AUTO, PVM_ON, PVM_OFF };

struct disk_config {
	const char *path;
	bool readonly;
};

enum net_mode { NET_NONE, NET_USER, NET_TAP };

/* IPv4 addresses and masks in this file are in host byte order. */
struct net_fwd {
	bool udp;
	uint32_t host_addr;
	uint16_t host_port, guest_port;
};

/* allow=: a CIDR (name[0] == 0) or a host name allowed by the addresses DNS gives for it. */
struct net_allow {
	uint32_t addr;
	unsigned prefix;
	char name[CONFIG_NET_NAME_MAX + 1];
};

struct net_config {
	enum net_mode mode;
	char tap[CONFIG_NET_IFNAME_MAX + 1];
	uint8_t mac[6];
	bool mac_set;
	unsigned mtu;		/* 0: the backend's default */
	/* The guest's addressing (flint.net=); user mode fills it in, tap mode from ip=, gw=, dns=. */
	uint32_t guest_ip;	/* 0: no flint.net= (tap without ip=) */
	unsigned prefix;
	uint32_t gateway, dns;	/* 0: none */
	/* user mode */
	bool host_access;
	struct net_fwd fwd[CONFIG_NET_FWD_MAX];
	unsigned nr_fwd;
	struct net_allow allow[CONFIG_NET_ALLOW_MAX];
	unsigned nr_allow;
	uint32_t dns_upstream;	/* dns=: 0 means the first nameserver of the host's resolv.conf */
	uint16_t dns_upstream_port;
};

struct vm_config {
	const char *kernel;
	uint64_t mem_mib;
	unsigned cpus;
	struct disk_config disks[CONFIG_DISKS_MAX];
	unsigned nr_disks;
	enum console_mode console;
	const char *console_path;
	enum pvm_mode pvm;
	bool boot_trace;
	int verbose;
	const char *cmdline_extra; /* appended to the kernel command line */
	const char *vsock_path;	   /* --vsock: the host side's Unix socket; NULL: no vsock device */
	uint64_t vsock_cid;	   /* the guest's CID */
	struct net_config net;	   /* --net; mode NET_NONE: no network device */
	const char *control_path;  /* --control: the control socket; NULL: none */
	char *const *argv;         /* one-shot command, NULL-terminated; NULL: none */
	unsigned argc;
};

#endif
