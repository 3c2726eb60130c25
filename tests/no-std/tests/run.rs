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
fn batched_inference_in_a_no_std_crate() {
    let (worst64, worst32) = stackprop_no_std_check::batched_inference();
    assert!(worst64 <= 1e-12, "f64: {worst64}");
    assert!(worst32 <= 1e-5, "f32: {worst32}");
}

#[test]
fn cnn_trains_in_a_no_std_crate() {
    let (before, after) = stackprop_no_std_check::train_cnn(100);
    assert!(after < 0.05 * before, "loss {before} -> {after}");
}

#[test]
fn compiled_in_weights_round_trip_through_flat_bytes_without_a_heap() {
    use stackprop::prelude::*;
    let mut buf = [0u8; stackprop_no_std_check::TRAINED_BYTES];
    assert!(stackprop_no_std_check::trained_bytes_round_trip(&mut buf));
    assert!(stackprop_no_std_check::TRAINED.params().iter().any(|&p| p != 0.0));
    // A byte of the layout hash changed: refused.
    buf[16] ^= 1;
    let mut net = stackprop_no_std_check::Trained::zeroed();
    assert!(stackprop::weights::bytes::read(&mut net, &buf).is_err());
}

#[test]
fn a_network_in_a_static_trains_where_it_lives() {
    let loss = stackprop_no_std_check::train_static_xor(7, 500);
    assert!(loss < 0.01, "loss {loss}");
    let (lo, hi) = (
        stackprop_no_std_check::static_xor_forward(&[0.0, 0.0]),
        stackprop_no_std_check::static_xor_forward(&[0.0, 1.0]),
    );
    assert!(lo[0] < 0.2 && hi[0] > 0.8, "{lo:?} {hi:?}");
}

#[test]
fn batch_norm_trains_in_a_no_std_crate() {
    let (before, after, tracked) = stackprop_no_std_check::train_normalized(100);
    assert!(after < 0.1 * before, "loss {before} -> {after}");
    assert_eq!(tracked, 100);
}

#[test]
fn batch_norm_with_dropout_trains_with_checked_steps_in_a_no_std_crate() {
    let (before, after, tracked, moved) = stackprop_no_std_check::train_normalized_dropout(100);
    assert!(after < 0.5 * before, "loss {before} -> {after}");
    assert_eq!(tracked, 100);
    assert!(moved, "a step left the dropout state");
}

#[test]
fn a_recurrent_network_trains_and_streams_in_a_no_std_crate() {
    let (before, after) = stackprop_no_std_check::train_echo(150);
    assert!(after < 0.1 * before, "loss {before} -> {after}");
    let (streamed, forward) = stackprop_no_std_check::echo_streamed(&[0.5, -0.25, 0.75, 0.0, -1.0, 0.125]);
    assert_eq!(streamed, forward);
}

#[test]
fn a_dense_at_every_step_trains_and_streams_in_a_no_std_crate() {
    let (before, after) = stackprop_no_std_check::train_smooth(150);
    assert!(after < 0.2 * before, "loss {before} -> {after}");
    let (streamed, forward) = stackprop_no_std_check::smooth_streamed(&[0.5, -0.25, 0.75, 0.0, -1.0, 0.125]);
    assert_eq!(streamed, forward);
}

#[test]
fn a_softmax_at_every_step_trains_and_streams_in_a_no_std_crate() {
    let (before, after) = stackprop_no_std_check::train_sign(150);
    assert!(after < 0.3 * before, "loss {before} -> {after}");
    let (streamed, forward) = stackprop_no_std_check::sign_streamed(&[0.5, -0.25, 0.75, 0.0, -1.0, 0.125]);
    assert_eq!(streamed, forward);
    for step in forward.chunks(2) {
        assert!((step[0] + step[1] - 1.0).abs() < 1e-6, "each step sums to 1: {forward:?}");
    }
}
