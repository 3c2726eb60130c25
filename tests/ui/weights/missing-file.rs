use stackprop::prelude::*;

#[network(input = 4, loss = mse, weights = "no/such/model.safetensors")]
struct Net {
    output: Dense<1>,
}

fn main() {
    let _ = Net::TRAINED;
}
