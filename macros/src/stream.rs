//! Streaming inference for recurrent networks: `STATE`, `new_state` and `step`, one
//! time step of one sample per call, with the recurrent layers' states in a caller-owned
//! array on the stack. No trace, no allocation; each recurrent layer runs the very step
//! function of the whole-sequence forward (the runtime's `kernels::recurrent_step`), and
//! the layers above it the very code of `forward`, so after `T` steps from the zero
//! state the output equals `forward` on the `T`-step sequence bit for bit.
//!
//! Generated when the network's layers begin with recurrent layers, all but the last of
//! them with `sequence = true` (stacked) and the last without (its state feeds the head);
//! or all of them with `sequence = true` and only per-step layers above (a `Dense` at
//! every step, [`crate::layers::seq_dense`]), where each step returns that step's output.
//!
//! Entry point: [`emit`].

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::codegen::{Gen, forward_from};
use crate::layers::LayerCx;
use crate::model::{Layer, Network, size};

/// The index of the last recurrent layer if the network streams.
pub fn streams(net: &Network) -> Option<usize> {
    if let Some(k) = net.layers.iter().position(|l| l.kind.step_state().is_some_and(|r| !r.sequence)) {
        return net.layers[..=k].iter().all(|l| l.kind.step_state().is_some()).then_some(k);
    }
    // Recurrent layers all with `sequence = true`, then only per-step layers: each step's
    // output is that step's row of the sequence output.
    let k = net.layers.iter().take_while(|l| l.kind.step_state().is_some()).count().checked_sub(1)?;
    net.layers[k + 1..].iter().all(|l| l.sequence).then_some(k)
}

/// The layers above the last recurrent layer `k` applied to one step (they are per-step
/// layers: the network's output is a sequence), binding `__y{l}` each; ends with the
/// step's output. A softmax there is one group over the step's values: the statements
/// each step's group runs in `forward`.
fn per_step_head(g: &Gen, k: usize) -> TokenStream {
    let mut stmts = Vec::new();
    for (l, layer) in g.net.layers.iter().enumerate().skip(k + 1) {
        let lc = LayerCx { g, layer };
        let (prev, y, z) = (format_ident!("__y{}", l - 1), format_ident!("__y{}", l), format_ident!("__z{}", l));
        let width = layer.output.last().copied().unwrap_or(0);
        let act = layer.kind.activation();
        let out = if act.is_some() { &z } else { &y };
        let Some(step) = layer.kind.emit_step_forward(&lc, &quote!(#prev), out) else {
            return quote! { ::core::compile_error!("internal error: a layer without a per-step form") };
        };
        stmts.push(step);
        if let Some(act) = act {
            stmts.push(crate::layers::activation::emit_apply(g, act, &z, &y, width, 1, layer.unroll, None, None));
        }
    }
    let last = format_ident!("__y{}", g.net.layers.len() - 1);
    quote! {
        #(#stmts)*
        #last
    }
}

/// Where `layer`'s state starts in the streaming state, if the network streams and the
/// layer is one of its recurrent layers.
pub fn state_offset(net: &Network, layer: &Layer) -> Option<usize> {
    let k = streams(net)?;
    let mut s0 = 0;
    for l in &net.layers[..=k] {
        if std::ptr::eq(l, layer) {
            return Some(s0);
        }
        s0 += l.kind.step_state().map_or(0, |r| r.state_len());
    }
    None
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
    let per_step = net.layers[k].kind.step_state().is_some_and(|r| r.sequence);
    let (head, n_step) = match net.layers.last() {
        Some(last) if per_step => (per_step_head(g, k), size(last.output.get(1..).unwrap_or_default())),
        _ => (forward_from(g, false, k + 1, quote!(#y)), n_out),
    };
    let n_state = s0;
    let (rt, n_in, n_params, n_trace) = (crate::codegen::rt(), net.input_size(), net.params, net.trace_len);
    let from = Gen { net, t: t.clone(), from_state: true };
    let forward_from_state = forward_from(&from, true, 0, quote!(__x));
    // Dropout draws the masks of sample 0, as `forward_trace` does; `train_window` moves
    // the state on after its step, as the other training methods that take `&mut self`.
    let (sample, advance) = if net.stochastic() {
        (
            quote! { let __sample: ::core::option::Option<usize> = ::core::option::Option::Some(0); },
            quote! { <Self as #rt::Network>::advance_dropout(self); },
        )
    } else {
        (TokenStream::new(), TokenStream::new())
    };
    let mut ends = Vec::new();
    let mut e0 = 0usize;
    for layer in &net.layers[..=k] {
        if let Some(r) = layer.kind.step_state() {
            ends.push(r.emit_end_state(layer, e0));
            e0 += r.state_len();
        }
    }
    let steps = net.input.first().copied().unwrap_or(0);
    let head_size = size(&net.layers[k].output);
    let doc_step = if per_step {
        format!(
            "One time step of one sample: runs the recurrent layers one step from `state` (updated \
             in place) on `x`, the step's {features} features, and the per-step layers above on the \
             last recurrent layer's {} outputs of this step. The output of step `t` from \
             [`Self::new_state`] equals row `t` (`[t·{n_step}..(t + 1)·{n_step}]`) of \
             [`forward`](::stackprop::Network::forward) on the sequence bit for bit; no trace, no \
             allocation.",
            net.layers[k].output.last().copied().unwrap_or(0)
        )
    } else {
        format!(
            "One time step of one sample: runs the recurrent layers one step from `state` (updated \
             in place) on `x`, the step's {features} features, and the layers above on the last \
             recurrent layer's {head_size} outputs. After {steps} steps from [`Self::new_state`], \
             the output equals [`forward`](::stackprop::Network::forward) on the sequence of those \
             steps bit for bit; no trace, no allocation."
        )
    };
    quote! {
        /// Scalars of streaming state: every recurrent layer's `h` (and the LSTM's `c`).
        pub const STATE: usize = #n_state;

        /// The zero state, where a sequence starts (also a reset).
        #[must_use]
        pub const fn new_state() -> [#t; #n_state] {
            [0.0; #n_state]
        }

        /// The training forward from `state` (each recurrent layer's state before the
        /// window) instead of the zero state: truncated backpropagation through time.
        /// `backward` on this trace gives the gradient of this window, cut at its start
        /// (no gradient flows into `state`).
        pub fn forward_trace_from(
            &self,
            __state: &[#t; #n_state],
            __x: &[#t; #n_in],
            __tr: &mut [#t; #n_trace],
        ) -> [#t; #n_out] {
            let __p = &self.params;
            #sample
            #forward_from_state
        }

        /// The recurrent state after the window a training forward ran
        /// ([`Self::forward_trace_from`] or `forward_trace`), read from its trace: the state
        /// the next window starts from.
        pub fn end_state(__tr: &[#t; #n_trace], __state: &mut [#t; #n_state]) {
            #(#ends)*
        }

        /// One optimizer step of truncated backpropagation through time on one window of a
        /// long stream: the training forward from `state`, backward through the window's
        /// steps only, the update; `state` becomes the state at the window's end, where the
        /// next window starts. Returns the window's loss. A gradient of
        /// [`Self::PARAMS`] scalars and a trace are on the stack.
        pub fn train_window<__O: #rt::Optimizer<[#t; #n_params]>>(
            &mut self,
            state: &mut [#t; #n_state],
            x: &[#t; #n_in],
            target: &[#t; #n_out],
            opt: &mut __O,
        ) -> #t {
            let mut __tr: [#t; #n_trace] = [0.0; #n_trace];
            let _ = Self::forward_trace_from(self, state, x, &mut __tr);
            let mut __g: [#t; #n_params] = [0.0; #n_params];
            let __loss = <Self as #rt::Network>::backward(self, x, &__tr, target, 1.0, &mut __g, ::core::option::Option::None);
            #rt::Optimizer::step(opt, <Self as #rt::Network>::params_mut(self), &__g);
            Self::end_state(&__tr, state);
            #advance
            __loss
        }

        #[doc = #doc_step]
        #[must_use]
        pub fn step(&self, __state: &mut [#t; #n_state], __x: &[#t; #features]) -> [#t; #n_step] {
            let __p = &self.params;
            #(#stmts)*
            #head
        }
    }
}
