//! `Flatten`: views a multi-dimensional input as a vector, so a dense layer can follow.
//!
//! ```text
//! forward    y = x                  [C][H][W] → [C·H·W], row-major (`torch.flatten(x, 1)`)
//! backward   ∂L/∂x = ∂L/∂y
//! ```
//!
//! Arrays are flat in memory already, so it emits no forward code and keeps no trace
//! slot: the model only changes the shape.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::{DocNames, Kind, LayerCx};
use crate::ctxt::Ctxt;
use crate::model::{Customs, Shape, size};
use crate::parse::TermArg;

/// `Flatten` (no options).
#[derive(Clone, Copy, Debug)]
pub struct Flatten;

/// Resolves `Flatten` (it takes no arguments).
pub fn resolve(cx: &mut Ctxt, _layer: &Ident, _kind: &Ident, args: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    if let Some(a) = args.first() {
        cx.error_at(a.value.span(), "`Flatten` takes no arguments");
        return None;
    }
    Some(Box::new(Flatten))
}

impl Kind for Flatten {
    fn name(&self) -> &'static str {
        "Flatten"
    }

    fn output_shape(&self, _cx: &mut Ctxt, _layer: &Ident, _span: Span, input: &[usize]) -> Option<Shape> {
        Some(vec![size(input)])
    }

    fn aliases_input(&self) -> bool {
        true
    }

    fn backward_reads_input(&self) -> bool {
        false
    }

    fn emit_forward(&self, _lc: &LayerCx, inp: &TokenStream, out: &Ident, _train: bool) -> TokenStream {
        quote! { let #out = #inp; }
    }

    fn emit_input_delta(&self, _lc: &LayerCx, _inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream {
        quote! { let #e = #delta; }
    }

    fn doc_forward(&self, n: &DocNames) -> String {
        format!("{} = flatten({})", n.out, n.input)
    }

    fn doc_input_delta(&self, _n: &DocNames, delta: &str) -> String {
        delta.to_owned()
    }

    fn doc_factor(&self, _n: &DocNames) -> String {
        "1".to_owned()
    }
}
