//! A `Dense<WIDTH, Activation>` on a sequence: the same layer at every step, as
//! `torch.nn.Linear` applies to the last dimension of a `[batch, T, F]` tensor.
//!
//! ```text
//! forward    zₜ = W·xₜ + b,  yₜ = f(zₜ)      t = 1..T,  W: [out][F], b: [out]
//!            (Softmax: yₜ = softmax(zₜ), each step normalized on its own)
//!            [T][F] → [T][out]
//! backward   δₜ = ∂L/∂zₜ
//!            ∂L/∂W = Σₜ δₜ·xₜᵀ      ∂L/∂b = Σₜ δₜ
//!            ∂L/∂xₜ = Wᵀ·δₜ
//! ```
//!
//! A spec writes an ordinary `Dense`; the model puts this kind in its place when the
//! layer's input is a sequence ([`super::Kind::sequence_output`]): the output of a
//! recurrent layer with `sequence = true`, of another per-step `Dense`, or of a `Dropout`
//! on either. Any other multi-dimensional input (a convolution's `[C][L]`, a network
//! input `[T, F]`) still needs a `Flatten`. Parameters, names (`layer.weight`,
//! `layer.bias`), options and initialization are the dense layer's, with fan-in `F`.
//!
//! Each step is the dense layer's own emission (`dense::emit_affine`, `emit_backward`,
//! `emit_input_delta`: straight-line code or the runtime's row kernels) inside a loop over
//! `T` with constant bounds, so the straight-line form is one step's code whatever `T`,
//! and the streaming `step` runs the very same code on one step. The activation is the
//! pipeline's, over all `T·out` values; a `Softmax` there normalizes every step's `out`
//! values on its own ([`crate::model::Layer::softmax_groups`]: `yₜ = softmax(zₜ)`, its
//! Jacobian block-diagonal over the steps, one log-sum-exp per step for
//! `cross_entropy`), and the streaming `step` applies it to the one step's `out` values
//! with the same statements. Fused SGD first computes every step's `Wᵀ·δₜ`
//! from the weights before the update, then applies each step's update. No tile form: in
//! the mini-batch path the layer runs per sample, as the recurrent layers below it do.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::activation::Activation;
use super::dense::{self, Dense, Geom};
use super::{DocNames, Kind, LayerCx, Mode, Tensor};
use crate::codegen::rt;
use crate::ctxt::Ctxt;
use crate::model::{DEFAULT_UNROLL_ROW, Layer, Shape, Unroll};

/// A dense layer applied at every step of a sequence input.
#[derive(Clone, Debug)]
pub struct SeqDense {
    pub dense: Dense,
}

impl SeqDense {
    /// `(steps, features)` of the input.
    fn dims(input: &[usize]) -> (usize, usize) {
        match input {
            [s, f] => (*s, *f),
            _ => (1, crate::model::size(input)),
        }
    }

    /// One step's product: the dense emitters' view of the layer.
    fn geom(layer: &Layer) -> Geom {
        Geom { offset: layer.offset, fan_in: Self::dims(&layer.input).1, unroll: layer.unroll }
    }
}

impl Kind for SeqDense {
    fn name(&self) -> &'static str {
        "Dense"
    }

    /// `[T][F] → [T][width]`.
    fn output_shape(&self, cx: &mut Ctxt, layer: &Ident, _span: Span, input: &[usize]) -> Option<Shape> {
        if self.dense.width == 0 {
            cx.error_at(
                self.dense.width_span,
                format!("layer `{layer}` has width 0; a layer needs at least one output"),
            );
        }
        let (steps, _) = Self::dims(input);
        Some(vec![steps, self.dense.width])
    }

    fn tensors(&self, input: &[usize], _output: &[usize]) -> Vec<Tensor> {
        let (_, f) = Self::dims(input);
        self.dense.tensors(&[f], &[self.dense.width])
    }

    fn activation(&self) -> Option<&Activation> {
        Some(&self.dense.act)
    }

    fn unroll_option(&self) -> Option<Unroll> {
        self.dense.unroll
    }

    /// One step's multiply-adds: the straight-line form is one step's code in a loop.
    fn code_size(&self, input: &[usize], _output: &[usize]) -> usize {
        Self::dims(input).1.saturating_mul(self.dense.width)
    }

    fn default_unroll(&self, input: &[usize], output: &[usize], threshold: usize) -> bool {
        self.code_size(input, output) <= threshold && Self::dims(input).1 <= DEFAULT_UNROLL_ROW
    }

    fn sequence_output(&self, _input_sequence: bool) -> bool {
        true
    }

    fn emit_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident, _train: bool) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let (steps, f) = Self::dims(&lc.layer.input);
        let w = self.dense.width;
        let n = steps * w;
        let zs = quote::format_ident!("__zs");
        let step = dense::emit_affine(lc.g, &Self::geom(lc.layer), &self.dense, &quote!(__xs), &zs);
        quote! {
            let mut #out: [#t; #n] = [0.0; #n];
            for __step in 0..#steps {
                let __xs = #rt::view::array::<#t, #f>(&#inp[__step * #f..__step * #f + #f]);
                #step
                #out[__step * #w..__step * #w + #w].copy_from_slice(&#zs);
            }
        }
    }

    fn emit_backward(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        delta: &Ident,
        mode: Mode,
        input_delta: Option<&Ident>,
    ) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let (steps, f) = Self::dims(&lc.layer.input);
        let w = self.dense.width;
        let geom = Self::geom(lc.layer);
        let ds = quote::format_ident!("__ds");
        let es = quote::format_ident!("__es");
        let views = quote! {
            let __xs = #rt::view::array::<#t, #f>(&#inp[__step * #f..__step * #f + #f]);
            let #ds = #rt::view::array::<#t, #w>(&#delta[__step * #w..__step * #w + #w]);
        };
        match (mode, input_delta) {
            (Mode::Accumulate, Some(e)) => {
                let step = dense::emit_backward(lc.g, &geom, &self.dense, &quote!(__xs), &ds, mode, Some(&es));
                let n_in = steps * f;
                quote! {
                    let mut #e: [#t; #n_in] = [0.0; #n_in];
                    for __step in 0..#steps {
                        #views
                        #step
                        #e[__step * #f..__step * #f + #f].copy_from_slice(&#es);
                    }
                }
            }
            (_, e) => {
                // Fused SGD: every step's input delta from the weights before the update.
                let below = e.map(|e| self.emit_input_delta(lc, inp, delta, e));
                let step = dense::emit_backward(lc.g, &geom, &self.dense, &quote!(__xs), &ds, mode, None);
                quote! {
                    #below
                    for __step in 0..#steps {
                        #views
                        #step
                    }
                }
            }
        }
    }

    fn emit_input_delta(&self, lc: &LayerCx, _inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let (steps, f) = Self::dims(&lc.layer.input);
        let w = self.dense.width;
        let n_in = steps * f;
        let ds = quote::format_ident!("__ds");
        let es = quote::format_ident!("__es");
        let step = dense::emit_input_delta(lc.g, &Self::geom(lc.layer), &self.dense, &ds, &es);
        quote! {
            let mut #e: [#t; #n_in] = [0.0; #n_in];
            for __step in 0..#steps {
                let #ds = #rt::view::array::<#t, #w>(&#delta[__step * #w..__step * #w + #w]);
                #step
                #e[__step * #f..__step * #f + #f].copy_from_slice(&#es);
            }
        }
    }

    fn emit_step_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident) -> Option<TokenStream> {
        Some(dense::emit_affine(lc.g, &Self::geom(lc.layer), &self.dense, inp, out))
    }

    /// `net.head()` / `net.head_mut()`: `DenseRef` views (`weight()` as `[out][F]`).
    fn emit_accessors(&self, lc: &LayerCx) -> TokenStream {
        let (steps, f) = Self::dims(&lc.layer.input);
        let d = &self.dense;
        let summary = format!(
            "Layer `{}`: `Dense<{}, {}>` at every one of {steps} steps, {f} → {}{}.",
            lc.layer.name,
            d.width,
            d.act.name,
            d.width,
            if d.bias { "" } else { ", no bias" }
        );
        super::matrix_accessors(lc, f, d.width, d.bias, summary)
    }

    fn doc_forward(&self, n: &DocNames) -> String {
        let b = if self.dense.bias { format!(" + b{}", n.k) } else { String::new() };
        format!("{}ₜ = W{}·{}ₜ{b}, at every step t = 1..T", n.out, n.k, n.input)
    }

    fn doc_input_delta(&self, n: &DocNames, delta: &str) -> String {
        format!("W{}ᵀ·{delta}ₜ at every step", n.k)
    }

    fn doc_factor(&self, n: &DocNames) -> String {
        format!("W{}", n.k)
    }

    fn doc_flow(&self, n: &DocNames) -> Option<String> {
        Some(super::weights_flow(&self.doc_factor(n)))
    }

    fn doc_param_grads(&self, n: &DocNames, delta: &str) -> Vec<String> {
        let mut out = vec![format!("∂L/∂W{} = Σₜ {delta}ₜ·{}ₜᵀ", n.k, n.input)];
        if self.dense.bias {
            out.push(format!("∂L/∂b{} = Σₜ {delta}ₜ", n.k));
        }
        out
    }

    fn doc_code(&self, layer: &Layer) -> Option<String> {
        let (steps, f) = Self::dims(&layer.input);
        Some(format!(
            "{} multiply-adds over {steps} steps, one step's code in a loop: {}",
            steps * f * self.dense.width,
            if layer.unroll { "unrolled (straight-line, literal indices)" } else { "loops with constant bounds" }
        ))
    }
}
