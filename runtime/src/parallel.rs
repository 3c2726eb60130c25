//! Mini-batch gradients on several cores, with a result that does not depend on the
//! number of threads: [`batch_gradient`] for one batch, [`ParallelGradient`] to reuse its
//! buffers across batches, and [`FitOptions::parallel`](crate::train::FitOptions::parallel)
//! to use it in [`fit`](crate::train::fit). Feature `parallel`, through rayon.
//!
//! # Why the result is the same on any number of threads
//!
//! Floating-point addition is not associative, so a sum split over threads as the work
//! stealer sees fit would change in its last bits from run to run. Here the split is
//! fixed by the batch alone: the batch is cut into chunks of `chunk_size` samples (the
//! last may be shorter), each chunk's gradient sum is computed on one thread, in sample
//! order, into that chunk's own buffer, and the buffers are then added element by
//! element in chunk order. Which thread runs which chunk changes nothing, so 1, 2 or 64
//! threads give bit-identical gradients, losses and therefore parameters.
//!
//! Against [`Network::batch_gradient`], which adds all samples into one buffer, the
//! result differs only in rounding (the partial sums are grouped by chunk); with a single
//! chunk (`chunk_size` ≥ batch size) the two are bit-identical.
//!
//! Each chunk costs a buffer of the network's size, so memory grows with
//! `batch / chunk_size`; chunks of 8 to 64 samples keep both the buffers and the
//! scheduling overhead small next to the work of a chunk.

use std::vec::Vec;

use rayon::prelude::*;

use crate::network::{Buffer, Network, Target};
use crate::scalar::Scalar;
use crate::train::BatchGradient;

/// Elements per task when the chunk buffers are added together: large enough that a
/// task's work outweighs its scheduling, small enough to spread a large network.
const REDUCE_BLOCK: usize = 4096;

/// Mini-batch gradients computed in parallel chunks of a fixed size, with the chunk
/// buffers kept from one batch to the next.
///
/// ```
/// # use stackprop_runtime::{Buffer, Network, Target};
/// use stackprop_runtime::parallel::ParallelGradient;
/// # fn demo<N: Network + Sync, G: Target<N::Output> + Sync>(net: &N, xs: &[N::Input], ts: &[G])
/// # where N::Input: Sync, N::Params: Send + Sync {
/// let mut parallel = ParallelGradient::<N>::new(16);
/// let mut grad = N::Params::zeroed();
/// let mean_loss = parallel.compute(net, xs, ts, &mut grad);
/// # }
/// ```
pub struct ParallelGradient<N: Network> {
    chunk_size: usize,
    buffers: Vec<N::Params>,
    losses: Vec<N::Scalar>,
}

impl<N: Network> core::fmt::Debug for ParallelGradient<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ParallelGradient")
            .field("chunk_size", &self.chunk_size)
            .field("buffers", &self.buffers.len())
            .finish()
    }
}

impl<N: Network> Clone for ParallelGradient<N> {
    /// A strategy with the same chunk size and no buffers yet.
    fn clone(&self) -> Self {
        Self::new(self.chunk_size)
    }
}

impl<N: Network> ParallelGradient<N> {
    /// Chunks of `chunk_size` samples; buffers are allocated by the first batch.
    ///
    /// # Panics
    /// If `chunk_size` is 0.
    #[must_use]
    pub fn new(chunk_size: usize) -> Self {
        assert!(chunk_size > 0, "`chunk_size` must be positive");
        Self { chunk_size, buffers: Vec::new(), losses: Vec::new() }
    }

    /// Samples per chunk.
    #[inline]
    #[must_use]
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Writes the mean gradient over the batch into `grad` (overwriting it); returns the
    /// mean loss. An empty batch gives a zero gradient and 0.
    ///
    /// Runs on the current rayon thread pool (the global one, or the one whose
    /// `install` called it).
    ///
    /// # Panics
    /// If `xs` and `ts` differ in length, or a [`Class`](crate::Class) target is out of
    /// range.
    pub fn compute<G>(&mut self, net: &N, xs: &[N::Input], ts: &[G], grad: &mut N::Params) -> N::Scalar
    where
        N: Sync,
        N::Input: Sync,
        N::Params: Send + Sync,
        G: Target<N::Output> + Sync,
    {
        assert_eq!(xs.len(), ts.len(), "inputs and targets differ in length");
        if xs.is_empty() {
            grad.as_mut().fill(N::Scalar::ZERO);
            return N::Scalar::ZERO;
        }
        let chunks = xs.len().div_ceil(self.chunk_size);
        while self.buffers.len() < chunks {
            self.buffers.push(N::Params::zeroed());
        }
        self.losses.resize(self.buffers.len(), N::Scalar::ZERO);
        // The scale of the whole batch, as `Network::batch_gradient` uses: each chunk's
        // buffer holds its part of the mean, not a mean of its own.
        let scale = N::Scalar::ONE / N::Scalar::from_usize(xs.len());
        let buffers = &mut self.buffers[..chunks];
        let losses = &mut self.losses[..chunks];

        buffers
            .par_iter_mut()
            .zip(losses.par_iter_mut())
            .zip(xs.par_chunks(self.chunk_size))
            .zip(ts.par_chunks(self.chunk_size))
            .enumerate()
            .for_each(|(chunk, (((buffer, loss), xs), ts))| {
                buffer.as_mut().fill(N::Scalar::ZERO);
                let mut trace = N::Trace::zeroed();
                let mut sum = N::Scalar::ZERO;
                // Sample `i` of the batch draws the dropout masks it draws in
                // `Network::batch_gradient`, whichever chunk holds it.
                let first = chunk * self.chunk_size;
                for (i, (x, t)) in xs.iter().zip(ts).enumerate() {
                    net.forward_trace_at(x, &mut trace, Some(first + i));
                    sum += net.backward(x, &trace, &t.to_target(), scale, buffer, None);
                }
                *loss = sum;
            });

        // Element by element, the chunks are added in chunk order whichever task does it,
        // so splitting the parameters into blocks keeps the sum deterministic.
        let buffers = &*buffers;
        grad.as_mut().par_chunks_mut(REDUCE_BLOCK).enumerate().for_each(|(block, out)| {
            let range = block * REDUCE_BLOCK..block * REDUCE_BLOCK + out.len();
            out.copy_from_slice(&buffers[0].as_ref()[range.clone()]);
            for buffer in &buffers[1..] {
                for (o, &b) in out.iter_mut().zip(&buffer.as_ref()[range.clone()]) {
                    *o += b;
                }
            }
        });
        let loss = losses.iter().fold(N::Scalar::ZERO, |acc, &l| acc + l);
        loss * scale
    }
}

impl<N, G> BatchGradient<N, G> for ParallelGradient<N>
where
    N: Network + Sync,
    N::Input: Sync,
    N::Params: Send + Sync,
    G: Target<N::Output> + Sync,
{
    #[inline]
    fn batch_gradient(&mut self, net: &N, xs: &[N::Input], ts: &[G], grad: &mut N::Params) -> N::Scalar {
        self.compute(net, xs, ts, grad)
    }
}

/// Writes the mean gradient over the batch into `grad` (overwriting it), computed in
/// parallel chunks of `chunk_size` samples; returns the mean loss.
///
/// The result is bit-identical whatever the number of threads (see the
/// [module](self) documentation). Allocates one buffer per chunk on every call; use a
/// [`ParallelGradient`] to keep them between batches.
///
/// # Panics
/// If `chunk_size` is 0, `xs` and `ts` differ in length, or a [`Class`](crate::Class)
/// target is out of range.
pub fn batch_gradient<N, G>(net: &N, xs: &[N::Input], ts: &[G], grad: &mut N::Params, chunk_size: usize) -> N::Scalar
where
    N: Network + Sync,
    N::Input: Sync,
    N::Params: Send + Sync,
    G: Target<N::Output> + Sync,
{
    ParallelGradient::<N>::new(chunk_size).compute(net, xs, ts, grad)
}
