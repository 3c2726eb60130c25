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

#[allow(dead_code)]
#[path = "../examples/cnn_digits.rs"]
mod cnn_digits;

#[allow(dead_code)]
#[path = "../examples/conv1d_signals.rs"]
mod conv1d_signals;

#[test]
fn cnn_digits_reaches_98_percent_test_accuracy() {
    let report = cnn_digits::run(cnn_digits::EPOCHS).expect("the data set ships with the project");
    assert!(report.cnn.accuracy >= 0.98, "CNN test accuracy {}", report.cnn.accuracy);
    // The dense network it is compared with has about as many parameters.
    let (cnn, mlp) = (report.cnn.params as f64, report.mlp.params as f64);
    assert!((cnn - mlp).abs() / cnn < 0.05, "{cnn} vs {mlp} parameters");
}

#[test]
fn conv1d_signals_reaches_95_percent_test_accuracy() {
    let accuracy = conv1d_signals::run(conv1d_signals::EPOCHS).expect("the plot directory is writable");
    assert!(accuracy >= 0.95, "test accuracy {accuracy}");
}
