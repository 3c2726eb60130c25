//! The README's claims about the examples, checked on the examples' own code (each
//! example file is included here as a module).

#[allow(dead_code)]
#[path = "../examples/xor.rs"]
mod xor;

#[allow(dead_code)]
#[path = "../examples/digits.rs"]
mod digits;

#[test]
fn xor_reaches_loss_below_0_01_from_its_seed() {
    let (net, loss) = xor::train(7, false);
    assert!(loss < 0.01, "final mean loss {loss}");
    use stackprop::prelude::Network;
    for (x, t) in &[([0.0, 0.0], 0.0), ([0.0, 1.0], 1.0), ([1.0, 0.0], 1.0), ([1.0, 1.0], 0.0)] {
        let [y] = net.forward(x);
        assert!((y - t).abs() < 0.1, "{x:?} -> {y}");
    }
}

#[test]
fn digits_reaches_95_percent_test_accuracy() {
    let accuracy = digits::run().expect("the data set ships with the project");
    assert!(accuracy >= 0.95, "test accuracy {accuracy}");
}
