//! Exporting decoded data: JSON and RESP commands (`rdbkit dump`).

pub mod json;
pub mod resp;
