//! The page, as maud templates: every splice is escaped unless wrapped in `PreEscaped`,
//! which only the page's own stylesheet, script and fixed tags are. Text from the report
//! goes through [`Text`]. The `"\n"` literals keep the line breaks of the page.

use std::path::Path;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::format::{
    LevelRow, Text, applied, confidence_class, flagged_class, grade_class, image_key, json_name,
    level_rows, num, png_data_uri, png_file, series_label, short,
};
use crate::grading::{CONFIDENCE_HIGH, CONFIDENCE_MODERATE};
use crate::report::{LevelEntry, Report, SeriesEntry, Status};

/// The stylesheet, inline in `<head>`.
pub(super) const STYLE: &str = include_str!("report.css");

/// Records script errors and counts loaded images, for anyone (or any test) checking
/// that the page rendered: `data-images-ok`, `data-images-total`, `data-errors`.
pub(super) const SCRIPT: &str = include_str!("report.js");

/// The page in pieces, in order, generated one at a time: with every QC image embedded,
/// a cohort's page is far larger than its report, too large to hold in memory at once.
/// `dir` is where the QC images named by the report are read from.
pub(super) fn pieces<'a>(report: &'a Report, dir: &'a Path) -> impl Iterator<Item = Markup> + 'a {
    let mode = Images::for_report(report);
    // `<html>` and `<body>` enclose pieces made apart, so their tags are written as such.
    let body = html! {
        (PreEscaped("<body data-errors=\"\" data-run-id=\""))
        (Text(&report.provenance.run_id))
        (PreEscaped("\" data-images=\""))
        (mode.name())
        (PreEscaped("\" data-low-confidence=\""))
        (CONFIDENCE_MODERATE)
        (PreEscaped("\">\n"))
    };
    let front = [
        html! { (DOCTYPE) "\n" (PreEscaped("<html lang=\"en\">\n")) },
        head(mode),
        body,
        top(report),
        review_panel(),
        summary(report),
        legend(report),
        if mode == Images::Inline {
            studies(report)
        } else {
            html! {}
        },
    ];
    // A cohort's page keeps to the summary and the review: thousands of detailed
    // sections would make it slow to open; their numbers are in report.json and the CSV.
    let shown = if mode == Images::Inline {
        report.series.len()
    } else {
        0
    };
    let series = report
        .series
        .iter()
        .take(shown)
        .enumerate()
        .map(move |(k, s)| series_section(k, s, dir, mode))
        .chain((mode == Images::Files).then(cohort_note));
    let back = std::iter::once_with(move || {
        html! { (skipped(report)) (PreEscaped("</body>\n</html>\n")) }
    });
    front.into_iter().chain(series).chain(back)
}

/// How the QC images are put in the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Images {
    /// Embedded as `data:` URIs: one self-contained file (small runs).
    Inline,
    /// Referenced as the files in `qc/` next to the page, loaded lazily (cohorts).
    Files,
}

/// Above this many series the page references the images instead of embedding them.
pub(super) const INLINE_MAX_SERIES: usize = 50;

impl Images {
    pub(super) fn for_report(report: &Report) -> Images {
        if report.series.len() > INLINE_MAX_SERIES {
            Images::Files
        } else {
            Images::Inline
        }
    }
    fn name(self) -> &'static str {
        match self {
            Images::Inline => "inline",
            Images::Files => "files",
        }
    }
}

fn head(mode: Images) -> Markup {
    // Files mode lets images come from the page's own folder ('self'), nothing else.
    let csp = match mode {
        Images::Inline => {
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
             script-src 'unsafe-inline'"
        }
        Images::Files => {
            "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; \
             script-src 'unsafe-inline'"
        }
    };
    html! {
        head {
            "\n" meta charset="utf-8";
            "\n" meta http-equiv="Content-Security-Policy" content=(csp);
            "\n" meta name="viewport" content="width=device-width, initial-scale=1";
            "\n" title { "Neural foramen report (research use)" }
            "\n" style { "\n" (PreEscaped(STYLE.trim_end())) "\n" }
            "\n" script { (PreEscaped(SCRIPT.trim_end())) }
            "\n"
        }
        "\n"
    }
}

/// Disclaimer, title and what produced the report.
fn top(report: &Report) -> Markup {
    let p = &report.provenance;
    html! {
        div class="disclaimer" role="note" {
            "RESEARCH USE ONLY \u{2014} " (Text(&report.disclaimer))
        }
        "\n" h1 { "Lumbar neural foramen report" }
        "\n" p class="meta" {
            (Text(&report.tool.name)) " " (Text(&report.tool.version))
            @if let Some(c) = &p.git_commit { " (" (Text(c)) ")" }
            " \u{00b7} " (Text(&report.schema))
            " \u{00b7} run started " (Text(&p.started_utc)) " UTC \u{00b7} "
            (report.series.len()) " series \u{00b7} "
            (report.skipped_files.len()) " skipped file(s). Grades are automated and \
            posture-dependent (foraminal area changes by up to ~44% between postures): \
            they are not a diagnosis."
        }
        "\n"
    }
}

/// The review panel (driven by report.js): the current item enlarged, verdict buttons,
/// correction, comment, reviewer, filter, export and import. Keys in `qc-help`.
fn review_panel() -> Markup {
    const GRADES: [&str; 5] = ["normal", "mild", "moderate", "severe", "indeterminate"];
    const LEVELS: [&str; 8] = [
        "T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1", "L5-L6", "S1-S2",
    ];
    html! {
        aside id="qc" class="qc-panel" aria-label="Quality-control review" {
            "\n" div class="qc-head" {
                b { "Review" } " " span id="qc-progress" {} " "
                button type="button" id="qc-hide" title="hide or show the panel (h)" { "\u{2013}" }
            }
            "\n" div id="qc-body" {
                div id="qc-title" { "Press \u{2192} to start reviewing." }
                div id="qc-facts" {}
                div id="qc-view" {}
                div class="qc-verdicts" {
                    button type="button" data-v="pass" class="b-pass" { "Pass (p)" }
                    button type="button" data-v="fail" class="b-fail" { "Fail (f)" }
                    button type="button" data-v="unsure" class="b-unsure" { "Unsure (u)" }
                    button type="button" data-v="" { "Clear (x)" }
                }
                label id="qc-grade-l" {
                    "Corrected grade (g) "
                    select id="qc-grade" {
                        option value="" { "\u{2014}" }
                        @for g in GRADES { option value=(g) { (g) } }
                    }
                }
                label id="qc-level-l" {
                    "The report's L5-S1 is really (g) "
                    select id="qc-level" {
                        option value="" { "\u{2014}" }
                        @for l in LEVELS { option value=(l) { (l) } }
                    }
                }
                label class="qc-row" {
                    "Comment (c) " input id="qc-comment" type="text" maxlength="500";
                }
                div class="qc-row" {
                    label { "Reviewer " input id="qc-reviewer" type="text" maxlength="100" size="12"; }
                    " "
                    label {
                        "Show (v) "
                        select id="qc-filter" {
                            option value="all" { "all items" }
                            option value="flagged" { "flagged" }
                            option value="low" { "low confidence" }
                            option value="todo" { "not reviewed" }
                        }
                    }
                }
                div class="qc-row" {
                    button type="button" id="qc-export" { "Export qc-decisions.json (e)" }
                    " "
                    label class="qc-import" {
                        "Import " input type="file" id="qc-import" accept=".json,application/json";
                    }
                }
                p id="qc-status" role="status" {}
                p class="qc-help" {
                    "\u{2190} \u{2192} \u{2191} \u{2193} move \u{00b7} p f u verdict \u{00b7} x clear \u{00b7} \
                    c comment \u{00b7} g correction \u{00b7} v filter \u{00b7} e export \u{00b7} \
                    Esc leaves a field \u{00b7} h hide. Decisions stay in this browser until exported; \
                    apply them with " code { "foramen qc apply" } "."
                }
            }
            "\n"
        }
        "\n"
    }
}

/// Every foramen of every series, left and right per level, coloured by grade.
fn summary(report: &Report) -> Markup {
    html! {
        h2 { "Summary" } "\n"
        @if report.series.is_empty() {
            p { "No DICOM series found in the input." } "\n"
        } @else {
            table class="summary" id="summary" {
                "\n" thead {
                    tr { th { "Study / series" } th { "Level" } th { "Left" } th { "Right" } }
                }
                "\n" tbody {
                    "\n"
                    @for (k, s) in report.series.iter().enumerate() {
                        (summary_rows(k, s))
                    }
                }
            }
            "\n"
        }
    }
}

/// The rows of one series: one per level, or one saying why there are none.
fn summary_rows(k: usize, s: &SeriesEntry) -> Markup {
    let label = html! {
        a href={ "#series-" (k) } { (Text(&series_label(s))) }
        br;
        small {
            (Text(&s.modality)) " " (Text(s.weighting.as_deref().unwrap_or("")))
            " \u{00b7} study " (Text(&short(&s.study_instance_uid, 28)))
        }
    };
    let levels: Vec<LevelRow> = level_rows(&s.levels);
    if levels.is_empty() {
        let what = match s.status {
            Status::Measured => "measured, no levels",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        };
        let reason = s.reason.as_deref().unwrap_or("");
        return html! {
            tr {
                td { (label) }
                td { "\u{2014}" }
                td colspan="2" class="cell unmeasured" title=(Text(reason)) {
                    span { (what) }
                    span class="why" { (Text(&short(reason, 90))) }
                }
            }
            "\n"
        };
    }
    // The series' level labelling is a review item too (its cell is the label).
    let labelling_conf = s.discs.iter().map(|d| d.confidence).fold(1.0_f64, f64::min);
    html! {
        @for (i, (level, left, right)) in levels.iter().enumerate() {
            tr {
                @if i == 0 {
                    td rowspan=(levels.len())
                        class={ "qc-item qc-labelling" @if !s.labeling_warnings.is_empty() { " flagged" } }
                        data-k=(k) data-series=(Text(&s.series_instance_uid))
                        data-stem=(Text(&crate::report::file_stem(&s.series_instance_uid)))
                        data-conf=(num(Some(labelling_conf), 2))
                        data-qc=[applied(s.labelling_review.as_ref())]
                    { (label) }
                }
                th { (Text(level)) }
                (summary_cell(k, *left))
                (summary_cell(k, *right))
            }
            "\n"
        }
    }
}

/// One foramen: area, grade and confidence, or why it was not measured.
fn summary_cell(k: usize, e: Option<&LevelEntry>) -> Markup {
    let Some(e) = e else {
        return html! {
            td class="cell unmeasured" title="not in the report" { span { "not analysed" } }
        };
    };
    if e.min_area_mm2.is_none() {
        let reason = e.reason.as_deref().unwrap_or("not measured");
        return html! {
            td class="cell unmeasured qc-item" title=(Text(reason))
                data-k=(k) data-level=(Text(&e.level)) data-side=(Text(&e.side)) data-conf="0.00"
                data-qc=[applied(e.review.as_ref())]
            {
                span { "not measured" }
                span class="why" { (Text(&short(reason, 48))) }
            }
        };
    }
    let mut title = format!("rule: {}", json_name(&e.rule));
    if !e.confidence_notes.is_empty() {
        title.push_str("; confidence lowered by: ");
        title.push_str(&e.confidence_notes.join("; "));
    }
    html! {
        td class={ "cell " (grade_class(&e.grade)) (flagged_class(e.flagged)) " qc-item" }
            title=(Text(&title))
            data-k=(k) data-level=(Text(&e.level)) data-side=(Text(&e.side))
            data-conf=(num(Some(e.confidence), 2)) data-qc=[applied(e.review.as_ref())]
        {
            span class="area" { (num(e.min_area_mm2, 1)) " mm\u{00b2}" }
            span class="grade" { (Text(&e.grade)) }
            span class=(confidence_class(e.confidence)) {
                "confidence " (num(Some(e.confidence), 2))
            }
            @if e.flagged {
                span class="flag" { "\u{2691} flagged" }
            }
        }
    }
}

/// Grades, confidence bands, the rules with the thresholds in force, overlay colours.
fn legend(report: &Report) -> Markup {
    let t = &report.thresholds;
    let absolute = match t.severe_area_mm2 {
        Some(a) => format!(
            "area \u{2264} {} mm\u{00b2} \u{2192} severe",
            num(Some(a), 1)
        ),
        None => "off (no accepted absolute cut-off)".into(),
    };
    html! {
        h2 { "How to read this report" }
        "\n" div class="legend" {
            "\n" div {
                h3 { "Grades" }
                ul {
                    li { span class="swatch g-normal" {} "normal: no rule found narrowing" }
                    li { span class="swatch g-mild" {} "mild" }
                    li { span class="swatch g-moderate" {} "moderate" }
                    li { span class="swatch g-severe" {} "severe" }
                    li {
                        span class="swatch g-indeterminate" {}
                        "grey: not measured (the reason is shown; hover for the full text)"
                    }
                    li {
                        span class="swatch g-moderate flagged" {}
                        b { "flagged" } " (red frame): grade at least "
                        b { (Text(&json_name(&t.flag_min_grade))) }
                    }
                }
                "\n" h3 { "Confidence (0\u{2013}1)" }
                p {
                    "Level-label confidence \u{00d7} image-quality factors. "
                    span class="c-high" { "\u{2265} " (CONFIDENCE_HIGH) " high" } ", "
                    span class="c-mid" {
                        (CONFIDENCE_MODERATE) "\u{2013}" (CONFIDENCE_HIGH) " moderate"
                    } ", "
                    span class="c-low" { "< " (CONFIDENCE_MODERATE) " low" }
                    ". The notes say what lowered it (thick slices, T2 instead of T1, low \
                    contrast, one plane only, uncertain level label, no bone below the foramen)."
                }
            }
            "\n" div {
                h3 { "Rules (the highest grade proposed wins)" }
                ul {
                    li {
                        code { "lee_fat_obliteration" } ": perineural fat around the root (MR T1) \
                        \u{2014} root collapsed/deformed \u{2192} severe, obliterated in all four \
                        directions \u{2192} moderate, in two opposing directions \u{2192} mild"
                    }
                    li {
                        code { "hasegawa" } ": foraminal height \u{2264} "
                        (num(Some(t.hasegawa_height_mm), 1))
                        " mm and posterior disc height \u{2264} "
                        (num(Some(t.hasegawa_posterior_disc_height_mm), 1))
                        " mm \u{2192} moderate; either one \u{2192} mild"
                    }
                    li {
                        code { "relative_narrowing" } ": 1 \u{2212} area / mean(neighbouring \
                        levels, same side) \u{2265} " (num(Some(t.relative_mild), 2))
                        " mild, \u{2265} " (num(Some(t.relative_moderate), 2))
                        " moderate, \u{2265} " (num(Some(t.relative_severe), 2)) " severe"
                    }
                    li { code { "absolute_area" } ": " (Text(&absolute)) }
                    li {
                        code { "none_fired" } ": measured, no rule found narrowing; "
                        code { "no_measurement" } ": not measured"
                    }
                }
                "\n" h3 { "Overlay images" }
                p {
                    "Minimum-area plane of each foramen: "
                    span style="color:#d00" { "red" } " foramen outline, "
                    span style="color:#1a9a3a" { "green" } " nerve root, "
                    span style="color:#a88a00" { "yellow" } " measured height (H), "
                    span style="color:#0088bb" { "cyan" } " measured width (W)."
                }
            }
            "\n"
        }
        "\n"
    }
}

/// Which series of each study was used, and why.
fn studies(report: &Report) -> Markup {
    html! {
        @if !report.studies.is_empty() {
            h2 { "Series selection" } "\n"
            @for st in &report.studies {
                h3 { "Study " code { (Text(&st.study_instance_uid)) } }
                p { (Text(&st.summary)) }
                "\n"
                @if !st.choices.is_empty() {
                    table {
                        thead { tr { th { "Series" } th { "Used" } th { "Why" } } }
                        tbody {
                            "\n"
                            @for c in &st.choices {
                                tr {
                                    td {
                                        "#" (c.series_number.map_or("?".into(), |n| n.to_string()))
                                        " " (Text(&c.series_description))
                                    }
                                    td { (if c.selected { "yes" } else { "no" }) }
                                    td { (Text(&c.reason)) }
                                }
                                "\n"
                            }
                        }
                    }
                    "\n"
                }
            }
        }
    }
}

/// One series: its facts, problems, warnings, QC images and every number.
fn series_section(k: usize, s: &SeriesEntry, dir: &Path, mode: Images) -> Markup {
    let status = json_name(&s.status);
    let weighting = s.weighting.as_deref().unwrap_or(if s.modality == "CT" {
        "not applicable (CT)"
    } else {
        "unknown"
    });
    let ids = [
        ("Patient key", &s.ids.patient_key),
        ("Accession key", &s.ids.accession_key),
        ("Patient ID", &s.ids.patient_id),
        ("Accession number", &s.ids.accession_number),
    ];
    let images: Vec<(String, &String)> = s.qc_images.iter().map(|p| (image_key(s, p), p)).collect();
    let (main, overlays): (Vec<_>, Vec<_>) = images
        .iter()
        .partition(|(key, _)| key == "midsagittal" || key == "foramina");
    html! {
        section id={ "series-" (k) } class="series" data-series-uid=(Text(&s.series_instance_uid)) {
            "\n" h2 {
                "Series " (Text(&series_label(s))) " "
                span class={ "status s-" (Text(&status)) } { (Text(&status)) }
            }
            "\n" dl class="facts" {
                dt { "Modality" } dd { (Text(&s.modality)) }
                dt { "Weighting" } dd { (Text(weighting)) }
                dt { "Description" } dd { (Text(&s.series_description)) }
                dt { "Instances" } dd { (s.num_instances) }
                dt { "Series UID" } dd { code { (Text(&s.series_instance_uid)) } }
                dt { "Study UID" } dd { code { (Text(&s.study_instance_uid)) } }
                dt { "Lumbar vertebrae" }
                dd { (s.lumbar_count.map_or("not determined".into(), |n| n.to_string())) }
                dt { "Midline x" } dd { (num(s.midline_x_mm, 1)) " mm" }
            }
            "\n"
            @if ids.iter().any(|(_, v)| v.is_some()) {
                dl class="facts" {
                    @for (name, v) in ids {
                        @if let Some(v) = v {
                            dt { (name) } dd { code { (Text(v)) } }
                        }
                    }
                }
                "\n"
            }
            @if s.status != Status::Measured || s.reason.is_some() {
                p class="problem" {
                    b { (Text(&status)) } ": "
                    (Text(s.reason.as_deref().unwrap_or("no reason given")))
                }
                "\n"
            }
            (warnings(s))
            @if !main.is_empty() {
                div {
                    "\n"
                    @for (key, rel) in &main {
                        (figure(dir, rel, &format!("img-{k}-{key}"), key, main_caption(key), mode))
                    }
                }
                "\n"
            }
            @if !overlays.is_empty() {
                h3 { "Foramen overlays" }
                "\n" div class="overlays" {
                    "\n"
                    @for (key, rel) in &overlays {
                        (figure(dir, rel, &format!("img-{k}-{key}"), key, &key.replace('_', " "), mode))
                    }
                }
                "\n"
            }
            @if !s.discs.is_empty() {
                h3 { "Discs" }
                table {
                    thead {
                        tr {
                            th { "Level" } th { "Label confidence" } th { "Tilt (\u{00b0})" }
                            th { "Height (mm)" }
                        }
                    }
                    tbody {
                        "\n"
                        @for d in &s.discs {
                            tr {
                                td { (Text(&d.level)) }
                                td class=(confidence_class(d.confidence)) {
                                    (num(Some(d.confidence), 2))
                                }
                                td { (num(Some(d.tilt_deg), 1)) }
                                td { (num(d.height_mm, 1)) }
                            }
                            "\n"
                        }
                    }
                }
                "\n"
            }
            @if !s.levels.is_empty() {
                (level_table(&s.levels))
            }
            @if let Some(m) = &s.mask_file {
                p { "Mask file: " code { (Text(m)) } }
                "\n"
            }
        }
        "\n"
    }
}

/// In place of the per-series sections of a cohort's page.
fn cohort_note() -> Markup {
    html! {
        h2 { "Series details" } "\n"
        p {
            "This run has more than " (INLINE_MAX_SERIES) " series, so the page shows the \
            summary and the review only; the QC images are read from the " code { "qc/" }
            " folder next to this page (keep them together) and shown in the review panel. \
            Every number of every series is in " code { "report.json" } " and "
            code { "measurements.csv" } "."
        }
        "\n"
    }
}

/// The caption of a series-wide QC image (`midsagittal` or `foramina`).
fn main_caption(key: &str) -> &'static str {
    match key {
        "midsagittal" => "Midsagittal plane: discs found and named (colour = confidence)",
        _ => "All foramina on their minimum-area planes (top row right, bottom left)",
    }
}

/// Labelling warnings and the confidence notes of the levels, with where they apply.
fn warnings(s: &SeriesEntry) -> Markup {
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
    html! {
        @if !s.labeling_warnings.is_empty() || !notes.is_empty() {
            div class="warnings" {
                b { "Warnings" }
                ul {
                    "\n"
                    @for w in &s.labeling_warnings {
                        li { (Text(w)) } "\n"
                    }
                    @for (n, at) in &notes {
                        li { (Text(n)) " " small { "(" (Text(&at.join(", "))) ")" } } "\n"
                    }
                }
            }
            "\n"
        }
    }
}

/// A QC image, embedded or referenced (`mode`); a missing one is said in words, not
/// shown as a broken image. `id` lets the review panel show it enlarged.
fn figure(dir: &Path, rel: &str, id: &str, key: &str, caption: &str, mode: Images) -> Markup {
    let src = match mode {
        Images::Inline => png_data_uri(dir, rel),
        Images::Files => png_file(dir, rel).map(|r| r.to_string()),
    };
    html! {
        figure {
            @if let Some(src) = src {
                @if mode == Images::Inline {
                    img id=(Text(id)) src=(src) alt=(Text(key));
                } @else {
                    img id=(Text(id)) src=(Text(&src)) alt=(Text(key)) loading="lazy" decoding="async";
                }
            } @else {
                p class="problem" { "image not available: " code { (Text(rel)) } }
            }
            figcaption { (Text(caption)) }
        }
        "\n"
    }
}

/// Every foramen of a series with all its numbers, the deciding rule and the notes.
fn level_table(levels: &[LevelEntry]) -> Markup {
    html! {
        h3 { "Measurements" }
        table class="levels" {
            thead {
                tr {
                    th { "Level" } th { "Side" } th { "Min area (mm\u{00b2})" } th { "Height (mm)" }
                    th { "Width (mm)" } th { "Post. disc height (mm)" } th { "Fat fraction" }
                    th { "Fat obliterated" } th { "Root area (mm\u{00b2})" }
                    th { "Neighbour ratio" } th { "Grade" } th { "Rule" } th { "Confidence" }
                    th { "Notes / reason" } th { "Min-area plane (mm)" }
                }
            }
            tbody {
                "\n"
                @for e in levels {
                    (level_row(e))
                }
            }
        }
        "\n"
    }
}

fn level_row(e: &LevelEntry) -> Markup {
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
    html! {
        tr class={ (grade_class(&e.grade)) (flagged_class(e.flagged)) } {
            td { (Text(&e.level)) }
            td { (Text(&e.side)) }
            td title=(Text(&format!("area per plane: {}", profile.join("; ")))) {
                (num(e.min_area_mm2, 1))
            }
            td { (num(e.height_mm, 1)) }
            td { (num(e.width_mm, 1)) }
            td { (num(e.posterior_disc_height_mm, 1)) }
            td { (num(e.fat_fraction, 2)) }
            td { (Text(&fat)) }
            td { (num(e.root_area_mm2, 1)) }
            td { (num(e.neighbour_ratio, 2)) }
            td { (Text(&e.grade)) @if e.flagged { " (flagged)" } }
            td { code { (Text(&json_name(&e.rule))) } }
            // No confidence to speak of without a measurement.
            td class=(confidence_class(e.confidence)) {
                (num(e.min_area_mm2.map(|_| e.confidence), 2))
            }
            td class="notes" { (Text(&notes.join("; "))) }
            td { (num(e.min_area_slice_position_mm, 2)) }
        }
        "\n"
    }
}

/// Files under the input that were not read as DICOM, and why.
fn skipped(report: &Report) -> Markup {
    html! {
        h2 { "Skipped files" } "\n"
        @if report.skipped_files.is_empty() {
            p { "None." } "\n"
        } @else {
            table {
                thead { tr { th { "File" } th { "Reason" } } }
                tbody {
                    "\n"
                    @for f in &report.skipped_files {
                        tr { td { code { (Text(&f.path)) } } td { (Text(&f.reason)) } }
                        "\n"
                    }
                }
            }
            "\n"
        }
    }
}
