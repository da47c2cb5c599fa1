/* PVM host detection: the kvm_pvm module is loaded. */
#include "pvm.h"

#include <unistd.h>

bool pvm_host_detect(void)
{
	/* The module's sysfs directory exists exactly when PVM backs /dev/kvm. */
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}
