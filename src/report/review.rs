//! Quality-control review: the decision files a reviewer exports from `report.html`
//! (`foramen.qc/1`, public format, docs/qc.md and docs/qc.schema.json) and how
//! `foramen qc apply` carries them into `report.json` and `measurements.csv`.
//!
//! Every file is read and checked against the report before anything is written, so a
//! bad file (malformed, another run's, naming an item the report does not have) changes
//! nothing. Applying replaces whatever decisions were applied before: the files given
//! are the whole review.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Report, Text};

/// The `format` of a decision file.
pub const FORMAT: &str = "foramen.qc/1";

/// A reviewer's verdict on one item. Ordered by severity (the combined verdict of
/// several reviewers is the most severe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Unsure,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Unsure => "unsure",
            Verdict::Fail => "fail",
        }
    }
}

/// One decision file (`qc-decisions.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionFile {
    pub format: String,
    pub run_id: String,
    pub reviewer: String,
    /// RFC 3339.
    pub reviewed_at: String,
    pub items: Vec<Decision>,
}

/// One reviewed item: a foramen (`level` and `side` set) or the series' level
/// labelling (both null).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `series_instance_uid` (for NIfTI/MetaImage inputs the UID derived from the path).
    pub series: String,
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default)]
    pub side: Option<String>,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Foramen items: the grade the reviewer would give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_grade: Option<String>,
    /// Labelling items: the true name of the level the report calls L5-S1 (a shifted
    /// count moves every label by the same amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_level: Option<String>,
}

/// One reviewer's decision on an item, as recorded in report.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub reviewer: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_grade: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_level: Option<String>,
}

/// The reviews of one item (`levels[].review`, `series[].labelling_review`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemReview {
    /// The most severe of the reviewers' verdicts (fail > unsure > pass).
    pub verdict: Verdict,
    pub reviews: Vec<Review>,
}

/// Report-level record of what was applied (`qc` in report.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QcSummary {
    pub format: Text,
    /// When `foramen qc apply` ran, UTC, RFC 3339.
    pub applied_utc: String,
    pub files: Vec<FileSummary>,
    /// Cohen's kappa for every pair of reviewers, over the items both reviewed.
    pub agreement: Vec<Agreement>,
    /// Set when `--resume` carried the decisions over from an earlier run's report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_from_run: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSummary {
    pub reviewer: String,
    pub reviewed_at: String,
    pub items: usize,
    pub pass: usize,
    pub fail: usize,
    pub unsure: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub reviewers: [String; 2],
    /// Items both reviewed.
    pub items: usize,
    /// Share of those items with the same verdict.
    pub observed_agreement: Option<f64>,
    /// Null when undefined (no common items, or both used one verdict only).
    pub kappa: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum QcError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid foramen.qc/1 decision file: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error("{} has format {found:?}; expected \"{FORMAT}\"", path.display())]
    Format { path: PathBuf, found: String },
    #[error(
        "{} holds decisions for run {file_run:?}, but the report is run {report_run:?} \
         (decisions apply only to the run they were made on)",
        path.display()
    )]
    OtherRun {
        path: PathBuf,
        file_run: String,
        report_run: String,
    },
    #[error("{} item {index}: {message}", path.display())]
    Item {
        path: PathBuf,
        index: usize,
        message: String,
    },
    #[error("reviewer {reviewer:?} has two decision files: {} and {}", a.display(), b.display())]
    SameReviewer {
        reviewer: String,
        a: PathBuf,
        b: PathBuf,
    },
    #[error("{}: {message}", path.display())]
    Report { path: PathBuf, message: String },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads a decision file (shape only; [`check`] compares it with a report).
pub fn read_decisions(path: &Path) -> Result<DecisionFile, QcError> {
    let bytes = std::fs::read(path).map_err(|source| QcError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: DecisionFile = serde_json::from_slice(&bytes).map_err(|e| QcError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if file.format != FORMAT {
        return Err(QcError::Format {
            path: path.to_path_buf(),
            found: file.format,
        });
    }
    if file.reviewer.trim().is_empty() {
        return Err(QcError::Malformed {
            path: path.to_path_buf(),
            message: "reviewer is empty".into(),
        });
    }
    if humantime::parse_rfc3339_weak(&file.reviewed_at).is_err() {
        return Err(QcError::Malformed {
            path: path.to_path_buf(),
            message: format!("reviewed_at {:?} is not an RFC 3339 time", file.reviewed_at),
        });
    }
    Ok(file)
}

const GRADES: [&str; 5] = ["normal", "mild", "moderate", "severe", "indeterminate"];

/// The key of an item: series, and level and side for a foramen.
type Key = (String, Option<(String, String)>);

fn key(d: &Decision) -> Key {
    (d.series.clone(), d.level.clone().zip(d.side.clone()))
}

/// Checks a decision file against the report: same run, every item one the report has,
/// no item twice, corrections that make sense.
pub fn check(report: &Report, path: &Path, file: &DecisionFile) -> Result<(), QcError> {
    if file.run_id != report.provenance.run_id {
        return Err(QcError::OtherRun {
            path: path.to_path_buf(),
            file_run: file.run_id.clone(),
            report_run: report.provenance.run_id.clone(),
        });
    }
    let series: HashMap<&str, &super::SeriesEntry> = report
        .series
        .iter()
        .map(|s| (s.series_instance_uid.as_str(), s))
        .collect();
    let mut seen = HashSet::new();
    for (index, d) in file.items.iter().enumerate() {
        let err = |message: String| QcError::Item {
            path: path.to_path_buf(),
            index,
            message,
        };
        let Some(s) = series.get(d.series.as_str()) else {
            return Err(err(format!(
                "unknown series {:?} (not in the report)",
                d.series
            )));
        };
        match (&d.level, &d.side) {
            (None, None) => {
                if d.corrected_grade.is_some() {
                    return Err(err(
                        "corrected_grade is for foramen items (level and side set)".into(),
                    ));
                }
                if let Some(l) = &d.corrected_level
                    && !crate::spine::levels::LUMBAR_LEVELS.contains(&l.as_str())
                    && !is_disc_name(l)
                {
                    return Err(err(format!(
                        "corrected_level {l:?} is not a level name such as L4-L5"
                    )));
                }
            }
            (Some(level), Some(side)) => {
                if !s
                    .levels
                    .iter()
                    .any(|e| &e.level == level && *e.side == **side)
                {
                    return Err(err(format!(
                        "unknown foramen {level} {side} of series {:?}",
                        d.series
                    )));
                }
                if d.corrected_level.is_some() {
                    return Err(err(
                        "corrected_level is for labelling items (level and side null)".into(),
                    ));
                }
                if let Some(g) = &d.corrected_grade
                    && !GRADES.contains(&g.as_str())
                {
                    return Err(err(format!(
                        "corrected_grade {g:?} is not one of {GRADES:?}"
                    )));
                }
            }
            _ => return Err(err("level and side must both be set or both be null".into())),
        }
        if !seen.insert(key(d)) {
            return Err(err("the same item appears twice".into()));
        }
    }
    Ok(())
}

/// `T12-L1`-style names (thoracic discs are in the report when in view).
fn is_disc_name(s: &str) -> bool {
    let ok = |v: &str| {
        let (a, n) = v.split_at(v.len().min(1));
        matches!(a, "T" | "L" | "S") && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())
    };
    s.split_once('-').is_some_and(|(a, b)| ok(a) && ok(b))
}

/// Cohen's kappa of two raters over paired verdicts: `(p_o - p_e) / (1 - p_e)`, with
/// `p_e` from each rater's marginal shares. `(p_o, kappa)`; kappa is `None` when
/// undefined (no pairs, or `p_e = 1`: both raters used one and the same verdict).
pub fn cohen_kappa(pairs: &[(Verdict, Verdict)]) -> (Option<f64>, Option<f64>) {
    if pairs.is_empty() {
        return (None, None);
    }
    let n = pairs.len() as f64;
    let all = [Verdict::Pass, Verdict::Unsure, Verdict::Fail];
    let po = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let pe: f64 = all
        .iter()
        .map(|v| {
            let a = pairs.iter().filter(|p| p.0 == *v).count() as f64 / n;
            let b = pairs.iter().filter(|p| p.1 == *v).count() as f64 / n;
            a * b
        })
        .sum();
    let kappa = if (1.0 - pe).abs() < 1e-12 {
        None
    } else {
        Some((po - pe) / (1.0 - pe))
    };
    (Some(po), kappa)
}

/// Checks every file, then writes their decisions into `report` (replacing earlier
/// ones). On error the report is untouched.
pub fn apply(
    report: &mut Report,
    files: &[(PathBuf, DecisionFile)],
    applied: std::time::SystemTime,
) -> Result<QcSummary, QcError> {
    let mut reviewers: HashMap<&str, &Path> = HashMap::new();
    for (path, file) in files {
        check(report, path, file)?;
        if let Some(a) = reviewers.insert(file.reviewer.as_str(), path) {
            return Err(QcError::SameReviewer {
                reviewer: file.reviewer.clone(),
                a: a.to_path_buf(),
                b: path.clone(),
            });
        }
    }
    // Item → reviews, in file order.
    let mut by_item: HashMap<Key, Vec<Review>> = HashMap::new();
    for (_, file) in files {
        for d in &file.items {
            by_item.entry(key(d)).or_default().push(Review {
                reviewer: file.reviewer.clone(),
                verdict: d.verdict,
                comment: d.comment.clone().filter(|c| !c.trim().is_empty()),
                corrected_grade: d.corrected_grade.clone(),
                corrected_level: d.corrected_level.clone(),
            });
        }
    }
    let combine = |reviews: Vec<Review>| ItemReview {
        verdict: reviews
            .iter()
            .map(|r| r.verdict)
            .max()
            .unwrap_or(Verdict::Pass),
        reviews,
    };
    for s in &mut report.series {
        s.labelling_review = by_item
            .remove(&(s.series_instance_uid.clone(), None))
            .map(combine);
        for e in &mut s.levels {
            let k = (
                s.series_instance_uid.clone(),
                Some((e.level.clone(), e.side.to_string())),
            );
            e.review = by_item.remove(&k).map(combine);
        }
    }
    let summary = QcSummary {
        format: FORMAT.into(),
        applied_utc: humantime::format_rfc3339_seconds(applied).to_string(),
        files: files
            .iter()
            .map(|(_, f)| {
                let count = |v| f.items.iter().filter(|d| d.verdict == v).count();
                FileSummary {
                    reviewer: f.reviewer.clone(),
                    reviewed_at: f.reviewed_at.clone(),
                    items: f.items.len(),
                    pass: count(Verdict::Pass),
                    fail: count(Verdict::Fail),
                    unsure: count(Verdict::Unsure),
                }
            })
            .collect(),
        agreement: agreement(files),
        carried_from_run: None,
    };
    report.qc = Some(summary.clone());
    Ok(summary)
}

/// Kappa for every pair of files, over the items both reviewed.
fn agreement(files: &[(PathBuf, DecisionFile)]) -> Vec<Agreement> {
    let maps: Vec<BTreeMap<Key, Verdict>> = files
        .iter()
        .map(|(_, f)| f.items.iter().map(|d| (key(d), d.verdict)).collect())
        .collect();
    let mut out = Vec::new();
    for i in 0..files.len() {
        for j in i + 1..files.len() {
            let pairs: Vec<(Verdict, Verdict)> = maps[i]
                .iter()
                .filter_map(|(k, a)| maps[j].get(k).map(|b| (*a, *b)))
                .collect();
            let (po, kappa) = cohen_kappa(&pairs);
            out.push(Agreement {
                reviewers: [files[i].1.reviewer.clone(), files[j].1.reviewer.clone()],
                items: pairs.len(),
                observed_agreement: po,
                kappa,
            });
        }
    }
    out
}

/// `foramen qc apply`: reads `dir/report.json` and the decision files, checks them all,
/// then rewrites `measurements.csv` (with the QC columns) and `report.json`, each
/// atomically. Nothing is written when any file is bad.
pub fn apply_to_dir(dir: &Path, decisions: &[PathBuf]) -> Result<(Report, QcSummary), QcError> {
    let report_path = dir.join("report.json");
    let bytes = std::fs::read(&report_path).map_err(|source| QcError::Read {
        path: report_path.clone(),
        source,
    })?;
    let mut report: Report = serde_json::from_slice(&bytes).map_err(|e| QcError::Report {
        path: report_path.clone(),
        message: format!("not a foramen report.json: {e}"),
    })?;
    if report.provenance.run_id.is_empty() {
        return Err(QcError::Report {
            path: report_path,
            message:
                "the report has no provenance.run_id (written by an older foramen; measure again)"
                    .into(),
        });
    }
    let mut files = Vec::with_capacity(decisions.len());
    for p in decisions {
        files.push((p.clone(), read_decisions(p)?));
    }
    let summary = apply(&mut report, &files, std::time::SystemTime::now())?;
    let write_err = |path: PathBuf| move |source| QcError::Write { path, source };
    super::csv::write_csv(&report, dir).map_err(write_err(dir.join("measurements.csv")))?;
    super::write_json(&report, dir).map_err(write_err(report_path))?;
    Ok((report, summary))
}

/// The three CSV cells of a foramen row: verdict (the most severe of the foramen's and
/// its series' labelling verdicts), reviewers, comments (`reviewer: text`, labelling
/// comments marked as such). Empty when nobody reviewed either.
pub fn csv_cells(
    foramen: Option<&ItemReview>,
    labelling: Option<&ItemReview>,
) -> (Option<&'static str>, String, String) {
    let verdict = foramen
        .map(|r| r.verdict)
        .into_iter()
        .chain(labelling.map(|r| r.verdict))
        .max()
        .map(Verdict::as_str);
    let mut reviewers = BTreeSet::new();
    let mut comments = Vec::new();
    for (what, r) in [("", foramen), ("labelling, ", labelling)] {
        for rv in r.iter().flat_map(|r| &r.reviews) {
            reviewers.insert(rv.reviewer.as_str());
            if let Some(c) = &rv.comment {
                comments.push(format!("{what}{}: {c}", rv.reviewer));
            }
        }
    }
    (
        verdict,
        reviewers.into_iter().collect::<Vec<_>>().join("; "),
        comments.join("; "),
    )
}

/// `--resume`: copies the decisions of `old` (the report in the output folder before the
/// run) into `new` for the studies in `unchanged`; returns a warning for each study
/// that had decisions but was measured again.
pub fn carry_over(old: &Report, new: &mut Report, unchanged: &HashSet<&str>) -> Vec<String> {
    let Some(qc) = &old.qc else {
        return Vec::new();
    };
    let reviewed = |s: &super::SeriesEntry| {
        s.labelling_review.is_some() || s.levels.iter().any(|e| e.review.is_some())
    };
    let old_series: HashMap<&str, &super::SeriesEntry> = old
        .series
        .iter()
        .filter(|s| reviewed(s))
        .map(|s| (s.series_instance_uid.as_str(), s))
        .collect();
    let mut dropped = BTreeSet::new();
    let mut kept = 0;
    for s in &mut new.series {
        let Some(o) = old_series.get(s.series_instance_uid.as_str()) else {
            continue;
        };
        if !unchanged.contains(s.study_instance_uid.as_str()) {
            dropped.insert(s.study_instance_uid.clone());
            continue;
        }
        kept += 1;
        s.labelling_review = o.labelling_review.clone();
        for e in &mut s.levels {
            e.review = o
                .levels
                .iter()
                .find(|x| x.level == e.level && x.side == e.side)
                .and_then(|x| x.review.clone());
        }
    }
    // Reviewed series whose study is no longer in the input count as dropped too.
    let present: HashSet<&str> = new
        .series
        .iter()
        .map(|s| s.series_instance_uid.as_str())
        .collect();
    for s in old_series.values() {
        if !present.contains(s.series_instance_uid.as_str()) {
            dropped.insert(s.study_instance_uid.clone());
        }
    }
    if kept > 0 {
        new.qc = Some(QcSummary {
            carried_from_run: Some(old.provenance.run_id.clone()),
            ..qc.clone()
        });
    }
    dropped
        .into_iter()
        .map(|uid| {
            format!("study {uid} changed since its QC review: its decisions were dropped (review it again)")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::{Fail, Pass, Unsure};

    #[test]
    fn kappa_of_a_case_worked_by_hand() {
        // 10 items. A: 6 pass, 3 fail, 1 unsure; B: 4 pass, 5 fail, 1 unsure.
        // 4 pass-pass + 3 fail-fail agree → p_o = 0.7.
        // p_e = 0.6·0.4 + 0.3·0.5 + 0.1·0.1 = 0.24 + 0.15 + 0.01 = 0.40.
        // kappa = (0.7 - 0.4) / (1 - 0.4) = 0.5.
        let mut pairs = vec![(Pass, Pass); 4];
        pairs.extend([(Fail, Fail); 3]);
        pairs.extend([(Pass, Fail), (Pass, Unsure), (Unsure, Fail)]);
        let (po, k) = cohen_kappa(&pairs);
        assert!((po.unwrap() - 0.7).abs() < 1e-12);
        assert!((k.unwrap() - 0.5).abs() < 1e-12, "{k:?}");
    }

    #[test]
    fn kappa_is_undefined_without_variation_or_items() {
        assert_eq!(cohen_kappa(&[]), (None, None));
        assert_eq!(
            cohen_kappa(&[(Pass, Pass), (Pass, Pass)]),
            (Some(1.0), None)
        );
        // Perfect agreement with variation is 1; systematic disagreement is negative.
        assert_eq!(cohen_kappa(&[(Pass, Pass), (Fail, Fail)]).1, Some(1.0));
        assert_eq!(cohen_kappa(&[(Pass, Fail), (Fail, Pass)]).1, Some(-1.0));
    }

    #[test]
    fn the_most_severe_verdict_wins_in_the_csv() {
        let r = |v| ItemReview {
            verdict: v,
            reviews: vec![Review {
                reviewer: "ann".into(),
                verdict: v,
                comment: Some("edge".into()),
                corrected_grade: None,
                corrected_level: None,
            }],
        };
        assert_eq!(csv_cells(None, None), (None, String::new(), String::new()));
        let (v, who, what) = csv_cells(Some(&r(Pass)), Some(&r(Unsure)));
        assert_eq!(v, Some("unsure"));
        assert_eq!(who, "ann");
        assert_eq!(what, "ann: edge; labelling, ann: edge");
        assert_eq!(csv_cells(Some(&r(Fail)), Some(&r(Pass))).0, Some("fail"));
    }

    #[test]
    fn disc_names() {
        assert!(is_disc_name("T12-L1"));
        assert!(is_disc_name("L4-L5"));
        assert!(!is_disc_name("L4"));
        assert!(!is_disc_name("X1-L2"));
        assert!(!is_disc_name("L-L5"));
    }
}
