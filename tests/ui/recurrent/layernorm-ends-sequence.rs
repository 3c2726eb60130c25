use stackprop::prelude::*;

// `LayerNorm` normalizes over its whole input, every step at once: what follows it is no
// longer a sequence of steps, so a `Dense` needs a `Flatten`.
#[network(input = [10, 1], loss = mse)]
struct Net {
    gru: Gru<8, { sequence = true }>,
    norm: LayerNorm,
    output: Dense<1, Identity>,
}

fn main() {}
