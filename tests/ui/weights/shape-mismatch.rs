use stackprop::prelude::*;

// The path is relative to the manifest directory of the crate trybuild builds.
#[network(input = 4, loss = mse, scalar = f64, weights = "../../../../tests/fixtures/torch/conv_f64.safetensors")]
struct Net {
    conv: Dense<3, Relu>,
    output: Dense<4, Softmax>,
}

fn main() {
    let _ = Net::TRAINED;
}
