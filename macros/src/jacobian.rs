//! Jacobians of one sample, generated per network: of the outputs with respect to the
//! input (`input_jacobian`) and with respect to the parameters (`param_jacobian`).
//!
//! Both are the backward pass seeded, for each output `k`, with the unit vector `eₖ`
//! at the output instead of the loss delta: `eₖ` goes through the output activation's
//! Jacobian (`f′(z)` elementwise, `diag(y) − y·yᵀ` for softmax) and then down through
//! every layer with the same per-kind backward as training, so every kind (dense,
//! convolution, pooling, flatten) is covered. One forward and `OUTPUT` backward passes.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::codegen::{Gen, backward_seeded};
use crate::layers::{Mode, activation};
use crate::model::size;

/// Binds `__d{top}` = (∂y/∂z)ᵀ·e_{__k}: row `__k` of the output activation's Jacobian.
fn unit_seed(g: &Gen, top: usize) -> TokenStream {
    let t = &g.t;
    let layer = &g.net.layers[top];
    let n = size(&layer.output);
    let dy = format_ident!("__dy{}", top);
    let d = format_ident!("__d{}", top);
    let Some(act) = layer.kind.activation() else {
        return quote! { let mut #d: [#t; #n] = [0.0; #n]; #d[__k] = 1.0; };
    };
    let back = activation::emit_backprop(g, act, &dy, &d, n, layer.softmax_groups(), layer.unroll, &layer.trace);
    quote! {
        let mut #dy: [#t; #n] = [0.0; #n];
        #dy[__k] = 1.0;
        #back
    }
}

/// The inherent methods `input_jacobian` and `param_jacobian`.
pub fn emit(g: &Gen) -> TokenStream {
    let t = &g.t;
    let rt = crate::codegen::rt();
    let net = g.net;
    let (n_in, n_out, n_params, n_trace) = (net.input_size(), net.output_size(), net.params, net.trace_len);
    let seed = |top: usize| unit_seed(g, top);
    let input_rows = backward_seeded(g, None, &seed);
    let param_rows = backward_seeded(g, Some(Mode::Accumulate), &seed);
    // With dropout, the Jacobians are those of the inference function (masks of ones).
    let fwd = if net.stochastic() {
        quote!(forward_trace_at(self, __x, &mut __tr, ::core::option::Option::None))
    } else {
        quote!(forward_trace(self, __x, &mut __tr))
    };
    quote! {
        /// The Jacobian of the outputs with respect to the input for one sample,
        /// `J[k][i] = ∂yₖ/∂xᵢ`: one training forward, then one backward pass per output
        /// seeded with the unit vector `eₖ` through the output activation's Jacobian
        /// (softmax included). Nothing parameter-sized is allocated.
        #[must_use]
        pub fn input_jacobian(&self, __x: &[#t; #n_in]) -> [[#t; #n_in]; #n_out] {
            let mut __tr: [#t; #n_trace] = [0.0; #n_trace];
            let _ = <Self as #rt::Network>::#fwd;
            let __tr = &__tr;
            let __p = &self.params;
            let mut __jac: [[#t; #n_in]; #n_out] = [[0.0; #n_in]; #n_out];
            for __k in 0..#n_out {
                __jac[__k] = { #input_rows };
            }
            __jac
        }

        /// The Jacobian of the outputs with respect to the parameters for one sample,
        /// `jac[k][j] = ∂yₖ/∂θⱼ` (parameters in [`Self::LAYOUT`] order), written into the
        /// caller's buffer (`OUTPUT × PARAMS` scalars: keep it off the stack for large
        /// networks, e.g. in a `Box` or a `static`); returns the outputs `y`. One
        /// training forward, then one backward pass per output seeded with `eₖ` through
        /// the output activation's Jacobian. This is what Gauss–Newton and
        /// Levenberg–Marquardt need: for a sum-of-squares loss, `JᵀJ` is the
        /// Gauss–Newton matrix.
        pub fn param_jacobian(&self, __x: &[#t; #n_in], __jac: &mut [[#t; #n_params]; #n_out]) -> [#t; #n_out] {
            let mut __tr: [#t; #n_trace] = [0.0; #n_trace];
            let __y = <Self as #rt::Network>::#fwd;
            let __tr = &__tr;
            let __p = &self.params;
            for (__k, __g) in __jac.iter_mut().enumerate() {
                for __v in __g.iter_mut() {
                    *__v = 0.0;
                }
                let __input_grad: ::core::option::Option<&mut [#t; #n_in]> = ::core::option::Option::None;
                #param_rows
            }
            __y
        }
    }
}
