//! Central-difference gradient checks of convolution, pooling, global-average-pool and
//! flatten layers of the dynamic network, in `f64`, on parameters and inputs, across their
//! options: stride, padding, dilation, non-square kernels, several channels, odd sizes,
//! overlapping and padded pools, and stacks of them.
//!
//! Tolerance: `|analytic − numeric| / max(|analytic|, |numeric|, 1e-3) ≤ 1e-6` with step
//! `h = 1e-6`, as in `dynamic_gradcheck.rs`. Pre-activations of relu-like layers are kept
//! away from 0, and every max-pool window's largest value at least `1e-4` above its
//! second (a max is not differentiable at a tie).

use stackprop_runtime::Init;
use stackprop_runtime::dynamic::{Activation, DynamicNet, LayerSpec, Loss};

const STEP: f64 = 1e-6;
const FLOOR: f64 = 1e-3;
const TOLERANCE: f64 = 1e-6;
/// The least gap between a max-pool window's two largest values.
const TIE_MARGIN: f64 = 1e-4;

/// A deterministic input of length `n` with entries of both signs in `[-1.2, 1.2]`, no
/// two alike.
fn input(n: usize, phase: f64) -> Vec<f64> {
    (0..n).map(|i| 1.2 * ((i as f64 + 1.0) * 1.7 + phase).sin()).collect()
}

/// A target of length `n` in `(0, 1)`.
fn target(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 + 0.4 * ((i as f64) * 2.3 + 0.2).cos()).collect()
}

/// The largest relative error over all parameters and inputs, with where it occurred.
fn max_rel_error(net: &mut DynamicNet<f64>, x: &[f64], t: &[f64]) -> (f64, String) {
    let mut grad = vec![0.0; net.param_count()];
    let mut dx = vec![0.0; net.input_len()];
    net.accumulate_gradient(x, t, 1.0, &mut grad, Some(&mut dx));

    let mut worst = (0.0, String::from("nothing checked"));
    let mut record = |what: String, analytic: f64, numeric: f64| {
        let denom = analytic.abs().max(numeric.abs()).max(FLOOR);
        let err = (analytic - numeric).abs() / denom;
        assert!(err.is_finite(), "{what}: analytic {analytic}, numeric {numeric}");
        if err > worst.0 {
            worst = (err, format!("{what}: analytic {analytic}, numeric {numeric}"));
        }
    };
    for (i, &analytic) in grad.iter().enumerate() {
        let orig = net.params()[i];
        net.params_mut()[i] = orig + STEP;
        let up = net.loss(x, t);
        net.params_mut()[i] = orig - STEP;
        let down = net.loss(x, t);
        net.params_mut()[i] = orig;
        record(format!("param {i}"), analytic, (up - down) / (2.0 * STEP));
    }
    let mut xp = x.to_vec();
    for (i, (&xi, &analytic)) in x.iter().zip(&dx).enumerate() {
        xp[i] = xi + STEP;
        let up = net.loss(&xp, t);
        xp[i] = xi - STEP;
        let down = net.loss(&xp, t);
        xp[i] = xi;
        record(format!("input {i}"), analytic, (up - down) / (2.0 * STEP));
    }
    worst
}

/// The smallest gap, over the windows of a 2-D max pool on `x` of shape `[c, h, w]`,
/// between the largest and second-largest input cell (padding cells never win).
fn smallest_window_gap(
    x: &[f64],
    [c, h, w]: [usize; 3],
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
) -> f64 {
    let out = |n: usize, i: usize| (n + 2 * pad[i] - kernel[i]) / stride[i] + 1;
    let mut gap = f64::INFINITY;
    for ch in 0..c {
        for oy in 0..out(h, 0) {
            for ox in 0..out(w, 1) {
                let mut cells = Vec::new();
                for ky in 0..kernel[0] {
                    for kx in 0..kernel[1] {
                        let (iy, ix) = (
                            (oy * stride[0] + ky) as isize - pad[0] as isize,
                            (ox * stride[1] + kx) as isize - pad[1] as isize,
                        );
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            cells.push(x[(ch * h + iy as usize) * w + ix as usize]);
                        }
                    }
                }
                cells.sort_by(|a, b| b.total_cmp(a));
                if cells.len() > 1 {
                    gap = gap.min(cells[0] - cells[1]);
                }
            }
        }
    }
    gap
}

/// Panics if a max pool's window is near a tie or a relu-like pre-activation near 0.
fn assert_differentiable(net: &mut DynamicNet<f64>, x: &[f64], margin: f64) {
    net.forward(x);
    let specs = net.layers().to_vec();
    for (l, spec) in specs.iter().enumerate() {
        let kinked =
            matches!(spec.activation(), Some(Activation::Relu | Activation::LeakyRelu(_) | Activation::Elu(_)));
        if kinked {
            for &z in net.pre_activations(l) {
                assert!(z.abs() > margin, "layer {l}: pre-activation {z} too close to the kink");
            }
        }
        let (pool_in, in_shape) = if l == 0 {
            (x.to_vec(), net.input_shape().to_vec())
        } else {
            (net.activations(l - 1).to_vec(), net.output_shape(l - 1).to_vec())
        };
        let as3 = |s: &[usize]| if s.len() == 2 { [s[0], 1, s[1]] } else { [s[0], s[1], s[2]] };
        let gap = match *spec {
            LayerSpec::MaxPool2d { kernel, stride, padding } => {
                smallest_window_gap(&pool_in, as3(&in_shape), kernel, stride, padding)
            }
            LayerSpec::MaxPool1d { kernel, stride, padding } => {
                smallest_window_gap(&pool_in, as3(&in_shape), [1, kernel], [1, stride], [0, padding])
            }
            _ => f64::INFINITY,
        };
        assert!(gap > TIE_MARGIN, "layer {l}: a max-pool window is within {gap:e} of a tie");
    }
}

#[track_caller]
fn assert_gradients(shape: &[usize], layers: &[LayerSpec], loss: Loss, seed: u64, label: &str) {
    let mut net =
        DynamicNet::<f64>::seeded_with_shape(shape, layers, loss, seed).unwrap_or_else(|e| panic!("{label}: {e}"));
    let x = input(net.input_len(), 0.1 * seed as f64);
    let n = net.output_len();
    let t = match loss {
        Loss::CrossEntropy => (0..n).map(|i| if i == n / 2 { 1.0 } else { 0.0 }).collect(),
        _ => target(n),
    };
    assert_differentiable(&mut net, &x, 1e-4);
    let (err, at) = max_rel_error(&mut net, &x, &t);
    assert!(err <= TOLERANCE, "{label}: relative error {err:e} at {at}");
}

use Activation::{Identity, Relu, Sigmoid, Softmax, Tanh};

#[test]
fn conv2d_options_one_at_a_time_and_together() {
    let cases = [
        ("plain 3x3", [2, 6, 6], LayerSpec::conv2d(3, [3, 3], Identity)),
        ("stride 2", [2, 7, 7], LayerSpec::conv2d(3, [3, 3], Identity).stride(2)),
        ("stride [2, 3]", [1, 8, 9], LayerSpec::conv2d(2, [2, 2], Tanh).stride_hw([2, 3])),
        ("padding 1", [2, 5, 5], LayerSpec::conv2d(2, [3, 3], Tanh).padding(1)),
        ("padding [2, 0]", [1, 4, 6], LayerSpec::conv2d(2, [3, 3], Identity).padding_hw([2, 0])),
        ("padding larger than half the kernel", [1, 3, 3], LayerSpec::conv2d(2, [2, 2], Identity).padding(2)),
        ("dilation 2", [2, 7, 7], LayerSpec::conv2d(2, [3, 3], Identity).dilation(2)),
        ("dilation [1, 3]", [1, 5, 9], LayerSpec::conv2d(2, [2, 3], Tanh).dilation_hw([1, 3])),
        ("non-square kernel", [3, 7, 5], LayerSpec::conv2d(4, [2, 3], Sigmoid)),
        ("1x1 kernel", [4, 3, 3], LayerSpec::conv2d(3, [1, 1], Identity)),
        ("kernel the size of the input", [2, 4, 3], LayerSpec::conv2d(3, [4, 3], Tanh)),
        ("no bias", [2, 5, 5], LayerSpec::conv2d(3, [3, 3], Tanh).without_bias()),
        (
            "everything at once",
            [3, 9, 7],
            LayerSpec::conv2d(4, [3, 2], Tanh).stride_hw([2, 1]).padding_hw([1, 2]).dilation_hw([2, 1]),
        ),
        (
            "stride larger than the kernel",
            [2, 9, 8],
            LayerSpec::conv2d(2, [2, 2], Identity).stride(3).padding(1).without_bias(),
        ),
    ];
    for (k, (label, shape, conv)) in cases.into_iter().enumerate() {
        assert_gradients(&shape, &[conv], Loss::Mse, 100 + k as u64, label);
        // And as a hidden layer, with the error coming back through a dense layer.
        let stack = [conv, LayerSpec::flatten(), LayerSpec::dense(3, Identity)];
        assert_gradients(&shape, &stack, Loss::HalfSse, 200 + k as u64, &format!("{label}, hidden"));
    }
}

#[test]
fn conv1d_options() {
    let cases = [
        ("plain", [2, 9], LayerSpec::conv1d(3, 3, Identity)),
        ("stride 2", [2, 10], LayerSpec::conv1d(3, 3, Tanh).stride(2)),
        ("padding 2", [1, 5], LayerSpec::conv1d(2, 3, Identity).padding(2)),
        ("dilation 3", [3, 11], LayerSpec::conv1d(2, 3, Sigmoid).dilation(3)),
        ("kernel 1", [4, 3], LayerSpec::conv1d(2, 1, Identity)),
        ("no bias", [2, 6], LayerSpec::conv1d(3, 2, Tanh).without_bias()),
        ("everything", [3, 13], LayerSpec::conv1d(4, 4, Tanh).stride(3).padding(2).dilation(2)),
    ];
    for (k, (label, shape, conv)) in cases.into_iter().enumerate() {
        assert_gradients(&shape, &[conv], Loss::Mse, 300 + k as u64, label);
        let stack = [conv, LayerSpec::flatten(), LayerSpec::dense(2, Tanh)];
        assert_gradients(&shape, &stack, Loss::Mse, 400 + k as u64, &format!("{label}, hidden"));
    }
}

#[test]
fn every_elementwise_activation_on_a_convolution() {
    let activations = [
        Identity,
        Sigmoid,
        Tanh,
        Relu,
        Activation::LeakyRelu(0.1),
        Activation::Elu(0.7),
        Activation::Softplus,
        Activation::Silu,
        Activation::GeluTanh,
        Activation::Gelu,
        Activation::Softsign,
    ];
    for (k, act) in activations.into_iter().enumerate() {
        let layers = [
            LayerSpec::conv2d(3, [2, 2], act).padding(1),
            LayerSpec::conv2d(2, [2, 2], act),
            LayerSpec::flatten(),
            LayerSpec::dense(2, Identity),
        ];
        assert_gradients(&[2, 5, 6], &layers, Loss::Mse, 500 + k as u64, &format!("conv2d {act}"));
        let layers = [
            LayerSpec::conv1d(3, 2, act).padding(1),
            LayerSpec::conv1d(2, 2, act),
            LayerSpec::flatten(),
            LayerSpec::dense(2, Identity),
        ];
        assert_gradients(&[2, 6], &layers, Loss::Mse, 520 + k as u64, &format!("conv1d {act}"));
    }
}

#[test]
fn max_pool2d_plain_overlapping_padded_non_square() {
    let pools = [
        ("2x2", LayerSpec::max_pool2d([2, 2])),
        ("overlapping 3x3 stride 2", LayerSpec::max_pool2d([3, 3]).stride(2)),
        ("overlapping stride 1", LayerSpec::max_pool2d([2, 2]).stride(1)),
        ("padded", LayerSpec::max_pool2d([3, 3]).stride(2).padding(1)),
        ("non-square, padded in width", LayerSpec::max_pool2d([2, 3]).stride_hw([1, 2]).padding_hw([0, 1])),
        ("padded 2x2", LayerSpec::max_pool2d([2, 2]).padding(1)),
    ];
    for (k, (label, pool)) in pools.into_iter().enumerate() {
        // Straight on the input, then after a convolution.
        let layers = [pool, LayerSpec::flatten(), LayerSpec::dense(3, Tanh)];
        assert_gradients(&[2, 7, 6], &layers, Loss::Mse, 600 + k as u64, &format!("{label}, on the input"));
        let layers = [LayerSpec::conv2d(3, [2, 2], Tanh), pool, LayerSpec::flatten(), LayerSpec::dense(2, Identity)];
        assert_gradients(&[2, 8, 7], &layers, Loss::Mse, 620 + k as u64, &format!("{label}, after a conv"));
    }
}

#[test]
fn avg_pool2d_plain_overlapping_padded_non_square() {
    let pools = [
        ("2x2", LayerSpec::avg_pool2d([2, 2])),
        ("overlapping 3x3 stride 2", LayerSpec::avg_pool2d([3, 3]).stride(2)),
        ("padded", LayerSpec::avg_pool2d([3, 3]).stride(1).padding(1)),
        ("non-square, padded", LayerSpec::avg_pool2d([2, 3]).stride_hw([2, 1]).padding_hw([1, 1])),
    ];
    for (k, (label, pool)) in pools.into_iter().enumerate() {
        let layers = [pool, LayerSpec::flatten(), LayerSpec::dense(3, Tanh)];
        assert_gradients(&[2, 7, 6], &layers, Loss::Mse, 700 + k as u64, &format!("{label}, on the input"));
        let layers = [LayerSpec::conv2d(3, [2, 2], Relu), pool, LayerSpec::flatten(), LayerSpec::dense(2, Identity)];
        assert_gradients(&[2, 8, 7], &layers, Loss::HalfSse, 720 + k as u64, &format!("{label}, after a conv"));
    }
}

#[test]
fn one_dimensional_pools() {
    let pools = [
        ("max 2", LayerSpec::max_pool1d(2)),
        ("max 3 stride 1", LayerSpec::max_pool1d(3).stride(1)),
        ("max 3 stride 2 padded", LayerSpec::max_pool1d(3).stride(2).padding(1)),
        ("avg 2", LayerSpec::avg_pool1d(2)),
        ("avg 3 stride 2 padded", LayerSpec::avg_pool1d(3).stride(2).padding(1)),
        ("avg 4 stride 1 padded 2", LayerSpec::avg_pool1d(4).stride(1).padding(2)),
    ];
    for (k, (label, pool)) in pools.into_iter().enumerate() {
        let layers = [pool, LayerSpec::flatten(), LayerSpec::dense(2, Tanh)];
        assert_gradients(&[3, 9], &layers, Loss::Mse, 800 + k as u64, &format!("{label}, on the input"));
        let layers =
            [LayerSpec::conv1d(2, 3, Tanh).padding(1), pool, LayerSpec::flatten(), LayerSpec::dense(2, Identity)];
        assert_gradients(&[2, 11], &layers, Loss::Mse, 820 + k as u64, &format!("{label}, after a conv"));
    }
}

#[test]
fn stacked_conv_pool_conv_flatten_dense() {
    let layers = [
        LayerSpec::conv2d(4, [3, 3], Tanh).padding(1),
        LayerSpec::max_pool2d([2, 2]),
        LayerSpec::conv2d(3, [2, 3], Sigmoid).stride_hw([1, 2]).dilation_hw([2, 1]),
        LayerSpec::avg_pool2d([2, 1]).padding_hw([1, 0]),
        LayerSpec::flatten(),
        LayerSpec::dense(5, Tanh),
        LayerSpec::dense(3, Softmax),
    ];
    assert_gradients(&[2, 9, 11], &layers, Loss::CrossEntropy, 900, "conv stack, cross-entropy");
    let layers = [
        LayerSpec::conv2d(3, [3, 2], Relu).stride(2).padding(1),
        LayerSpec::max_pool2d([3, 3]).stride(1).padding(1),
        LayerSpec::conv2d(2, [2, 2], Tanh).without_bias(),
        LayerSpec::flatten(),
        LayerSpec::dense(2, Sigmoid),
    ];
    assert_gradients(&[3, 10, 9], &layers, Loss::BinaryCrossEntropy, 901, "conv stack, binary cross-entropy");
}

#[test]
fn conv1d_stacks() {
    let layers = [
        LayerSpec::conv1d(4, 3, Tanh).padding(1),
        LayerSpec::conv1d(3, 3, Tanh).stride(2).dilation(2),
        LayerSpec::max_pool1d(2).stride(1),
        LayerSpec::conv1d(2, 2, Sigmoid).without_bias(),
        LayerSpec::flatten(),
        LayerSpec::dense(3, Softmax),
    ];
    assert_gradients(&[2, 17], &layers, Loss::CrossEntropy, 910, "conv1d stack");
    let layers = [
        LayerSpec::conv1d(3, 5, Tanh).padding(2),
        LayerSpec::avg_pool1d(3).stride(2).padding(1),
        LayerSpec::conv1d(2, 2, Identity),
    ];
    assert_gradients(&[1, 12], &layers, Loss::Mse, 911, "conv1d stack ending in a conv");
}

#[test]
fn global_avg_pool_after_2d_and_1d() {
    let layers =
        [LayerSpec::conv2d(4, [3, 3], Tanh).padding(1), LayerSpec::global_avg_pool(), LayerSpec::dense(3, Softmax)];
    assert_gradients(&[2, 5, 6], &layers, Loss::CrossEntropy, 920, "global avg pool, 2-D");
    let layers = [LayerSpec::conv1d(3, 3, Sigmoid), LayerSpec::global_avg_pool(), LayerSpec::dense(2, Identity)];
    assert_gradients(&[2, 9], &layers, Loss::Mse, 921, "global avg pool, 1-D");
    // Straight on the input.
    let layers = [LayerSpec::global_avg_pool(), LayerSpec::dense(2, Tanh)];
    assert_gradients(&[3, 4, 5], &layers, Loss::Mse, 922, "global avg pool on the input");
}

#[test]
fn convolution_as_output_layer() {
    let layers = [LayerSpec::conv2d(3, [2, 2], Tanh).padding(1), LayerSpec::conv2d(2, [3, 3], Sigmoid).stride(2)];
    assert_gradients(&[2, 6, 7], &layers, Loss::BinaryCrossEntropy, 930, "conv output, bce");
    let layers = [LayerSpec::max_pool2d([2, 2]), LayerSpec::conv2d(2, [2, 2], Identity)];
    assert_gradients(&[1, 6, 6], &layers, Loss::HalfSse, 931, "pool then conv output");
}

#[test]
fn flatten_first_and_dense_after_it() {
    let layers = [LayerSpec::flatten(), LayerSpec::dense(4, Tanh), LayerSpec::dense(2, Identity)];
    assert_gradients(&[2, 3, 2], &layers, Loss::Mse, 940, "flatten on the input");
    assert_gradients(&[3, 4], &layers, Loss::Mse, 941, "flatten on a [C, L] input");
}

#[test]
fn init_overrides_do_not_change_the_maths() {
    let layers = [
        LayerSpec::conv2d(3, [2, 2], Tanh).init(Init::GlorotUniform),
        LayerSpec::flatten(),
        LayerSpec::dense(2, Identity).init(Init::TorchDefault),
    ];
    assert_gradients(&[2, 4, 4], &layers, Loss::Mse, 950, "init overrides");
}

#[test]
fn batch_gradient_of_a_conv_net_is_the_mean_of_sample_gradients() {
    let layers = [
        LayerSpec::conv2d(2, [3, 3], Tanh).padding(1),
        LayerSpec::max_pool2d([2, 2]),
        LayerSpec::flatten(),
        LayerSpec::dense(2, Sigmoid),
    ];
    let mut net = DynamicNet::<f64>::seeded_with_shape(&[1, 4, 4], &layers, Loss::BinaryCrossEntropy, 960).unwrap();
    let xs = input(3 * 16, 0.3);
    let ts = [1.0, 0.0, 0.0, 1.0, 0.5, 0.5];
    let n = net.param_count();
    let mut expected = vec![0.0; n];
    let mut expected_loss = 0.0;
    for (x, t) in xs.chunks(16).zip(ts.chunks(2)) {
        expected_loss += net.accumulate_gradient(x, t, 1.0 / 3.0, &mut expected, None) / 3.0;
    }
    let mut grad = vec![7.0; n];
    let loss = net.batch_gradient(&xs, &ts, &mut grad);
    assert!((loss - expected_loss).abs() < 1e-14, "{loss} vs {expected_loss}");
    assert!((net.mean_loss(&xs, &ts) - expected_loss).abs() < 1e-14);
    for (a, b) in grad.iter().zip(&expected) {
        assert!((a - b).abs() <= 1e-14, "{a} vs {b}");
    }
}
