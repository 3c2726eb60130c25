//! Generated networks inside a crate that is `#![no_std]` without `alloc`,
//! `#![forbid(unsafe_code)]` and `#![deny(warnings)]`: the macro's output may use
//! nothing but `core` and the runtime, and must not warn.

#![no_std]
#![forbid(unsafe_code)]
#![deny(warnings, missing_docs)]

use stackprop::prelude::*;

/// The classic 2-3-1 sigmoid network, fully unrolled.
#[network(input = 2, loss = half_sse)]
pub struct Xor {
    hidden: Dense<3, Sigmoid>,
    output: Dense<1, Sigmoid>,
}

/// A deeper network in f64 with every layer emitted as loops, a softmax output and
/// cross-entropy, and layers of several activations.
#[network(input = 6, loss = cross_entropy, scalar = f64, unroll = false)]
pub struct Classifier {
    first: Dense<8, Gelu>,
    second: Dense<8, LeakyRelu<0.1>, { bias = false }>,
    third: Dense<5, Elu<1.0>>,
    output: Dense<3, Softmax>,
}

/// Layer norm and dropout between dense layers, emitted as loops (so the mini-batch
/// path is tiled, with both layers per sample inside each tile).
#[network(input = 6, loss = mse, unroll = false)]
pub struct Regularized {
    hidden: Dense<8, Tanh>,
    norm: LayerNorm,
    drop: Dropout<0.25>,
    output: Dense<2, Identity>,
}

/// The four XOR samples.
pub const XOR: [([f32; 2], [f32; 1]); 4] =
    [([0.0, 0.0], [0.0]), ([0.0, 1.0], [1.0]), ([1.0, 0.0], [1.0]), ([1.0, 1.0], [0.0])];

/// Trains XOR with plain SGD and returns the final mean loss.
#[must_use]
pub fn train_xor(seed: u64, epochs: usize) -> f32 {
    let mut net = Xor::seeded(seed);
    let mut opt = Sgd::new(0.5);
    for _ in 0..epochs {
        for (x, t) in &XOR {
            net.train_step(x, t, &mut opt);
        }
    }
    XOR.iter().map(|(x, t)| net.loss(x, t)).sum::<f32>() / 4.0
}

/// Trains the classifier on a fixed toy problem with mini-batches; returns the loss
/// before and after.
#[must_use]
pub fn train_classifier(steps: usize) -> (f64, f64) {
    let xs: [[f64; 6]; 6] = core::array::from_fn(|i| core::array::from_fn(|j| if i == j { 1.0 } else { 0.1 }));
    let ts: [Class; 6] = core::array::from_fn(|i| Class(i % 3));
    let mut net = Classifier::seeded(3);
    let mut grad = [0.0; Classifier::PARAMS];
    let mut opt = Sgd::new(0.1).momentum(0.9);
    let before = net.mean_loss(&xs, &ts);
    for _ in 0..steps {
        net.train_batch(&xs, &ts, &mut grad, &mut opt);
    }
    (before, net.mean_loss(&xs, &ts))
}

/// Batched inference on the stack: `forward_batch` over 20 samples (two tiles, the second
/// partial) of the classifier and of the regularized network; returns the largest
/// difference from `forward` per sample, relative to the sample's largest output.
#[must_use]
pub fn batched_inference() -> (f64, f32) {
    let classifier = Classifier::seeded(5);
    let xs: [[f64; 6]; 20] = core::array::from_fn(|i| core::array::from_fn(|j| ((i * 7 + j) % 11) as f64 / 11.0 - 0.4));
    let mut ys = [[0.0; 3]; 20];
    classifier.forward_batch(&xs, &mut ys);
    let mut worst = 0.0_f64;
    for (x, y) in xs.iter().zip(&ys) {
        let want = classifier.forward(x);
        let norm = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        for (a, b) in want.iter().zip(y) {
            worst = worst.max((a - b).abs() / norm);
        }
    }
    let regularized = Regularized::seeded(6);
    let xs: [[f32; 6]; 20] = core::array::from_fn(|i| core::array::from_fn(|j| ((i * 5 + j) % 13) as f32 / 13.0 - 0.5));
    let mut ys = [[0.0; 2]; 20];
    regularized.forward_batch(&xs, &mut ys);
    let mut worst32 = 0.0_f32;
    for (x, y) in xs.iter().zip(&ys) {
        let want = regularized.forward(x);
        let norm = want.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
        for (a, b) in want.iter().zip(y) {
            worst32 = worst32.max((a - b).abs() / norm);
        }
    }
    (worst, worst32)
}

/// A small CNN on 1×6×6 images: a same-padded convolution (runtime kernels), max
/// pooling, a straight-line 1-D convolution and a dense softmax output.
#[network(input = [1, 6, 6], loss = cross_entropy)]
pub struct Cnn {
    conv: Conv2d<
        4,
        Relu,
        {
            kernel = 3;
            padding = 1;
            unroll = false
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<2, Softmax>,
}

/// Trains the CNN to tell a vertical bar from a horizontal one, per sample and in
/// mini-batches; returns the mean loss before and after.
#[must_use]
pub fn train_cnn(epochs: usize) -> (f32, f32) {
    let bar = |vertical: bool, at: usize| -> [f32; 36] {
        core::array::from_fn(|i| {
            let (r, c) = (i / 6, i % 6);
            if (vertical && c == at) || (!vertical && r == at) { 1.0 } else { 0.0 }
        })
    };
    let xs: [[f32; 36]; 8] = core::array::from_fn(|k| bar(k % 2 == 0, 1 + k / 2));
    let ts: [Class; 8] = core::array::from_fn(|k| Class(k % 2));
    let mut net = Cnn::seeded(11);
    let mut opt = Sgd::new(0.1);
    let mut grad = [0.0; Cnn::PARAMS];
    let before = net.mean_loss(&xs, &ts);
    for _ in 0..epochs {
        for (x, t) in xs.iter().zip(&ts) {
            net.train_step(x, t, &mut opt);
        }
        net.train_batch(&xs, &ts, &mut grad, &mut opt);
    }
    (before, net.mean_loss(&xs, &ts))
}

/// A network whose weights were compiled in from a safetensors file written by PyTorch:
/// in a `static`, they live in read-only memory (flash on a microcontroller).
#[network(
    input = [1, 6, 6],
    loss = cross_entropy,
    scalar = f64,
    weights = "../fixtures/torch/conv_f64.safetensors"
)]
pub struct Trained {
    conv: Conv2d<
        3,
        Relu,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<4, Softmax>,
}

/// The compiled-in network.
pub static TRAINED: Trained = Trained::TRAINED;

/// Buffer size of [`Trained`]'s weights as flat bytes.
pub const TRAINED_BYTES: usize = stackprop::weights::bytes::HEADER_LEN + Trained::PARAMS * 8;

/// Writes the compiled-in weights as flat bytes into `buf`, reads them back into a zeroed
/// network, and returns whether it equals the original bit for bit; without a heap.
#[must_use]
pub fn trained_bytes_round_trip(buf: &mut [u8; TRAINED_BYTES]) -> bool {
    if stackprop::weights::bytes::write(&TRAINED, buf).is_err() {
        return false;
    }
    let mut back = Trained::zeroed();
    if stackprop::weights::bytes::read(&mut back, buf).is_err() {
        return false;
    }
    back.params().iter().zip(TRAINED.params()).all(|(a, b)| a.to_bits() == b.to_bits())
}

/// A network, its optimizer state and its gradient buffer, each in a `static`: built by
/// `const fn`s at compile time (zeros in `.bss`, nothing on the stack), initialized and
/// trained where they live through a spin lock, with no `unsafe` in this crate. On a
/// single-core microcontroller `critical_section::Mutex<RefCell<_>>` does the same job.
pub struct OnDevice {
    net: Xor,
    opt: Adam<[f32; Xor::PARAMS]>,
    grad: [f32; Xor::PARAMS],
}

/// The one [`OnDevice`] learner of this program.
pub static LEARNER: spin::Mutex<OnDevice> =
    spin::Mutex::new(OnDevice { net: Xor::zeroed(), opt: Adam::new(0.05), grad: [0.0; Xor::PARAMS] });

/// Initializes the `static` network in place from `seed`, then trains it on XOR for
/// `epochs` with Adam, one sample per step; returns the final mean loss.
#[must_use]
pub fn train_static_xor(seed: u64, epochs: usize) -> f32 {
    let mut guard = LEARNER.lock();
    let OnDevice { net, opt, grad } = &mut *guard;
    net.init_with(&mut stackprop::SplitMix64::new(seed));
    opt.reset();
    for _ in 0..epochs {
        for (x, t) in &XOR {
            net.train_step_with(x, t, grad, opt);
        }
    }
    XOR.iter().map(|(x, t)| net.loss(x, t)).sum::<f32>() / 4.0
}

/// The `static` network's output for `x` (inference from another part of the program).
#[must_use]
pub fn static_xor_forward(x: &[f32; 2]) -> [f32; 1] {
    LEARNER.lock().net.forward(x)
}

/// A convolution, batch normalization per channel, and a dense classifier: trains on
/// whole mini-batches in a workspace on the stack.
#[network(input = [1, 6], loss = cross_entropy)]
pub struct Normalized {
    conv: Conv1d<3, Identity, { kernel = 3 }>,
    norm: BatchNorm<{ momentum = 0.2 }>,
    flat: Flatten,
    output: Dense<2, Softmax>,
}

/// Trains [`Normalized`] on a fixed toy problem with mini-batches of 4; returns the
/// training-mode loss before and after, and `num_batches_tracked`.
#[must_use]
pub fn train_normalized(steps: usize) -> (f32, f32, i64) {
    let xs: [[f32; 6]; 4] =
        core::array::from_fn(|i| core::array::from_fn(|j| if (i + j) % 4 == 0 { 1.0 } else { 0.0 }));
    let ts: [Class; 4] = core::array::from_fn(|i| Class(i % 2));
    let mut net = Normalized::seeded(2);
    let mut ws = [[0.0; Normalized::BATCH_ROW]; 4];
    let mut grad = [0.0; Normalized::PARAMS];
    let mut opt = Adam::new(0.05);
    let before = net.batch_loss(&xs, &ts, &mut ws);
    for _ in 0..steps {
        net.train_batch(&xs, &ts, &mut ws, &mut grad, &mut opt);
    }
    (before, net.batch_loss(&xs, &ts, &mut ws), net.norm_running().2)
}

/// Batch normalization then dropout: the dropout state beside the running statistics.
#[network(input = 6, loss = cross_entropy)]
pub struct NormalizedDropout {
    hidden: Dense<8, Relu>,
    norm: BatchNorm,
    drop: Dropout<0.2>,
    output: Dense<2, Softmax>,
}

/// Trains [`NormalizedDropout`] with the checked mini-batch step; returns the
/// training-mode loss before and after, `num_batches_tracked`, and whether every step
/// moved the dropout state on.
#[must_use]
pub fn train_normalized_dropout(steps: usize) -> (f32, f32, i64, bool) {
    let xs: [[f32; 6]; 4] =
        core::array::from_fn(|i| core::array::from_fn(|j| if (i + j) % 4 == 0 { 1.0 } else { 0.0 }));
    let ts: [Class; 4] = core::array::from_fn(|i| Class(i % 2));
    let mut net = NormalizedDropout::seeded(2);
    let mut ws = [[0.0; NormalizedDropout::BATCH_ROW]; 4];
    let mut grad = [0.0; NormalizedDropout::PARAMS];
    let mut backup = [0.0; NormalizedDropout::PARAMS];
    let mut opt = Adam::new(0.05);
    let before = net.batch_loss(&xs, &ts, &mut ws);
    let mut moved = true;
    for _ in 0..steps {
        let state = net.dropout_state();
        if net.try_train_batch(&xs, &ts, &mut ws, &mut grad, &mut backup, &mut opt).is_err() {
            return (before, f32::NAN, net.norm_running().2, false);
        }
        moved &= net.dropout_state() != state;
    }
    (before, net.batch_loss(&xs, &ts, &mut ws), net.norm_running().2, moved)
}

/// A stacked recurrent model (GRU over every step, then an LSTM's last state) with a
/// linear head: backpropagation through time and streaming inference in `no_std`.
#[network(input = [6, 1], loss = mse)]
pub struct Echo {
    gru: Gru<4, { sequence = true }>,
    lstm: Lstm<4>,
    output: Dense<1, Identity>,
}

/// Trains `Echo` to output the first value of a sequence of 6 (it must remember it);
/// returns the mean loss before and after, over the training sequences.
#[must_use]
pub fn train_echo(epochs: usize) -> (f32, f32) {
    let xs: [[f32; 6]; 8] =
        core::array::from_fn(|k| core::array::from_fn(|t| ((k * 5 + t * 3) % 7) as f32 / 3.5 - 1.0));
    let ts: [[f32; 1]; 8] = core::array::from_fn(|k| [xs[k][0]]);
    let mut net = Echo::seeded(2);
    let before = net.mean_loss(&xs, &ts);
    let mut opt = Adam::new(1e-2);
    for _ in 0..epochs {
        for (x, t) in xs.iter().zip(&ts) {
            net.train_step(x, t, &mut opt);
        }
    }
    (before, net.mean_loss(&xs, &ts))
}

/// `Echo`'s streaming step over a sequence, one sample per call, and its whole-sequence
/// forward: `(streamed, forward)`.
#[must_use]
pub fn echo_streamed(x: &[f32; 6]) -> ([f32; 1], [f32; 1]) {
    let net = Echo::seeded(2);
    let mut state = Echo::new_state();
    let mut y = [0.0];
    for x_t in x.as_chunks::<1>().0 {
        y = net.step(&mut state, x_t);
    }
    (y, net.forward(x))
}

/// A GRU over every step with a `Dense` at every step: a loss at every step, trained
/// and streamed in `no_std`.
#[network(input = [6, 1], loss = mse)]
pub struct Smooth {
    gru: Gru<4, { sequence = true }>,
    output: Dense<1, Identity>,
}

/// Trains `Smooth` to output, at every step, the mean of the inputs so far; returns the
/// mean loss before and after, over the training sequences.
#[must_use]
pub fn train_smooth(epochs: usize) -> (f32, f32) {
    let xs: [[f32; 6]; 8] =
        core::array::from_fn(|k| core::array::from_fn(|t| ((k * 5 + t * 3) % 7) as f32 / 3.5 - 1.0));
    let ts: [[f32; 6]; 8] = core::array::from_fn(|k| {
        let mut sum = 0.0;
        core::array::from_fn(|t| {
            sum += xs[k][t];
            sum / (t + 1) as f32
        })
    });
    let mut net = Smooth::seeded(3);
    let before = net.mean_loss(&xs, &ts);
    let mut opt = Adam::new(1e-2);
    for _ in 0..epochs {
        for (x, t) in xs.iter().zip(&ts) {
            net.train_step(x, t, &mut opt);
        }
    }
    (before, net.mean_loss(&xs, &ts))
}

/// `Smooth`'s streaming steps over a sequence, one output per step, and its
/// whole-sequence forward: `(streamed, forward)`.
#[must_use]
pub fn smooth_streamed(x: &[f32; 6]) -> ([f32; 6], [f32; 6]) {
    let net = Smooth::seeded(3);
    let mut state = Smooth::new_state();
    let mut y = [0.0; 6];
    for (t, x_t) in x.as_chunks::<1>().0.iter().enumerate() {
        y[t] = net.step(&mut state, x_t)[0];
    }
    (y, net.forward(x))
}

/// A GRU over every step with a `Softmax` at every step and `cross_entropy` (the mean
/// over the steps): a class at every step, trained and streamed in `no_std`.
#[network(input = [6, 1], loss = cross_entropy)]
pub struct Sign {
    gru: Gru<4, { sequence = true }>,
    output: Dense<2, Softmax>,
}

/// Trains `Sign` to tell, at every step, whether the inputs so far sum above 0 (class 1)
/// or not (class 0); returns the mean loss before and after, over the training sequences.
#[must_use]
pub fn train_sign(epochs: usize) -> (f32, f32) {
    let xs: [[f32; 6]; 8] =
        core::array::from_fn(|k| core::array::from_fn(|t| ((k * 5 + t * 3) % 7) as f32 / 3.5 - 1.0));
    let ts: [[f32; 12]; 8] = core::array::from_fn(|k| {
        let mut t = [0.0; 12];
        let mut sum = 0.0;
        for s in 0..6 {
            sum += xs[k][s];
            t[2 * s + usize::from(sum > 0.0)] = 1.0;
        }
        t
    });
    let mut net = Sign::seeded(3);
    let before = net.mean_loss(&xs, &ts);
    let mut opt = Adam::new(1e-2);
    for _ in 0..epochs {
        for (x, t) in xs.iter().zip(&ts) {
            net.train_step(x, t, &mut opt);
        }
    }
    (before, net.mean_loss(&xs, &ts))
}

/// `Sign`'s streaming steps over a sequence, each step's two probabilities, and its
/// whole-sequence forward: `(streamed, forward)`.
#[must_use]
pub fn sign_streamed(x: &[f32; 6]) -> ([f32; 12], [f32; 12]) {
    let net = Sign::seeded(3);
    let mut state = Sign::new_state();
    let mut y = [0.0; 12];
    for (t, x_t) in x.as_chunks::<1>().0.iter().enumerate() {
        y[2 * t..2 * t + 2].copy_from_slice(&net.step(&mut state, x_t));
    }
    (y, net.forward(x))
}
