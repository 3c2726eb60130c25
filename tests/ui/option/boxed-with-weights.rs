use stackprop::prelude::*;

#[network(
    input = [1, 6, 6],
    loss = cross_entropy,
    scalar = f64,
    storage = boxed,
    weights = "tests/fixtures/torch/conv_f64.safetensors"
)]
struct Trained {
    conv: Conv2d<3, Relu, { kernel = 3; padding = 1 }>,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<4, Softmax>,
}

fn main() {
    let net = Trained::zeroed();
    let _ = net.forward(&[0.0; 36]);
}
