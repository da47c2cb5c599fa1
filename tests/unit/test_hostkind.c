/* Unit tests for host/hostkind.c: the decision from made-up facts, the names and the descriptions
 * (hostile signatures included), and a probe of this host that must create nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../host/hostkind.h"

static struct hostkind_facts facts(bool dev, bool pvm, bool hv, const char sig[12])
{
	struct hostkind_facts f = { .kvm_chardev = dev, .pvm_module = pvm, .hv_bit = hv };
	if (sig)
		memcpy(f.hv_sig, sig, sizeof(f.hv_sig));
	return f;
}

static const char *describe(const struct hostkind_facts *f, char *buf)
{
	return hostkind_describe(hostkind_decide(f), f, buf, HOSTKIND_DESC_MAX);
}

static void test_none_without_chardev(void **state)
{
	(void)state;
	/* Nothing else counts without the device: not the module, not a hypervisor below. */
	struct hostkind_facts f = facts(false, true, true, "KVMKVMKVM\0\0\0");
	assert_int_equal(hostkind_decide(&f), HOSTKIND_NONE);
	f = facts(false, false, false, NULL);
	assert_int_equal(hostkind_decide(&f), HOSTKIND_NONE);
	char buf[HOSTKIND_DESC_MAX];
	assert_string_equal(describe(&f, buf), "no KVM");
	assert_string_equal(hostkind_name(HOSTKIND_NONE), "none");
}

static void test_hardware(void **state)
{
	(void)state;
	/* Without the hypervisor bit the signature is another leaf's data and means nothing. */
	struct hostkind_facts f = facts(true, false, false, "TCGTCGTCGTCG");
	assert_int_equal(hostkind_decide(&f), HOSTKIND_HARDWARE);
	char buf[HOSTKIND_DESC_MAX];
	assert_string_equal(describe(&f, buf), "hardware KVM");
	assert_string_equal(hostkind_name(HOSTKIND_HARDWARE), "hardware");
}

static void test_pvm_wins(void **state)
{
	(void)state;
	struct hostkind_facts f = facts(true, true, true, "KVMKVMKVM\0\0\0");
	assert_int_equal(hostkind_decide(&f), HOSTKIND_PVM);
	f = facts(true, true, false, NULL);
	assert_int_equal(hostkind_decide(&f), HOSTKIND_PVM);
	f = facts(true, true, true, "TCGTCGTCGTCG");
	assert_int_equal(hostkind_decide(&f), HOSTKIND_PVM);
	char buf[HOSTKIND_DESC_MAX];
	assert_string_equal(describe(&f, buf), "PVM (guest kernel emulated)");
	assert_string_equal(hostkind_name(HOSTKIND_PVM), "pvm");
}

static void test_nested_tcg(void **state)
{
	(void)state;
	struct hostkind_facts f = facts(true, false, true, "TCGTCGTCGTCG");
	assert_int_equal(hostkind_decide(&f), HOSTKIND_NESTED_TCG);
	char buf[HOSTKIND_DESC_MAX];
	assert_string_equal(describe(&f, buf), "nested KVM under TCG (emulated: ratios only)");
	assert_string_equal(hostkind_name(HOSTKIND_NESTED_TCG), "nested-tcg");
	/* Only the whole signature: a near miss is some other hypervisor. */
	f = facts(true, false, true, "TCGTCGTCGTCX");
	assert_int_equal(hostkind_decide(&f), HOSTKIND_NESTED);
}

static void test_nested_signatures(void **state)
{
	(void)state;
	char buf[HOSTKIND_DESC_MAX];
	struct hostkind_facts f = facts(true, false, true, "KVMKVMKVM\0\0\0");
	assert_int_equal(hostkind_decide(&f), HOSTKIND_NESTED);
	assert_string_equal(describe(&f, buf), "nested KVM under KVMKVMKVM (hardware-assisted)");
	assert_string_equal(hostkind_name(HOSTKIND_NESTED), "nested");
	f = facts(true, false, true, "Microsoft Hv");
	assert_string_equal(describe(&f, buf), "nested KVM under Microsoft Hv (hardware-assisted)");
	f = facts(true, false, true, "VMwareVMware");
	assert_string_equal(describe(&f, buf), "nested KVM under VMwareVMware (hardware-assisted)");
	/* The bit with an all-zero leaf: still nested, and said so without an empty name. */
	f = facts(true, false, true, "\0\0\0\0\0\0\0\0\0\0\0\0");
	assert_int_equal(hostkind_decide(&f), HOSTKIND_NESTED);
	assert_string_equal(describe(&f, buf),
			    "nested KVM under an unnamed hypervisor (hardware-assisted)");
}

static void test_hostile_signature(void **state)
{
	(void)state;
	char buf[HOSTKIND_DESC_MAX];
	/* Escapes, newlines and high bytes must not reach a terminal or a parser of --host. */
	struct hostkind_facts f = facts(true, false, true, "\x1b[2J\nA\xff\x80\x7f\tB\r");
	assert_string_equal(describe(&f, buf), "nested KVM under ?[2J?A????B? (hardware-assisted)");
	assert_null(strchr(buf, '\n'));
}

static void test_describe_small_buffers(void **state)
{
	(void)state;
	struct hostkind_facts f = facts(true, false, true, "KVMKVMKVM\0\0\0");
	char buf[8];
	memset(buf, 'x', sizeof(buf));
	hostkind_describe(HOSTKIND_NESTED, &f, buf, sizeof(buf));
	assert_string_equal(buf, "nested ");
	buf[0] = 'x';
	hostkind_describe(HOSTKIND_NESTED, &f, buf, 0);
	assert_int_equal(buf[0], 'x');
	/* The longest text fits HOSTKIND_DESC_MAX uncut. */
	char big[HOSTKIND_DESC_MAX];
	f = facts(true, false, true, "\0\0\0\0\0\0\0\0\0\0\0\0");
	assert_true(strlen(describe(&f, big)) < sizeof(big) - 1);
	f = facts(true, false, true, "ABCDEFGHIJKL");
	assert_string_equal(describe(&f, big), "nested KVM under ABCDEFGHIJKL (hardware-assisted)");
}

static void test_probe_creates_nothing(void **state)
{
	(void)state;
	struct stat before, after;
	bool had = lstat("/dev/kvm", &before) == 0;
	struct hostkind_facts f;
	hostkind_probe(&f);
	assert_int_equal(lstat("/dev/kvm", &after) == 0, had);
	assert_int_equal(f.kvm_chardev, had && S_ISCHR(before.st_mode));
	assert_int_equal(f.pvm_module, access("/sys/module/kvm_pvm", F_OK) == 0);
	if (!f.hv_bit)
		assert_int_not_equal(hostkind_decide(&f), HOSTKIND_NESTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_none_without_chardev),
		cmocka_unit_test(test_hardware),
		cmocka_unit_test(test_pvm_wins),
		cmocka_unit_test(test_nested_tcg),
		cmocka_unit_test(test_nested_signatures),
		cmocka_unit_test(test_hostile_signature),
		cmocka_unit_test(test_describe_small_buffers),
		cmocka_unit_test(test_probe_creates_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
