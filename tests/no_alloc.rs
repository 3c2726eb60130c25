//! Forward, batched forward, backward, `train_step` and `train_batch` of generated
//! networks allocate nothing: checked with a global allocator that counts allocations on this thread.

// The examples included below share `examples/common`, each as its own module.
#![allow(clippy::duplicate_mod)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use stackprop::optim::{Adam, OnHeap};
use stackprop::prelude::*;
use stackprop::{boxed_seeded, boxed_zeros};

struct Counting;

thread_local! {
    // `const` initialization: reading it never allocates, so the allocator cannot recurse.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// thread-local `Cell` that needs no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[network(input = 2, loss = half_sse)]
struct Xor {
    hidden: Dense<3, Sigmoid>,
    output: Dense<1, Sigmoid>,
}

#[network(input = 100, loss = cross_entropy, unroll = false)]
struct Wide {
    hidden: Dense<64, Relu>,
    middle: Dense<32, Silu>,
    output: Dense<10, Softmax>,
}

#[test]
fn generated_networks_do_not_allocate() {
    let mut xor = Xor::seeded(1);
    let mut wide = Wide::seeded(2);
    let mut sgd = Sgd::new(0.1);
    let mut wide_sgd = Sgd::new(0.1);
    let mut momentum = Sgd::new(0.1).momentum(0.9);
    let mut adam = Adam::new(1e-3);
    let mut grad = [0.0; Wide::PARAMS];
    let xs: [[f32; 100]; 8] = core::array::from_fn(|i| core::array::from_fn(|j| ((i * 7 + j) % 13) as f32 / 13.0));
    let ts: [Class; 8] = core::array::from_fn(|i| Class(i % 10));

    let n = allocations_during(|| {
        for _ in 0..10 {
            std::hint::black_box(xor.forward(&[1.0, 0.0]));
            xor.train_step(&[1.0, 0.0], &[1.0], &mut sgd);
            std::hint::black_box(wide.forward(&xs[0]));
            let mut ys = [[0.0; 10]; 8];
            wide.forward_batch(&xs, &mut ys);
            std::hint::black_box(ys);
            let mut trace = [0.0; Wide::TRACE];
            wide.forward_trace(&xs[1], &mut trace);
            wide.backward(&xs[1], &trace, &Class(3).to_target(), 1.0, &mut grad, None);
            std::hint::black_box(wide.input_gradient(&xs[2], &Class(4)));
            wide.train_step(&xs[3], &Class(5), &mut wide_sgd);
            wide.train_step(&xs[3], &Class(5), &mut momentum);
            wide.train_step(&xs[3], &Class(5), &mut adam);
            wide.train_batch(&xs, &ts, &mut grad, &mut adam);
            std::hint::black_box(wide.mean_loss(&xs, &ts));
        }
    });
    assert_eq!(n, 0, "{n} allocations in forward/forward_batch/backward/train_step/train_batch");

    // The counter works: a `Vec` is seen.
    let seen = allocations_during(|| {
        std::hint::black_box(vec![1u8; 10]);
    });
    assert_eq!(seen, 1);
}

/// The gradient-flow statistics run on fixed-size buffers: observing traces, gradient
/// norms and update ratios allocate nothing either (with or without them, the training
/// steps above are the same code).
#[test]
fn diagnostics_statistics_do_not_allocate() {
    use stackprop::diagnostics::{Activity, layer_norm, tensor_norms, update_ratio};

    let mut wide = Wide::seeded(3);
    let mut adam = Adam::new(1e-3);
    let xs: [[f32; 100]; 4] = core::array::from_fn(|i| core::array::from_fn(|j| ((i * 5 + j) % 11) as f32 / 11.0));
    let ts: [Class; 4] = core::array::from_fn(|i| Class(i % 10));
    let mut grad = [0.0; Wide::PARAMS];
    let mut norms = [0.0; 6];
    let n = allocations_during(|| {
        let mut activity = Activity::<Wide>::new(0.01);
        let mut trace = [0.0; Wide::TRACE];
        for x in &xs {
            wide.forward_trace(x, &mut trace);
            activity.observe(&trace);
        }
        let before = *wide.params();
        wide.train_batch(&xs, &ts, &mut grad, &mut adam);
        tensor_norms(Wide::LAYOUT, &grad, &mut norms);
        for layer in Wide::LAYERS {
            std::hint::black_box(layer_norm(layer, &grad));
            std::hint::black_box((activity.dead_fraction(layer), activity.saturated_fraction(layer)));
        }
        for info in Wide::LAYOUT {
            std::hint::black_box(update_ratio(info, &before, wide.params()));
        }
    });
    assert_eq!(n, 0, "{n} allocations in the diagnostics statistics");
    assert!(norms.iter().all(|&n| n > 0.0), "{norms:?}");
}

/// 784-256-256-10: 270 k parameters, 1 MiB of `f32`.
#[network(input = 784, loss = cross_entropy, unroll = false)]
struct Mnist256 {
    hidden: Dense<256, Relu>,
    middle: Dense<256, Relu>,
    output: Dense<10, Softmax>,
}

/// 784-512-512-512-10: 932 k parameters, 3.6 MiB of `f32`, more than a 2 MiB stack.
#[network(input = 784, loss = cross_entropy, unroll = false)]
struct Mnist512 {
    first: Dense<512, Relu>,
    second: Dense<512, Relu>,
    third: Dense<512, Relu>,
    output: Dense<10, Softmax>,
}

/// Runs `f` on a thread with a 2 MiB stack, the default of spawned threads and tests.
fn on_2_mib_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(2 << 20).spawn(f).expect("thread spawns").join().expect("no panic");
}

/// Every entry point of a big network on the calling thread, each call in a frame of its
/// own as a program would make it; the network, its gradient, trace and optimizer state
/// on the heap. Returns the allocations of the steps after the first (which sizes the
/// optimizers' state).
#[inline(never)]
fn entry_points<N, const P: usize, const T: usize>(net: &mut N) -> usize
where
    N: Network<Scalar = f32, Input = [f32; 784], Output = [f32; 10], Params = [f32; P], Trace = [f32; T]>,
{
    let mut grad = boxed_zeros::<f32, P>();
    let mut backup = boxed_zeros::<f32, P>();
    let mut trace = boxed_zeros::<f32, T>();
    let xs: Vec<[f32; 784]> = (0..16).map(|i| core::array::from_fn(|j| ((i * 31 + j) % 17) as f32 / 17.0)).collect();
    let mut ys = vec![[0.0_f32; 10]; xs.len()];
    let ts: Vec<Class> = (0..16).map(|i| Class(i % 10)).collect();
    let mut sgd = OnHeap(Sgd::<Vec<f32>>::new(0.01));
    let mut momentum = OnHeap(Sgd::<Vec<f32>>::new(0.01).momentum(0.9));
    let mut adam = OnHeap(Adam::<Vec<f32>>::new(1e-3));
    step_with(net, &xs[0], &ts[0], &mut grad, &mut momentum);
    batch(net, &xs, &ts, &mut grad, &mut adam);
    let before = loss(net, &xs, &ts);
    let n = allocations_during(|| {
        for _ in 0..3 {
            forward(net, &xs[0]);
            forward_batch(net, &xs, &mut ys);
            forward_backward(net, &xs[1], &ts[1], &mut trace, &mut grad);
            input_gradient(net, &xs[2], &ts[2]);
            step(net, &xs[3], &ts[3], &mut sgd);
            step_with(net, &xs[4], &ts[4], &mut grad, &mut momentum);
            step_with(net, &xs[4], &ts[4], &mut grad, &mut adam);
            batch(net, &xs, &ts, &mut grad, &mut adam);
        }
    });
    // The checked step copies the optimizer (a `Vec` state: an allocation per step).
    checked(net, &xs[5], &ts[5], &mut grad, &mut backup, &mut sgd);
    let after = loss(net, &xs, &ts);
    assert!(after < before, "loss {before} → {after}");
    n
}

#[inline(never)]
fn forward<N: Network>(net: &N, x: &N::Input) {
    std::hint::black_box(net.forward(x));
}

#[inline(never)]
fn forward_batch<N: Network>(net: &N, xs: &[N::Input], out: &mut [N::Output]) {
    net.forward_batch(xs, out);
    std::hint::black_box(out);
}

#[inline(never)]
fn forward_backward<N: Network>(net: &N, x: &N::Input, t: &Class, trace: &mut N::Trace, grad: &mut N::Params)
where
    Class: Target<N::Output>,
{
    net.forward_trace(x, trace);
    net.backward(x, trace, &t.to_target(), N::Scalar::ONE, grad, None);
}

#[inline(never)]
fn input_gradient<N: Network>(net: &N, x: &N::Input, t: &Class)
where
    Class: Target<N::Output>,
{
    std::hint::black_box(net.input_gradient(x, t));
}

#[inline(never)]
fn step<N: Network, O: Optimizer<N::Params>>(net: &mut N, x: &N::Input, t: &Class, opt: &mut O)
where
    Class: Target<N::Output>,
{
    net.train_step(x, t, opt);
}

#[inline(never)]
fn step_with<N: Network, O: Optimizer<N::Params>>(
    net: &mut N,
    x: &N::Input,
    t: &Class,
    grad: &mut N::Params,
    opt: &mut O,
) where
    Class: Target<N::Output>,
{
    net.train_step_with(x, t, grad, opt);
}

#[inline(never)]
fn checked<N: Network, O: Optimizer<N::Params> + Clone>(
    net: &mut N,
    x: &N::Input,
    t: &Class,
    grad: &mut N::Params,
    backup: &mut N::Params,
    opt: &mut O,
) where
    Class: Target<N::Output>,
{
    net.try_train_step_with(x, t, grad, backup, opt).expect("a finite step");
}

#[inline(never)]
fn batch<N: Network, O: Optimizer<N::Params>>(
    net: &mut N,
    xs: &[N::Input],
    ts: &[Class],
    grad: &mut N::Params,
    opt: &mut O,
) where
    Class: Target<N::Output>,
{
    net.train_batch(xs, ts, grad, opt);
}

#[inline(never)]
fn loss<N: Network>(net: &N, xs: &[N::Input], ts: &[Class]) -> N::Scalar
where
    Class: Target<N::Output>,
{
    net.mean_loss(xs, ts)
}

#[test]
fn big_networks_run_every_entry_point_on_a_2_mib_stack() {
    on_2_mib_stack(|| {
        let mut net: Box<Mnist256> = boxed_seeded(1);
        let n = entry_points(&mut *net);
        assert_eq!(n, 0, "{n} allocations in the steps of 784-256-256-10");
    });
    on_2_mib_stack(|| {
        let mut net: Box<Mnist512> = boxed_seeded(2);
        let n = entry_points(&mut *net);
        assert_eq!(n, 0, "{n} allocations in the steps of 784-512-512-512-10");
    });
    // Each entry point used above fits, by the network's own account, in 2 MiB with
    // room for the test's frames; a gradient on the stack (`train_step` with a
    // stateful optimizer) would fit for the smaller network and not for the larger.
    const {
        assert!(Mnist256::STACK_TRAIN_STEP < 2 << 20);
        assert!(Mnist512::STACK_TRAIN_STEP > 2 << 20);
    }
    for bytes in [
        Mnist256::STACK_FORWARD,
        Mnist256::STACK_BACKWARD,
        Mnist256::STACK_TRAIN_STEP_WITH,
        Mnist256::STACK_BATCH,
        Mnist512::STACK_FORWARD,
        Mnist512::STACK_BACKWARD,
        Mnist512::STACK_TRAIN_STEP_WITH,
        Mnist512::STACK_BATCH,
    ] {
        assert!(bytes < 1 << 20, "{bytes}");
    }
    assert_eq!(Mnist512::PARAMS_BYTES, 4 * Mnist512::PARAMS);
}

/// `zeroed` is a `const fn`: a network can be a `static`, here behind a `Mutex`, and be
/// trained there without a copy on the stack of the caller.
static SHARED: std::sync::Mutex<Xor> = std::sync::Mutex::new(Xor::zeroed());

#[test]
fn a_network_in_a_static_trains_in_place() {
    let mut net = SHARED.lock().expect("not poisoned");
    net.init_with(&mut stackprop::rng::SplitMix64::new(4));
    let mut sgd = Sgd::new(0.5);
    let data = [([0.0, 0.0], [0.0]), ([0.0, 1.0], [1.0]), ([1.0, 0.0], [1.0]), ([1.0, 1.0], [0.0])];
    let loss = |net: &Xor| data.iter().map(|(x, t)| net.loss(x, t)).sum::<f32>();
    let before = loss(&net);
    for _ in 0..200 {
        for (x, t) in &data {
            net.train_step(x, t, &mut sgd);
        }
    }
    assert!(loss(&net) < before, "{before} → {}", loss(&net));
}

// ---------------------------------------------------------------------------------------
// The README's and the examples' networks, each through every entry point on a thread
// with a 2 MiB stack, counting allocations.

/// Defines a network exactly as the README writes it, and keeps its text, so that a test
/// can check the README still says the same.
macro_rules! from_readme {
    ($module:ident, $ty:ident: $($item:tt)*) => {
        mod $module {
            #![allow(dead_code)]
            use stackprop::prelude::*;
            $($item)*
            pub const TEXT: &str = stringify!($($item)*);
            /// Allocations of [`super::every_entry_point`] on a 2 MiB thread.
            pub fn on_2_mib() -> usize {
                super::on_2_mib::<$ty, _, { $ty::PARAMS }, { $ty::TRACE }>()
            }
        }
    };
}

from_readme!(readme_xor, Xor:
#[network(input = 2, loss = half_sse)]
pub struct Xor {
    hidden: Dense<3, Sigmoid>,
    output: Dense<1, Sigmoid>,
}
);

from_readme!(readme_cnn, Cnn:
#[network(input = [1, 8, 8], loss = cross_entropy)]
struct Cnn {
    conv: Conv2d<8, Relu, { kernel = 3; padding = 1 }>,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<10, Softmax>,
}
);

from_readme!(readme_custom, Net:
#[network(input = 4, loss = mse)]
#[activation(Swish = x * (1.0 / (1.0 + (-1.702 * x).exp())))]
pub struct Net {
    first: Dense<16, Swish>,
    second: Dense<16, { x / (1.0 + x.abs()) }>,
    output: Dense<1, Identity>,
}
);

from_readme!(readme_quadrants, Quadrants:
#[network(input = 2, loss = cross_entropy)]
pub struct Quadrants {
    hidden: Dense<8, Tanh>,
    output: Dense<4, Softmax>,
}
);

from_readme!(readme_tiny, Tiny:
#[network(input = 2, loss = half_sse)]
pub struct Tiny {
    hidden: Dense<4, Relu>,
    output: Dense<1, Identity>,
}
);

from_readme!(readme_fit, Fit:
#[network(input = 1, loss = half_sse, scalar = f64)]
struct Fit {
    hidden: Dense<10, Tanh>,
    output: Dense<1, Identity>,
}
);

from_readme!(readme_sigmoid_f64, Net:
#[network(input = 4, loss = mse, scalar = f64)]
struct Net {
    hidden: Dense<8, Tanh>,
    output: Dense<3, Sigmoid>,
}
);

from_readme!(readme_trained, Trained:
#[network(input = [1, 6, 6], loss = cross_entropy, scalar = f64,
          weights = "tests/fixtures/torch/conv_f64.safetensors")]
struct Trained {
    conv: Conv2d<3, Relu, { kernel = 3; padding = 1 }>,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<4, Softmax>,
}
);

from_readme!(readme_static, Net:
#[network(input = 2, loss = half_sse)]
struct Net {
    hidden: Dense<3, Tanh>,
    output: Dense<1, Sigmoid>,
}
);

from_readme!(readme_mnist, Mnist:
#[network(input = 784, loss = cross_entropy, unroll = false)]
struct Mnist {
    hidden: Dense<256, Relu>,
    middle: Dense<256, Relu>,
    output: Dense<10, Softmax>,
}
);

from_readme!(readme_effect, Effect:
#[network(input = [16, 1], loss = mse)]
pub struct Effect {
    gru: Gru<8>,
    out: Dense<1, Identity>,
}
);

from_readme!(readme_tagger, Tagger:
#[network(input = [12, 2], loss = mse)]
pub struct Tagger {
    gru: Gru<8, { sequence = true }>,
    out: Dense<1, Identity>,
}
);

#[test]
fn the_streaming_step_does_not_allocate() {
    on_2_mib_stack(|| {
        use readme_effect::Effect;
        let net = Effect::seeded(1);
        let mut state = Effect::new_state();
        let _ = net.step(&mut state, &[0.5]);
        let n = allocations_during(|| {
            for i in 0..100 {
                std::hint::black_box(net.step(&mut state, &[i as f32 / 100.0]));
            }
        });
        assert_eq!(n, 0, "allocations in 100 streaming steps");
        // A per-step head streams too.
        use readme_tagger::Tagger;
        let net = Tagger::seeded(1);
        let mut state = Tagger::new_state();
        let n = allocations_during(|| {
            for i in 0..100 {
                std::hint::black_box(net.step(&mut state, &[i as f32 / 100.0, 0.5]));
            }
        });
        assert_eq!(n, 0, "allocations in 100 streaming steps of a per-step head");
    });
}

#[test]
fn the_readme_still_writes_these_networks() {
    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let readme = squeeze(include_str!("../README.md"));
    for text in [
        readme_xor::TEXT,
        readme_cnn::TEXT,
        readme_custom::TEXT,
        readme_quadrants::TEXT,
        readme_tiny::TEXT,
        readme_fit::TEXT,
        readme_sigmoid_f64::TEXT,
        readme_trained::TEXT,
        readme_static::TEXT,
        readme_mnist::TEXT,
        readme_effect::TEXT,
        readme_tagger::TEXT,
    ] {
        assert!(readme.contains(&squeeze(text)), "the README no longer has\n{text}");
    }
}

#[allow(dead_code, unused_imports)]
#[path = "../examples/breast_cancer.rs"]
mod breast_cancer;
#[allow(dead_code, unused_imports)]
#[path = "../examples/cnn_digits.rs"]
mod cnn_digits;
#[allow(dead_code, unused_imports)]
#[path = "../examples/conv1d_signals.rs"]
mod conv1d_signals;
#[allow(dead_code, unused_imports)]
#[path = "../examples/custom_activation.rs"]
mod custom_activation;
#[allow(dead_code, unused_imports)]
#[path = "../examples/dead_relu.rs"]
mod dead_relu;
#[allow(dead_code, unused_imports)]
#[path = "../examples/derivation.rs"]
mod derivation;
#[allow(dead_code, unused_imports)]
#[path = "../examples/digits.rs"]
mod digits;
#[allow(dead_code, unused_imports)]
#[path = "../examples/explain.rs"]
mod explain;
#[allow(dead_code, unused_imports)]
#[path = "../examples/iris.rs"]
mod iris;
#[allow(dead_code, unused_imports)]
#[path = "../examples/memory.rs"]
mod memory;
#[allow(dead_code, unused_imports)]
#[path = "../examples/optimizers.rs"]
mod optimizers;
#[allow(dead_code, unused_imports)]
#[path = "../examples/second_order.rs"]
mod second_order;
#[allow(dead_code, unused_imports)]
#[path = "../examples/sine.rs"]
mod sine;
#[allow(dead_code, unused_imports)]
#[path = "../examples/vanishing.rs"]
mod vanishing;
#[allow(dead_code, unused_imports)]
#[path = "../examples/xor.rs"]
mod xor;

/// Every entry point of `N`, each call in a frame of its own, with the network, its
/// buffers and its optimizer state where a program keeps them: on the calling thread's
/// stack unless `big`, then on the heap. Returns the allocations made by the steps after
/// the first round (which sizes `Vec`-backed optimizer state).
#[inline(never)]
fn every_entry_point<N, S, const P: usize, const T: usize>(net: &mut N, big: bool) -> usize
where
    N: Network<Scalar = S, Params = [S; P], Trace = [S; T]>,
    S: stackprop::prelude::Scalar,
{
    let input = |k: usize| {
        let mut x = N::Input::zeroed();
        for (j, v) in x.as_mut().iter_mut().enumerate() {
            *v = N::Scalar::from_f64(((k * 31 + j * 7) % 17) as f64 / 17.0 - 0.4);
        }
        x
    };
    // A target every loss accepts: a probability vector, inside [0, 1].
    let target = || {
        let mut t = N::Output::zeroed();
        let n = t.as_ref().len();
        t.as_mut().fill(N::Scalar::ONE / N::Scalar::from_usize(n));
        t
    };
    let xs: Vec<N::Input> = (0..17).map(input).collect();
    let ts: Vec<N::Output> = (0..17).map(|_| target()).collect();
    let mut grad = boxed_zeros::<N::Scalar, P>();
    let mut backup = boxed_zeros::<N::Scalar, P>();
    let mut trace = boxed_zeros::<N::Scalar, T>();
    let mut sgd = OnHeap(Sgd::<Vec<S>>::new(1e-3));
    let mut heap_adam = OnHeap(Adam::<Vec<N::Scalar>>::new(1e-4));
    let mut heap_momentum = OnHeap(Sgd::<Vec<N::Scalar>>::new(1e-3).momentum(0.9));
    let before = net.mean_loss(&xs, &ts);
    let mut round = |net: &mut N| {
        forward(net, &xs[0]);
        traced(net, &xs[1], &ts[1], &mut trace, &mut grad);
        std::hint::black_box((net.loss(&xs[2], &ts[2]), net.input_gradient(&xs[2], &ts[2])));
        std::hint::black_box(net.gradient(&xs[3], &ts[3], &mut grad));
        step_generic(net, &xs[4], &ts[4], &mut sgd);
        step_with_generic(net, &xs[5], &ts[5], &mut grad, &mut heap_adam);
        step_with_generic(net, &xs[6], &ts[6], &mut grad, &mut heap_momentum);
        checked_generic(net, &xs[7], &ts[7], &mut grad, &mut backup, &mut sgd);
        batch_generic(net, &xs, &ts, &mut grad, &mut heap_adam);
        std::hint::black_box(net.batch_gradient(&xs[..5], &ts[..5], &mut grad));
        if !big {
            with_state_on_the_stack(net, &xs[8..12], &ts[8..12]);
        }
    };
    round(net);
    let n = allocations_during(|| round(net));
    let after = net.mean_loss(&xs, &ts);
    assert!(after.is_finite() && before.is_finite(), "{before} → {after}");
    n
}

/// `train_step` with optimizer state on the stack (its gradient there too) and
/// `try_train_step` (a gradient and a backup there): for networks that fit.
#[inline(never)]
fn with_state_on_the_stack<N, S, const P: usize>(net: &mut N, xs: &[N::Input], ts: &[N::Output])
where
    N: Network<Scalar = S, Params = [S; P]>,
    S: stackprop::prelude::Scalar,
{
    let mut plain = Sgd::<[S; P]>::new(1e-3);
    let mut momentum = Sgd::<[S; P]>::new(1e-3).momentum(0.9);
    let mut adam = Adam::<[S; P]>::new(1e-4);
    step_generic(net, &xs[0], &ts[0], &mut plain);
    step_generic(net, &xs[1], &ts[1], &mut momentum);
    step_generic(net, &xs[2], &ts[2], &mut adam);
    net.try_train_step(&xs[3], &ts[3], &mut plain).expect("a finite step");
}

#[inline(never)]
fn traced<N: Network>(net: &N, x: &N::Input, t: &N::Output, trace: &mut N::Trace, grad: &mut N::Params) {
    use stackprop::prelude::Scalar;
    net.forward_trace(x, trace);
    std::hint::black_box(net.trace_loss(trace, t));
    let mut dx = N::Input::zeroed();
    net.backward(x, trace, t, N::Scalar::ONE, grad, Some(&mut dx));
    std::hint::black_box((dx, net.input_backward(x, trace, t)));
}

#[inline(never)]
fn step_generic<N: Network, O: Optimizer<N::Params>>(net: &mut N, x: &N::Input, t: &N::Output, opt: &mut O) {
    net.train_step(x, t, opt);
}

#[inline(never)]
fn step_with_generic<N: Network, O: Optimizer<N::Params>>(
    net: &mut N,
    x: &N::Input,
    t: &N::Output,
    grad: &mut N::Params,
    opt: &mut O,
) {
    net.train_step_with(x, t, grad, opt);
}

#[inline(never)]
fn checked_generic<N: Network, O: Optimizer<N::Params> + Clone>(
    net: &mut N,
    x: &N::Input,
    t: &N::Output,
    grad: &mut N::Params,
    backup: &mut N::Params,
    opt: &mut O,
) {
    net.try_train_step_with(x, t, grad, backup, opt).expect("a finite step");
}

#[inline(never)]
fn batch_generic<N: Network, O: Optimizer<N::Params>>(
    net: &mut N,
    xs: &[N::Input],
    ts: &[N::Output],
    grad: &mut N::Params,
    opt: &mut O,
) {
    net.train_batch(xs, ts, grad, opt);
}

/// Builds `N` (seeded: on the thread's stack, or boxed past 256 KiB of parameters) on a
/// thread with a 2 MiB stack and runs every entry point; returns the allocations per round.
fn on_2_mib<N, S, const P: usize, const T: usize>() -> usize
where
    N: Network<Scalar = S, Params = [S; P], Trace = [S; T]> + 'static,
    S: stackprop::prelude::Scalar,
{
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            if P * size_of::<S>() > 256 << 10 {
                let mut net: Box<N> = boxed_seeded(5);
                every_entry_point(&mut *net, true)
            } else {
                let mut net = N::seeded(5);
                every_entry_point(&mut net, false)
            }
        })
        .expect("thread spawns")
        .join()
        .expect("no overflow, no panic")
}

#[test]
fn the_readmes_networks_run_every_entry_point_on_a_2_mib_stack() {
    let counts = [
        ("Xor", readme_xor::on_2_mib()),
        ("Cnn", readme_cnn::on_2_mib()),
        ("Net (custom activations)", readme_custom::on_2_mib()),
        ("Quadrants", readme_quadrants::on_2_mib()),
        ("Tiny", readme_tiny::on_2_mib()),
        ("Fit", readme_fit::on_2_mib()),
        ("Net (f64, sigmoid outputs)", readme_sigmoid_f64::on_2_mib()),
        ("Trained", readme_trained::on_2_mib()),
        ("Net (static)", readme_static::on_2_mib()),
        ("Mnist", readme_mnist::on_2_mib()),
        ("Effect (GRU)", readme_effect::on_2_mib()),
        ("Tagger (GRU, a Dense at every step)", readme_tagger::on_2_mib()),
    ];
    assert!(counts.iter().all(|&(_, n)| n == 0), "allocations per round: {counts:?}");
}

/// The allocations of every entry point of an example's network on a 2 MiB thread.
macro_rules! example_counts {
    ($($ty:ty),* $(,)?) => {
        [$((stringify!($ty), on_2_mib::<$ty, _, { <$ty>::PARAMS }, { <$ty>::TRACE }>())),*]
    };
}

#[test]
fn the_examples_networks_run_every_entry_point_on_a_2_mib_stack() {
    let counts = example_counts![
        breast_cancer::Diagnosis,
        cnn_digits::Cnn,
        cnn_digits::Mlp,
        conv1d_signals::Signals,
        custom_activation::Curve,
        dead_relu::ReluNet,
        dead_relu::LeakyNet,
        derivation::Xor,
        derivation::Classifier,
        digits::Digits,
        explain::Xor,
        iris::Iris,
        memory::Rnn10,
        memory::Gru50,
        memory::Lstm50,
        optimizers::Digits,
        second_order::Fit,
        sine::Sine,
        vanishing::DeepSigmoid,
        vanishing::DeepRelu,
        xor::Xor,
    ];
    assert!(counts.iter().all(|&(_, n)| n == 0), "allocations per round: {counts:?}");
}

// ---------------------------------------------------------------------------------------
// `storage = boxed`: the same networks with their parameters in a `Box`.

/// 784-512-512-512-10 with its parameters on the heap: the struct is one pointer, and
/// `seeded` writes the zeros straight into a fresh allocation at any optimization level.
#[network(input = 784, loss = cross_entropy, unroll = false, storage = boxed)]
struct BoxedMnist512 {
    first: Dense<512, Relu>,
    second: Dense<512, Relu>,
    third: Dense<512, Relu>,
    output: Dense<10, Softmax>,
}

/// A boxed convolutional network, straight-line and looped layers, to compare with
/// [`InlineCnn`].
#[network(input = [1, 8, 8], loss = cross_entropy, storage = boxed)]
#[derive(Clone)]
struct BoxedCnn {
    conv: Conv2d<
        8,
        Relu,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<10, Softmax>,
}

#[network(input = [1, 8, 8], loss = cross_entropy)]
struct InlineCnn {
    conv: Conv2d<
        8,
        Relu,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<10, Softmax>,
}

/// A boxed straight-line network, with its Jacobians and Hessian-vector product.
#[network(input = 2, loss = half_sse, scalar = f64, storage = boxed)]
struct BoxedXor {
    hidden: Dense<3, Tanh>,
    output: Dense<1, Sigmoid>,
}

#[network(input = 2, loss = half_sse, scalar = f64)]
struct InlineXor {
    hidden: Dense<3, Tanh>,
    output: Dense<1, Sigmoid>,
}

#[test]
fn boxed_storage_is_one_pointer_and_builds_a_big_network_on_a_2_mib_stack() {
    assert_eq!(size_of::<BoxedMnist512>(), size_of::<usize>());
    assert_eq!(size_of::<BoxedCnn>(), size_of::<usize>());
    let n = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut net = BoxedMnist512::seeded(2);
            let reference: Box<Mnist512> = boxed_seeded(2);
            assert!(net.params() == reference.params(), "the same seeded parameters");
            every_entry_point(&mut net, true)
        })
        .expect("thread spawns")
        .join()
        .expect("no overflow, no panic");
    assert_eq!(n, 0, "{n} allocations per round");
}

#[test]
fn boxed_storage_computes_what_inline_storage_does() {
    let x: [f32; 64] = core::array::from_fn(|i| (i % 9) as f32 / 9.0 - 0.3);
    let boxed = BoxedCnn::seeded(9);
    let inline = InlineCnn::seeded(9);
    assert!(boxed.params() == inline.params(), "seeded parameters");
    assert_eq!(boxed.forward(&x), inline.forward(&x));
    let (mut gb, mut gi) = (vec![0.0; BoxedCnn::PARAMS], vec![0.0; BoxedCnn::PARAMS]);
    let gb: &mut [f32; BoxedCnn::PARAMS] = (&mut gb[..]).try_into().unwrap();
    let gi: &mut [f32; BoxedCnn::PARAMS] = (&mut gi[..]).try_into().unwrap();
    assert_eq!(boxed.gradient(&x, &Class(3), gb), inline.gradient(&x, &Class(3), gi));
    assert!(gb == gi, "gradients");
    // Construction from parameters, cloning and taking them back out.
    let copy = BoxedCnn::from_params(*boxed.params()).clone();
    assert!(copy.into_params() == *boxed.params());

    let (b, i) = (BoxedXor::seeded(4), InlineXor::seeded(4));
    let x = [0.3, -0.7];
    assert_eq!(b.input_jacobian(&x), i.input_jacobian(&x));
    let (mut hb, mut hi) = ([0.0; 13], [0.0; 13]);
    let v: [f64; 13] = core::array::from_fn(|k| k as f64 - 6.0);
    b.hessian_vector_product(&x, &[1.0], &v, &mut hb);
    i.hessian_vector_product(&x, &[1.0], &v, &mut hi);
    assert_eq!(hb, hi);
}

/// Runs `f` on a thread whose stack is `bytes` plus `slack` for the thread's own start-up
/// and the test's frames: an entry point that needs more than its figure overflows.
fn within(bytes: usize, f: impl FnOnce() + Send + 'static) {
    const SLACK: usize = 64 << 10;
    std::thread::Builder::new().stack_size(bytes + SLACK).spawn(f).expect("thread spawns").join().expect("no panic");
}

#[test]
fn each_entry_point_runs_within_its_stated_stack() {
    let xs: Vec<[f32; 784]> = (0..40).map(|i| core::array::from_fn(|j| ((i * 31 + j) % 17) as f32 / 17.0)).collect();
    let ts: Vec<Class> = (0..40).map(|i| Class(i % 10)).collect();
    let x = xs[0];
    within(Mnist512::STACK_FORWARD, move || {
        let net = BoxedMnist512::seeded(1);
        std::hint::black_box(net.forward(&x));
    });
    within(Mnist512::STACK_TRAIN_STEP_WITH, move || {
        let mut net = BoxedMnist512::seeded(1);
        let mut grad = boxed_zeros::<f32, { Mnist512::PARAMS }>();
        let mut opt = OnHeap(Adam::<Vec<f32>>::new(1e-3));
        net.train_step_with(&x, &Class(1), &mut *grad, &mut opt);
        std::hint::black_box(net.gradient(&x, &Class(2), &mut *grad));
        std::hint::black_box(net.input_gradient(&x, &Class(2)));
        net.train_step(&x, &Class(3), &mut OnHeap(Sgd::<Vec<f32>>::new(1e-3)));
    });
    within(Mnist512::STACK_BATCH, move || {
        let mut net = BoxedMnist512::seeded(1);
        let mut grad = boxed_zeros::<f32, { Mnist512::PARAMS }>();
        let mut opt = OnHeap(Adam::<Vec<f32>>::new(1e-3));
        net.train_batch(&xs, &ts, &mut *grad, &mut opt);
    });
    within(Mnist512::STACK_BATCH, move || {
        let net = BoxedMnist512::seeded(1);
        let xs: Vec<[f32; 784]> = (0..40).map(|i| core::array::from_fn(|j| ((i * 7 + j) % 13) as f32 / 13.0)).collect();
        let mut ys = vec![[0.0_f32; 10]; xs.len()];
        net.forward_batch(&xs, &mut ys);
        std::hint::black_box(ys);
    });
    within(InlineCnn::STACK_TRAIN_STEP, || {
        let mut net = InlineCnn::seeded(1);
        net.train_step(&[0.5; 64], &Class(1), &mut Adam::new(1e-3));
    });
    within(InlineCnn::STACK_BATCH, || {
        let mut net = InlineCnn::seeded(1);
        let xs = vec![[0.25; 64]; 33];
        let ts = vec![Class(4); 33];
        net.train_batch(&xs, &ts, &mut [0.0; InlineCnn::PARAMS], &mut Sgd::new(0.1));
    });
}
