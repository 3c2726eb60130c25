//! The tiled mini-batch gradient: `Network::batch_gradient` for networks with a layer
//! emitted as loops, processing the batch in tiles of `TILE` samples.
//!
//! Per tile, each dense layer's products run as matrix–matrix kernels of the runtime
//! (`kernels::tile_*`): the forward product and the input delta on feature-major tiles
//! (`[feature][sample]`), the weight gradient from the sample-major trace rows. The
//! element-wise parts (activation, its derivative, the loss delta) are the very code of
//! the per-sample passes, run once per sample of the tile on that sample's trace, so
//! the two paths compute the same functions and differ only in summation order.
//!
//! One buffer of `TILE` values per feature serves each layer: the forward product
//! writes pre-activations into it, the activation overwrites them with outputs (the
//! next layer's input tile), and backward reuses it for the layer's deltas; the input
//! delta of layer `l` lands in the buffer of the layer below, where that layer's
//! activation derivative turns it into its delta in place.
//!
//! A network whose tile buffers would take more than [`STACK_BUDGET`] bytes keeps the
//! trait's per-sample `batch_gradient` (no megabytes on the stack).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::codegen::{Gen, rt};
use crate::layers::{LayerCx, activation};
use crate::model::{Network, ScalarTy, size};

/// Samples per tile; equals the runtime's `kernels::TILE` (checked by a const assertion
/// in the generated code).
pub const TILE: usize = 16;

/// Largest stack use of the tiled path, in bytes.
pub const STACK_BUDGET: usize = 256 * 1024;

/// Indices of the layers that compute (every layer but reshapes).
fn computing(net: &Network) -> Vec<usize> {
    (0..net.layers.len()).filter(|&l| !net.layers[l].kind.aliases_input()).collect()
}

/// Bytes of stack the tile buffers of `net` take.
pub fn stack_bytes(net: &Network) -> usize {
    let scalar = match net.scalar {
        ScalarTy::F32 => 4,
        ScalarTy::F64 => 8,
    };
    let features: usize = net.input_size() + computing(net).iter().map(|&l| size(&net.layers[l].output)).sum::<usize>();
    TILE.saturating_mul(net.trace_len.saturating_add(features)).saturating_mul(scalar)
}

/// Whether the network gets the tiled path: every computing layer has tile forms, one
/// is emitted as loops (straight-line networks are small enough that per-sample passes
/// are as fast), and the buffers are within the budget.
pub fn applies(net: &Network) -> bool {
    let layers = computing(net);
    layers.iter().all(|&l| net.layers[l].kind.tile().is_some())
        && layers.iter().any(|&l| !net.layers[l].unroll)
        && stack_bytes(net) <= STACK_BUDGET
}

/// The `batch_gradient` method, or nothing if the tiled path does not apply.
pub fn emit(g: &Gen<'_>) -> TokenStream {
    let net = g.net;
    if !applies(net) {
        return TokenStream::new();
    }
    let t = &g.t;
    let rt = rt();
    let (n_in, n_out, n_params, n_trace) = (net.input_size(), net.output_size(), net.params, net.trace_len);
    let dense = computing(net);
    let Some(&top) = dense.last() else { return TokenStream::new() };

    // Buffers: the input tile and one per dense layer.
    let mut decls = vec![quote! { let mut __xt: [[#t; #TILE]; #n_in] = [[0.0; #TILE]; #n_in]; }];
    for &l in &dense {
        let b = format_ident!("__bt{}", l);
        let n = size(&net.layers[l].output);
        decls.push(quote! { let mut #b: [[#t; #TILE]; #n] = [[0.0; #TILE]; #n]; });
    }

    // The tile buffer holding layer `l`'s input, and where its sample-major rows lie.
    let input_of = |l: usize| -> (TokenStream, TokenStream, usize, usize) {
        match (0..l).rev().find(|&k| !net.layers[k].kind.aliases_input()) {
            Some(k) => {
                let b = format_ident!("__bt{}", k);
                let y0 = net.layers[k].trace.y.unwrap_or(0);
                (quote!(#b), quote!(__trs.as_flattened()), y0, n_trace)
            }
            None => (quote!(__xt), quote!(__xc.as_flattened()), 0, n_in),
        }
    };

    let mut forward = Vec::new();
    for &l in &dense {
        let layer = &net.layers[l];
        let lc = LayerCx { g, layer };
        let (Some(tile), Some(act)) = (layer.kind.tile(), layer.kind.activation()) else { continue };
        let width = size(&layer.output);
        let (inp, _, _, _) = input_of(l);
        let bt = format_ident!("__bt{}", l);
        let z = format_ident!("__z{}", l);
        let y = format_ident!("__y{}", l);
        let lse = if l == top { net.trace_lse } else { None };
        let apply = activation::emit_apply(g, act, &z, &y, width, layer.unroll, Some(&layer.trace), lse);
        let keep = (l != top).then(|| {
            quote! {
                for __o in 0..#width {
                    #bt[__o][__s] = #y[__o];
                }
            }
        });
        let product = tile.emit_tile_forward(&lc, &inp, &bt);
        forward.push(quote! {
            #product
            for __s in 0..__n {
                let __tr = &mut __trs[__s];
                let mut #z: [#t; #width] = [0.0; #width];
                for __o in 0..#width {
                    #z[__o] = #bt[__o][__s];
                }
                #apply
                #keep
            }
        });
    }

    // Backward: the loss delta per sample, then each dense layer from the top.
    let top_layer = &net.layers[top];
    let top_bt = format_ident!("__bt{}", top);
    let d_top = format_ident!("__d{}", top);
    let delta = crate::loss::emit_delta(g, top, top_layer);
    let mut backward = vec![quote! {
        for __s in 0..#TILE {
            if __s < __n {
                let __tr = &__trs[__s];
                let __tv: [#t; #n_out] = #rt::Target::to_target(&__tc[__s]);
                let __t = &__tv;
                __loss += <Self as #rt::Network>::trace_loss(self, __tr, __t);
                #delta
                for __o in 0..#n_out {
                    #top_bt[__o][__s] = #d_top[__o];
                }
            } else {
                for __o in 0..#n_out {
                    #top_bt[__o][__s] = 0.0;
                }
            }
        }
    }];
    for &l in dense.iter().rev() {
        let layer = &net.layers[l];
        let lc = LayerCx { g, layer };
        let Some(tile) = layer.kind.tile() else { continue };
        let fan_in = size(&layer.input);
        let bt = format_ident!("__bt{}", l);
        let (inp, rows, row0, stride) = input_of(l);
        backward.push(tile.emit_tile_weight_grad(&lc, &bt, &rows, row0, stride));
        let Some(k) = (0..l).rev().find(|&k| !net.layers[k].kind.aliases_input()) else { continue };
        let below = &net.layers[k];
        let Some(act) = below.kind.activation() else { continue };
        let e = format_ident!("__gy{}", l);
        let dk = format_ident!("__d{}", k);
        let backprop = activation::emit_backprop(g, act, &e, &dk, fan_in, below.unroll, &below.trace);
        let product = tile.emit_tile_input_grad(&lc, &bt, &inp);
        backward.push(quote! {
            #product
            for __s in 0..__n {
                let __tr = &__trs[__s];
                let mut #e: [#t; #fan_in] = [0.0; #fan_in];
                for __i in 0..#fan_in {
                    #e[__i] = #inp[__i][__s];
                }
                #backprop
                for __i in 0..#fan_in {
                    #inp[__i][__s] = #dk[__i];
                }
            }
        });
    }

    quote! {
        /// The mean gradient over a batch, computed in tiles of 16 samples with
        /// matrix–matrix kernels (see the runtime's `kernels` module).
        fn batch_gradient<__G: #rt::Target<[#t; #n_out]>>(
            &self,
            __xs: &[[#t; #n_in]],
            __ts: &[__G],
            __g: &mut [#t; #n_params],
        ) -> #t {
            const _: () = ::core::assert!(#rt::kernels::TILE == #TILE);
            ::core::assert_eq!(__xs.len(), __ts.len(), "inputs and targets differ in length");
            __g.fill(0.0);
            if __xs.is_empty() {
                return 0.0;
            }
            let __scale: #t = 1.0 / (__xs.len() as #t);
            let __p = &self.params;
            let mut __loss: #t = 0.0;
            let mut __trs: [[#t; #n_trace]; #TILE] = [[0.0; #n_trace]; #TILE];
            #(#decls)*
            for (__xc, __tc) in __xs.chunks(#TILE).zip(__ts.chunks(#TILE)) {
                let __n = __xc.len();
                for (__s, __xr) in __xc.iter().enumerate() {
                    for __i in 0..#n_in {
                        __xt[__i][__s] = __xr[__i];
                    }
                }
                #(#forward)*
                #(#backward)*
            }
            __loss * __scale
        }
    }
}
