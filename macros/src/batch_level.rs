//! Networks with a batch-level layer (batch normalization): training is a computation
//! over the whole mini-batch, so these networks get their own items instead of the
//! per-sample `Network` impl.
//!
//! Generated: the struct (parameters, float buffers, integer counters), its constants
//! and constructors, `forward` (inference, with the running statistics), and the
//! mini-batch entry points `batch_loss`, `batch_backward`, `batch_gradient` and
//! `train_batch`, all on one private pass (`__batch_pass`) that runs the network layer
//! by layer over the batch. With dropout the struct also carries the dropout state, as a
//! per-sample network's: the pass gets it as `__dropout_state` and sample `i` of the
//! batch draws the masks of sample `i`; `train_batch` moves it on after the step. Per-sample training methods exist only as stubs whose call
//! fails to compile with the runtime's `PerSampleTraining` message.
//!
//! Storage of the pass: the caller's workspace `__ws: &mut [[T; BATCH_ROW]]`, one row
//! per sample: the sample's trace (`TRACE` scalars: each layer's output, the activations'
//! saved values, batch norm's x̂) followed by a delta region as wide as the widest layer,
//! which holds ∂L/∂(layer output) for the layer backward is at. The per-batch statistics
//! (1/σ per channel) are one small array `__st: [T; STATS]` on the stack. Names in scope
//! for the kinds' batch emitters: `__n` (samples), `__xs`, `__ws`, `__p`, `__st`, `__run`
//! (`Option<&mut [T; BUFFER_SCALARS]>`: update the running statistics), `__cnt`
//! (`Option<&mut [i64; COUNTERS]>`), and in backward `__g`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::codegen::{Gen, backward_input, delta_below, rt};
use crate::layers::{BatchInput, LayerCx, Mode, activation};
use crate::model::size;
use crate::parse::Spec;

/// Scalars of the delta region of a workspace row: the widest layer input or output.
pub fn delta_width(net: &crate::model::Network) -> usize {
    net.layers.iter().map(|l| size(&l.input).max(size(&l.output))).max().unwrap_or(1).max(1)
}

/// Every item of a network with a batch-level layer.
pub fn generate(spec: &Spec, g: &Gen) -> TokenStream {
    let net = g.net;
    let (t, rt) = (&g.t, rt());
    let ident = &net.ident;
    let (vis, attrs) = (&spec.vis, &spec.attrs);
    let (n_in, n_out, n_params, n_trace) = (net.input_size(), net.output_size(), net.params, net.trace_len);
    let (n_buf, n_cnt) = (net.buffers, net.counts);
    let n_row = n_trace + delta_width(net);

    let layout = crate::codegen::layout(g);
    let layers = crate::codegen::layers(g);
    let views = crate::codegen::views(g);
    let init = crate::codegen::init(g);
    let forward = crate::codegen::forward_body(g, false);
    let pass = pass_body(g);
    let code = crate::doc::CodeSize {
        forward_tokens: crate::codegen::count_tokens(forward.clone()),
        backward_tokens: crate::codegen::count_tokens(pass.clone()),
    };
    let docs = crate::doc::derivation(net, code);
    let derivation = docs.join("\n");

    let mut buffer_infos = Vec::new();
    let mut buffer_init = Vec::new();
    for layer in &net.layers {
        let (mut off, mut coff) = (layer.buffer_offset, layer.count_offset);
        for b in &layer.buffers {
            let name = format!("{}.{}", layer.name, b.suffix);
            let shape = &b.shape;
            let (at, integer) = if b.integer { (coff, true) } else { (off, false) };
            buffer_infos.push(quote! {
                #rt::BufferInfo { name: #name, offset: #at, shape: &[#(#shape),*], integer: #integer }
            });
            if b.integer {
                coff += b.len();
            } else {
                off += b.len();
                let v = g.lit(b.init);
                buffer_init.extend(std::iter::repeat_n(v, b.len()));
            }
        }
    }

    let (storage, constness, zero_params, new_params, into_params) = if net.boxed {
        (
            quote!(#rt::boxed_params!(type #t, #n_params)),
            TokenStream::new(),
            quote!(#rt::boxed_params!(zeroed #t, #n_params)),
            quote!(#rt::boxed_params!(new params)),
            quote!(#rt::boxed_params!(into self.params)),
        )
    } else {
        (quote!([#t; #n_params]), quote!(const), quote!([0.0; #n_params]), quote!(params), quote!(self.params))
    };
    let refused = refused(g);
    let Dropout { field, init: dropout_field_init, init_state, inherent: dropout_inherent, advance, state } =
        dropout(g);

    quote! {
        #(#attrs)*
        #[doc = ""]
        #(#[doc = #docs])*
        #vis struct #ident {
            params: #storage,
            buffers: [#t; #n_buf],
            counts: [i64; #n_cnt],
            #field
        }

        const _: () = {
            #[allow(clippy::too_many_arguments, clippy::needless_range_loop, unused_variables, unused_mut)]
            #[allow(clippy::all, clippy::pedantic, clippy::nursery)]
            fn __batch_pass<__G: #rt::Target<[#t; #n_out]>>(
                __p: &[#t; #n_params],
                mut __run: ::core::option::Option<&mut [#t; #n_buf]>,
                mut __cnt: ::core::option::Option<&mut [i64; #n_cnt]>,
                __xs: &[[#t; #n_in]],
                __ts: &[__G],
                __ws: &mut [[#t; #n_row]],
                __grad: ::core::option::Option<&mut [#t; #n_params]>,
                mut __gx: ::core::option::Option<&mut [[#t; #n_in]]>,
                __dropout_state: u64,
            ) -> #t {
                #pass
            }

            #[automatically_derived]
            #[allow(clippy::all, clippy::pedantic, clippy::nursery)]
            impl #ident {
                /// Number of inputs.
                pub const INPUT: usize = #n_in;
                /// Number of outputs.
                pub const OUTPUT: usize = #n_out;
                /// Number of parameters (trained) in the flat array.
                pub const PARAMS: usize = #n_params;
                /// Number of float buffers (running statistics, never trained).
                pub const BUFFER_SCALARS: usize = #n_buf;
                /// Number of integer buffers (`num_batches_tracked`).
                pub const COUNTERS: usize = #n_cnt;
                /// Number of scalars of one sample's trace in the mini-batch pass.
                pub const TRACE: usize = #n_trace;
                /// Scalars per sample of the mini-batch workspace: the trace and a delta
                /// region as wide as the widest layer.
                pub const BATCH_ROW: usize = #n_row;
                /// The derivation the macro produced for this network.
                pub const DERIVATION: &'static str = #derivation;
                /// The float buffers' values at construction and after
                /// [`reset_running_stats`](Self::reset_running_stats).
                pub const BUFFER_INIT: [#t; #n_buf] = [#(#buffer_init),*];
                /// The buffers (state saved with the weights, never trained), PyTorch
                /// names and shapes; `integer` ones index [`Self::counters`].
                pub const BUFFER_LAYOUT: &'static [#rt::BufferInfo] = &[#(#buffer_infos),*];

                /// A network whose parameters are all zero, running statistics at their
                /// defaults (mean 0, variance 1, no batch tracked).
                #[must_use]
                pub #constness fn zeroed() -> Self {
                    Self { params: #zero_params, buffers: Self::BUFFER_INIT, counts: [0; #n_cnt] #dropout_field_init }
                }

                /// A network with the given flat parameters (layout: [`Self::LAYOUT`])
                /// and default running statistics.
                #[must_use]
                pub #constness fn from_params(params: [#t; #n_params]) -> Self {
                    Self { params: #new_params, buffers: Self::BUFFER_INIT, counts: [0; #n_cnt] #dropout_field_init }
                }

                /// The flat parameters, by value.
                #[must_use]
                pub #constness fn into_params(self) -> [#t; #n_params] {
                    #into_params
                }

                /// A network initialized from `seed` (batch norm: γ = 1, β = 0).
                #[must_use]
                pub fn seeded(seed: u64) -> Self {
                    let mut net = Self::zeroed();
                    net.init_with(&mut #rt::SplitMix64::new(seed));
                    net
                }

                /// Re-initializes every layer in place from `rng` and resets the running
                /// statistics (as PyTorch's `reset_parameters`).
                pub fn init_with<R: #rt::rand_core::Rng + ?Sized>(&mut self, rng: &mut R) {
                    #init
                    #init_state
                    self.reset_running_stats();
                }

                #dropout_inherent

                /// Running means to 0, variances to 1, `num_batches_tracked` to 0 (as
                /// PyTorch's `reset_running_stats`).
                pub fn reset_running_stats(&mut self) {
                    self.buffers = Self::BUFFER_INIT;
                    self.counts = [0; #n_cnt];
                }

                /// The flat parameters.
                #[inline]
                #[must_use]
                pub fn params(&self) -> &[#t; #n_params] {
                    &self.params
                }

                /// The flat parameters, mutably.
                #[inline]
                #[must_use]
                pub fn params_mut(&mut self) -> &mut [#t; #n_params] {
                    &mut self.params
                }

                /// The float buffers (layout: [`Self::BUFFER_LAYOUT`]).
                #[inline]
                #[must_use]
                pub fn buffers(&self) -> &[#t; #n_buf] {
                    &self.buffers
                }

                /// The float buffers, mutably.
                #[inline]
                #[must_use]
                pub fn buffers_mut(&mut self) -> &mut [#t; #n_buf] {
                    &mut self.buffers
                }

                /// The integer buffers (`num_batches_tracked` of each batch norm layer).
                #[inline]
                #[must_use]
                pub fn counters(&self) -> &[i64; #n_cnt] {
                    &self.counts
                }

                /// The integer buffers, mutably.
                #[inline]
                #[must_use]
                pub fn counters_mut(&mut self) -> &mut [i64; #n_cnt] {
                    &mut self.counts
                }

                /// Inference: the output for one input, batch norm with the running
                /// statistics.
                #[must_use]
                pub fn forward(&self, __x: &[#t; #n_in]) -> [#t; #n_out] {
                    let __p = &self.params;
                    let __bf = &self.buffers;
                    #forward
                }

                /// Batched inference: `out[i] = forward(&xs[i])` for every sample, batch
                /// norm with the running statistics (one sample at a time).
                ///
                /// # Panics
                /// If `xs` and `out` differ in length.
                pub fn forward_batch(&self, xs: &[[#t; #n_in]], out: &mut [[#t; #n_out]]) {
                    ::core::assert_eq!(xs.len(), out.len(), "inputs and outputs differ in length");
                    for (x, y) in xs.iter().zip(out.iter_mut()) {
                        *y = self.forward(x);
                    }
                }

                /// The mean loss of a mini-batch in training mode (batch statistics),
                /// leaving the running statistics alone. `ws` needs a row per sample.
                ///
                /// # Panics
                /// If `ts` or `ws` are shorter than `xs`, or a batch norm layer sees
                /// one value per channel.
                #[must_use]
                pub fn batch_loss<G: #rt::Target<[#t; #n_out]>>(
                    &self,
                    xs: &[[#t; #n_in]],
                    ts: &[G],
                    ws: &mut [[#t; #n_row]],
                ) -> #t {
                    __batch_pass(&self.params, None, None, xs, ts, ws, None, None, #state)
                }

                /// The gradient of the mean mini-batch loss in training mode, written
                /// over `grad`, and, if given, over `input_grad` ∂L/∂xₛ for every sample;
                /// the running statistics are left alone. Returns the mean loss.
                ///
                /// # Panics
                /// As [`batch_loss`](Self::batch_loss), or if `input_grad` is shorter
                /// than `xs`.
                pub fn batch_backward<G: #rt::Target<[#t; #n_out]>>(
                    &self,
                    xs: &[[#t; #n_in]],
                    ts: &[G],
                    ws: &mut [[#t; #n_row]],
                    grad: &mut [#t; #n_params],
                    input_grad: ::core::option::Option<&mut [[#t; #n_in]]>,
                ) -> #t {
                    __batch_pass(&self.params, None, None, xs, ts, ws, Some(grad), input_grad, #state)
                }

                /// [`batch_backward`](Self::batch_backward) without input gradients, and
                /// the running statistics updated from the batch (momentum, unbiased
                /// variance, `num_batches_tracked += 1`) as a PyTorch training forward.
                ///
                /// # Panics
                /// As [`batch_loss`](Self::batch_loss).
                pub fn batch_gradient<G: #rt::Target<[#t; #n_out]>>(
                    &mut self,
                    xs: &[[#t; #n_in]],
                    ts: &[G],
                    ws: &mut [[#t; #n_row]],
                    grad: &mut [#t; #n_params],
                ) -> #t {
                    if xs.is_empty() {
                        grad.fill(0.0);
                        return 0.0;
                    }
                    let __state = #state;
                    __batch_pass(
                        &self.params,
                        Some(&mut self.buffers),
                        Some(&mut self.counts),
                        xs,
                        ts,
                        ws,
                        Some(grad),
                        None,
                        __state,
                    )
                }

                /// One optimizer step on a mini-batch (exact batch statistics): the
                /// running statistics are updated, then `opt` steps the parameters with
                /// the gradient (written into `grad`); the buffers are never given to
                /// the optimizer. Returns the mean loss before the step; an empty batch
                /// changes nothing.
                ///
                /// # Panics
                /// As [`batch_loss`](Self::batch_loss).
                pub fn train_batch<G: #rt::Target<[#t; #n_out]>, O: #rt::Optimizer<[#t; #n_params]>>(
                    &mut self,
                    xs: &[[#t; #n_in]],
                    ts: &[G],
                    ws: &mut [[#t; #n_row]],
                    grad: &mut [#t; #n_params],
                    opt: &mut O,
                ) -> #t {
                    if xs.is_empty() {
                        return 0.0;
                    }
                    let loss = self.batch_gradient(xs, ts, ws, grad);
                    opt.step(&mut self.params, grad);
                    #advance
                    loss
                }

                /// A checked [`train_batch`](Self::train_batch): the inputs and targets
                /// are checked first, then the loss and the gradient, then the updated
                /// parameters; on the first NaN or infinity it returns an `Err` and the
                /// network (parameters, running statistics, `num_batches_tracked`,
                /// dropout state) and `opt` are as they were. `grad` and `backup` (the
                /// parameters before the step) are overwritten. Returns the mean loss
                /// before the step; an empty batch changes nothing.
                ///
                /// # Errors
                /// `stackprop::NonFiniteStep` naming what was not finite.
                ///
                /// # Panics
                /// As [`batch_loss`](Self::batch_loss).
                pub fn try_train_batch<G: #rt::Target<[#t; #n_out]>, O: #rt::Optimizer<[#t; #n_params]> + Clone>(
                    &mut self,
                    xs: &[[#t; #n_in]],
                    ts: &[G],
                    ws: &mut [[#t; #n_row]],
                    grad: &mut [#t; #n_params],
                    backup: &mut [#t; #n_params],
                    opt: &mut O,
                ) -> ::core::result::Result<#t, #rt::NonFiniteStep> {
                    for (sample, x) in xs.iter().enumerate() {
                        if let ::core::option::Option::Some(feature) = x.iter().position(|v| !v.is_finite()) {
                            return ::core::result::Result::Err(#rt::NonFiniteStep::BatchInput { sample, feature });
                        }
                    }
                    for (sample, t) in ts.iter().enumerate() {
                        let t: [#t; #n_out] = #rt::Target::to_target(t);
                        if let ::core::option::Option::Some(output) = t.iter().position(|v| !v.is_finite()) {
                            return ::core::result::Result::Err(#rt::NonFiniteStep::BatchTarget { sample, output });
                        }
                    }
                    if xs.is_empty() {
                        return ::core::result::Result::Ok(0.0);
                    }
                    let (buffers, counts) = (self.buffers, self.counts);
                    let loss = self.batch_gradient(xs, ts, ws, grad);
                    let refused = if !loss.is_finite() {
                        ::core::option::Option::Some(#rt::NonFiniteStep::Loss)
                    } else {
                        grad.iter().position(|v| !v.is_finite()).map(|param| #rt::NonFiniteStep::Gradient { param })
                    };
                    if let ::core::option::Option::Some(e) = refused {
                        self.buffers = buffers;
                        self.counts = counts;
                        return ::core::result::Result::Err(e);
                    }
                    backup.copy_from_slice(&self.params[..]);
                    let saved = opt.clone();
                    opt.step(&mut self.params, grad);
                    if let ::core::option::Option::Some(param) = self.params.iter().position(|v| !v.is_finite()) {
                        self.params.copy_from_slice(&backup[..]);
                        *opt = saved;
                        self.buffers = buffers;
                        self.counts = counts;
                        return ::core::result::Result::Err(#rt::NonFiniteStep::Parameters { param });
                    }
                    #advance
                    ::core::result::Result::Ok(loss)
                }

                #refused
                #layout
                #layers
                #views
            }

            #[automatically_derived]
            impl #rt::WithBuffers for #ident {
                type Scalar = #t;
                const PARAM_LAYOUT: &'static [#rt::ParamInfo] = Self::LAYOUT;
                const BUFFERS: &'static [#rt::BufferInfo] = Self::BUFFER_LAYOUT;

                fn param_slice(&self) -> &[#t] {
                    &self.params[..]
                }

                fn param_slice_mut(&mut self) -> &mut [#t] {
                    &mut self.params[..]
                }

                fn buffer_slice(&self) -> &[#t] {
                    &self.buffers[..]
                }

                fn buffer_slice_mut(&mut self) -> &mut [#t] {
                    &mut self.buffers[..]
                }

                fn counter_slice(&self) -> &[i64] {
                    &self.counts[..]
                }

                fn counter_slice_mut(&mut self) -> &mut [i64] {
                    &mut self.counts[..]
                }
            }
        };
    }
}

/// Stubs of the per-sample training methods: generic over a bound no type meets, so a
/// call fails to type-check with the runtime's `PerSampleTraining` message.
fn refused(g: &Gen) -> TokenStream {
    let rt = rt();
    let t = &g.t;
    let names = [
        "train_step",
        "train_step_with",
        "try_train_step",
        "try_train_step_with",
        "gradient",
        "input_gradient",
        "loss",
        "backward",
        "forward_trace",
    ];
    let stubs = names.iter().map(|n| {
        let n = format_ident!("{}", n);
        quote! {
            #[doc(hidden)]
            pub fn #n<__X: #rt::PerSampleTraining<Self>>(
                &mut self,
                _x: __X,
                _rest: impl ::core::any::Any,
                _more: impl ::core::any::Any,
            ) -> #t {
                ::core::unreachable!()
            }
        }
    });
    quote!(#(#stubs)*)
}

/// The body of `__batch_pass`: forward layer by layer over the batch, the loss, and with
/// `__grad` the backward pass layer by layer from the top.
fn pass_body(g: &Gen) -> TokenStream {
    let net = g.net;
    let (t, rt) = (&g.t, rt());
    let n_trace = net.trace_len;
    let n_stats = net.stats.max(1);
    let loss = crate::loss::emit_loss(g);
    let n_out_all = net.output_size();

    // Forward.
    let mut fwd = Vec::new();
    for (l, layer) in net.layers.iter().enumerate() {
        if layer.kind.aliases_input() {
            continue;
        }
        let lc = LayerCx { g, layer };
        let n = size(&layer.input);
        let row = match layer.trace.input {
            Some(y0) => {
                let y1 = y0 + n;
                quote!(#rt::view::array::<#t, #n>(&__ws[__s][#y0..#y1]))
            }
            None => quote!(&__xs[__s]),
        };
        if layer.kind.batch_level() {
            fwd.push(layer.kind.emit_batch_forward(&lc, &BatchInput { row }));
            continue;
        }
        let y = format_ident!("__y{}", l);
        let width = size(&layer.output);
        let body = if let Some(act) = layer.kind.activation() {
            let z = format_ident!("__z{}", l);
            let f = layer.kind.emit_forward(&lc, &quote!(__in), &z, true);
            let lse = if l + 1 == net.layers.len() { net.trace_lse } else { None };
            let a = activation::emit_apply(
                g,
                act,
                &z,
                &y,
                width,
                layer.softmax_groups(),
                layer.unroll,
                Some(&layer.trace),
                lse,
            );
            quote! { #f #a }
        } else {
            let f = layer.kind.emit_forward(&lc, &quote!(__in), &y, true);
            let y0 = layer.trace.y.unwrap_or(0);
            let y1 = y0 + width;
            quote! { #f __tr[#y0..#y1].copy_from_slice(&#y); }
        };
        // Dropout draws the masks of the sample's index in the batch.
        let sample = layer.kind.stochastic().then(|| quote! { let __sample = ::core::option::Option::Some(__s); });
        fwd.push(quote! {
            for __s in 0..__n {
                let __in: [#t; #n] = *#row;
                let __tr = &mut __ws[__s];
                #sample
                #body
            }
        });
    }

    // Backward.
    let mut bwd = Vec::new();
    let top = net.layers.len().saturating_sub(1);
    let lowest = (0..=top).find(|&k| !net.layers[k].tensors.is_empty()).unwrap_or(top);
    for l in (0..=top).rev() {
        let layer = &net.layers[l];
        let lc = LayerCx { g, layer };
        let (n_in_l, n_out_l) = (size(&layer.input), size(&layer.output));
        let (d0, d_in) = (n_trace, n_trace + n_in_l);
        // Each sample's ∂L/∂input of layer 0 goes to the caller's input gradients.
        let to_input = (l == 0).then(|| {
            quote! {
                if let ::core::option::Option::Some(__gxs) = __gx.as_mut() {
                    for __s in 0..__n {
                        __gxs[__s].copy_from_slice(&__ws[__s][#d0..#d_in]);
                    }
                }
            }
        });
        if layer.kind.batch_level() {
            let with = layer.kind.emit_batch_backward(&lc, true);
            let block = if l > lowest {
                with
            } else if layer.tensors.is_empty() {
                quote! { if __want_x { #with } }
            } else {
                let without = layer.kind.emit_batch_backward(&lc, false);
                quote! { if __want_x { #with } else { #without } }
            };
            bwd.push(block);
            bwd.extend(to_input);
            continue;
        }
        let mut pre = Vec::new();
        let seed = if l == top {
            let d = crate::loss::emit_delta(g, l, layer);
            quote! {
                let __t: [#t; #n_out_l] = #rt::Target::to_target(&__ts[__s]);
                #d
            }
        } else {
            let e = format_ident!("__e{}", l);
            let below = delta_below(g, l, &e);
            quote! {
                let #e: [#t; #n_out_l] = *#rt::view::array::<#t, #n_out_l>(&__dr[..#n_out_l]);
                #below
            }
        };
        let inp = backward_input(g, l, layer.kind.backward_reads_input(), &mut pre);
        let d = format_ident!("__d{}", l);
        let gy = format_ident!("__gy{}", l);
        let store = quote! { __dr[..#n_in_l].copy_from_slice(&#gy); };
        let with_x = layer.kind.emit_backward(&lc, &inp, &d, Mode::Accumulate, Some(&gy));
        let per_sample = |body: TokenStream| {
            quote! {
                for __s in 0..__n {
                    let __x = &__xs[__s];
                    let (__tr, __dr) = __ws[__s].split_at_mut(#n_trace);
                    let __tr: &[#t] = __tr;
                    #seed
                    #(#pre)*
                    #body
                }
            }
        };
        let block = if l > lowest {
            per_sample(quote! { #with_x #store })
        } else if layer.tensors.is_empty() {
            let e = layer.kind.emit_input_delta(&lc, &inp, &d, &gy);
            let p = per_sample(quote! { #e #store });
            quote! { if __want_x { #p } }
        } else {
            let without = layer.kind.emit_backward(&lc, &inp, &d, Mode::Accumulate, None);
            let p_with = per_sample(quote! { #with_x #store });
            let p_without = per_sample(without);
            quote! { if __want_x { #p_with } else { #p_without } }
        };
        bwd.push(block);
        bwd.extend(to_input);
    }

    quote! {
        let __n = __xs.len();
        ::core::assert_eq!(__ts.len(), __n, "inputs and targets differ in length");
        ::core::assert!(
            __ws.len() >= __n,
            "the workspace has {} rows for a batch of {} samples",
            __ws.len(),
            __n
        );
        if let ::core::option::Option::Some(__gxs) = __gx.as_ref() {
            ::core::assert!(__gxs.len() >= __n, "the input gradients have {} rows for {} samples", __gxs.len(), __n);
        }
        if __n == 0 {
            if let ::core::option::Option::Some(__g) = __grad {
                __g.fill(0.0);
            }
            return 0.0;
        }
        let __ws = &mut __ws[..__n];
        let mut __st: [#t; #n_stats] = [0.0; #n_stats];
        #(#fwd)*
        let __scale: #t = 1.0 / <#t as #rt::Scalar>::from_usize(__n);
        let mut __loss: #t = 0.0;
        for __s in 0..__n {
            let __tr = &__ws[__s];
            let __t: [#t; #n_out_all] = #rt::Target::to_target(&__ts[__s]);
            __loss += { #loss };
        }
        if let ::core::option::Option::Some(__g) = __grad {
            __g.fill(0.0);
            let __want_x = __gx.is_some();
            #(#bwd)*
        }
        __loss * __scale
    }
}

/// What a network with dropout layers adds to the batch-level items.
struct Dropout {
    /// The struct's dropout state field.
    field: TokenStream,
    /// The field in the constructors' struct expressions (state 0).
    init: TokenStream,
    /// In `init_with`, after the parameters: the state drawn from `rng`.
    init_state: TokenStream,
    /// `set_dropout_seed`, `dropout_state`.
    inherent: TokenStream,
    /// The end of `train_batch`: the state moved on.
    advance: TokenStream,
    /// The state the pass is given (0 without dropout: the pass does not read it).
    state: TokenStream,
}

/// As a per-sample network: with dropout the struct carries the state the masks are
/// drawn from (`seeded`/`init_with` draw it after the parameters, `zeroed`/`from_params`
/// start from 0), the training pass draws sample `i`'s masks, `train_batch` moves it on.
fn dropout(g: &Gen) -> Dropout {
    let rt = rt();
    if !g.net.stochastic() {
        return Dropout {
            field: TokenStream::new(),
            init: TokenStream::new(),
            init_state: TokenStream::new(),
            inherent: TokenStream::new(),
            advance: TokenStream::new(),
            state: quote!(0),
        };
    }
    Dropout {
        field: quote!(__dropout_state: u64,),
        init: quote!(, __dropout_state: 0),
        init_state: quote! { self.__dropout_state = #rt::rand_core::Rng::next_u64(rng); },
        inherent: quote! {
            /// Sets the state the dropout masks are drawn from (see the runtime's
            /// `dropout` module for the rule): two networks with the same parameters,
            /// running statistics and state train identically. `seeded(seed)` and
            /// `init_with` draw it after the parameters; `zeroed` and `from_params` start
            /// from 0.
            #[inline]
            pub fn set_dropout_seed(&mut self, seed: u64) {
                self.__dropout_state = seed;
            }

            /// The current dropout state: [`train_batch`](Self::train_batch) moves it on
            /// after every step; `batch_gradient`, `batch_backward` and `batch_loss` read
            /// it (sample `i` of the batch draws the masks of sample `i`) and leave it.
            #[inline]
            #[must_use]
            pub fn dropout_state(&self) -> u64 {
                self.__dropout_state
            }
        },
        advance: quote! { self.__dropout_state = #rt::dropout::next_state(self.__dropout_state); },
        state: quote!(self.__dropout_state),
    }
}
