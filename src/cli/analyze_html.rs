//! `rdbkit analyze --format html`: one self-contained page (no scripts,
//! fonts or styles from anywhere else): the totals, a treemap of memory by
//! key prefix drawn as SVG, bars by type and by time to live, and the
//! biggest keys in a table sortable by column.

use std::fmt::Write as _;

use rdbkit::analyze::{Analysis, Sums};

use super::analyze::{human, TTL_LABELS};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A rectangle of the treemap.
#[derive(Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// Lays `sizes` (biggest first) out in `r` as a squarified treemap.
fn squarify(sizes: &[f64], r: Rect) -> Vec<Rect> {
    let total: f64 = sizes.iter().sum();
    let mut out = Vec::with_capacity(sizes.len());
    if total <= 0.0 {
        return out;
    }
    let scale = r.w * r.h / total;
    let areas: Vec<f64> = sizes.iter().map(|s| s * scale).collect();
    let mut rest = r;
    let mut i = 0;
    while i < areas.len() {
        let side = rest.w.min(rest.h);
        // Grow the row while the worst aspect ratio improves.
        let worst = |row: &[f64]| -> f64 {
            let s: f64 = row.iter().sum();
            let (mx, mn) = row
                .iter()
                .fold((0f64, f64::MAX), |(a, b), &v| (a.max(v), b.min(v)));
            ((side * side * mx) / (s * s)).max((s * s) / (side * side * mn))
        };
        let mut j = i + 1;
        while j < areas.len() && worst(&areas[i..=j]) <= worst(&areas[i..j]) {
            j += 1;
        }
        let row = &areas[i..j];
        let s: f64 = row.iter().sum();
        let thick = s / side;
        let mut off = 0.0;
        for &a in row {
            let len = a / thick;
            out.push(if rest.w >= rest.h {
                Rect {
                    x: rest.x,
                    y: rest.y + off,
                    w: thick,
                    h: len,
                }
            } else {
                Rect {
                    x: rest.x + off,
                    y: rest.y,
                    w: len,
                    h: thick,
                }
            });
            off += len;
        }
        rest = if rest.w >= rest.h {
            Rect {
                x: rest.x + thick,
                w: rest.w - thick,
                ..rest
            }
        } else {
            Rect {
                y: rest.y + thick,
                h: rest.h - thick,
                ..rest
            }
        };
        i = j;
    }
    out
}

const COLORS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
];

fn bars(out: &mut String, rows: &[(String, &Sums)]) {
    let max = rows
        .iter()
        .map(|r| r.1.memory_bytes)
        .max()
        .unwrap_or(0)
        .max(1);
    let h = 22 * rows.len() + 4;
    let _ = write!(out, r#"<svg width="760" height="{h}" role="img">"#);
    for (i, (label, s)) in rows.iter().enumerate() {
        let w = (s.memory_bytes as f64 / max as f64 * 420.0).max(1.0);
        let y = i * 22;
        let _ = write!(
            out,
            r#"<text x="0" y="{}" class="l">{}</text><rect x="200" y="{y}" width="{w:.1}" height="18" fill="{}"/><text x="{:.1}" y="{}" class="v">{} · {} keys</text>"#,
            y + 14,
            esc(label),
            COLORS[i % COLORS.len()],
            205.0 + w,
            y + 14,
            human(s.memory_bytes),
            s.keys
        );
    }
    out.push_str("</svg>");
}

/// The page.
pub fn page(r: &Analysis) -> String {
    let mut o = String::with_capacity(1 << 16);
    o.push_str(r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>rdbkit analyze</title><style>
body{font-family:sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee;cursor:pointer}td.k{text-align:left;font-family:monospace}.l{font-size:12px}.v{font-size:11px;fill:#444}
.t{font-size:12px;fill:#fff;pointer-events:none}</style></head><body>"#);
    let t = &r.totals;
    let _ = write!(
        o,
        "<h1>Memory of {} keys on {} ({})</h1><p>{} in memory (MEMORY USAGE), {} serialized; <b>used_memory after loading ≈ {}</b>; {} keys present in several inputs counted once.</p>",
        t.keys,
        esc(&r.target),
        r.allocator,
        human(t.memory_bytes),
        human(t.serialized_bytes),
        human(r.used_memory_estimate),
        t.duplicates
    );
    o.push_str(
        "<table><tr><th>input</th><th>RDB</th><th>bytes</th><th>keys</th><th>memory</th></tr>",
    );
    for i in &r.inputs {
        let _ = write!(
            o,
            r#"<tr><td class="k">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&i.name),
            i.version,
            i.bytes,
            i.sums.keys,
            human(i.sums.memory_bytes)
        );
    }
    o.push_str("</table>");
    // Treemap of the first level of prefixes.
    o.push_str("<h2>Memory by key prefix</h2>");
    if !r.prefixes_exact {
        o.push_str("<p>More prefixes than --max-prefixes: the smallest were folded into (other); figures are lower bounds.</p>");
    }
    let top: Vec<_> = r
        .prefixes
        .iter()
        .filter(|p| p.depth == 1 && p.sums.memory_bytes > 0)
        .take(60)
        .collect();
    let sizes: Vec<f64> = top.iter().map(|p| p.sums.memory_bytes as f64).collect();
    let (w, h) = (960.0, 420.0);
    let _ = write!(
        o,
        r#"<svg id="treemap" width="{w}" height="{h}" role="img" aria-label="treemap of memory by key prefix">"#
    );
    for (i, (p, rc)) in top
        .iter()
        .zip(squarify(
            &sizes,
            Rect {
                x: 0.0,
                y: 0.0,
                w,
                h,
            },
        ))
        .enumerate()
    {
        let name = if p.other {
            "(other)".to_string()
        } else {
            String::from_utf8_lossy(&p.prefix).into_owned()
        };
        let _ = write!(
            o,
            r##"<g><title>{} — {} in {} keys</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" stroke="#fff"/>"##,
            esc(&name),
            human(p.sums.memory_bytes),
            p.sums.keys,
            rc.x,
            rc.y,
            rc.w,
            rc.h,
            COLORS[i % COLORS.len()]
        );
        if rc.w > 40.0 && rc.h > 16.0 {
            let _ = write!(
                o,
                r#"<text x="{:.1}" y="{:.1}" class="t">{} {}</text>"#,
                rc.x + 4.0,
                rc.y + 14.0,
                esc(&name),
                human(p.sums.memory_bytes)
            );
        }
        o.push_str("</g>");
    }
    o.push_str("</svg>");
    o.push_str("<h2>By type and encoding</h2>");
    let types: Vec<(String, &Sums)> = r
        .by_type
        .iter()
        .map(|((k, e), s)| (format!("{} ({})", k.name(), e.name()), s))
        .collect();
    bars(&mut o, &types);
    o.push_str("<h2>By time to live</h2>");
    let mut ttl: Vec<(String, &Sums)> = vec![
        ("no expiry".into(), &r.ttl.no_expiry),
        ("already expired".into(), &r.ttl.expired),
    ];
    ttl.extend(
        TTL_LABELS
            .iter()
            .map(|l| l.to_string())
            .zip(r.ttl.buckets.iter()),
    );
    bars(&mut o, &ttl);
    o.push_str(r#"<h2>Biggest keys</h2><table id="top"><thead><tr><th>key</th><th>db</th><th>type</th><th>encoding</th><th>elements</th><th>memory bytes</th><th>serialized bytes</th><th>input</th></tr></thead><tbody>"#);
    for k in &r.top_keys {
        let _ = write!(
            o,
            r#"<tr><td class="k">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&rdbkit::format::escape_bytes(&k.key)),
            k.db,
            k.kind.name(),
            k.encoding.name(),
            k.elements,
            k.memory_bytes,
            k.serialized_bytes,
            k.input + 1
        );
    }
    o.push_str("</tbody></table>");
    // Sorting by column: numbers as numbers, text as text.
    o.push_str(
        r#"<script>
document.querySelectorAll('#top th').forEach(function(th, col) {
  th.addEventListener('click', function() {
    var body = document.querySelector('#top tbody');
    var rows = Array.prototype.slice.call(body.rows);
    var desc = th.dataset.desc !== '1';
    th.dataset.desc = desc ? '1' : '0';
    rows.sort(function(a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return desc ? -c : c;
    });
    rows.forEach(function(r) { body.appendChild(r); });
  });
});
</script></body></html>
"#,
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The treemap covers its area without overlaps, each rectangle in
    /// proportion to its size.
    #[test]
    fn squarified_rectangles_tile_the_area() {
        let sizes = [50.0, 25.0, 12.0, 8.0, 3.0, 1.0, 1.0];
        let r = Rect {
            x: 0.0,
            y: 0.0,
            w: 300.0,
            h: 200.0,
        };
        let rects = squarify(&sizes, r);
        assert_eq!(rects.len(), sizes.len());
        let total: f64 = sizes.iter().sum();
        for (s, q) in sizes.iter().zip(&rects) {
            let want = s / total * 60_000.0;
            assert!(
                (q.w * q.h - want).abs() < 1e-6 * 60_000.0,
                "{} vs {want}",
                q.w * q.h
            );
            assert!(
                q.x >= -1e-9
                    && q.y >= -1e-9
                    && q.x + q.w <= 300.0 + 1e-6
                    && q.y + q.h <= 200.0 + 1e-6
            );
        }
        for (i, a) in rects.iter().enumerate() {
            for b in &rects[i + 1..] {
                let ox = (a.x + a.w).min(b.x + b.w) - a.x.max(b.x);
                let oy = (a.y + a.h).min(b.y + b.h) - a.y.max(b.y);
                assert!(ox <= 1e-6 || oy <= 1e-6, "overlap");
            }
        }
    }
}
