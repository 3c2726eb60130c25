//! Forward, backward, `train_step` and `train_batch` of generated networks allocate
//! nothing: checked with a global allocator that counts allocations on this thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use stackprop::optim::Adam;
use stackprop::prelude::*;

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
