use stackprop::prelude::*;

#[network(input = 2, loss = mse)]
struct Net;

fn main() {}
