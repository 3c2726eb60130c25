//! [`Ctxt`]: collects every error of a spec, so a spec with three mistakes shows three
//! errors, combined into one `syn::Error` at the end.

use proc_macro2::Span;
use quote::ToTokens;
use std::fmt::Display;

/// The errors found so far.
#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// An error spanning the given tokens.
    pub fn error<T: ToTokens, M: Display>(&mut self, tokens: T, message: M) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// An error at a span.
    pub fn error_at<M: Display>(&mut self, span: Span, message: M) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// An error built elsewhere.
    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// `true` if no error was recorded.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// All errors as one, or `Ok` if there were none.
    pub fn check(self) -> syn::Result<()> {
        let mut iter = self.errors.into_iter();
        let Some(mut first) = iter.next() else { return Ok(()) };
        for e in iter {
            first.combine(e);
        }
        Err(first)
    }
}
