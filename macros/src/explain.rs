//! `LayerValues`: one training step's every value — each layer's pre-activation `z`, its
//! output `a` and its delta `δ` — written into a caller-owned buffer, for the runtime's
//! `explain_sgd_step` (the chain rule of the derivation, with numbers).
//!
//! The method is the training forward and the accumulating backward of the network
//! itself (the same emission), with a copy of each value after the statement that binds
//! it; the backward goes down to the input, so every layer has its δ.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::codegen::{Gen, backward_recorded, forward_recorded, rt};
use crate::layers::Mode;
use crate::model::size;

/// The `LayerValues` impl: `[z, a, δ]` of each layer that computes (reshapes have none),
/// in layer order.
pub fn emit_trait(g: &Gen) -> TokenStream {
    let net = g.net;
    let t = &g.t;
    let rt = rt();
    let ident = &net.ident;
    let (n_in, n_out, n_params, n_trace) = (net.input_size(), net.output_size(), net.params, net.trace_len);
    let mut at: Vec<Option<usize>> = Vec::new();
    let mut total = 0usize;
    for layer in &net.layers {
        if layer.kind.aliases_input() {
            at.push(None);
        } else {
            at.push(Some(total));
            total += 3 * size(&layer.output);
        }
    }
    let record_forward = |l: usize| {
        let Some(o) = at[l] else { return TokenStream::new() };
        let layer = &net.layers[l];
        let n = size(&layer.output);
        let y = format_ident!("__y{}", l);
        let z = if layer.kind.activation().is_some() { format_ident!("__z{}", l) } else { y.clone() };
        let (o1, o2) = (o + n, o + 2 * n);
        quote! {
            __vals[#o..#o1].copy_from_slice(&#z[..]);
            __vals[#o1..#o2].copy_from_slice(&#y[..]);
        }
    };
    let record_delta = |l: usize| {
        let Some(o) = at[l] else { return TokenStream::new() };
        let n = size(&net.layers[l].output);
        let (o2, o3) = (o + 2 * n, o + 3 * n);
        let d = format_ident!("__d{}", l);
        quote! { __vals[#o2..#o3].copy_from_slice(&#d[..]); }
    };
    let forward = forward_recorded(g, true, &record_forward);
    // Dropout draws the masks of sample 0, as `Network::gradient` does.
    let sample = net.stochastic().then(|| quote! { let __sample = ::core::option::Option::Some(0usize); });
    let backward = backward_recorded(
        g,
        Some(Mode::Accumulate),
        &|top| crate::loss::emit_delta(g, top, &net.layers[top]),
        &record_delta,
    );
    quote! {
        #[automatically_derived]
        #[allow(clippy::all, clippy::pedantic, clippy::nursery)]
        impl #rt::LayerValues for #ident {
            const VALUES: usize = #total;

            fn layer_values(
                &self,
                __x: &[#t; #n_in],
                __t: &[#t; #n_out],
                __g: &mut [#t; #n_params],
                __vals: &mut [#t],
            ) -> ::core::option::Option<#t> {
                if __vals.len() < #total {
                    return ::core::option::Option::None;
                }
                let mut __trace: [#t; #n_trace] = [0.0; #n_trace];
                let __p = &self.params;
                #sample
                {
                    let __tr = &mut __trace;
                    let _ = { #forward };
                }
                let __tr = &__trace;
                let __loss = <Self as #rt::Network>::trace_loss(self, __tr, __t);
                let __scale: #t = 1.0;
                let mut __input: [#t; #n_in] = [0.0; #n_in];
                let __input_grad = ::core::option::Option::Some(&mut __input);
                #backward
                ::core::option::Option::Some(__loss)
            }
        }
    }
}
