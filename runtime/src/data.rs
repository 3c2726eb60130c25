//! Data helpers.
