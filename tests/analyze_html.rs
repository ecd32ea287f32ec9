//! `rdbkit analyze --format html` on the shipped example dumps: one
//! self-contained page (nothing loaded from anywhere else), rendered by a
//! real headless Chromium (installed by `scripts/install-servers.sh`; the
//! test skips with the reason printed when it is absent): the screenshot
//! is not blank, and the rendered treemap names the biggest prefix.

use std::io::Read;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

fn ex(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

/// The distinct byte values of a PNG's decompressed pixel rows (a blank
/// page has a handful).
fn png_distinct_bytes(png: &[u8]) -> usize {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        if kind == b"IDAT" {
            idat.extend_from_slice(&png[at + 8..at + 8 + len]);
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let mut seen = [false; 256];
    raw.iter().for_each(|&b| seen[b as usize] = true);
    seen.iter().filter(|&&s| s).count()
}

#[test]
fn the_page_is_self_contained_and_renders() {
    let dir = std::env::temp_dir().join(format!("rdbkit-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let json = Command::new(BIN)
        .args([
            "analyze",
            &ex("dump1.rdb"),
            &ex("dump2.rdb"),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let biggest = json["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["depth"] == 1)
        .unwrap()["prefix"]
        .as_str()
        .unwrap()
        .to_string();
    let o = Command::new(BIN)
        .args([
            "analyze",
            &ex("dump1.rdb"),
            &ex("dump2.rdb"),
            "--format",
            "html",
            "-o",
        ])
        .arg(&page)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: no network, no other file.
    for banned in ["http://", "https://", " src=", "<link", "@import", "url("] {
        assert!(!html.contains(banned), "the page refers to {banned}");
    }
    assert!(html.contains("<svg id=\"treemap\""));
    assert!(
        html.contains(&format!(">{biggest} ")),
        "treemap label {biggest}"
    );
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("analyze_html: skipped rendering: no headless Chromium (scripts/install-servers.sh installs it)");
        return;
    };
    let url = format!("file://{}", page.display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1200,1400",
    ];
    let shot = dir.join("shot.png");
    let o = Command::new(chromium)
        .args(common)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).unwrap();
    let distinct = png_distinct_bytes(&png);
    assert!(
        distinct > 50,
        "the screenshot looks blank ({distinct} distinct bytes)"
    );
    // The DOM as Chromium rendered it (scripts run) shows the biggest
    // prefix's name in the treemap.
    let dom = Command::new(chromium)
        .args(common)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    let treemap = dom.split("<svg id=\"treemap\"").nth(1).unwrap_or("");
    assert!(
        treemap.contains(&format!(">{biggest} ")),
        "rendered treemap lacks {biggest}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
