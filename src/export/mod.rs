//! Exporting decoded data: JSON (feature `json`) and RESP commands
//! (`rdbkit dump`).

#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub mod json;
pub mod resp;
