use stackprop::prelude::*;

// A `[C][L]` convolution output is not a sequence of steps: a `Dense` on it needs a
// `Flatten`, as on any other multi-dimensional input.
#[network(input = [2, 16], loss = mse)]
struct Net {
    conv: Conv1d<4, Relu, { kernel = 3 }>,
    output: Dense<1, Identity>,
}

fn main() {}
