//! Invalid specs are rejected with an `Err` that says what is wrong, never a panic; wrong
//! buffer lengths at run time panic with a message.

use stackprop_runtime::dynamic::{Activation, DynamicNet, LayerSpec, Loss, ParamCountError, SpecError};

fn error(input: usize, layers: &[LayerSpec], loss: Loss) -> SpecError {
    match DynamicNet::<f64>::new(input, layers, loss) {
        Ok(_) => panic!("spec accepted: {input} -> {layers:?}, {loss}"),
        Err(e) => e,
    }
}

const HIDDEN: LayerSpec = LayerSpec::dense(3, Activation::Tanh);

#[test]
fn zero_input() {
    let e = error(0, &[LayerSpec::dense(2, Activation::Identity)], Loss::Mse);
    assert_eq!(e, SpecError::ZeroInput);
    assert_eq!(e.to_string(), "the input width is 0, expected at least 1");
}

#[test]
fn no_layers() {
    let e = error(2, &[], Loss::Mse);
    assert_eq!(e, SpecError::NoLayers);
    assert_eq!(e.to_string(), "the network has no layer, expected at least one");
}

#[test]
fn zero_width_names_the_layer() {
    let e = error(2, &[HIDDEN, LayerSpec::dense(0, Activation::Relu), HIDDEN], Loss::Mse);
    assert_eq!(e, SpecError::ZeroWidth { layer: 1 });
    assert_eq!(e.to_string(), "layer 1 has width 0, expected at least 1");
}

#[test]
fn cross_entropy_needs_softmax() {
    for act in [Activation::Sigmoid, Activation::Identity, Activation::LeakyRelu(0.5)] {
        let e = error(2, &[HIDDEN, LayerSpec::dense(2, act)], Loss::CrossEntropy);
        assert_eq!(e, SpecError::CrossEntropyNeedsSoftmax { found: act });
    }
    let e = error(2, &[LayerSpec::dense(2, Activation::Sigmoid)], Loss::CrossEntropy);
    assert_eq!(e.to_string(), "loss `cross_entropy` needs a `Softmax` output layer, but the output layer is `Sigmoid`");
    // A softmax hidden layer does not count.
    let layers = [LayerSpec::dense(3, Activation::Softmax), LayerSpec::dense(2, Activation::Tanh)];
    assert!(matches!(
        error(2, &layers, Loss::CrossEntropy),
        SpecError::CrossEntropyNeedsSoftmax { found: Activation::Tanh }
    ));
}

#[test]
fn binary_cross_entropy_needs_sigmoid() {
    let e = error(2, &[HIDDEN, LayerSpec::dense(2, Activation::Softmax)], Loss::BinaryCrossEntropy);
    assert_eq!(e, SpecError::BinaryCrossEntropyNeedsSigmoid { found: Activation::Softmax });
    assert_eq!(
        e.to_string(),
        "loss `binary_cross_entropy` needs a `Sigmoid` output layer, but the output layer is `Softmax`"
    );
}

#[test]
fn activation_parameters_must_be_finite() {
    for (act, shown) in
        [(Activation::LeakyRelu(f64::NAN), "LeakyRelu<NaN>"), (Activation::Elu(f64::INFINITY), "Elu<inf>")]
    {
        let e = error(2, &[HIDDEN, LayerSpec::dense(2, act)], Loss::Mse);
        // Matched, not compared: the NaN inside makes the errors unequal under `==`.
        assert!(matches!(e, SpecError::InvalidActivation { layer: 1, .. }), "{e:?}");
        assert!(e.to_string().contains(shown), "{e}");
    }
    let e = error(2, &[LayerSpec::dense(2, Activation::LeakyRelu(f64::NAN))], Loss::Mse);
    assert_eq!(e.to_string(), "layer 0 has activation `LeakyRelu<NaN>`, whose parameter must be finite");
}

#[test]
fn huber_delta_must_be_finite_and_positive() {
    for d in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = error(2, &[HIDDEN], Loss::Huber(d));
        assert!(matches!(e, SpecError::InvalidLoss(Loss::Huber(_))), "delta {d}: {e:?}");
    }
    assert_eq!(
        error(2, &[HIDDEN], Loss::Huber(-1.0)).to_string(),
        "loss `huber(delta = -1)` needs a finite, positive delta"
    );
}

#[test]
fn valid_specs_are_accepted() {
    let ok = [
        (vec![LayerSpec::dense(3, Activation::Softmax)], Loss::CrossEntropy),
        (vec![HIDDEN, LayerSpec::dense(1, Activation::Sigmoid)], Loss::BinaryCrossEntropy),
        (vec![LayerSpec::dense(1, Activation::Identity).without_bias()], Loss::Huber(1.0)),
        (vec![LayerSpec::dense(2, Activation::Softmax)], Loss::Mae),
    ];
    for (layers, loss) in ok {
        assert!(DynamicNet::<f32>::new(1, &layers, loss).is_ok(), "{layers:?} {loss}");
    }
}

#[test]
fn errors_work_as_std_errors() {
    let boxed: Box<dyn std::error::Error> = Box::new(error(0, &[HIDDEN], Loss::Mse));
    assert!(boxed.to_string().contains("input width"));
    let boxed: Box<dyn std::error::Error> = Box::new(ParamCountError { expected: 3, found: 2 });
    assert_eq!(boxed.to_string(), "expected 3 parameters, found 2");
}

#[test]
fn set_params_checks_the_length_and_leaves_the_net_unchanged() {
    let mut net = DynamicNet::<f64>::seeded(2, &[HIDDEN], Loss::Mse, 1).unwrap();
    let before = net.params().to_vec();
    assert_eq!(net.set_params(&[0.0; 8]), Err(ParamCountError { expected: 9, found: 8 }));
    assert_eq!(net.set_params(&[0.0; 10]), Err(ParamCountError { expected: 9, found: 10 }));
    assert_eq!(net.params(), &before[..]);
    assert_eq!(net.set_params(&[0.5; 9]), Ok(()));
    assert_eq!(net.params(), &[0.5; 9]);
}

#[test]
#[should_panic(expected = "input holds 3, the network has 2 inputs")]
fn wrong_input_length_panics() {
    let mut net = DynamicNet::<f64>::new(2, &[HIDDEN], Loss::Mse).unwrap();
    let _ = net.forward(&[1.0, 2.0, 3.0]);
}

#[test]
#[should_panic(expected = "target holds 2, the network has 3 outputs")]
fn wrong_target_length_panics() {
    let mut net = DynamicNet::<f64>::new(2, &[HIDDEN], Loss::Mse).unwrap();
    let _ = net.loss(&[1.0, 2.0], &[0.0, 0.0]);
}

#[test]
#[should_panic(expected = "gradient buffer holds 4, the network has 9 parameters")]
fn wrong_gradient_length_panics() {
    let mut net = DynamicNet::<f64>::new(2, &[HIDDEN], Loss::Mse).unwrap();
    net.accumulate_gradient(&[1.0, 2.0], &[0.0; 3], 1.0, &mut [0.0; 4], None);
}

#[test]
#[should_panic(expected = "batch has 2 inputs but 1 targets")]
fn ragged_batch_panics() {
    let mut net = DynamicNet::<f64>::new(2, &[HIDDEN], Loss::Mse).unwrap();
    let _ = net.mean_loss(&[1.0, 2.0, 3.0, 4.0], &[0.0; 3]);
}
