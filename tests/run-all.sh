#!/usr/bin/env bash
# The whole suite: unit tests, flint-init and its agent on the host, fuzzing, then every suite that
# boots a VM: tiny guests (plain and sanitized VMM), the control socket, end-to-end boots of the
# real kernel, flintd's API and the agentkernel SDK. Ends with "N passed, N failed, N skipped".
#
# The VM suites run through tools/with-kvm, all in one go: directly where /dev/kvm works, else in
# one outer VM (KVM nested under QEMU's TCG) booted once for all of them. The suites that need no
# KVM run here, at native speed (doctor runs on both sides: its answers differ). `tests/run-all.sh --vm` is that VM half on its own.
set -u
cd "$(dirname "$0")/.."
total_p=0 total_f=0 total_s=0

# Run one suite, show its output, and add the counts from its closing "N passed, N failed" line.
suite() {
	local name=$1
	shift
	echo "=== $name"
	local log t0=$SECONDS
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -aE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	rm -f "$log"
	local p f s
	p=$(sed -n 's/.*\b\([0-9]\+\) passed.*/\1/p' <<<"$line")
	f=$(sed -n 's/.*\b\([0-9]\+\) failed.*/\1/p' <<<"$line")
	s=$(sed -n 's/.*\b\([0-9]\+\) skipped.*/\1/p' <<<"$line")
	total_p=$((total_p + ${p:-0}))
	total_f=$((total_f + ${f:-0}))
	total_s=$((total_s + ${s:-0}))
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		echo "$name: exited with status $rc without reporting a failure" >&2
		total_f=$((total_f + 1))
	fi
	echo "--- $name: $((SECONDS - t0)) s"
}

VM_SUITES=(cli doctor guests guests-asan control control-asan e2e e2e-agent e2e-net images api api-net compat)
vm_suite() {
	case $1 in
	cli) suite cli bash tests/integration/test_cli.sh ;;
	doctor) suite doctor-kvm bash tests/integration/test_doctor.sh ;;
	guests) suite guests bash tests/integration/test_guests.sh ;;
	guests-asan) suite guests-asan env FLINT_VMM=build/flint-vmm-san bash tests/integration/test_guests.sh ;;
	control) suite control bash tests/integration/test_control.sh ;;
	control-asan) suite control-asan env FLINT_VMM=build/flint-vmm-san bash tests/integration/test_control.sh ;;
	e2e) suite e2e bash tests/e2e/test_oneshot.sh ;;
	e2e-agent) suite e2e-agent bash tests/e2e/test_agent_vm.sh ;;
	e2e-net) suite e2e-net bash tests/e2e/test_net_vm.sh ;;
	images) suite images bash tests/e2e/test_images_vm.sh ;;
	api) suite api bash tests/api/test_api.sh ;;
	api-net) suite api-net bash tests/api/test_net_api.sh ;;
	compat) suite compat bash tests/compat/run.sh ;;
	*)
		echo "FAIL - no VM suite named '$1' (FLINT_VM_SUITES: ${VM_SUITES[*]})"
		total_f=$((total_f + 1))
		;;
	esac
}

if [ "${1:-}" = --vm ]; then
	t0=$SECONDS
	echo "VM suites on: $(build/flint doctor --host 2>/dev/null || echo "an unknown host (no build/flint doctor)")"
	for s in ${FLINT_VM_SUITES:-${VM_SUITES[*]}}; do vm_suite "$s"; done
	echo "--- VM suites: $((SECONDS - t0)) s"
	echo "vm: $total_p passed, $total_f failed, $total_s skipped"
	[ "$total_f" -eq 0 ]
	exit
fi

t_all=$SECONDS
suite unit tests/run-unit.sh $(ls build/tests/unit/test_* | grep -v "\.d$")
suite cli-daemon bash tests/integration/test_cli_daemon.sh
suite init-host bash tests/integration/test_init_host.sh
suite agent-host bash tests/integration/test_agent_host.sh
suite doctor bash tests/integration/test_doctor.sh
suite with-kvm bash tests/integration/test_with_kvm.sh
suite image-registry bash tests/integration/test_image_registry.sh
suite fuzz tests/run-fuzz.sh "${FUZZ_SECONDS:-15}" $(ls build/fuzz/fuzz_* | grep -v "\.d$")
# What the VM half needs from the network (the outer VM has none) is fetched here first.
suite compat-sdk bash tests/compat/run.sh --install-sdk
# The Debian test images (docs/images.md): built once with mmdebstrap, then cached.
echo "=== test images"
t0=$SECONDS
if ! tests/images/build-test-images >/dev/null; then
	echo "FAIL - tests/images/build-test-images (the images suite needs its images)"
	total_f=$((total_f + 1))
fi
echo "--- test images: $((SECONDS - t0)) s"

echo "=== VM suites (${VM_SUITES[*]})"
t0=$SECONDS
log=$(mktemp)
tools/with-kvm tests/run-all.sh --vm 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -aE '^vm: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
rm -f "$log"
if [ "$rc" -eq 77 ]; then
	# Honest: no KVM and no way to make one; each VM suite counts as one skip.
	echo "skip - the VM suites: no usable /dev/kvm and no outer VM possible (see above)"
	total_s=$((total_s + ${#VM_SUITES[@]}))
elif [ -z "$line" ]; then
	echo "FAIL - the VM suites ended (status $rc) without their totals" >&2
	total_f=$((total_f + 1))
else
	p=$(sed -n 's/^vm: \([0-9]*\) passed.*/\1/p' <<<"$line")
	f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
	s=$(sed -n 's/.* \([0-9]*\) skipped.*/\1/p' <<<"$line")
	total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + ${s:-0}))
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { echo "VM suites: exited with status $rc without reporting a failure" >&2; total_f=$((total_f + 1)); }
fi
echo "--- VM suites, outer VM included: $((SECONDS - t0)) s"

echo
echo "make test: $((SECONDS - t_all)) s"
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
