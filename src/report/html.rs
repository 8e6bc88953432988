//! `report.html`: one self-contained page per run (images embedded), readable offline.
//!
//! The page is a view of `report.json`: disclaimer, a summary table of every foramen
//! (left and right per level, coloured by grade), a legend, then one section per series
//! with its warnings, QC images and all numbers. Everything taken from the report is
//! HTML-escaped (descriptions come from DICOM headers), nothing is loaded from outside
//! the file (a Content-Security-Policy forbids it), and nothing time-dependent is added.

use std::fmt::Write as _;
use std::path::{Component, Path};

use base64::Engine as _;
use serde::Serialize;

use super::{LevelEntry, Report, SeriesEntry, Status};

/// Writes `report.html` into `dir` atomically; the QC images the report names are read
/// from `dir` and embedded.
pub fn write_html(report: &Report, dir: &Path) -> std::io::Result<()> {
    // Streamed to the file: with every QC image embedded, a cohort's page is far larger
    // than its report, too large to build in memory first.
    crate::atomic_file::write_atomic(&dir.join("report.html"), |w| {
        let mut out = IoFmt { w, error: None };
        match page(&mut out, report, dir) {
            Ok(()) => Ok(()),
            Err(std::fmt::Error) => Err(out
                .error
                .unwrap_or_else(|| std::io::Error::other("formatting report.html"))),
        }
    })
}

/// `fmt::Write` over an `io::Write`, keeping the I/O error that `fmt::Error` cannot carry.
struct IoFmt<'a> {
    w: &'a mut dyn std::io::Write,
    error: Option<std::io::Error>,
}

impl std::fmt::Write for IoFmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.w.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}

/// Escapes text for element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters from a header have no business in the page.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A number with `dec` decimals, or a dash when absent or not finite.
fn num(v: Option<f64>, dec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.dec$}"),
        _ => "\u{2014}".into(),
    }
}

/// The serde name of a value (e.g. a rule), as report.json spells it.
fn json_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// At most `n` characters, with an ellipsis when cut.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('\u{2026}');
        t
    }
}

fn confidence_class(c: f64) -> &'static str {
    if c >= 0.7 {
        "c-high"
    } else if c >= 0.4 {
        "c-mid"
    } else {
        "c-low"
    }
}

fn grade_class(grade: &str) -> &'static str {
    match grade {
        "normal" => "g-normal",
        "mild" => "g-mild",
        "moderate" => "g-moderate",
        "severe" => "g-severe",
        _ => "g-indeterminate",
    }
}

fn series_label(s: &SeriesEntry) -> String {
    let num = s.series_number.map_or("?".into(), |n| n.to_string());
    let desc = if s.series_description.trim().is_empty() {
        "(no description)"
    } else {
        s.series_description.as_str()
    };
    format!("#{num} {desc}")
}

/// A PNG under `dir` as a data URI; `None` for anything that is not a readable PNG
/// inside `dir` (the path comes from the report, but stays confined all the same).
fn png_data_uri(dir: &Path, rel: &str) -> Option<String> {
    let p = Path::new(rel);
    if !rel.ends_with(".png") || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let bytes = std::fs::read(dir.join(p)).ok()?;
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return None;
    }
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// The key of a QC image path `qc/<stem>_<key>.png`.
fn image_key(s: &SeriesEntry, rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let name = name.strip_suffix(".png").unwrap_or(name);
    let stem = super::file_stem(&s.series_instance_uid);
    name.strip_prefix(&format!("{stem}_"))
        .unwrap_or(name)
        .to_string()
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1250px;padding:0 16px 40px;color:#1d1d1d;background:#fff;font-size:14px}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #ccc;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.disclaimer{background:#8f1414;color:#fff;padding:12px 16px;font-size:16px;font-weight:600;border-radius:0 0 6px 6px}
.meta{color:#555;margin:0 0 10px}
table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #bbb;padding:4px 7px;vertical-align:top;text-align:left}
th{background:#eee}
table.summary td.cell{min-width:170px}
td.cell span{display:block}
.area{font-weight:700;font-size:15px}
.g-normal{background:#e1f3df}.g-mild{background:#fff0b3}.g-moderate{background:#ffc97a}.g-severe{background:#f59a9a}.g-indeterminate,.unmeasured{background:#e4e4e4;color:#555}
.flagged{outline:3px solid #b00000;outline-offset:-3px}
.flag{font-weight:700;color:#a00000;text-transform:uppercase;font-size:12px}
.why{font-style:italic;font-size:12px}
.c-high{color:#17692a}.c-mid{color:#8a5a00}.c-low{color:#b00000;font-weight:700}
.warnings{background:#fff6d6;border:1px solid #d9b640;padding:6px 12px;margin:8px 0}
.warnings li{margin:2px 0}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;color:#fff;vertical-align:middle}
.s-measured{background:#2d7a3a}.s-skipped{background:#777}.s-failed{background:#b00000}
.problem{background:#fde4e4;border:1px solid #d88;padding:6px 12px}
.legend{display:flex;flex-wrap:wrap;gap:18px}.legend>div{flex:1 1 330px}
.swatch{display:inline-block;width:14px;height:14px;border:1px solid #888;vertical-align:middle;margin-right:4px}
figure{margin:6px 10px 10px 0;display:inline-block;vertical-align:top}figure img{max-width:100%;border:1px solid #444;display:block}
figcaption{font-size:12px;color:#444}
.overlays{display:flex;flex-wrap:wrap}.overlays figure{max-width:400px}
td.notes{min-width:230px}
table.levels td{font-size:13px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:6px 0}dl.facts dt{font-weight:600}dl.facts dd{margin:0}
code{font-size:12px}
"#;

/// Records script errors and counts loaded images, for anyone (or any test) checking
/// that the page rendered: `data-images-ok`, `data-images-total`, `data-errors`.
const SCRIPT: &str = r#"(function(){var errs=[];function rec(m){errs.push(String(m));if(document.body)document.body.setAttribute('data-errors',errs.join(' | '));}
window.addEventListener('error',function(e){rec(e.message||('failed to load '+(e.target&&e.target.tagName)));},true);
var ce=console.error;console.error=function(){rec(Array.prototype.join.call(arguments,' '));return ce.apply(console,arguments);};
window.addEventListener('load',function(){var im=document.images,ok=0;for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}var b=document.body;b.setAttribute('data-images-ok',ok);b.setAttribute('data-images-total',im.length);b.setAttribute('data-errors',errs.join(' | '));});})();"#;

/// The page. `dir` is where the QC images named by the report are read from.
pub fn render(report: &Report, dir: &Path) -> String {
    let mut h = String::new();
    // Writing to a String cannot fail.
    let _ = page(&mut h, report, dir);
    h
}

fn page(h: &mut dyn std::fmt::Write, report: &Report, dir: &Path) -> std::fmt::Result {
    writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
    )?;
    writeln!(
        h,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
    )?;
    writeln!(
        h,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(h, "<title>Neural foramen report (research use)</title>")?;
    writeln!(
        h,
        "<style>{STYLE}</style>\n<script>{SCRIPT}</script>\n</head>"
    )?;
    writeln!(h, "<body data-errors=\"\">")?;
    writeln!(
        h,
        "<div class=\"disclaimer\" role=\"note\">RESEARCH USE ONLY \u{2014} {}</div>",
        esc(&report.disclaimer)
    )?;
    writeln!(h, "<h1>Lumbar neural foramen report</h1>")?;
    let p = &report.provenance;
    writeln!(
        h,
        "<p class=\"meta\">{} {}{} \u{00b7} {} \u{00b7} run started {} UTC \u{00b7} {} series \
         \u{00b7} {} skipped file(s). Grades are automated and posture-dependent (foraminal \
         area changes by up to ~44% between postures): they are not a diagnosis.</p>",
        esc(&report.tool.name),
        esc(&report.tool.version),
        p.git_commit
            .as_ref()
            .map_or(String::new(), |c| format!(" ({})", esc(c))),
        esc(&report.schema),
        esc(&p.started_utc),
        report.series.len(),
        report.skipped_files.len()
    )?;
    summary(h, report)?;
    legend(h, report)?;
    studies(h, report)?;
    for (k, s) in report.series.iter().enumerate() {
        series_section(h, k, s, dir)?;
    }
    skipped(h, report)?;
    writeln!(h, "</body>\n</html>")
}

fn summary(h: &mut dyn std::fmt::Write, report: &Report) -> std::fmt::Result {
    writeln!(h, "<h2>Summary</h2>")?;
    if report.series.is_empty() {
        return writeln!(h, "<p>No DICOM series found in the input.</p>");
    }
    writeln!(
        h,
        "<table class=\"summary\" id=\"summary\">\n<thead><tr><th>Study / series</th>\
         <th>Level</th><th>Left</th><th>Right</th></tr></thead>\n<tbody>"
    )?;
    for (k, s) in report.series.iter().enumerate() {
        let label = format!(
            "<a href=\"#series-{k}\">{}</a><br><small>{} {} \u{00b7} study {}</small>",
            esc(&series_label(s)),
            esc(&s.modality),
            esc(s.weighting.as_deref().unwrap_or("")),
            esc(&short(&s.study_instance_uid, 28))
        );
        let levels = level_rows(&s.levels);
        if levels.is_empty() {
            let what = match s.status {
                Status::Measured => "measured, no levels".to_string(),
                Status::Skipped => "skipped".into(),
                Status::Failed => "failed".into(),
            };
            let reason = s.reason.as_deref().unwrap_or("");
            writeln!(
                h,
                "<tr><td>{label}</td><td>\u{2014}</td><td colspan=\"2\" class=\"cell unmeasured\" \
                 title=\"{}\"><span>{}</span><span class=\"why\">{}</span></td></tr>",
                esc(reason),
                esc(&what),
                esc(&short(reason, 90))
            )?;
            continue;
        }
        for (i, (level, left, right)) in levels.iter().enumerate() {
            write!(h, "<tr>")?;
            if i == 0 {
                write!(h, "<td rowspan=\"{}\">{label}</td>", levels.len())?;
            }
            write!(h, "<th>{}</th>", esc(level))?;
            for e in [left, right] {
                summary_cell(h, *e)?;
            }
            writeln!(h, "</tr>")?;
        }
    }
    writeln!(h, "</tbody></table>")
}

/// Levels in report order, each with its left and right entries.
fn level_rows(levels: &[LevelEntry]) -> Vec<(&str, Option<&LevelEntry>, Option<&LevelEntry>)> {
    let mut rows: Vec<(&str, Option<&LevelEntry>, Option<&LevelEntry>)> = Vec::new();
    for e in levels {
        let k = match rows.iter().position(|r| r.0 == e.level) {
            Some(k) => k,
            None => {
                rows.push((&e.level, None, None));
                rows.len() - 1
            }
        };
        match &*e.side {
            "left" => rows[k].1 = Some(e),
            _ => rows[k].2 = Some(e),
        }
    }
    rows
}

fn summary_cell(h: &mut dyn std::fmt::Write, e: Option<&LevelEntry>) -> std::fmt::Result {
    let Some(e) = e else {
        return write!(
            h,
            "<td class=\"cell unmeasured\" title=\"not in the report\"><span>not analysed</span></td>"
        );
    };
    if e.min_area_mm2.is_none() {
        let reason = e.reason.as_deref().unwrap_or("not measured");
        return write!(
            h,
            "<td class=\"cell unmeasured\" title=\"{}\"><span>not measured</span>\
             <span class=\"why\">{}</span></td>",
            esc(reason),
            esc(&short(reason, 48))
        );
    }
    let mut title = format!("rule: {}", json_name(&e.rule));
    if !e.confidence_notes.is_empty() {
        let _ = write!(
            title,
            "; confidence lowered by: {}",
            e.confidence_notes.join("; ")
        );
    }
    write!(
        h,
        "<td class=\"cell {}{}\" title=\"{}\"><span class=\"area\">{} mm\u{00b2}</span>\
         <span class=\"grade\">{}</span><span class=\"{}\">confidence {}</span>",
        grade_class(&e.grade),
        if e.flagged { " flagged" } else { "" },
        esc(&title),
        num(e.min_area_mm2, 1),
        esc(&e.grade),
        confidence_class(e.confidence),
        num(Some(e.confidence), 2)
    )?;
    if e.flagged {
        write!(h, "<span class=\"flag\">\u{2691} flagged</span>")?;
    }
    write!(h, "</td>")
}

fn legend(h: &mut dyn std::fmt::Write, report: &Report) -> std::fmt::Result {
    let t = &report.thresholds;
    writeln!(
        h,
        "<h2>How to read this report</h2>\n<div class=\"legend\">"
    )?;
    writeln!(
        h,
        "<div><h3>Grades</h3><ul>\
         <li><span class=\"swatch g-normal\"></span>normal: no rule found narrowing</li>\
         <li><span class=\"swatch g-mild\"></span>mild</li>\
         <li><span class=\"swatch g-moderate\"></span>moderate</li>\
         <li><span class=\"swatch g-severe\"></span>severe</li>\
         <li><span class=\"swatch g-indeterminate\"></span>grey: not measured (the reason is \
         shown; hover for the full text)</li>\
         <li><span class=\"swatch g-moderate flagged\"></span><b>flagged</b> (red frame): \
         grade at least <b>{}</b></li></ul>",
        esc(&json_name(&t.flag_min_grade))
    )?;
    writeln!(
        h,
        "<h3>Confidence (0\u{2013}1)</h3><p>Level-label confidence \u{00d7} image-quality \
         factors. <span class=\"c-high\">\u{2265} 0.7 high</span>, \
         <span class=\"c-mid\">0.4\u{2013}0.7 moderate</span>, \
         <span class=\"c-low\">&lt; 0.4 low</span>. The notes say what lowered it (thick \
         slices, T2 instead of T1, low contrast, one plane only, uncertain level label, \
         no bone below the foramen).</p></div>"
    )?;
    let absolute = match t.severe_area_mm2 {
        Some(a) => format!(
            "area \u{2264} {} mm\u{00b2} \u{2192} severe",
            num(Some(a), 1)
        ),
        None => "off (no accepted absolute cut-off)".into(),
    };
    writeln!(
        h,
        "<div><h3>Rules (the highest grade proposed wins)</h3><ul>\
         <li><code>lee_fat_obliteration</code>: perineural fat around the root (MR T1) \u{2014} \
         root collapsed/deformed \u{2192} severe, obliterated in all four directions \u{2192} \
         moderate, in two opposing directions \u{2192} mild</li>\
         <li><code>hasegawa</code>: foraminal height \u{2264} {} mm and posterior disc height \
         \u{2264} {} mm \u{2192} moderate; either one \u{2192} mild</li>\
         <li><code>relative_narrowing</code>: 1 \u{2212} area / mean(neighbouring levels, same \
         side) \u{2265} {} mild, \u{2265} {} moderate, \u{2265} {} severe</li>\
         <li><code>absolute_area</code>: {}</li>\
         <li><code>none_fired</code>: measured, no rule found narrowing; \
         <code>no_measurement</code>: not measured</li></ul>",
        num(Some(t.hasegawa_height_mm), 1),
        num(Some(t.hasegawa_posterior_disc_height_mm), 1),
        num(Some(t.relative_mild), 2),
        num(Some(t.relative_moderate), 2),
        num(Some(t.relative_severe), 2),
        esc(&absolute)
    )?;
    writeln!(
        h,
        "<h3>Overlay images</h3><p>Minimum-area plane of each foramen: \
         <span style=\"color:#d00\">red</span> foramen outline, \
         <span style=\"color:#1a9a3a\">green</span> nerve root, \
         <span style=\"color:#a88a00\">yellow</span> measured height (H), \
         <span style=\"color:#0088bb\">cyan</span> measured width (W).</p></div>\n</div>"
    )
}

fn studies(h: &mut dyn std::fmt::Write, report: &Report) -> std::fmt::Result {
    if report.studies.is_empty() {
        return Ok(());
    }
    writeln!(h, "<h2>Series selection</h2>")?;
    for st in &report.studies {
        writeln!(
            h,
            "<h3>Study <code>{}</code></h3><p>{}</p>",
            esc(&st.study_instance_uid),
            esc(&st.summary)
        )?;
        if st.choices.is_empty() {
            continue;
        }
        writeln!(
            h,
            "<table><thead><tr><th>Series</th><th>Used</th><th>Why</th></tr></thead><tbody>"
        )?;
        for c in &st.choices {
            writeln!(
                h,
                "<tr><td>#{} {}</td><td>{}</td><td>{}</td></tr>",
                c.series_number.map_or("?".into(), |n| n.to_string()),
                esc(&c.series_description),
                if c.selected { "yes" } else { "no" },
                esc(&c.reason)
            )?;
        }
        writeln!(h, "</tbody></table>")?;
    }
    Ok(())
}

fn series_section(
    h: &mut dyn std::fmt::Write,
    k: usize,
    s: &SeriesEntry,
    dir: &Path,
) -> std::fmt::Result {
    let status = json_name(&s.status);
    writeln!(
        h,
        "<section id=\"series-{k}\">\n<h2>Series {} <span class=\"status s-{}\">{}</span></h2>",
        esc(&series_label(s)),
        esc(&status),
        esc(&status)
    )?;
    writeln!(
        h,
        "<dl class=\"facts\"><dt>Modality</dt><dd>{}</dd><dt>Weighting</dt><dd>{}</dd>\
         <dt>Description</dt><dd>{}</dd><dt>Instances</dt><dd>{}</dd>\
         <dt>Series UID</dt><dd><code>{}</code></dd><dt>Study UID</dt><dd><code>{}</code></dd>\
         <dt>Lumbar vertebrae</dt><dd>{}</dd><dt>Midline x</dt><dd>{} mm</dd></dl>",
        esc(&s.modality),
        esc(s.weighting.as_deref().unwrap_or(if s.modality == "CT" {
            "not applicable (CT)"
        } else {
            "unknown"
        })),
        esc(&s.series_description),
        s.num_instances,
        esc(&s.series_instance_uid),
        esc(&s.study_instance_uid),
        s.lumbar_count
            .map_or("not determined".into(), |n| n.to_string()),
        num(s.midline_x_mm, 1)
    )?;
    let ids = [
        ("Patient key", &s.ids.patient_key),
        ("Accession key", &s.ids.accession_key),
        ("Patient ID", &s.ids.patient_id),
        ("Accession number", &s.ids.accession_number),
    ];
    if ids.iter().any(|(_, v)| v.is_some()) {
        write!(h, "<dl class=\"facts\">")?;
        for (name, v) in ids {
            if let Some(v) = v {
                write!(h, "<dt>{name}</dt><dd><code>{}</code></dd>", esc(v))?;
            }
        }
        writeln!(h, "</dl>")?;
    }
    if s.status != Status::Measured || s.reason.is_some() {
        writeln!(
            h,
            "<p class=\"problem\"><b>{}</b>: {}</p>",
            esc(&status),
            esc(s.reason.as_deref().unwrap_or("no reason given"))
        )?;
    }
    warnings(h, s)?;
    let images: Vec<(String, &String)> = s.qc_images.iter().map(|p| (image_key(s, p), p)).collect();
    let (main, overlays): (Vec<_>, Vec<_>) = images
        .iter()
        .partition(|(key, _)| key == "midsagittal" || key == "foramina");
    if !main.is_empty() {
        writeln!(h, "<div>")?;
        for (key, rel) in &main {
            let caption = match key.as_str() {
                "midsagittal" => "Midsagittal plane: discs found and named (colour = confidence)",
                _ => "All foramina on their minimum-area planes (top row right, bottom left)",
            };
            figure(h, dir, rel, key, caption)?;
        }
        writeln!(h, "</div>")?;
    }
    if !overlays.is_empty() {
        writeln!(h, "<h3>Foramen overlays</h3>\n<div class=\"overlays\">")?;
        for (key, rel) in &overlays {
            figure(h, dir, rel, key, &key.replace('_', " "))?;
        }
        writeln!(h, "</div>")?;
    }
    if !s.discs.is_empty() {
        writeln!(
            h,
            "<h3>Discs</h3><table><thead><tr><th>Level</th><th>Label confidence</th>\
             <th>Tilt (\u{00b0})</th><th>Height (mm)</th></tr></thead><tbody>"
        )?;
        for d in &s.discs {
            writeln!(
                h,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.level),
                confidence_class(d.confidence),
                num(Some(d.confidence), 2),
                num(Some(d.tilt_deg), 1),
                num(d.height_mm, 1)
            )?;
        }
        writeln!(h, "</tbody></table>")?;
    }
    if !s.levels.is_empty() {
        level_table(h, &s.levels)?;
    }
    if let Some(m) = &s.mask_file {
        writeln!(h, "<p>Mask file: <code>{}</code></p>", esc(m))?;
    }
    writeln!(h, "</section>")
}

/// Labelling warnings and the confidence notes of the levels, with where they apply.
fn warnings(h: &mut dyn std::fmt::Write, s: &SeriesEntry) -> std::fmt::Result {
    let mut notes: Vec<(&str, Vec<String>)> = Vec::new();
    for e in &s.levels {
        for n in &e.confidence_notes {
            let at = format!("{} {}", e.level, e.side);
            match notes.iter_mut().find(|(m, _)| m == n) {
                Some((_, v)) => v.push(at),
                None => notes.push((n, vec![at])),
            }
        }
    }
    if s.labeling_warnings.is_empty() && notes.is_empty() {
        return Ok(());
    }
    writeln!(h, "<div class=\"warnings\"><b>Warnings</b><ul>")?;
    for w in &s.labeling_warnings {
        writeln!(h, "<li>{}</li>", esc(w))?;
    }
    for (n, at) in &notes {
        writeln!(
            h,
            "<li>{} <small>({})</small></li>",
            esc(n),
            esc(&at.join(", "))
        )?;
    }
    writeln!(h, "</ul></div>")
}

fn figure(
    h: &mut dyn std::fmt::Write,
    dir: &Path,
    rel: &str,
    key: &str,
    caption: &str,
) -> std::fmt::Result {
    match png_data_uri(dir, rel) {
        Some(uri) => writeln!(
            h,
            "<figure><img src=\"{uri}\" alt=\"{}\"><figcaption>{}</figcaption></figure>",
            esc(key),
            esc(caption)
        ),
        // A missing image is said in words, not shown as a broken image.
        None => writeln!(
            h,
            "<figure><p class=\"problem\">image not available: <code>{}</code></p>\
             <figcaption>{}</figcaption></figure>",
            esc(rel),
            esc(caption)
        ),
    }
}

fn level_table(h: &mut dyn std::fmt::Write, levels: &[LevelEntry]) -> std::fmt::Result {
    writeln!(
        h,
        "<h3>Measurements</h3><table class=\"levels\"><thead><tr><th>Level</th><th>Side</th>\
         <th>Min area (mm\u{00b2})</th><th>Height (mm)</th><th>Width (mm)</th>\
         <th>Post. disc height (mm)</th><th>Fat fraction</th><th>Fat obliterated</th>\
         <th>Root area (mm\u{00b2})</th><th>Neighbour ratio</th><th>Grade</th><th>Rule</th>\
         <th>Confidence</th><th>Notes / reason</th><th>Min-area plane (mm)</th>\
         </tr></thead><tbody>"
    )?;
    for e in levels {
        let fat = match &e.fat_obliteration {
            None => "\u{2014}".to_string(),
            Some(f) => {
                let dirs: Vec<&str> = [
                    (f.superior, "superior"),
                    (f.inferior, "inferior"),
                    (f.anterior, "anterior"),
                    (f.posterior, "posterior"),
                    (f.root_deformed, "root deformed"),
                ]
                .iter()
                .filter(|d| d.0)
                .map(|d| d.1)
                .collect();
                if dirs.is_empty() {
                    "none".into()
                } else {
                    dirs.join(", ")
                }
            }
        };
        let mut notes: Vec<String> = e.confidence_notes.clone();
        if let Some(r) = &e.reason {
            notes.insert(0, format!("not measured: {r}"));
        }
        let profile: Vec<String> = e
            .slice_areas_mm2
            .iter()
            .map(|a| {
                format!(
                    "{:.1} mm: {:.1} mm\u{00b2}",
                    a.slice_position_mm, a.area_mm2
                )
            })
            .collect();
        writeln!(
            h,
            "<tr class=\"{}{}\"><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td>\
             <td><code>{}</code></td><td class=\"{}\">{}</td><td class=\"notes\">{}</td><td>{}</td></tr>",
            grade_class(&e.grade),
            if e.flagged { " flagged" } else { "" },
            esc(&e.level),
            esc(&e.side),
            esc(&format!("area per plane: {}", profile.join("; "))),
            num(e.min_area_mm2, 1),
            num(e.height_mm, 1),
            num(e.width_mm, 1),
            num(e.posterior_disc_height_mm, 1),
            num(e.fat_fraction, 2),
            esc(&fat),
            num(e.root_area_mm2, 1),
            num(e.neighbour_ratio, 2),
            esc(&e.grade),
            if e.flagged { " (flagged)" } else { "" },
            esc(&json_name(&e.rule)),
            confidence_class(e.confidence),
            // No confidence to speak of without a measurement.
            num(e.min_area_mm2.map(|_| e.confidence), 2),
            esc(&notes.join("; ")),
            num(e.min_area_slice_position_mm, 2)
        )?;
    }
    writeln!(h, "</tbody></table>")
}

fn skipped(h: &mut dyn std::fmt::Write, report: &Report) -> std::fmt::Result {
    writeln!(h, "<h2>Skipped files</h2>")?;
    if report.skipped_files.is_empty() {
        return writeln!(h, "<p>None.</p>");
    }
    writeln!(
        h,
        "<table><thead><tr><th>File</th><th>Reason</th></tr></thead><tbody>"
    )?;
    for f in &report.skipped_files {
        writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            esc(&f.path),
            esc(&f.reason)
        )?;
    }
    writeln!(h, "</tbody></table>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grading::{Rule, Thresholds};
    use crate::report::{SkippedEntry, Tool};

    fn level(
        level: &str,
        side: &'static str,
        area: Option<f64>,
        grade: &'static str,
    ) -> LevelEntry {
        LevelEntry {
            level: level.into(),
            side: side.into(),
            min_area_mm2: area,
            height_mm: area.map(|_| 14.0),
            width_mm: area.map(|_| 7.5),
            posterior_disc_height_mm: None,
            fat_fraction: None,
            fat_obliteration: None,
            root_area_mm2: None,
            neighbour_ratio: None,
            grade: grade.into(),
            flagged: false,
            rule: if area.is_some() {
                Rule::NoneFired
            } else {
                Rule::NoMeasurement
            },
            confidence: if area.is_some() { 0.8 } else { 0.0 },
            confidence_notes: Vec::new(),
            min_area_slice_position_mm: None,
            slice_areas_mm2: Vec::new(),
            reason: area
                .is_none()
                .then(|| "no closed foramen found on the planes beside this disc".into()),
        }
    }

    fn report(description: &str, qc_images: Vec<String>) -> Report {
        let mut flagged = level("L4-L5", "left", Some(42.0), "moderate");
        flagged.flagged = true;
        flagged.rule = Rule::Hasegawa;
        flagged.confidence_notes = vec!["T2 instead of T1".into()];
        let series = SeriesEntry {
            study_instance_uid: "1.2.3".into(),
            series_instance_uid: "1.2.3.4".into(),
            ids: crate::report::ids::SeriesIds::default(),
            series_number: Some(5),
            series_description: description.into(),
            modality: "MR".into(),
            weighting: Some("T2".into()),
            status: Status::Measured,
            reason: None,
            num_instances: 15,
            processing_ms: None,
            discs: Vec::new(),
            vertebrae: Vec::new(),
            lumbar_count: Some(5),
            labeling_warnings: vec!["sacrum <not> in view".into()],
            midline_x_mm: Some(1.5),
            levels: vec![
                level("L3-L4", "left", Some(80.0), "normal"),
                level("L3-L4", "right", None, "indeterminate"),
                flagged,
                level("L4-L5", "right", Some(75.0), "normal"),
            ],
            qc_images,
            mask_file: None,
            dicom_files: Vec::new(),
        };
        Report {
            schema: crate::report::SCHEMA.into(),
            tool: Tool::default(),
            disclaimer: "Automated research output, not a diagnosis.".into(),
            provenance: crate::report::Provenance::new(std::time::UNIX_EPOCH, false),
            thresholds: Thresholds::default(),
            studies: Vec::new(),
            series: vec![series],
            skipped_files: vec![SkippedEntry {
                path: "x/<b>.txt".into(),
                reason: "not DICOM".into(),
            }],
        }
    }

    #[test]
    fn text_from_the_report_is_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let html = render(
            &report("<script>alert('x')</script>", Vec::new()),
            dir.path(),
        );
        assert!(!html.contains("alert('x')"), "raw description leaked");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        // Only the page's own script element.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("sacrum &lt;not&gt; in view"));
        assert!(html.contains("x/&lt;b&gt;.txt"));
        assert_eq!(esc("a&\"b\u{7}"), "a&amp;&quot;b\u{FFFD}");
    }

    #[test]
    fn images_are_embedded_and_nothing_is_external() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("qc")).unwrap();
        let img = image::RgbImage::from_pixel(3, 2, image::Rgb([1, 2, 3]));
        img.save(dir.path().join("qc/1.2.3.4_L4-L5_left.png"))
            .unwrap();
        std::fs::write(dir.path().join("secret.png"), b"\x89PNG\r\n\x1a\nzz").unwrap();
        let r = report(
            "desc",
            vec![
                "qc/1.2.3.4_L4-L5_left.png".into(),
                "qc/../secret.png".into(),
                "http://example.org/x.png".into(),
            ],
        );
        write_html(&r, dir.path()).unwrap();
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert_eq!(html.matches("<img ").count(), 1);
        assert!(html.contains("src=\"data:image/png;base64,iVBORw0KGgo"));
        assert!(html.contains("alt=\"L4-L5_left\""));
        // A path leaving the folder is not read, and no URL becomes a source.
        assert!(
            !html.contains("iVBORw0KGgp6eg=="),
            "secret.png was embedded"
        );
        assert_eq!(html.matches("image not available").count(), 2);
        let lower = html.to_lowercase();
        for bad in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "url(",
            "@import",
        ] {
            assert!(!lower.contains(bad), "external reference {bad}");
        }
        // Deterministic: the same report gives the same page.
        assert_eq!(html, render(&r, dir.path()));
    }

    #[test]
    fn flagged_and_unmeasured_cells_are_marked() {
        let dir = tempfile::tempdir().unwrap();
        let html = render(&report("d", Vec::new()), dir.path());
        let summary = &html[html.find("id=\"summary\"").unwrap()..];
        let summary = &summary[..summary.find("</table>").unwrap()];
        assert_eq!(
            summary.matches("class=\"cell g-moderate flagged\"").count(),
            1
        );
        assert_eq!(summary.matches("class=\"cell g-normal\"").count(), 2);
        assert!(summary.contains(
            "class=\"cell unmeasured\" title=\"no closed foramen found on the planes beside this disc\""
        ));
        assert!(summary.contains("42.0 mm\u{00b2}"));
        assert!(summary.contains("rule: hasegawa; confidence lowered by: T2 instead of T1"));
        // Confidence notes are shown as warnings, with the foramina they concern.
        assert!(html.contains("<li>T2 instead of T1 <small>(L4-L5 left)</small></li>"));
    }
}
