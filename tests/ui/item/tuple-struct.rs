use stackprop::prelude::*;

#[network(input = 2, loss = mse)]
struct Net(Dense<3, Relu>, Dense<1, Identity>);

fn main() {}
