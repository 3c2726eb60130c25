//! Parallel mini-batch gradients: bit-identical on 1 and 2 threads, equal to the
//! sequential gradient up to rounding (and exactly with a single chunk).

#![cfg(feature = "parallel")]

mod train_support;

use stackprop_runtime::optim::{Adam, Optimizer};
use stackprop_runtime::parallel::{ParallelGradient, batch_gradient};
use stackprop_runtime::train::{FitOptions, fit};
use stackprop_runtime::{Class, Network};
use train_support::{PARAMS, Softmax, blobs};

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// Several Adam steps on batches of 50 with parallel gradients in chunks of `chunk`.
fn train_parallel(xs: &[[f32; 4]], ts: &[Class], chunk: usize) -> ([f32; PARAMS], Vec<f32>) {
    let mut net = Softmax::seeded(5);
    let mut opt = Adam::<[f32; PARAMS]>::new(0.05);
    let mut parallel = ParallelGradient::<Softmax>::new(chunk);
    let mut grad = [0.0; PARAMS];
    let mut losses = Vec::new();
    for (bx, bt) in xs.chunks(50).zip(ts.chunks(50)) {
        losses.push(parallel.compute(&net, bx, bt, &mut grad));
        opt.step(net.params_mut(), &grad);
    }
    (net.params, losses)
}

#[test]
fn the_thread_count_does_not_change_a_bit() {
    let (xs, ts) = blobs(400, 1);
    let one = pool(1).install(|| train_parallel(&xs, &ts, 7));
    let two = pool(2).install(|| train_parallel(&xs, &ts, 7));
    let four = pool(4).install(|| train_parallel(&xs, &ts, 7));
    assert_eq!(one.0.map(f32::to_bits), two.0.map(f32::to_bits));
    assert_eq!(one.0.map(f32::to_bits), four.0.map(f32::to_bits));
    assert_eq!(one.1, two.1);
    // Grouping the same samples otherwise does change bits, so a split that followed the
    // threads would have shown above.
    let other_chunks = pool(2).install(|| train_parallel(&xs, &ts, 8));
    assert_ne!(one.0, other_chunks.0);
}

#[test]
fn equals_the_sequential_gradient_up_to_rounding() {
    let (xs, ts) = blobs(203, 2);
    let net = Softmax::seeded(5);
    let mut sequential = [0.0; PARAMS];
    let seq_loss = net.batch_gradient(&xs, &ts, &mut sequential);
    let mut parallel = [0.0; PARAMS];
    let par_loss = pool(2).install(|| batch_gradient(&net, &xs, &ts, &mut parallel, 16));
    assert!((seq_loss - par_loss).abs() <= 1e-5 * seq_loss.abs());
    let scale = sequential.iter().fold(0.0_f32, |m, g| m.max(g.abs()));
    for (s, p) in sequential.iter().zip(&parallel) {
        assert!((s - p).abs() <= 1e-5 * scale, "sequential {s}, parallel {p}");
    }
    // The grouping by chunk is visible in f32: the two are not trivially the same code.
    assert_ne!(sequential, parallel);

    // One chunk holding the whole batch is the sequential sum, bit for bit.
    let mut single = [1.0; PARAMS];
    let single_loss = pool(2).install(|| batch_gradient(&net, &xs, &ts, &mut single, 1000));
    assert_eq!(single.map(f32::to_bits), sequential.map(f32::to_bits));
    assert_eq!(single_loss.to_bits(), seq_loss.to_bits());
}

#[test]
fn buffers_are_reused_across_batches_of_any_size() {
    let (xs, ts) = blobs(100, 3);
    let net = Softmax::seeded(5);
    let mut parallel = ParallelGradient::<Softmax>::new(8);
    let mut grad = [0.0; PARAMS];
    for n in [100, 9, 64, 1] {
        let mut fresh = [0.0; PARAMS];
        let want = batch_gradient(&net, &xs[..n], &ts[..n], &mut fresh, 8);
        let got = parallel.compute(&net, &xs[..n], &ts[..n], &mut grad);
        assert_eq!(got, want);
        assert_eq!(grad, fresh, "stale chunk buffers leaked into a batch of {n}");
    }
    assert_eq!(parallel.compute(&net, &[], &[] as &[Class], &mut grad), 0.0);
    assert_eq!(grad, [0.0; PARAMS]);
}

#[test]
fn fit_with_parallel_gradients_is_reproducible_across_thread_counts() {
    let (xs, ts) = blobs(240, 4);
    let (vx, vt) = blobs(60, 5);
    let run = |threads: usize| {
        pool(threads).install(|| {
            let mut net = Softmax::seeded(5);
            let mut opt = Adam::<[f32; PARAMS]>::new(0.02);
            let options = FitOptions::new(4, 32).seed(9).validation(&vx, &vt).parallel(5);
            let history = fit(&mut net, &mut opt, &xs, &ts, options).unwrap();
            (net.params, history.train_losses(), history.validation_losses())
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    // And close to the sequential fit.
    let mut net = Softmax::seeded(5);
    let mut opt = Adam::<[f32; PARAMS]>::new(0.02);
    let options = FitOptions::new(4, 32).seed(9).validation(&vx, &vt);
    let history = fit(&mut net, &mut opt, &xs, &ts, options).unwrap();
    for (a, b) in history.train_losses().iter().zip(&one.1) {
        assert!((a - b).abs() < 1e-4, "sequential {a}, parallel {b}");
    }
}

#[test]
#[should_panic(expected = "`chunk_size` must be positive")]
fn a_zero_chunk_size_panics() {
    let _ = ParallelGradient::<Softmax>::new(0);
}
