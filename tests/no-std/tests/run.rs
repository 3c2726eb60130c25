//! Runs the networks of the `#![no_std]` crate.

#[test]
fn xor_trains_in_a_no_std_crate() {
    let loss = stackprop_no_std_check::train_xor(7, 3000);
    assert!(loss < 0.01, "loss {loss}");
}

#[test]
fn classifier_trains_in_a_no_std_crate() {
    let (before, after) = stackprop_no_std_check::train_classifier(200);
    assert!(after < 0.05 * before, "loss {before} -> {after}");
}

#[test]
fn cnn_trains_in_a_no_std_crate() {
    let (before, after) = stackprop_no_std_check::train_cnn(100);
    assert!(after < 0.05 * before, "loss {before} -> {after}");
}
