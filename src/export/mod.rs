//! Exporting decoded data: JSON (`rdbkit dump`).

pub mod json;
