//! The `#[network]` attribute of [stackprop](https://docs.rs/stackprop).
//!
//! The entry point converts to `proc_macro2` and calls `expand`, a pipeline that reads
//! like the architecture: parse the spec, build the model, check it, generate the code.
//! Everything below the entry point works on `proc_macro2`, so it is unit-tested without
//! the compiler. See the facade crate's documentation for the spec language.

mod batch;
mod check;
mod codegen;
mod ctxt;
mod doc;
mod hessian;
mod jacobian;
mod layers;
mod loss;
mod model;
mod parse;
mod symbolic;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Turns a struct whose fields are layers into a network with generated forward,
/// backward and training step. See the `stackprop` crate for the spec language.
#[proc_macro_attribute]
pub fn network(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args.into(), item.into()).into()
}

/// The whole pipeline: tokens in, tokens out. On errors, the `compile_error!`s come with
/// the struct and stub methods, so the user sees the spec's errors and nothing else.
fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let span = proc_macro2::Span::call_site();
    let mut cx = ctxt::Ctxt::default();
    let options = parse::parse_options(&mut cx, args);
    let Some(spec) = parse::parse_item(&mut cx, item) else {
        return codegen::fallback(None, into_error(cx));
    };
    let net = model::build(&mut cx, &spec, &options, span);
    if let Some(net) = &net {
        check::check(&mut cx, &spec, net);
    }
    match (net, cx.is_clean()) {
        (Some(net), true) => codegen::generate(&spec, &net),
        _ => codegen::fallback(Some(&spec), into_error(cx)),
    }
}

fn into_error(cx: ctxt::Ctxt) -> syn::Error {
    match cx.check() {
        Err(e) => e,
        Ok(()) => syn::Error::new(proc_macro2::Span::call_site(), "internal error: a spec failed without a message"),
    }
}
