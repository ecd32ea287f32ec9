//! `rdbkit diff LEFT... --against RIGHT...`: whether two datasets hold the
//! same keys and values ([`rdbkit::diff`]). Exit 0 when equal, 1 when they
//! differ (or an input is invalid), 2 for usage and I/O errors.

use std::io::Write;
use std::sync::Arc;

use clap::Args as ClapArgs;
use rdbkit::diff::{diff, DiffError, DiffOptions, Difference, SideKey, Summary, TtlRule};
use rdbkit::export::json::write_bytes;
use rdbkit::format::Kind;

use super::output::Out;
use super::{open, Failure, EXIT_DATA};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The left side: one dump, or several read as their union.
    #[arg(required = true)]
    left: Vec<String>,
    /// The right side: one dump, or several read as their union.
    #[arg(long, required = true, num_args = 1..)]
    against: Vec<String>,
    /// Only this database.
    #[arg(long)]
    db: Option<u64>,
    /// Only keys matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    key: Option<String>,
    /// Only this type (string, list, set, zset, hash, stream, module).
    #[arg(long = "type", value_name = "T")]
    kind: Option<String>,
    /// Leave out keys matching this regular expression (e.g. Dynomite's
    /// '^\._(add|rem)-set').
    #[arg(long, value_name = "REGEX")]
    ignore_key: Option<String>,
    /// Do not compare expiries.
    #[arg(long, conflicts_with = "ttl_tolerance")]
    ignore_ttl: bool,
    /// Expiries within this many milliseconds are equal.
    #[arg(long, value_name = "MS")]
    ttl_tolerance: Option<u64>,
    /// text or jsonl.
    #[arg(long, default_value = "text")]
    format: String,
    /// Print at most this many differences (all are counted).
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
}

fn regex(flag: &str, r: &Option<String>) -> Result<Option<rdbkit::diff::KeyFilter>, Failure> {
    let Some(r) = r else { return Ok(None) };
    let re = regex::bytes::Regex::new(r).map_err(|e| Failure::usage(format!("{flag}: {e}")))?;
    Ok(Some(Arc::new(move |k: &[u8]| re.is_match(k))))
}

fn options(a: &Args) -> Result<DiffOptions, Failure> {
    let kind = a
        .kind
        .as_deref()
        .map(|t| {
            Kind::from_name(t).ok_or_else(|| {
                Failure::usage(format!(
                    "unknown type {t:?} (string, list, set, zset, hash, stream, module)"
                ))
            })
        })
        .transpose()?;
    Ok(DiffOptions {
        db: a.db,
        key_filter: regex("--key", &a.key)?,
        ignore: regex("--ignore-key", &a.ignore_key)?,
        kind,
        ttl: match (a.ignore_ttl, a.ttl_tolerance) {
            (true, _) => TtlRule::Ignore,
            (false, Some(ms)) => TtlRule::Tolerance(ms),
            _ => TtlRule::Exact,
        },
    })
}

pub fn run(a: Args, out: &mut Out) -> Result<(), Failure> {
    if !matches!(a.format.as_str(), "text" | "jsonl") {
        return Err(Failure::usage(format!(
            "unknown format {:?} (text, jsonl)",
            a.format
        )));
    }
    let opts = options(&a)?;
    let left: Vec<rdbkit::Input> = a.left.iter().map(|p| open(p)).collect::<Result<_, _>>()?;
    let right: Vec<rdbkit::Input> = a
        .against
        .iter()
        .map(|p| open(p))
        .collect::<Result<_, _>>()?;
    let named = |names: &[String], inputs: &[rdbkit::Input]| -> Vec<(String, usize)> {
        names.iter().cloned().zip(0..inputs.len()).collect()
    };
    let (ln, rn) = (named(&a.left, &left), named(&a.against, &right));
    let l: Vec<(&str, &[u8])> = ln
        .iter()
        .map(|(n, i)| (super::shown(n), &left[*i][..]))
        .collect();
    let r: Vec<(&str, &[u8])> = rn
        .iter()
        .map(|(n, i)| (super::shown(n), &right[*i][..]))
        .collect();
    let jsonl = a.format == "jsonl";
    let mut printed = 0u64;
    let mut failed_write: Option<std::io::Error> = None;
    let result = diff(&l, &r, &opts, |d| {
        if a.limit.is_some_and(|n| printed >= n) {
            return Ok(());
        }
        printed += 1;
        let w = if jsonl {
            write_json(out, d, &a)
        } else {
            write_text(out, d, &a)
        };
        w.map_err(|e| {
            let msg = e.to_string();
            failed_write = Some(e);
            rdbkit::Error::io("the output", std::io::Error::other(msg))
        })
    });
    let summary = match result {
        Ok(s) => s,
        Err(DiffError::Report(e)) => {
            return Err(Failure::usage(format!("cannot write the output: {e}")));
        }
        Err(DiffError::Input { side, error: e }) => {
            let inputs = if side == 0 { &left } else { &right };
            let err = inputs
                .get(e.input)
                .and_then(|i| i.check_unchanged().err())
                .unwrap_or(e.error);
            return Err(Failure::from_lib(&e.name, err));
        }
    };
    // An input that changed while it was read makes no verdict.
    for (names, inputs) in [(&a.left, &left), (&a.against, &right)] {
        for (n, i) in names.iter().zip(inputs) {
            i.check_unchanged().map_err(|e| Failure::from_lib(n, e))?;
        }
    }
    let w = if jsonl {
        write_summary_json(out, &summary)
    } else {
        write_summary_text(out, &summary, printed)
    };
    w.map_err(|e| Failure::usage(format!("cannot write the output: {e}")))?;
    match summary.differences() {
        0 => Ok(()),
        n => Err(Failure {
            code: EXIT_DATA,
            msg: format!(
                "the datasets differ: {n} difference{}",
                if n == 1 { "" } else { "s" }
            ),
        }),
    }
}

fn side_json(w: &mut impl Write, s: &Option<SideKey>) -> std::io::Result<()> {
    match s {
        None => write!(w, "null"),
        Some(s) => {
            write!(w, "{{\"type\":\"{}\",\"expire_ms\":", s.kind.name())?;
            match s.expire_ms {
                Some(e) => write!(w, "{e}")?,
                None => write!(w, "null")?,
            }
            write!(
                w,
                ",\"elements\":{},\"input\":{}}}",
                s.elements,
                s.input + 1
            )
        }
    }
}

fn list_json(w: &mut impl Write, name: &str, l: &[Vec<u8>]) -> std::io::Result<()> {
    write!(w, ",\"{name}\":[")?;
    for (i, m) in l.iter().enumerate() {
        if i > 0 {
            write!(w, ",")?;
        }
        write_bytes(w, m)?;
    }
    write!(w, "]")
}

fn write_json(w: &mut impl Write, d: &Difference, _a: &Args) -> std::io::Result<()> {
    write!(w, "{{\"db\":{},\"key\":", d.db)?;
    write_bytes(w, &d.key)?;
    write!(w, ",\"change\":\"{}\",\"left\":", d.change.name())?;
    side_json(w, &d.left)?;
    write!(w, ",\"right\":")?;
    side_json(w, &d.right)?;
    if let Some(x) = &d.detail {
        list_json(w, "only_left", &x.only_left)?;
        list_json(w, "only_right", &x.only_right)?;
        list_json(w, "differing", &x.differing)?;
    }
    writeln!(w, "}}")
}

fn side_text(s: &Option<SideKey>) -> String {
    match s {
        None => "absent".into(),
        Some(s) => format!(
            "{} of {} element{}, {}",
            s.kind.name(),
            s.elements,
            if s.elements == 1 { "" } else { "s" },
            match s.expire_ms {
                Some(e) => format!("expires at {e}"),
                None => "no expiry".into(),
            }
        ),
    }
}

fn shown_list(l: &[Vec<u8>]) -> String {
    l.iter()
        .map(|m| rdbkit::format::escape_bytes(m))
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_text(w: &mut impl Write, d: &Difference, _a: &Args) -> std::io::Result<()> {
    write!(
        w,
        "{:<15} db {} {}: left {}; right {}",
        d.change.name(),
        d.db,
        rdbkit::format::escape_bytes(&d.key),
        side_text(&d.left),
        side_text(&d.right)
    )?;
    if let Some(x) = &d.detail {
        for (what, l) in [
            ("only left", &x.only_left),
            ("only right", &x.only_right),
            ("differing", &x.differing),
        ] {
            if !l.is_empty() {
                write!(w, "; {what}: {}", shown_list(l))?;
            }
        }
    }
    writeln!(w)
}

fn write_summary_json(w: &mut impl Write, s: &Summary) -> std::io::Result<()> {
    writeln!(
        w,
        "{{\"summary\":{{\"left_keys\":{},\"right_keys\":{},\"equal\":{},\"only_left\":{},\"only_right\":{},\"type\":{},\"value\":{},\"ttl\":{},\"duplicates\":{}}}}}",
        s.left_keys, s.right_keys, s.equal, s.only_left, s.only_right, s.type_, s.value, s.ttl, s.duplicates
    )
}

fn write_summary_text(w: &mut impl Write, s: &Summary, printed: u64) -> std::io::Result<()> {
    let n = s.differences();
    if printed < n {
        writeln!(w, "({} more not shown)", n - printed)?;
    }
    writeln!(
        w,
        "{}: left {} keys, right {} keys; {} equal, {} only left, {} only right, {} type, {} value, {} ttl, {} duplicates",
        if n == 0 { "equal" } else { "different" },
        s.left_keys,
        s.right_keys,
        s.equal,
        s.only_left,
        s.only_right,
        s.type_,
        s.value,
        s.ttl,
        s.duplicates
    )
}
