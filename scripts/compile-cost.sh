#!/usr/bin/env bash
# Compile cost of generated networks: the release build time of a crate that holds one
# network, and the size of the code the macro emits for it, for networks of growing size,
# straight-line (unroll = true) and as loops (unroll = false, the default above 1024
# weights per layer).
#
# Each network lives in its own throwaway crate under target/compile-cost/, which depends
# on this checkout by path. The dependencies are built once first; each measurement then
# rebuilds only the crate that holds the network (its main.rs is touched), which is the
# cost a user pays on each change. The time is the best of RUNS builds (default 2).
#
# Usage: scripts/compile-cost.sh            (all networks)
#        RUNS=1 scripts/compile-cost.sh     (one build each)
#        RUSTFLAGS="-C target-cpu=native" scripts/compile-cost.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/target/compile-cost"
runs="${RUNS:-2}"
export CARGO_TARGET_DIR="$work/target"
mkdir -p "$work"

# name | unroll | input | layers (width:activation, space separated) | loss
networks=(
  "8-16-2 unrolled|true|8|16:Tanh 2:Sigmoid|mse"
  "8-64-2 unrolled|true|8|64:Tanh 2:Sigmoid|mse"
  "8-256-2 unrolled|true|8|256:Tanh 2:Sigmoid|mse"
  "8-512-2 unrolled|true|8|512:Tanh 2:Sigmoid|mse"
  "64-32-10 unrolled|true|64|32:Relu 10:Softmax|cross_entropy"
  "64-32-10 looped|false|64|32:Relu 10:Softmax|cross_entropy"
  "784-128-10 looped|false|784|128:Relu 10:Softmax|cross_entropy"
  "784-256-256-10 looped|false|784|256:Relu 256:Relu 10:Softmax|cross_entropy"
  "784-512-512-10 looped|false|784|512:Relu 512:Relu 10:Softmax|cross_entropy"
)

crate_for() {
  local dir="$1" unroll="$2" input="$3" layers="$4" loss="$5"
  mkdir -p "$dir/src"
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "compile-cost-net"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
stackprop = { path = "$root" }

[workspace]
TOML
  {
    echo "use stackprop::prelude::*;"
    echo
    echo "#[network(input = $input, loss = $loss, unroll = $unroll)]"
    echo "pub struct Net {"
    local k=0
    for layer in $layers; do
      echo "    l$k: Dense<${layer%%:*}, ${layer##*:}>,"
      k=$((k + 1))
    done
    echo "}"
    echo
    echo "fn main() {"
    echo "    let mut net = Box::new(Net::zeroed());"
    echo "    net.init_with(&mut stackprop::SplitMix64::new(1));"
    echo "    let mut opt = Sgd::<[f32; Net::PARAMS]>::new(0.01);"
    echo "    let x = [0.5_f32; Net::INPUT];"
    echo "    let t = [0.1_f32; Net::OUTPUT];"
    echo "    let loss = net.train_step(&x, &t, &mut opt);"
    echo "    let size = Net::DERIVATION.lines().find(|l| l.contains(\"tokens\")).unwrap_or(\"\").trim();"
    echo "    println!(\"{} {} {}\", Net::PARAMS, loss, size);"
    echo "}"
  } > "$dir/src/main.rs"
}

printf '%-22s %10s %10s %12s  %s\n' "network" "params" "build (s)" "binary (KB)" "emitted code"
for spec in "${networks[@]}"; do
  IFS='|' read -r name unroll input layers loss <<< "$spec"
  dir="$work/${name// /-}"
  crate_for "$dir" "$unroll" "$input" "$layers" "$loss"
  # Dependencies (and a first build of this crate) outside the measurement.
  cargo build --release --quiet --manifest-path "$dir/Cargo.toml"
  best=""
  for _ in $(seq "$runs"); do
    touch "$dir/src/main.rs"
    start=$(date +%s.%N)
    cargo build --release --quiet --manifest-path "$dir/Cargo.toml"
    end=$(date +%s.%N)
    t=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
    if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
  done
  out=$("$CARGO_TARGET_DIR/release/compile-cost-net")
  params=${out%% *}
  size=${out#* * }
  bin_kb=$(( $(stat -c %s "$CARGO_TARGET_DIR/release/compile-cost-net") / 1024 ))
  printf '%-22s %10s %10.2f %12s  %s\n' "$name" "$params" "$best" "$bin_kb" "$size"
done
