#!/usr/bin/env bash
# Times the hand-written baseline and `cargo bench --bench baseline` (the same five
# workloads, weights and data) back to back on one core, baseline / stackprop / baseline,
# and prints stackprop's median over the baseline's (ratios below 1: stackprop faster).
#
#   scripts/baseline-compare.sh                      default target, native, native 512-bit
#   scripts/baseline-compare.sh default native       some configurations
#   BASELINE=/path/to/baselines CPU=1 scripts/baseline-compare.sh
#
# BASELINE is the folder holding the baseline's run.sh (default: ../shared/baselines
# beside the repository). The 512-bit configuration needs AVX-512 and is skipped without it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
baseline="${BASELINE:-$root/../shared/baselines}"
cpu="${CPU:-0}"
if [[ ! -x "$baseline/run.sh" ]]; then
    echo "error: no baseline at $baseline (set BASELINE to the folder holding run.sh)" >&2
    exit 2
fi
configs=("$@")
[[ ${#configs[@]} -gt 0 ]] || configs=(default native native512)
out="${TMPDIR:-/tmp}/stackprop-baseline-compare"
mkdir -p "$out"

for config in "${configs[@]}"; do
    case "$config" in
        default) flags="" ;;
        native) flags="-C target-cpu=native -C target-feature=+prefer-no-gather,+prefer-no-scatter" ;;
        native512)
            if ! grep -q avx512f /proc/cpuinfo; then
                echo "== native512: skipped, this CPU has no AVX-512"
                continue
            fi
            flags="-C target-cpu=native -C target-feature=+prefer-no-gather,+prefer-no-scatter,-prefer-256-bit" ;;
        *) echo "error: unknown configuration '$config' (default, native, native512)" >&2; exit 2 ;;
    esac
    echo "== $config: building"
    target="$root/target/baseline-$config"
    RUSTFLAGS="$flags" CARGO_TARGET_DIR="$target" cargo bench --quiet --bench baseline --no-run 2>/dev/null
    RUSTFLAGS="$flags" "$baseline/run.sh" --fingerprint >/dev/null 2>&1
    echo "== $config: timing on cpu $cpu (baseline, stackprop, baseline)"
    RUSTFLAGS="$flags" taskset -c "$cpu" "$baseline/run.sh" >"$out/$config-baseline-1.txt" 2>/dev/null
    (cd "$root" && RUSTFLAGS="$flags" CARGO_TARGET_DIR="$target" taskset -c "$cpu" \
        cargo bench --quiet --bench baseline >"$out/$config-stackprop.txt" 2>&1)
    RUSTFLAGS="$flags" taskset -c "$cpu" "$baseline/run.sh" >"$out/$config-baseline-2.txt" 2>/dev/null
    python3 - "$config" "$out" "$target/criterion" <<'PY'
import json, sys, os
config, out, crit = sys.argv[1:]
def hand(path):
    # The baseline prints its two kernels' rows interleaved, its own ("hand") first.
    rows, checks = {}, {}
    for line in open(path):
        f = line.split()
        if line.startswith("check"):
            checks.setdefault(f[1], line.split(None, 2)[2].strip())
        elif len(f) >= 3 and not line.startswith(("#", "workload")):
            rows.setdefault((f[0], f[1]), float(f[2]))
    return rows, checks
b1, checks = hand(f"{out}/{config}-baseline-1.txt")
b2, _ = hand(f"{out}/{config}-baseline-2.txt")
ours = {}
for line in open(f"{out}/{config}-stackprop.txt"):
    if line.startswith("check"):
        name = line.split()[1]
        vals = lambda text: [float(v.split("=")[1]) for v in text.split()[1:]]
        ours, theirs = vals(line.split(None, 2)[2]), vals(checks.get(name, "steps=0"))
        if len(ours) != len(theirs):
            print(f"   {name:<11} check: no baseline losses to compare")
            continue
        diff = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(ours, theirs))
        verdict = "the same losses" if diff <= 1e-4 else "LOSSES DIFFER from the baseline's"
        print(f"   {name:<11} check: {verdict} (largest relative difference {diff:.1e})")
print(f"   {'workload':<11} {'kind':<6} {'baseline ns (runs 1, 2)':>24} {'stackprop ns':>13} {'ratio':>6}")
for (w, k), t1 in b1.items():
    est = os.path.join(crit, w, k, "new", "estimates.json")
    if not os.path.exists(est):
        continue
    ns = json.load(open(est))["median"]["point_estimate"]
    t2 = b2.get((w, k), t1)
    base = (t1 + t2) / 2
    print(f"   {w:<11} {k:<6} {t1:>11.1f} {t2:>11.1f}  {ns:>13.1f} {ns / base:>6.2f}")
PY
done
