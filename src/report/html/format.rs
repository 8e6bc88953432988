//! Small pieces the page is made of: text from the report, numbers, CSS classes, labels
//! and the embedded QC images.

use std::borrow::Cow;
use std::path::{Component, Path};

use base64::Engine as _;
use maud::Render;
use serde::Serialize;

use crate::grading::{CONFIDENCE_HIGH, CONFIDENCE_MODERATE};
use crate::report::{LevelEntry, SeriesEntry};

/// Text taken from the report (much of it from DICOM headers and file names), for
/// element content and attribute values. maud escapes `& < > "` as for any splice;
/// this adds `'` (safe in any quoting) and replaces control characters, which have no
/// business in the page. (Not [`crate::report::Text`], the report's string type.)
pub(super) struct Text<'a>(pub &'a str);

impl Render for Text<'_> {
    fn render_to(&self, out: &mut String) {
        let stray = |c: char| c.is_control() && c != '\n' && c != '\t';
        let clean: Cow<str> = if self.0.chars().any(stray) {
            self.0
                .chars()
                .map(|c| if stray(c) { '\u{FFFD}' } else { c })
                .collect::<String>()
                .into()
        } else {
            self.0.into()
        };
        for (i, part) in clean.split('\'').enumerate() {
            if i > 0 {
                out.push_str("&#39;");
            }
            part.render_to(out);
        }
    }
}

/// A number with `dec` decimals, or a dash when absent or not finite.
pub(super) fn num(v: Option<f64>, dec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.dec$}"),
        _ => "\u{2014}".into(),
    }
}

/// The serde name of a value (e.g. a rule), as report.json spells it.
pub(super) fn json_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// At most `n` characters, with an ellipsis when cut.
pub(super) fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('\u{2026}');
        t
    }
}

/// The CSS class colouring a confidence, by the bands of [`crate::grading`].
pub(super) fn confidence_class(c: f64) -> &'static str {
    if c >= CONFIDENCE_HIGH {
        "c-high"
    } else if c >= CONFIDENCE_MODERATE {
        "c-mid"
    } else {
        "c-low"
    }
}

/// The CSS class colouring a grade (as report.json spells it).
pub(super) fn grade_class(grade: &str) -> &'static str {
    match grade {
        "normal" => "g-normal",
        "mild" => "g-mild",
        "moderate" => "g-moderate",
        "severe" => "g-severe",
        _ => "g-indeterminate",
    }
}

/// The class added to a flagged foramen's cell or row.
pub(super) fn flagged_class(flagged: bool) -> &'static str {
    if flagged { " flagged" } else { "" }
}

/// `#<number> <description>`, as the series is named in the summary and its heading.
pub(super) fn series_label(s: &SeriesEntry) -> String {
    let num = s.series_number.map_or("?".into(), |n| n.to_string());
    let desc = if s.series_description.trim().is_empty() {
        "(no description)"
    } else {
        s.series_description.as_str()
    };
    format!("#{num} {desc}")
}

/// One row of the summary: a level with its left and right entries.
pub(super) type LevelRow<'a> = (&'a str, Option<&'a LevelEntry>, Option<&'a LevelEntry>);

/// Levels in report order, each with its left and right entries.
pub(super) fn level_rows(levels: &[LevelEntry]) -> Vec<LevelRow<'_>> {
    let mut rows: Vec<LevelRow<'_>> = Vec::new();
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

/// A PNG under `dir` as a data URI; `None` for anything that is not a readable PNG
/// inside `dir` (the path comes from the report, but stays confined all the same).
pub(super) fn png_data_uri(dir: &Path, rel: &str) -> Option<String> {
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

/// A PNG under `dir` named by a confined relative path, for referencing (cohort mode):
/// the path itself when the file is there.
pub(super) fn png_file<'a>(dir: &Path, rel: &'a str) -> Option<&'a str> {
    let p = Path::new(rel);
    let confined =
        rel.ends_with(".png") && p.components().all(|c| matches!(c, Component::Normal(_)));
    (confined && dir.join(p).is_file()).then_some(rel)
}

/// The QC decision already applied to an item (`verdict|corrected|comment`), which the
/// page starts from when the browser holds none.
pub(super) fn applied(r: Option<&crate::report::review::ItemReview>) -> Option<String> {
    let r = r?;
    let first = |f: fn(&crate::report::review::Review) -> Option<&String>| {
        r.reviews.iter().find_map(f).cloned().unwrap_or_default()
    };
    let corrected = first(|v| v.corrected_grade.as_ref().or(v.corrected_level.as_ref()));
    let comments: Vec<&str> = r
        .reviews
        .iter()
        .filter_map(|v| v.comment.as_deref())
        .collect();
    Some(format!(
        "{}|{}|{}",
        r.verdict.as_str(),
        corrected,
        comments.join("; ")
    ))
}

/// The key of a QC image path `qc/<stem>_<key>.png`.
pub(super) fn image_key(s: &SeriesEntry, rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let name = name.strip_suffix(".png").unwrap_or(name);
    let stem = crate::report::file_stem(&s.series_instance_uid);
    name.strip_prefix(&format!("{stem}_"))
        .unwrap_or(name)
        .to_string()
}
