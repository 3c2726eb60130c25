//! Streaming inference for recurrent networks: `STATE`, `new_state` and `step`, one
//! time step of one sample per call, with the recurrent layers' states in a caller-owned
//! array on the stack. No trace, no allocation; each recurrent layer runs the very step
//! function of the whole-sequence forward (the runtime's `kernels::recurrent_step`), and
//! the layers above it the very code of `forward`, so after `T` steps from the zero
//! state the output equals `forward` on the `T`-step sequence bit for bit.
//!
//! Generated when the network's layers begin with recurrent layers, all but the last of
//! them with `sequence = true` (stacked) and the last without (its state feeds the head).
//!
//! Entry point: [`emit`].

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::codegen::{Gen, forward_from};
use crate::layers::LayerCx;
use crate::model::{Network, size};

/// The index of the last recurrent layer if the network streams.
pub fn streams(net: &Network) -> Option<usize> {
    let k = net.layers.iter().position(|l| l.kind.step_state().is_some_and(|r| !r.sequence))?;
    net.layers[..=k].iter().all(|l| l.kind.step_state().is_some()).then_some(k)
}

/// The streaming items, or nothing for a network that does not stream.
pub fn emit(g: &Gen) -> TokenStream {
    let net = g.net;
    let Some(k) = streams(net) else { return TokenStream::new() };
    let t = &g.t;
    let features = net.input.get(1).copied().unwrap_or(0);
    let n_out = net.output_size();
    let mut stmts = Vec::new();
    let mut s0 = 0usize;
    let mut prev = quote!(__x);
    for (l, layer) in net.layers.iter().enumerate().take(k + 1) {
        let Some(r) = layer.kind.step_state() else { return TokenStream::new() };
        let y = format_ident!("__y{}", l);
        stmts.push(r.emit_step(&LayerCx { g, layer }, &prev, s0, &y));
        s0 += r.state_len();
        prev = quote!(&#y);
    }
    let y = format_ident!("__y{}", k);
    let head = forward_from(g, false, k + 1, quote!(#y));
    let n_state = s0;
    let steps = net.input.first().copied().unwrap_or(0);
    let head_size = size(&net.layers[k].output);
    let doc_step = format!(
        "One time step of one sample: runs the recurrent layers one step from `state` (updated \
         in place) on `x`, the step's {features} features, and the layers above on the last \
         recurrent layer's {head_size} outputs. After {steps} steps from [`Self::new_state`], \
         the output equals [`forward`](::stackprop::Network::forward) on the sequence of those \
         steps bit for bit; no trace, no allocation."
    );
    quote! {
        /// Scalars of streaming state: every recurrent layer's `h` (and the LSTM's `c`).
        pub const STATE: usize = #n_state;

        /// The zero state, where a sequence starts (also a reset).
        #[must_use]
        pub const fn new_state() -> [#t; #n_state] {
            [0.0; #n_state]
        }

        #[doc = #doc_step]
        #[must_use]
        pub fn step(&self, __state: &mut [#t; #n_state], __x: &[#t; #features]) -> [#t; #n_out] {
            let __p = &self.params;
            #(#stmts)*
            #head
        }
    }
}
