//! The `#[network]` attribute of [stackprop](https://docs.rs/stackprop).
//!
//! The entry point converts to `proc_macro2` and calls `expand`, a pipeline that reads
//! like the architecture: parse the spec, build the model, check it, generate the code.
//! Everything below the entry point works on `proc_macro2`, so it is unit-tested without
//! the compiler. See the facade crate's documentation for the spec language.

mod batch;
mod batch_level;
mod check;
mod codegen;
mod ctxt;
mod doc;
mod explain;
mod hessian;
mod jacobian;
mod layers;
mod loss;
mod model;
mod parse;
mod stack;
mod stream;
mod symbolic;
mod weights;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Turns a struct whose fields are layers into a network with generated forward,
/// backward and training step. See the `stackprop` crate for the spec language.
#[proc_macro_attribute]
pub fn network(args: TokenStream, item: TokenStream) -> TokenStream {
    let derive_above = derive_above_attribute(proc_macro::Span::call_site());
    expand_with(args.into(), item.into(), derive_above).into()
}

/// `true` if a `#[derive(...)]` sits above the `#[network]` attribute at `attr`.
///
/// Rust runs such a derive before this attribute, on the layer fields as written, and
/// passes this attribute the struct without a trace of it; only the source shows it.
/// The attributes and comments right above the attribute's line are read from the
/// file; any failure to read means "no".
fn derive_above_attribute(attr: proc_macro::Span) -> bool {
    let Some(path) = attr.local_file() else { return false };
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    let line = attr.line();
    let lines: Vec<&str> = text.lines().collect();
    if line == 0 || line > lines.len() {
        return false;
    }
    // The attribute's own line, before the attribute, then the lines above it while
    // they are attributes, comments or blank.
    let own = lines[line - 1];
    let before = own.find("#[network").map_or("", |i| &own[..i]);
    if before.contains("#[derive") {
        return true;
    }
    let mut depth = 0i32;
    for l in lines[..line - 1].iter().rev() {
        let t = l.trim();
        if t.starts_with("#[derive") && depth == 0 {
            return true;
        }
        // A multi-line attribute: its closing line is met first.
        depth +=
            i32::try_from(t.matches(']').count()).unwrap_or(0) - i32::try_from(t.matches('[').count()).unwrap_or(0);
        let inside = depth > 0;
        if !(inside || t.is_empty() || t.starts_with("#[") || t.starts_with("//") || t.starts_with("#!")) {
            return false;
        }
        if t.starts_with("#[derive") && depth <= 0 {
            return true;
        }
    }
    false
}

/// The whole pipeline: tokens in, tokens out. On errors, the `compile_error!`s come with
/// the struct and stub methods, so the user sees the spec's errors and nothing else.
#[cfg(test)]
fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    expand_with(args, item, false)
}

/// [`expand`], told whether a `#[derive]` was written above the attribute.
fn expand_with(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
    derive_above: bool,
) -> proc_macro2::TokenStream {
    let span = proc_macro2::Span::call_site();
    let mut cx = ctxt::Ctxt::default();
    let options = parse::parse_options(&mut cx, args);
    if derive_above {
        cx.error_at(
            span,
            "`#[derive(...)]` above `#[network]` runs on the layer fields as written, before the macro turns \
             them into parameters; move the `#[derive(...)]` below `#[network]`",
        );
    }
    let Some(spec) = parse::parse_item(&mut cx, item) else {
        return codegen::fallback(None, None, &options, into_error(cx), false);
    };
    check::check_names(&mut cx, &spec);
    let net = model::build(&mut cx, &spec, &options, span);
    if let Some(net) = &net {
        check::check(&mut cx, net);
    }
    let weights = match &net {
        Some(n) if cx.is_clean() => n.weights.as_ref().and_then(|lit| weights::read(&mut cx, n, lit)),
        _ => None,
    };
    match (net, cx.is_clean()) {
        (Some(net), true) => codegen::generate(&spec, &net, weights.as_ref()),
        (net, _) => codegen::fallback(Some(&spec), net.as_ref(), &options, into_error(cx), derive_above),
    }
}

fn into_error(cx: ctxt::Ctxt) -> syn::Error {
    match cx.check() {
        Err(e) => e,
        Ok(()) => syn::Error::new(proc_macro2::Span::call_site(), "internal error: a spec failed without a message"),
    }
}
