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
#define CONFIG_CONTROL_PATH_MAX 107u	   /* a Unix socket address: sun_path less its NUL */

enum console_mode { CONSOLE_DEFAULT, CONSOLE_STDOUT, CONSOLE_FILE, CONSOLE_NONE };
enum pvm_mode { PVM_AUTO, PVM_ON, PVM_OFF };

struct disk_config {
	const char *path;
	bool readonly;
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
	const char *control_path;  /* --control: the control socket; NULL: none */
	char *const *argv;         /* one-shot command, NULL-terminated; NULL: none */
	unsigned argc;
};

#endif
