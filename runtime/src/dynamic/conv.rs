//! Convolutions, as `torch.nn.Conv2d` on `[C][H][W]` and `torch.nn.Conv1d` on `[C][L]`:
//! cross-correlation (the kernel is not flipped) with zero padding.
//!
//! Forward, with `O` output channels, kernel `[KH][KW]`, stride `(sH, sW)`, padding
//! `(pH, pW)` and dilation `(dH, dW)`:
//! `z[o][y][x] = Σ_{c,ky,kx} W[o][c][ky][kx]·xpad[c][y·sH − pH + ky·dH][x·sW − pW + kx·dW] + b[o]`,
//! then `y = f(z)` elementwise, where `xpad` is `x` inside the input and 0 in the
//! padding. The output is `[O][OH][OW]` with `OH = ⌊(H + 2pH − dH·(KH − 1) − 1)/sH⌋ + 1`
//! (likewise `OW`); the weight is `[O][C][KH][KW]` row-major, then the bias `[O]`.
//! Backward, from `δ = ∂L/∂z`, with `(iy, ix)` the input cell tap `(ky, kx)` of output
//! `(y, x)` reads: `∂L/∂W[o][c][ky][kx] = Σ_{y,x} δ[o][y][x]·xpad[c][iy][ix]`,
//! `∂L/∂b[o] = Σ_{y,x} δ[o][y][x]`, and `∂L/∂x[c][i][j]` is the sum of
//! `W[o][c][ky][kx]·δ[o][y][x]` over every `(o, y, x, ky, kx)` whose tap reads `(i, j)`;
//! taps in the padding read a constant 0 and pass nothing back. Initialization: fan-in
//! `C·KH·KW`, fan-out `O·KH·KW`.
//!
//! `Conv1d` is the same computation with `H = KH = 1` (no padding, stride and dilation
//! 1 in height): it runs as a 2-D convolution of height 1, so one set of loops serves
//! both. The loops are the formulas written out, with the padding test at each tap: a
//! reference, deliberately independent from the optimized kernels.

use super::{Axis, Shape, SpecError, Window};
use crate::scalar::Scalar;

/// A convolution's options as given, with 1-D ones already lifted to height 1.
#[derive(Clone, Copy, Debug)]
pub(super) struct ConvOptions {
    pub(super) out_channels: usize,
    pub(super) kernel: [usize; 2],
    pub(super) stride: [usize; 2],
    pub(super) padding: [usize; 2],
    pub(super) dilation: [usize; 2],
}

/// A convolution's resolved geometry (a 1-D one has height 1).
#[derive(Clone, Copy, Debug)]
pub(super) struct Conv {
    in_channels: usize,
    out_channels: usize,
    /// The height dimension.
    h: Window,
    /// The width (or, in 1-D, length) dimension.
    w: Window,
}

impl Conv {
    /// Checks `options` against the input `shape` of layer `layer`: `[C, L]` if `one_d`,
    /// else `[C, H, W]`. Returns the geometry and the output shape.
    pub(super) fn resolve(
        layer: usize,
        kind: &'static str,
        shape: Shape,
        options: ConvOptions,
        one_d: bool,
    ) -> Result<(Self, Shape), SpecError> {
        let ConvOptions { out_channels, kernel, stride, padding, dilation } = options;
        let (channels, height, width) = shape.channels_height_width(layer, kind, one_d)?;
        if out_channels == 0 {
            return Err(SpecError::ZeroChannels { layer });
        }
        if kernel.contains(&0) {
            return Err(SpecError::ZeroKernel { layer });
        }
        if stride.contains(&0) {
            return Err(SpecError::ZeroStride { layer });
        }
        if dilation.contains(&0) {
            return Err(SpecError::ZeroDilation { layer });
        }
        let (h, w) = if one_d {
            (Window::UNIT, Window::new(layer, Axis::Length, width, kernel[1], stride[1], padding[1], dilation[1])?)
        } else {
            (
                Window::new(layer, Axis::Height, height, kernel[0], stride[0], padding[0], dilation[0])?,
                Window::new(layer, Axis::Width, width, kernel[1], stride[1], padding[1], dilation[1])?,
            )
        };
        let out =
            if one_d { Shape::new(&[out_channels, w.output]) } else { Shape::new(&[out_channels, h.output, w.output]) };
        Ok((Self { in_channels: channels, out_channels, h, w }, out))
    }

    /// Number of weights, `O·C·KH·KW`.
    #[inline]
    pub(super) fn weight_len(&self) -> usize {
        self.out_channels * self.in_channels * self.h.kernel * self.w.kernel
    }

    /// `C·KH·KW`: the inputs each output reads.
    #[inline]
    pub(super) fn fan_in(&self) -> usize {
        self.in_channels * self.h.kernel * self.w.kernel
    }

    /// `O·KH·KW`: the outputs each input reaches, away from the border.
    #[inline]
    pub(super) fn fan_out(&self) -> usize {
        self.out_channels * self.h.kernel * self.w.kernel
    }

    /// Number of output channels (the bias length).
    #[inline]
    pub(super) fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Index of `W[o][c][ky][kx]`.
    #[inline]
    fn w_at(&self, o: usize, c: usize, ky: usize, kx: usize) -> usize {
        ((o * self.in_channels + c) * self.h.kernel + ky) * self.w.kernel + kx
    }

    /// Index of `x[c][iy][ix]`.
    #[inline]
    fn x_at(&self, c: usize, iy: usize, ix: usize) -> usize {
        (c * self.h.input + iy) * self.w.input + ix
    }

    /// Index of `z[o][y][x]`.
    #[inline]
    fn z_at(&self, o: usize, y: usize, x: usize) -> usize {
        (o * self.h.output + y) * self.w.output + x
    }

    /// `z = W ⋆ x + b`.
    pub(super) fn forward<T: Scalar>(&self, w: &[T], b: Option<&[T]>, x: &[T], z: &mut [T]) {
        for o in 0..self.out_channels {
            for oy in 0..self.h.output {
                for ox in 0..self.w.output {
                    let mut acc = T::ZERO;
                    for c in 0..self.in_channels {
                        for ky in 0..self.h.kernel {
                            let Some(iy) = self.h.tap(oy, ky) else { continue };
                            for kx in 0..self.w.kernel {
                                let Some(ix) = self.w.tap(ox, kx) else { continue };
                                acc += w[self.w_at(o, c, ky, kx)] * x[self.x_at(c, iy, ix)];
                            }
                        }
                    }
                    if let Some(b) = b {
                        acc += b[o];
                    }
                    z[self.z_at(o, oy, ox)] = acc;
                }
            }
        }
    }

    /// Adds `scale·∂L/∂W` into `gw` and `scale·∂L/∂b` into `gb`, given `δ = ∂L/∂z`.
    pub(super) fn accumulate_param_grad<T: Scalar>(
        &self,
        x: &[T],
        dz: &[T],
        scale: T,
        gw: &mut [T],
        gb: Option<&mut [T]>,
    ) {
        for o in 0..self.out_channels {
            for oy in 0..self.h.output {
                for ox in 0..self.w.output {
                    let d = scale * dz[self.z_at(o, oy, ox)];
                    for c in 0..self.in_channels {
                        for ky in 0..self.h.kernel {
                            let Some(iy) = self.h.tap(oy, ky) else { continue };
                            for kx in 0..self.w.kernel {
                                let Some(ix) = self.w.tap(ox, kx) else { continue };
                                gw[self.w_at(o, c, ky, kx)] += d * x[self.x_at(c, iy, ix)];
                            }
                        }
                    }
                }
            }
        }
        if let Some(gb) = gb {
            for (o, g) in gb.iter_mut().enumerate() {
                for oy in 0..self.h.output {
                    for ox in 0..self.w.output {
                        *g += scale * dz[self.z_at(o, oy, ox)];
                    }
                }
            }
        }
    }

    /// Adds `factor·∂L/∂x` into `dx`, given `δ = ∂L/∂z`: every output position sends its
    /// error back through each tap that reads an input cell.
    pub(super) fn accumulate_input_grad<T: Scalar>(&self, w: &[T], dz: &[T], factor: T, dx: &mut [T]) {
        for o in 0..self.out_channels {
            for oy in 0..self.h.output {
                for ox in 0..self.w.output {
                    let d = factor * dz[self.z_at(o, oy, ox)];
                    for c in 0..self.in_channels {
                        for ky in 0..self.h.kernel {
                            let Some(iy) = self.h.tap(oy, ky) else { continue };
                            for kx in 0..self.w.kernel {
                                let Some(ix) = self.w.tap(ox, kx) else { continue };
                                dx[self.x_at(c, iy, ix)] += w[self.w_at(o, c, ky, kx)] * d;
                            }
                        }
                    }
                }
            }
        }
    }
}
