//! Unit tests of the page: escaping, embedding, marking, and the page's parts.

use maud::html;

use super::format::{Text, confidence_class};
use super::page::{SCRIPT, STYLE};
use super::{render, write_html};
use crate::grading::{CONFIDENCE_HIGH, CONFIDENCE_MODERATE, Rule, Thresholds};
use crate::report::{DiscEntry, LevelEntry, Report, SeriesEntry, SkippedEntry, Status, Tool};
use crate::selection::{Choice, StudySelection};

fn level(level: &str, side: &'static str, area: Option<f64>, grade: &'static str) -> LevelEntry {
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
        review: None,
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
        source_file: None,
        input_notes: Vec::new(),
        labelling_review: None,
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
        qc: None,
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
        summary
            .matches("class=\"cell g-moderate flagged qc-item\"")
            .count(),
        1
    );
    assert_eq!(
        summary.matches("class=\"cell g-normal qc-item\"").count(),
        2
    );
    assert!(summary.contains(
        "class=\"cell unmeasured qc-item\" title=\"no closed foramen found on the planes beside this disc\""
    ));
    assert!(summary.contains("42.0 mm\u{00b2}"));
    assert!(summary.contains("rule: hasegawa; confidence lowered by: T2 instead of T1"));
    // Confidence notes are shown as warnings, with the foramina they concern.
    assert!(html.contains("<li>T2 instead of T1 <small>(L4-L5 left)</small></li>"));
}

#[test]
fn text_escapes_markup_quotes_and_control_characters() {
    let cases = [
        ("a&\"b\u{7}'", "a&amp;&quot;b\u{FFFD}&#39;"),
        ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),
        ("line\nnext\ttab", "line\nnext\ttab"),
        ("it''s", "it&#39;&#39;s"),
        ("", ""),
    ];
    for (raw, want) in cases {
        assert_eq!(html! { (Text(raw)) }.into_string(), want, "{raw:?}");
        assert_eq!(
            html! { i title=(Text(raw)) {} }.into_string(),
            format!("<i title=\"{want}\"></i>"),
            "{raw:?}"
        );
    }
}

/// Hostile text tagged with the field it is put in.
fn hostile(field: &str) -> String {
    format!("<i>{field}</i>'\"&\u{7}")
}

/// How [`hostile`] text must appear on the page.
fn hostile_escaped(field: &str) -> String {
    format!("&lt;i&gt;{field}&lt;/i&gt;&#39;&quot;&amp;\u{FFFD}")
}

#[test]
fn hostile_text_is_escaped_in_every_place_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = report("x", Vec::new());
    r.disclaimer = hostile("disclaimer").into();
    r.tool.name = hostile("tool-name").into();
    r.tool.version = hostile("tool-version").into();
    r.schema = hostile("schema").into();
    r.provenance.git_commit = Some(hostile("commit").into());
    r.provenance.started_utc = hostile("started");
    r.studies = vec![StudySelection {
        study_instance_uid: hostile("selection-study"),
        selected_series: None,
        summary: hostile("selection-summary"),
        choices: vec![Choice {
            series_instance_uid: "1.2".into(),
            series_number: Some(3),
            series_description: hostile("choice-description"),
            selected: false,
            reason: hostile("choice-reason"),
        }],
    }];
    r.skipped_files = vec![SkippedEntry {
        path: hostile("skipped-path"),
        reason: hostile("skipped-reason"),
    }];
    let s = &mut r.series[0];
    s.study_instance_uid = hostile("study-uid");
    s.series_instance_uid = hostile("series-uid");
    s.series_description = hostile("description");
    s.modality = hostile("modality");
    s.weighting = Some(hostile("weighting"));
    s.reason = Some(hostile("series-reason"));
    s.labeling_warnings = vec![hostile("warning")];
    s.ids.patient_key = Some(hostile("patient-key"));
    s.ids.accession_key = Some(hostile("accession-key"));
    s.ids.patient_id = Some(hostile("patient-id"));
    s.ids.accession_number = Some(hostile("accession-number"));
    s.qc_images = vec![hostile("qc-path")];
    s.mask_file = Some(hostile("mask"));
    s.discs = vec![DiscEntry {
        level: hostile("disc-level"),
        center_mm: Default::default(),
        confidence: 0.9,
        tilt_deg: 10.0,
        height_mm: Some(9.0),
    }];
    s.levels[0].level = hostile("level");
    s.levels[0].side = hostile("side").into();
    s.levels[0].grade = hostile("grade").into();
    s.levels[0].confidence_notes = vec![hostile("note")];
    s.levels[1].reason = Some(hostile("level-reason"));
    // A series without levels shows its reason in the summary instead.
    let mut bare = s.clone();
    bare.levels.clear();
    bare.status = Status::Failed;
    bare.reason = Some(hostile("bare-reason"));
    r.series.push(bare);

    let html = render(&r, dir.path());
    for field in [
        "disclaimer",
        "tool-name",
        "tool-version",
        "schema",
        "commit",
        "started",
        "selection-study",
        "selection-summary",
        "choice-description",
        "choice-reason",
        "skipped-path",
        "skipped-reason",
        "study-uid",
        "series-uid",
        "description",
        "modality",
        "weighting",
        "series-reason",
        "warning",
        "patient-key",
        "accession-key",
        "patient-id",
        "accession-number",
        "qc-path",
        "mask",
        "disc-level",
        "level",
        "side",
        "grade",
        "note",
        "level-reason",
        "bare-reason",
    ] {
        assert!(
            html.contains(&hostile_escaped(field)),
            "{field} is not on the page escaped"
        );
    }
    assert!(!html.contains("<i>"), "raw hostile markup on the page");
    assert!(!html.contains('\u{7}'), "control character on the page");
    let body = &html[html.find("<body").unwrap()..];
    assert!(!body.contains("'\""), "raw quotes in the body");
    assert_eq!(html.matches("<script").count(), 1);
}

#[test]
fn hostile_image_names_are_escaped_in_alt_and_caption() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("qc")).unwrap();
    let name = "qc/1.2.3.4_<b>\"alt'&.png";
    image::RgbImage::from_pixel(2, 2, image::Rgb([9, 9, 9]))
        .save_with_format(dir.path().join(name), image::ImageFormat::Png)
        .unwrap();
    let html = render(&report("d", vec![name.into()]), dir.path());
    assert_eq!(html.matches("<img ").count(), 1);
    assert!(html.contains("alt=\"&lt;b&gt;&quot;alt&#39;&amp;\""));
    assert!(html.contains("<figcaption>&lt;b&gt;&quot;alt&#39;&amp;</figcaption>"));
    assert!(!html.contains("<b>\""));
}

#[test]
fn stylesheet_and_script_are_inline_in_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let r = report("d", Vec::new());
    let html = render(&r, dir.path());
    assert!(STYLE.contains(".disclaimer{") && SCRIPT.contains("data-images-ok"));
    let head = &html[..html.find("</head>").unwrap()];
    assert!(head.contains(&format!("<style>\n{}\n</style>", STYLE.trim_end())));
    assert!(head.contains(&format!("<script>{}</script>", SCRIPT.trim_end())));
    // Included raw, so they must not be able to end their own element.
    assert!(!STYLE.to_lowercase().contains("</style"));
    assert!(!SCRIPT.to_lowercase().contains("</script"));
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
    );
    let body = format!(
        "</head>\n<body data-errors=\"\" data-run-id=\"{}\" data-images=\"inline\" \
         data-low-confidence=\"0.4\">\n<div class=\"disclaimer\"",
        r.provenance.run_id
    );
    assert!(html.contains(&body));
    assert!(html.ends_with("</body>\n</html>\n"));
    for tag in ["<html", "<head>", "<body", "</body>", "</html>"] {
        assert_eq!(html.matches(tag).count(), 1, "{tag}");
    }
}

#[test]
fn confidence_bands_colour_and_legend() {
    // The bands the legend promises: >= 0.7 high, 0.4-0.7 moderate, < 0.4 low.
    assert_eq!((CONFIDENCE_HIGH, CONFIDENCE_MODERATE), (0.7, 0.4));
    assert_eq!(confidence_class(1.0), "c-high");
    assert_eq!(confidence_class(0.7), "c-high");
    assert_eq!(confidence_class(0.6999), "c-mid");
    assert_eq!(confidence_class(0.4), "c-mid");
    assert_eq!(confidence_class(0.3999), "c-low");
    assert_eq!(confidence_class(0.0), "c-low");
    let dir = tempfile::tempdir().unwrap();
    let html = render(&report("d", Vec::new()), dir.path());
    assert!(html.contains(
        "<span class=\"c-high\">\u{2265} 0.7 high</span>, \
         <span class=\"c-mid\">0.4\u{2013}0.7 moderate</span>, \
         <span class=\"c-low\">&lt; 0.4 low</span>"
    ));
}

#[test]
fn an_empty_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = report("d", Vec::new());
    r.series.clear();
    r.skipped_files.clear();
    let html = render(&r, dir.path());
    assert!(html.contains("<h2>Summary</h2>\n<p>No DICOM series found in the input.</p>\n"));
    assert!(html.contains("<h2>Skipped files</h2>\n<p>None.</p>\n</body>"));
    assert!(!html.contains("<section"));
}
