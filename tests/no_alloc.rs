//! Forward, backward, `train_step` and `train_batch` of generated networks allocate
//! nothing: checked with a global allocator that counts allocations on this thread.

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
    assert_eq!(n, 0, "{n} allocations in forward/backward/train_step/train_batch");

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
