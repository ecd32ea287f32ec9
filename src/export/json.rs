//! Streaming JSON rendering of keys, in the format of `rdbkit dump`:
//! `{"db":0,"key":K,"type":T,"expire_ms":N|null,"value":V}`. Byte strings
//! are JSON strings when valid UTF-8, else `{"base64":"..."}`. Collections
//! are written element by element, so memory does not grow with their size.

use std::io::{self, Write};

use base64::Engine;

use crate::decode::{ArrayValue, Elem, KeyRecord, Kind, RdbStr, StreamId, Value};
use crate::{Error, Result};

/// Bytes as a JSON value: a string when they are UTF-8, else
/// `{"base64": ...}` (as `rdbkit dump` writes keys), so binary keys are not
/// lost.
pub(crate) fn bytes_json(b: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(b) {
        Ok(s) => serde_json::Value::String(s.to_owned()),
        Err(_) => {
            serde_json::json!({"base64": base64::engine::general_purpose::STANDARD.encode(b)})
        }
    }
}

/// Writes `s` as a JSON string literal.
///
/// # Errors
/// The `io::Error` of `out`.
pub fn write_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: Option<&[u8]> = match c {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.write_all(&b[start..i])?;
        match esc {
            Some(e) => out.write_all(e)?,
            None => write!(out, "\\u{c:04x}")?,
        }
        start = i + 1;
    }
    out.write_all(&b[start..])?;
    out.write_all(b"\"")
}

/// Writes bytes as a JSON string (valid UTF-8) or `{"base64":"..."}`.
///
/// # Errors
/// The `io::Error` of `out`.
///
/// ```
/// let mut v = Vec::new();
/// rdbkit::export::json::write_bytes(&mut v, b"\xff").unwrap();
/// assert_eq!(v, br#"{"base64":"/w=="}"#);
/// ```
pub fn write_bytes(out: &mut impl Write, b: &[u8]) -> io::Result<()> {
    match std::str::from_utf8(b) {
        Ok(s) => write_str(out, s),
        Err(_) => {
            out.write_all(b"{\"base64\":\"")?;
            out.write_all(
                base64::engine::general_purpose::STANDARD
                    .encode(b)
                    .as_bytes(),
            )?;
            out.write_all(b"\"}")
        }
    }
}

fn write_elem(out: &mut impl Write, e: Elem<'_>) -> io::Result<()> {
    match e {
        Elem::Bytes(b) => write_bytes(out, b),
        Elem::Int(i) => write!(out, "\"{i}\""),
    }
}

/// Writes a double as a JSON number, or `"inf"`, `"-inf"`, `"nan"`.
///
/// # Errors
/// The `io::Error` of `out`.
pub fn write_f64(out: &mut impl Write, v: f64) -> io::Result<()> {
    if v.is_finite() {
        let s = crate::format::format_double(v);
        out.write_all(s.as_bytes())
    } else {
        write!(out, "\"{}\"", crate::format::format_double(v))
    }
}

fn write_id(out: &mut impl Write, id: StreamId) -> io::Result<()> {
    write!(out, "\"{id}\"")
}

fn write_opt_id(out: &mut impl Write, id: Option<StreamId>) -> io::Result<()> {
    match id {
        Some(id) => write_id(out, id),
        None => out.write_all(b"null"),
    }
}

fn opt_num<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "null".into(), |v| v.to_string())
}

fn rdbstr(out: &mut impl Write, s: RdbStr<'_>) -> Result<()> {
    write_bytes(out, &s.to_bytes()?).map_err(Error::from)
}

/// Writes one key as a single-line JSON object (no trailing newline).
///
/// # Errors
/// A decoding error of the key or value (naming the key), or an
/// [`ErrorKind::Io`](crate::ErrorKind::Io) error of `out`.
pub fn write_key(out: &mut impl Write, k: &KeyRecord<'_>) -> Result<()> {
    let key = k.key.to_bytes()?;
    write!(out, "{{\"db\":{},\"key\":", k.db)?;
    write_bytes(out, &key)?;
    write!(
        out,
        ",\"type\":\"{}\",\"expire_ms\":{},\"value\":",
        k.value.kind().name(),
        opt_num(k.expire_ms)
    )?;
    write_value(out, &k.value).map_err(|e| e.with_key(&key))?;
    out.write_all(b"}").map_err(Error::from)
}

/// Writes a value in the `dump` JSON format.
///
/// # Errors
/// A decoding error of the value, or an [`ErrorKind::Io`](crate::ErrorKind::Io)
/// error of `out`.
pub fn write_value(out: &mut impl Write, v: &Value<'_>) -> Result<()> {
    let e = Error::from;
    match v.kind() {
        Kind::String => rdbstr(out, v.string()?)?,
        Kind::List | Kind::Set => {
            let mut it = v.items()?;
            out.write_all(b"[").map_err(e)?;
            let mut first = true;
            while let Some(x) = it.next_elem()? {
                if !first {
                    out.write_all(b",").map_err(e)?;
                }
                first = false;
                write_elem(out, x).map_err(e)?;
            }
            out.write_all(b"]").map_err(e)?;
        }
        Kind::ZSet => {
            let mut it = v.items()?;
            out.write_all(b"[").map_err(e)?;
            let mut first = true;
            while let Some((m, s)) = it.next_scored()? {
                out.write_all(if first { b"[" } else { b",[" }).map_err(e)?;
                first = false;
                write_elem(out, m).map_err(e)?;
                out.write_all(b",").map_err(e)?;
                write_f64(out, s).map_err(e)?;
                out.write_all(b"]").map_err(e)?;
            }
            out.write_all(b"]").map_err(e)?;
        }
        Kind::Hash => {
            let mut it = v.items()?;
            out.write_all(b"[").map_err(e)?;
            let mut first = true;
            while let Some(f) = it.next_field()? {
                out.write_all(if first { b"[" } else { b",[" }).map_err(e)?;
                first = false;
                write_elem(out, f.field).map_err(e)?;
                out.write_all(b",").map_err(e)?;
                write_elem(out, f.value).map_err(e)?;
                if let Some(x) = f.expire_ms {
                    write!(out, ",{x}").map_err(e)?;
                }
                out.write_all(b"]").map_err(e)?;
            }
            out.write_all(b"]").map_err(e)?;
        }
        Kind::Array => {
            let mut it = v.items()?;
            out.write_all(b"[").map_err(e)?;
            let mut first = true;
            while let Some((i, x)) = it.next_array()? {
                write!(out, "{}[{i},", if first { "" } else { "," }).map_err(e)?;
                first = false;
                match x {
                    ArrayValue::Bytes(b) => write_elem(out, b),
                    ArrayValue::Int(n) => write!(out, "{n}"),
                    ArrayValue::Float(f) => write_f64(out, f),
                }
                .map_err(e)?;
                out.write_all(b"]").map_err(e)?;
            }
            out.write_all(b"]").map_err(e)?;
        }
        Kind::Module => {
            let m = v.module()?;
            out.write_all(b"{\"module\":").map_err(e)?;
            write_str(out, &m.id.name()).map_err(e)?;
            write!(out, ",\"encver\":{},\"payload_base64\":\"", m.id.encver()).map_err(e)?;
            out.write_all(
                base64::engine::general_purpose::STANDARD
                    .encode(m.payload)
                    .as_bytes(),
            )
            .map_err(e)?;
            out.write_all(b"\"}").map_err(e)?;
        }
        Kind::Stream => write_stream(out, v)?,
    }
    Ok(())
}

fn write_stream(out: &mut impl Write, v: &Value<'_>) -> Result<()> {
    let e = Error::from;
    let s = v.stream()?;
    write!(out, "{{\"length\":{},\"last_id\":", s.length).map_err(e)?;
    write_id(out, s.last_id).map_err(e)?;
    out.write_all(b",\"first_id\":").map_err(e)?;
    write_opt_id(out, s.first_id).map_err(e)?;
    out.write_all(b",\"max_deleted_id\":").map_err(e)?;
    write_opt_id(out, s.max_deleted_id).map_err(e)?;
    write!(
        out,
        ",\"entries_added\":{},\"entries\":[",
        opt_num(s.entries_added)
    )
    .map_err(e)?;
    let mut entries = s.entries();
    let mut first = true;
    while let Some(en) = entries.next_entry()? {
        out.write_all(if first { b"[" } else { b",[" }).map_err(e)?;
        first = false;
        write_id(out, en.id).map_err(e)?;
        out.write_all(b",[").map_err(e)?;
        for (i, (f, val)) in en.fields().enumerate() {
            out.write_all(if i == 0 { b"[" } else { b",[" })
                .map_err(e)?;
            write_elem(out, f).map_err(e)?;
            out.write_all(b",").map_err(e)?;
            write_elem(out, val).map_err(e)?;
            out.write_all(b"]").map_err(e)?;
        }
        out.write_all(b"]]").map_err(e)?;
    }
    out.write_all(b"],\"groups\":[").map_err(e)?;
    for (gi, g) in s.groups().enumerate() {
        let g = g?;
        if gi > 0 {
            out.write_all(b",").map_err(e)?;
        }
        out.write_all(b"{\"name\":").map_err(e)?;
        rdbstr(out, g.name)?;
        out.write_all(b",\"last_id\":").map_err(e)?;
        write_id(out, g.last_id).map_err(e)?;
        write!(
            out,
            ",\"entries_read\":{},\"pel\":[",
            opt_num(g.entries_read)
        )
        .map_err(e)?;
        // Owner of each PEL entry: found through the consumers' PELs.
        let mut owners: Vec<(StreamId, Vec<u8>)> = Vec::new();
        for c in g.consumers() {
            let c = c?;
            let name = c.name.to_bytes()?.into_owned();
            for id in c.pel() {
                owners.push((id, name.clone()));
            }
        }
        owners.sort_by_key(|a| a.0);
        for (pi, p) in g.pel().enumerate() {
            let p = p?;
            out.write_all(if pi == 0 { b"[" } else { b",[" })
                .map_err(e)?;
            write_id(out, p.id).map_err(e)?;
            out.write_all(b",").map_err(e)?;
            match owners.binary_search_by(|o| o.0.cmp(&p.id)) {
                Ok(i) => write_bytes(out, &owners[i].1).map_err(e)?,
                Err(_) => out.write_all(b"null").map_err(e)?,
            }
            write!(out, ",{},{}]", p.delivery_time_ms, p.delivery_count).map_err(e)?;
        }
        out.write_all(b"],\"consumers\":[").map_err(e)?;
        for (ci, c) in g.consumers().enumerate() {
            let c = c?;
            if ci > 0 {
                out.write_all(b",").map_err(e)?;
            }
            out.write_all(b"{\"name\":").map_err(e)?;
            rdbstr(out, c.name)?;
            write!(
                out,
                ",\"seen_time_ms\":{},\"active_time_ms\":{},\"pel\":[",
                c.seen_time_ms,
                opt_num(c.active_time_ms)
            )
            .map_err(e)?;
            for (i, id) in c.pel().enumerate() {
                if i > 0 {
                    out.write_all(b",").map_err(e)?;
                }
                write_id(out, id).map_err(e)?;
            }
            out.write_all(b"]}").map_err(e)?;
        }
        out.write_all(b"]").map_err(e)?;
        if let Some(n) = g.nacked() {
            out.write_all(b",\"nacked\":[").map_err(e)?;
            for (i, id) in n.enumerate() {
                if i > 0 {
                    out.write_all(b",").map_err(e)?;
                }
                write_id(out, id).map_err(e)?;
            }
            out.write_all(b"]").map_err(e)?;
        }
        out.write_all(b"}").map_err(e)?;
    }
    out.write_all(b"]").map_err(e)?;
    if let Some(i) = s.idmp {
        write!(
            out,
            ",\"idmp\":{{\"duration_s\":{},\"max_entries\":{},\"producers\":{},\"iids_added\":{},\"iids_duplicates\":{}}}",
            i.duration_s, i.max_entries, i.producers, i.iids_added, i.iids_duplicates
        )
        .map_err(e)?;
    }
    out.write_all(b"}").map_err(e)
}
