//! Pooling, as `torch.nn.MaxPool2d`/`MaxPool1d`, `AvgPool2d`/`AvgPool1d` (on `[C][H][W]`,
//! `[C][L]`) and a global average pool (`torch.mean` over every spatial dimension). No
//! parameters; the channels stay apart.
//!
//! Windowed pools, with kernel `[KH][KW]`, stride `(sH, sW)` (default: the kernel) and
//! padding `(pH, pW)` at most half the kernel: the window of output `(y, x)` covers rows
//! `y·sH − pH + ky` and columns `x·sW − pW + kx` for `ky < KH`, `kx < KW`, and the output
//! is `[C][OH][OW]` with `OH = ⌊(H + 2pH − KH)/sH⌋ + 1` (likewise `OW`).
//!
//! - Max: `y[c][y][x] = max` over the window, padding cells counting as `−∞`; backward
//!   `∂L/∂x` gains `∂L/∂y[c][y][x]` at the window's maximum, the first one in row-major
//!   window order when several are tied (as PyTorch does), and 0 elsewhere. A NaN in a
//!   window wins and propagates, also as PyTorch does.
//! - Average: `y[c][y][x] = (1/(KH·KW))·Σ` over the window, padding cells counting as 0 and
//!   the divisor always `KH·KW` (PyTorch's `count_include_pad = True`); backward every
//!   input cell of the window gains `∂L/∂y[c][y][x] / (KH·KW)`.
//! - Global average: `y[c] = (1/S)·Σ_s x[c][s]` over the `S` spatial positions; backward
//!   `∂L/∂x[c][s] = ∂L/∂y[c] / S`.
//!
//! One-dimensional pools run as two-dimensional ones of height 1. Padding at most half the
//! kernel (PyTorch's rule, checked at construction) puts an input cell in every window.

use super::{Axis, Shape, SpecError, Window};
use crate::scalar::Scalar;

/// A windowed pool's resolved geometry (a 1-D one has height 1).
#[derive(Clone, Copy, Debug)]
pub(super) struct Pool {
    channels: usize,
    /// The height dimension.
    h: Window,
    /// The width (or, in 1-D, length) dimension.
    w: Window,
}

impl Pool {
    /// Checks the options (1-D ones lifted to height 1) against the input `shape` of layer
    /// `layer`: `[C, L]` if `one_d`, else `[C, H, W]`. Returns the geometry and the output
    /// shape.
    pub(super) fn resolve(
        layer: usize,
        kind: &'static str,
        shape: Shape,
        [kernel, stride, padding]: [[usize; 2]; 3],
        one_d: bool,
    ) -> Result<(Self, Shape), SpecError> {
        let (channels, height, width) = shape.channels_height_width(layer, kind, one_d)?;
        if kernel.contains(&0) {
            return Err(SpecError::ZeroKernel { layer });
        }
        if stride.contains(&0) {
            return Err(SpecError::ZeroStride { layer });
        }
        let axes = if one_d { [None, Some(Axis::Length)] } else { [Some(Axis::Height), Some(Axis::Width)] };
        for (i, axis) in axes.into_iter().enumerate() {
            if let Some(axis) = axis
                && padding[i] > kernel[i] / 2
            {
                return Err(SpecError::PoolPaddingTooLarge { layer, axis, padding: padding[i], kernel: kernel[i] });
            }
        }
        let (h, w) = if one_d {
            (Window::UNIT, Window::new(layer, Axis::Length, width, kernel[1], stride[1], padding[1], 1)?)
        } else {
            (
                Window::new(layer, Axis::Height, height, kernel[0], stride[0], padding[0], 1)?,
                Window::new(layer, Axis::Width, width, kernel[1], stride[1], padding[1], 1)?,
            )
        };
        let out = if one_d { Shape::new(&[channels, w.output]) } else { Shape::new(&[channels, h.output, w.output]) };
        Ok((Self { channels, h, w }, out))
    }

    /// Index of `x[c][iy][ix]`.
    #[inline]
    fn x_at(&self, c: usize, iy: usize, ix: usize) -> usize {
        (c * self.h.input + iy) * self.w.input + ix
    }

    /// Index of `y[c][oy][ox]`.
    #[inline]
    fn y_at(&self, c: usize, oy: usize, ox: usize) -> usize {
        (c * self.h.output + oy) * self.w.output + ox
    }

    /// Where in `x` the maximum of output `(c, oy, ox)`'s window lies: the first maximum
    /// in row-major window order; padding cells (`−∞`) are never taken, since every window
    /// holds an input cell; a NaN is taken, and a later NaN replaces an earlier one.
    fn argmax<T: Scalar>(&self, x: &[T], c: usize, oy: usize, ox: usize) -> usize {
        let mut best: Option<usize> = None;
        for ky in 0..self.h.kernel {
            let Some(iy) = self.h.tap(oy, ky) else { continue };
            for kx in 0..self.w.kernel {
                let Some(ix) = self.w.tap(ox, kx) else { continue };
                let i = self.x_at(c, iy, ix);
                if best.is_none_or(|b| x[i] > x[b] || is_nan(x[i])) {
                    best = Some(i);
                }
            }
        }
        best.expect("padding ≤ kernel/2 puts an input cell in every window")
    }

    /// `y = max` over each window.
    pub(super) fn max_forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
        for c in 0..self.channels {
            for oy in 0..self.h.output {
                for ox in 0..self.w.output {
                    y[self.y_at(c, oy, ox)] = x[self.argmax(x, c, oy, ox)];
                }
            }
        }
    }

    /// Adds `factor·∂L/∂x` into `dx`, given `∂L/∂y` and the pool's input `x`.
    pub(super) fn max_backward<T: Scalar>(&self, x: &[T], dy: &[T], factor: T, dx: &mut [T]) {
        for c in 0..self.channels {
            for oy in 0..self.h.output {
                for ox in 0..self.w.output {
                    dx[self.argmax(x, c, oy, ox)] += factor * dy[self.y_at(c, oy, ox)];
                }
            }
        }
    }

    /// The divisor `KH·KW`, padding cells included.
    #[inline]
    fn divisor<T: Scalar>(&self) -> T {
        T::from_usize(self.h.kernel * self.w.kernel)
    }

    /// `y = Σ/(KH·KW)` over each window, padding cells 0.
    pub(super) fn avg_forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
        let div = self.divisor::<T>();
        for c in 0..self.channels {
            for oy in 0..self.h.output {
                for ox in 0..self.w.output {
                    let mut sum = T::ZERO;
                    for ky in 0..self.h.kernel {
                        let Some(iy) = self.h.tap(oy, ky) else { continue };
                        for kx in 0..self.w.kernel {
                            let Some(ix) = self.w.tap(ox, kx) else { continue };
                            sum += x[self.x_at(c, iy, ix)];
                        }
                    }
                    y[self.y_at(c, oy, ox)] = sum / div;
                }
            }
        }
    }

    /// Adds `factor·∂L/∂x` into `dx`, given `∂L/∂y`.
    pub(super) fn avg_backward<T: Scalar>(&self, dy: &[T], factor: T, dx: &mut [T]) {
        let div = self.divisor::<T>();
        for c in 0..self.channels {
            for oy in 0..self.h.output {
                for ox in 0..self.w.output {
                    let g = factor * dy[self.y_at(c, oy, ox)] / div;
                    for ky in 0..self.h.kernel {
                        let Some(iy) = self.h.tap(oy, ky) else { continue };
                        for kx in 0..self.w.kernel {
                            let Some(ix) = self.w.tap(ox, kx) else { continue };
                            dx[self.x_at(c, iy, ix)] += g;
                        }
                    }
                }
            }
        }
    }
}

/// `v` is NaN (`Scalar` has no `is_nan`; NaN is the one value unordered with itself).
#[inline]
fn is_nan<T: Scalar>(v: T) -> bool {
    v.partial_cmp(&v).is_none()
}

/// The global average pool: `[C][..]` to `[C]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct GlobalAvgPool {
    channels: usize,
    /// Spatial positions per channel, `S`.
    spatial: usize,
}

impl GlobalAvgPool {
    /// Checks the input `shape` of layer `layer` (`[C, ..]`, at least one spatial
    /// dimension); returns the pool and the output shape `[C]`.
    pub(super) fn resolve(layer: usize, kind: &'static str, shape: Shape) -> Result<(Self, Shape), SpecError> {
        let dims = shape.dims();
        if dims.len() < 2 {
            return Err(SpecError::WrongInputRank { layer, kind, expected: "[C, L] or [C, H, W]", found: dims.len() });
        }
        let channels = dims[0];
        Ok((Self { channels, spatial: shape.len() / channels }, Shape::new(&[channels])))
    }

    /// `y[c] = mean of x[c][..]`.
    pub(super) fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
        let s = T::from_usize(self.spatial);
        for (yc, xc) in y.iter_mut().zip(x.chunks_exact(self.spatial)) {
            let mut sum = T::ZERO;
            for &v in xc {
                sum += v;
            }
            *yc = sum / s;
        }
    }

    /// Adds `factor·∂L/∂x` into `dx`, given `∂L/∂y`.
    pub(super) fn backward<T: Scalar>(&self, dy: &[T], factor: T, dx: &mut [T]) {
        let s = T::from_usize(self.spatial);
        for (&d, dxc) in dy.iter().zip(dx.chunks_exact_mut(self.spatial)) {
            let g = factor * d / s;
            for v in dxc {
                *v += g;
            }
        }
        debug_assert_eq!(dy.len(), self.channels);
    }
}
