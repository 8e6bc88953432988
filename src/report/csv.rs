//! `measurements.csv`: one row per study × level × side, for cohort analysis in pandas,
//! R or DuckDB. Column order is stable (docs/report.md); empty cells are missing values.

use std::path::Path;

use serde::Serialize;

use super::{LevelEntry, Report, SeriesEntry};
use crate::selection::StudySelection;
use crate::spine::levels::LUMBAR_LEVELS;

/// One row. Field order is the column order.
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    pub study_instance_uid: &'a str,
    pub patient_key: Option<&'a str>,
    pub accession_key: Option<&'a str>,
    pub patient_id: Option<&'a str>,
    pub accession_number: Option<&'a str>,
    pub series_instance_uid: Option<&'a str>,
    pub series_number: Option<i64>,
    pub modality: Option<&'a str>,
    pub weighting: Option<&'a str>,
    /// `measured`, `failed` or `skipped` (no usable series in the study).
    pub series_status: &'a str,
    pub level: &'a str,
    pub side: &'a str,
    pub min_area_mm2: Option<f64>,
    pub height_mm: Option<f64>,
    pub width_mm: Option<f64>,
    pub posterior_disc_height_mm: Option<f64>,
    pub fat_fraction: Option<f64>,
    pub root_area_mm2: Option<f64>,
    pub neighbour_ratio: Option<f64>,
    pub grade: &'a str,
    pub flagged: bool,
    pub rule: String,
    pub confidence: f64,
    pub min_area_slice_position_mm: Option<f64>,
    pub labeling_warnings: usize,
    pub confidence_notes: String,
    pub reason: Option<&'a str>,
    pub tool_version: &'a str,
    /// QC reviews (columns written only when the report has QC decisions, [`qc_header`]).
    #[serde(skip)]
    pub review: Option<&'a super::review::ItemReview>,
    #[serde(skip)]
    pub labelling_review: Option<&'a super::review::ItemReview>,
}

/// Column names in order.
pub fn header() -> Vec<&'static str> {
    vec![
        "study_instance_uid",
        "patient_key",
        "accession_key",
        "patient_id",
        "accession_number",
        "series_instance_uid",
        "series_number",
        "modality",
        "weighting",
        "series_status",
        "level",
        "side",
        "min_area_mm2",
        "height_mm",
        "width_mm",
        "posterior_disc_height_mm",
        "fat_fraction",
        "root_area_mm2",
        "neighbour_ratio",
        "grade",
        "flagged",
        "rule",
        "confidence",
        "min_area_slice_position_mm",
        "labeling_warnings",
        "confidence_notes",
        "reason",
        "tool_version",
    ]
}

/// The columns added after [`header`] once `foramen qc apply` has written decisions
/// into the report (plain runs' CSV keeps its columns).
pub fn qc_header() -> [&'static str; 3] {
    ["qc_verdict", "qc_reviewer", "qc_comment"]
}

/// The rule's name as report.json spells it.
fn rule_name(rule: crate::grading::Rule) -> String {
    serde_json::to_value(rule)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn measured_row<'a>(s: &'a SeriesEntry, l: &'a LevelEntry, version: &'a str) -> Row<'a> {
    Row {
        study_instance_uid: &s.study_instance_uid,
        patient_key: s.ids.patient_key.as_deref(),
        accession_key: s.ids.accession_key.as_deref(),
        patient_id: s.ids.patient_id.as_deref(),
        accession_number: s.ids.accession_number.as_deref(),
        series_instance_uid: Some(&s.series_instance_uid),
        series_number: s.series_number,
        modality: Some(&s.modality),
        weighting: s.weighting.as_deref(),
        series_status: match s.status {
            super::Status::Measured => "measured",
            super::Status::Failed => "failed",
            super::Status::Skipped => "skipped",
        },
        level: &l.level,
        side: &l.side,
        min_area_mm2: l.min_area_mm2,
        height_mm: l.height_mm,
        width_mm: l.width_mm,
        posterior_disc_height_mm: l.posterior_disc_height_mm,
        fat_fraction: l.fat_fraction,
        root_area_mm2: l.root_area_mm2,
        neighbour_ratio: l.neighbour_ratio,
        grade: &l.grade,
        flagged: l.flagged,
        rule: rule_name(l.rule),
        confidence: l.confidence,
        min_area_slice_position_mm: l.min_area_slice_position_mm,
        labeling_warnings: s.labeling_warnings.len(),
        confidence_notes: l.confidence_notes.join("; "),
        reason: l.reason.as_deref().or(s.reason.as_deref()),
        tool_version: version,
        review: l.review.as_ref(),
        labelling_review: s.labelling_review.as_ref(),
    }
}

/// The rows of a report: the selected series of every study, or placeholder rows with
/// the reason when a study had no usable series.
pub fn rows(report: &Report) -> Vec<Row<'_>> {
    let mut by_study: std::collections::HashMap<&str, Vec<&SeriesEntry>> =
        std::collections::HashMap::new();
    for s in &report.series {
        by_study
            .entry(s.study_instance_uid.as_str())
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for study in &report.studies {
        let series = by_study
            .get(study.study_instance_uid.as_str())
            .map_or(&[][..], Vec::as_slice);
        out.extend(study_rows(study, series, &report.tool.version));
    }
    out
}

/// The rows of one study, from the entries of its series.
pub fn study_rows<'a>(
    study: &'a StudySelection,
    series: &[&'a SeriesEntry],
    version: &'a str,
) -> Vec<Row<'a>> {
    let mut out = Vec::new();
    let chosen = study.selected_series.as_ref().and_then(|uid| {
        series.iter().copied().find(|s| {
            &s.series_instance_uid == uid && s.study_instance_uid == study.study_instance_uid
        })
    });
    match chosen {
        Some(s) => out.extend(s.levels.iter().map(|l| measured_row(s, l, version))),
        None => {
            let any = series.first().copied();
            for level in LUMBAR_LEVELS {
                for side in ["left", "right"] {
                    out.push(Row {
                        study_instance_uid: &study.study_instance_uid,
                        patient_key: any.and_then(|s| s.ids.patient_key.as_deref()),
                        accession_key: any.and_then(|s| s.ids.accession_key.as_deref()),
                        patient_id: any.and_then(|s| s.ids.patient_id.as_deref()),
                        accession_number: any.and_then(|s| s.ids.accession_number.as_deref()),
                        series_instance_uid: None,
                        series_number: None,
                        modality: None,
                        weighting: None,
                        series_status: "skipped",
                        level,
                        side,
                        min_area_mm2: None,
                        height_mm: None,
                        width_mm: None,
                        posterior_disc_height_mm: None,
                        fat_fraction: None,
                        root_area_mm2: None,
                        neighbour_ratio: None,
                        grade: "indeterminate",
                        flagged: false,
                        rule: rule_name(crate::grading::Rule::NoMeasurement),
                        confidence: 0.0,
                        min_area_slice_position_mm: None,
                        labeling_warnings: 0,
                        confidence_notes: String::new(),
                        reason: Some(&study.summary),
                        tool_version: version,
                        review: None,
                        labelling_review: None,
                    });
                }
            }
        }
    }
    out
}

/// Writes `measurements.csv` into `dir` atomically.
pub fn write_csv(report: &Report, dir: &Path) -> std::io::Result<()> {
    crate::atomic_file::write_atomic(&dir.join("measurements.csv"), |w| {
        let mut csv = ::csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut *w);
        let with_qc = report.qc.is_some();
        let mut names = header();
        if with_qc {
            names.extend(qc_header());
        }
        csv.write_record(names)?;
        for row in rows(report) {
            if with_qc {
                let (v, who, what) = super::review::csv_cells(row.review, row.labelling_review);
                csv.serialize((&row, v, who, what))?;
            } else {
                csv.serialize(row)?;
            }
        }
        csv.flush()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_header_matches_the_row_fields() {
        let row = Row {
            study_instance_uid: "1.2",
            patient_key: None,
            accession_key: None,
            patient_id: None,
            accession_number: None,
            series_instance_uid: Some("1.2.3"),
            series_number: Some(3),
            modality: Some("MR"),
            weighting: Some("T1"),
            series_status: "measured",
            level: "L4-L5",
            side: "left",
            min_area_mm2: Some(101.5),
            height_mm: None,
            width_mm: None,
            posterior_disc_height_mm: None,
            fat_fraction: None,
            root_area_mm2: None,
            neighbour_ratio: None,
            grade: "normal",
            flagged: false,
            rule: rule_name(crate::grading::Rule::NoneFired),
            confidence: 0.9,
            min_area_slice_position_mm: None,
            labeling_warnings: 0,
            confidence_notes: "a; b".into(),
            reason: None,
            tool_version: "0",
            review: None,
            labelling_review: None,
        };
        let mut w = ::csv::Writer::from_writer(Vec::new());
        w.serialize(&row).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), header().join(","));
        let values: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(values[12], "101.5");
        assert_eq!(values[13], "", "missing values are empty cells");
        assert_eq!(values[20], "false");
        assert_eq!(values[21], "none_fired");
        // With QC the three columns follow the row's own.
        let mut w = ::csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        w.serialize((&row, Some("fail"), "ann; bo", "ann: a, b"))
            .unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let whole = format!("{},{}\n{text}", header().join(","), qc_header().join(","));
        let mut r = ::csv::Reader::from_reader(whole.as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(rec.len(), header().len() + 3);
        assert_eq!(&rec[header().len()], "fail");
        assert_eq!(&rec[header().len() + 2], "ann: a, b");
    }
}
