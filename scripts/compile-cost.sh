#!/usr/bin/env bash
# Compile cost of generated networks: the release build time of a crate that holds one
# network, and the size of the code the macro emits for it, for networks of growing size,
# straight-line (unroll = true) and as loops (unroll = false, the default above 1024
# weights per layer), and convolutional networks (the cnn_digits net and LeNet-5) with
# the default emission and forced into one form.
#
# Each network lives in its own throwaway crate under target/compile-cost/, which depends
# on this checkout by path. The dependencies are built once first; each measurement then
# rebuilds only the crate that holds the network (its main.rs is touched), which is the
# cost a user pays on each change. The time is the best of RUNS builds (default 2).
#
# Usage: scripts/compile-cost.sh            (all networks)
#        scripts/compile-cost.sh LeNet      (the networks whose name contains LeNet)
#        RUNS=1 scripts/compile-cost.sh     (one build each)
#        COMPILE_COST_DIR=/tmp/cc scripts/compile-cost.sh   (crates and builds there)
#        RUSTFLAGS="-C target-cpu=native" scripts/compile-cost.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="${COMPILE_COST_DIR:-$root/target/compile-cost}"
runs="${RUNS:-2}"
export CARGO_TARGET_DIR="$work/target"
mkdir -p "$work"

# name | unroll (true, false, or default: no option) | input (size or shape) |
# layers: width:activation, space separated, for dense stacks; or layer types written out
# (as in a `#[network]` struct), separated by " / " | loss
cnn_digits="Conv2d<8, Relu, { kernel = 3; padding = 1 }> / MaxPool2d<2> / Flatten / Dense<10, Softmax>"
lenet5="Conv2d<6, Relu, { kernel = 5 }> / MaxPool2d<2> / Conv2d<16, Relu, { kernel = 5 }> / MaxPool2d<2>"
lenet5="$lenet5 / Flatten / Dense<120, Relu> / Dense<84, Relu> / Dense<10, Softmax>"
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
  "cnn_digits (default)|default|[1, 8, 8]|$cnn_digits|cross_entropy"
  "cnn_digits unrolled|true|[1, 8, 8]|$cnn_digits|cross_entropy"
  "cnn_digits looped|false|[1, 8, 8]|$cnn_digits|cross_entropy"
  "LeNet-5 (default)|default|[1, 28, 28]|$lenet5|cross_entropy"
  "LeNet-5 looped|false|[1, 28, 28]|$lenet5|cross_entropy"
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
    if [ "$unroll" = default ]; then
      echo "#[network(input = $input, loss = $loss)]"
    else
      echo "#[network(input = $input, loss = $loss, unroll = $unroll)]"
    fi
    echo "pub struct Net {"
    local k=0
    if [[ "$layers" == *"<"* ]]; then
      local rest="$layers / " layer
      while [ -n "$rest" ]; do
        layer="${rest%% / *}"
        rest="${rest#* / }"
        echo "    l$k: $layer,"
        k=$((k + 1))
      done
    else
      for layer in $layers; do
        echo "    l$k: Dense<${layer%%:*}, ${layer##*:}>,"
        k=$((k + 1))
      done
    fi
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
  if [ -n "${1:-}" ] && [[ "$name" != *"$1"* ]]; then continue; fi
  slug="${name// /-}"
  slug="${slug//[()]/}"
  dir="$work/$slug"
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
