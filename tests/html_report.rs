//! `report.html` from `foramen measure` on the phantom fixtures, rendered by a real
//! headless browser: the page must load with every image decoded, no script or
//! console error and no request leaving the file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom")
}

/// Runs chromium headless on `page` with `extra` flags; stdout and stderr go to files
/// (a dumped DOM with embedded images is large) and the browser is killed after 60 s.
fn chromium(page: &Path, work: &Path, name: &str, extra: &[&str]) -> (String, String) {
    let profile = work.join(format!("profile-{name}"));
    std::fs::create_dir_all(&profile).unwrap();
    let out_path = work.join(format!("{name}.stdout"));
    let err_path = work.join(format!("{name}.stderr"));
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium ({name}) did not finish within 60 s; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = String::from_utf8_lossy(&std::fs::read(&out_path).unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()).into_owned();
    assert!(
        status.success(),
        "chromium ({name}) failed: {status}\n{stderr}"
    );
    (stdout, stderr)
}

/// The value of attribute `name` on the `<body>` element of a dumped DOM.
fn body_attr<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let start = dom.find("<body")?;
    let tag = &dom[start..start + dom[start..].find('>')?];
    let key = format!("{name}=\"");
    let from = tag.find(&key)? + key.len();
    Some(&tag[from..from + tag[from..].find('"')?])
}

#[test]
fn report_html_renders_in_a_headless_browser() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = common::foramen(&[
        "measure",
        fixtures().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "measure failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html written");

    // Self-contained: every image is a data URI, nothing points outside the file.
    let lower = html.to_lowercase();
    for bad in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "src=\"file:",
        "url(",
        "@import",
    ] {
        assert!(
            !lower.contains(bad),
            "external reference {bad:?} in report.html"
        );
    }
    let imgs = html.matches("<img ").count();
    assert_eq!(imgs, html.matches(" src=\"data:image/png;base64,").count());
    // Both fixtures are measured: per series a midsagittal image, the montage and
    // at least one foramen overlay.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let qc: usize = report["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["qc_images"].as_array().map_or(0, |a| a.len()))
        .sum();
    assert_eq!(imgs, qc, "every QC image of the report is on the page");
    let overlays = report["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["qc_images"].as_array().cloned().unwrap_or_default())
        .filter(|p| {
            p.as_str()
                .is_some_and(|p| p.ends_with("_left.png") || p.ends_with("_right.png"))
        })
        .count();
    assert!(overlays >= 2, "foramen overlays: {overlays}");

    if !common::require_tool("chromium", "chromium") {
        return;
    }
    let work = dir.path().join("browser");
    std::fs::create_dir_all(&work).unwrap();

    // The rendered DOM (after the page's load handler ran), with the browser's log.
    let (dom, log) = chromium(
        &page,
        &work,
        "dom",
        &[
            "--dump-dom",
            "--virtual-time-budget=5000",
            "--enable-logging=stderr",
            "--v=0",
        ],
    );
    assert!(
        dom.contains("id=\"summary\""),
        "summary table missing from the DOM"
    );
    let total: usize = body_attr(&dom, "data-images-total")
        .expect("the load handler ran")
        .parse()
        .unwrap();
    let ok: usize = body_attr(&dom, "data-images-ok").unwrap().parse().unwrap();
    assert_eq!(total, imgs);
    assert_eq!(ok, total, "{} of {total} images decoded", ok);
    assert_eq!(body_attr(&dom, "data-errors"), Some(""), "page errors");
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Uncaught") || l.contains("CONSOLE") || l.contains("Refused to"))
        .collect();
    assert!(bad.is_empty(), "console errors:\n{}", bad.join("\n"));

    // A screenshot for people to look at, kept under target/.
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("report.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &page,
        &work,
        "shot",
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000",
            "--hide-scrollbars",
        ],
    );
    let img = image::open(&shot).expect("screenshot written").to_rgb8();
    assert!(
        img.width() >= 1000 && img.height() >= 1500,
        "{:?}",
        img.dimensions()
    );
    // The disclaimer bar (dark red) is at the top of the rendered page.
    let red = (0..img.width())
        .filter(|&x| {
            let p = img.get_pixel(x, 12);
            p[0] > 120 && p[1] < 40 && p[2] < 40
        })
        .count();
    assert!(
        red as u32 > img.width() / 2,
        "no disclaimer bar at the top ({red} px)"
    );
    // Not a blank page: tables, colours and images give many distinct colours.
    let mut colours: Vec<[u8; 3]> = img.pixels().step_by(7).map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 200, "only {} colours", colours.len());
}
