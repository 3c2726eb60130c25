//! Any bytes given to the safetensors loader: an `Err` or a loaded network, never a
//! panic, and on `Err` the network is unchanged.
//!
//! Run on a nightly toolchain from the repository root:
//! `cargo +nightly fuzz run safetensors_load` (install with `cargo install cargo-fuzz`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use stackprop::prelude::*;
use stackprop::weights::safetensors::{self as st, LoadOptions, Naming};

#[network(input = 4, loss = mse, scalar = f64)]
struct Net {
    hidden: Dense<3, Tanh>,
    output: Dense<2, Sigmoid>,
}

fuzz_target!(|data: &[u8]| {
    let _ = st::parse(data);
    for naming in [Naming::Exact, Naming::Sequential] {
        let before = Net::seeded(1);
        let mut net = Net::seeded(1);
        let options = LoadOptions { naming, ..LoadOptions::default() };
        if st::load(&mut net, data, &options).is_err() {
            assert_eq!(net.params().map(f64::to_bits), before.params().map(f64::to_bits));
        }
    }
});
