use stackprop::prelude::*;

#[network(input = [1, 6, 6], loss = cross_entropy, scalar = f64, weights = "../../../../tests/fixtures/torch/conv_f64.safetensors")]
struct Net {
    conv: Conv2d<3, Relu, { kernel = 3; padding = 1 }>,
    pool: MaxPool2d<2>,
    flat: Flatten,
    head: Dense<4, Softmax>,
}

fn main() {
    let _ = Net::TRAINED;
}
