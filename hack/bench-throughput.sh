#!/usr/bin/env bash
# Scheduling throughput, upstream default profile vs gpu-scheduler's, with scheduler_perf (test/perf).
#
#   hack/bench-throughput.sh [short|full|dra]
#
#   short  500 nodes x 8 GPUs, 1,000 GPU pods, 5 runs per profile (CI; 2-3 minutes)
#   full   5,000 nodes x 8 GPUs, 10,000 GPU pods, 5 runs per profile (10-11 minutes on 2 cores): one
#          run of a profile can be 30% below the next, and the median of five moves less (see
#          docs/results.md for how much)
#   dra    full's cluster with half the nodes' GPUs published through DRA (a DeviceClass mapping
#          nvidia.com/gpu, a ResourceSlice of 8 devices per node), 1 run per profile
#
# Each run of each profile is a process of its own, alternating which profile starts, and each profile's median
# SchedulingThroughput is compared. Prints both pods/s and the ratio (goal: gpu-scheduler >= 0.95x
# default) and writes _output/bench/throughput.json (and throughput-<variant>.json):
#   {"default_pods_per_s", "gpu_scheduler_pods_per_s", "ratio", "nodes", "pods", "variant", ...,
#    "default_runs_pods_per_s", "gpu_scheduler_runs_pods_per_s" (each run),
#    "default_runs_batch_hints_used", "gpu_scheduler_runs_batch_hints_used" (each run's Pods placed
#    from a kube-scheduler batch hint; left out unless every run of both profiles counted them)}
#
# Environment:
#   BENCH_COUNT     runs per profile (default: short 5, full 5, dra 1)
#   BENCH_ARGS      extra test binary flags, e.g. "-v=0", or "-test.cpuprofile=/tmp/cpu.out" (each
#                   process overwrites it; the binary is _output/bench/perf.test, for `go tool pprof`)
#   BATCHING        off: both profiles with kube-scheduler's OpportunisticBatching gate off (it is on
#                   by default); the summary goes to throughput-<variant>-nobatching.json
# scheduler_perf starts its own etcd: bin/etcd is built if missing and put first on PATH. Its data
# directory goes to /dev/shm where that is a tmpfs (TMPDIR), and etcd skips fsync, so that disk
# latency, which neither profile controls, is not part of what is measured.
# Logs of failed workloads stay in _output/bench/logs; scheduler_perf's data items in
# _output/bench/data-items.
set -euo pipefail

variant=${1:-short}
perf_config=performance-config.yaml
case "$variant" in
short) count=${BENCH_COUNT:-5} minutes_per_run=5 ;;
full) count=${BENCH_COUNT:-5} minutes_per_run=45 ;;
dra) count=${BENCH_COUNT:-1} minutes_per_run=45 perf_config=performance-config-dra.yaml ;;
-h | --help)
	sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "usage: $0 [short|full|dra]" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
GO=${GO:-go}

if [[ ! -x bin/etcd ]]; then
	make bin/etcd
fi
export PATH="$root/bin:$PATH"
if [[ -d /dev/shm && -w /dev/shm ]]; then
	export TMPDIR=/dev/shm
fi
export ETCD_UNSAFE_NO_FSYNC=true

out=$root/_output/bench
batching=true
case "${BATCHING:-on}" in
on) ;;
off) batching=false ;;
*)
	echo "BATCHING=$BATCHING: want on or off" >&2
	exit 2
	;;
esac
rm -rf "$out/data-items" "$out/logs" "$out/throughput.json" "$out/throughput-$variant.json" "$out/throughput-$variant-nobatching.json"
mkdir -p "$out/logs"
export ARTIFACTS=$out/logs

# Each run of each profile is a process of its own (scheduler_perf keeps a workload's scheduler
# reachable until its process ends, and a run beside an earlier one's heap is slower); odd runs start
# with default, even runs with gpu-scheduler. The processes append their samples to samples.jsonl,
# summarised at the end.
"$GO" test -c -o "$out/perf.test" ./test/perf/
rm -f "$out/samples.jsonl"
start=$(date +%s)
cd "$root/test/perf"
for i in $(seq 1 "$count"); do
	order=(default gpu-scheduler)
	if ((i % 2 == 0)); then
		order=(gpu-scheduler default)
	fi
	for profile in "${order[@]}"; do
		# shellcheck disable=SC2086 # BENCH_ARGS is a word list
		"$out/perf.test" -test.run '^$' -test.bench "^BenchmarkPerfScheduling\$/^$profile\$/" -test.benchtime 1x \
			-test.timeout "${minutes_per_run}m" -perf-scheduling-label-filter="performance,$variant" -perf-config="$perf_config" \
			-bench-out "$out" -data-items-dir "$out/data-items/$i-$profile" -batching="$batching" ${BENCH_ARGS:-}
	done
done
"$out/perf.test" -test.run '^$' -summarize -bench-out "$out" -batching="$batching"
cd "$root"
echo "bench-throughput $variant: $(($(date +%s) - start))s wall, $out/throughput.json:"
cat "$out/throughput.json"
