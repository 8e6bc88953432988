//! `foramen compare`: a report against a phantom's truth.json or an earlier report,
//! foramen by foramen, with tolerances (CI regression on the fixtures; docs/report.md).
//! Works on the JSON as written, so reports from older builds compare too.

use serde::Serialize;
use serde_json::Value;

/// How far a measurement may move before it counts as a difference.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Tolerance {
    /// Area: relative part (fraction of the reference) ...
    pub area_rel: f64,
    /// ... or absolute part (mm²), whichever is larger.
    pub area_abs_mm2: f64,
    /// Height and width (mm).
    pub length_mm: f64,
    /// Confidence (0..1); only between reports.
    pub confidence: f64,
}

impl Tolerance {
    /// Between two reports of the same input: only real changes count.
    pub const REGRESSION: Tolerance = Tolerance {
        area_rel: 0.02,
        area_abs_mm2: 1.0,
        length_mm: 0.5,
        confidence: 0.05,
    };
    /// Against phantom truth: the accuracy targets of docs/validation.md.
    pub const TRUTH: Tolerance = Tolerance {
        area_rel: 0.15,
        area_abs_mm2: 12.0,
        length_mm: 2.0,
        confidence: f64::INFINITY,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{0} is neither a foramen report nor a phantom truth file (schema {1:?})")]
    UnknownSchema(&'static str, String),
    #[error("no measured series in the report matches the truth (modality {0}); pass --series")]
    NoMatch(String),
    #[error("{0} measured series in the report could match the truth; pass --series")]
    Ambiguous(usize),
    #[error("series {0} is not in the report")]
    NoSeries(String),
}

/// One compared quantity of one foramen.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub series_instance_uid: String,
    pub level: String,
    pub side: String,
    pub field: &'static str,
    pub reference: Value,
    pub value: Value,
    pub within_tolerance: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub against: &'static str,
    pub tolerance: Tolerance,
    pub compared: usize,
    pub rows: Vec<Difference>,
}

impl Comparison {
    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|d| !d.within_tolerance).count()
    }
}

fn schema_of(v: &Value) -> &str {
    v["schema"].as_str().unwrap_or("")
}

/// Compares `report` with `reference` (truth or report). `series` picks the report's
/// series when comparing with truth and several could match.
pub fn compare(
    report: &Value,
    reference: &Value,
    series: Option<&str>,
    tolerance: Option<Tolerance>,
) -> Result<Comparison, CompareError> {
    if !schema_of(report).starts_with("foramen.report/") {
        return Err(CompareError::UnknownSchema(
            "REPORT",
            schema_of(report).into(),
        ));
    }
    let measured: Vec<&Value> = report["series"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if schema_of(reference).starts_with("foramen.truth/") {
        let tol = tolerance.unwrap_or(Tolerance::TRUTH);
        let modality = reference["modality"].as_str().unwrap_or("").to_string();
        let s = match series {
            Some(uid) => *measured
                .iter()
                .find(|s| s["series_instance_uid"] == uid)
                .ok_or_else(|| CompareError::NoSeries(uid.into()))?,
            None => {
                let c: Vec<&&Value> = measured
                    .iter()
                    .filter(|s| s["status"] == "measured" && s["modality"] == modality.as_str())
                    .collect();
                match c.len() {
                    0 => return Err(CompareError::NoMatch(modality)),
                    1 => *c[0],
                    n => return Err(CompareError::Ambiguous(n)),
                }
            }
        };
        let mut rows = Vec::new();
        let mut compared = 0;
        for t in reference["levels"].as_array().into_iter().flatten() {
            compared += 1;
            let got = find_level(s, &t["level"], &t["side"]);
            foramen_rows(s, t, got, tol, false, &mut rows);
        }
        return Ok(Comparison {
            against: "truth",
            tolerance: tol,
            compared,
            rows,
        });
    }
    if !schema_of(reference).starts_with("foramen.report/") {
        return Err(CompareError::UnknownSchema(
            "REFERENCE",
            schema_of(reference).into(),
        ));
    }
    let tol = tolerance.unwrap_or(Tolerance::REGRESSION);
    let mut rows = Vec::new();
    let mut compared = 0;
    for rs in reference["series"].as_array().into_iter().flatten() {
        let uid = &rs["series_instance_uid"];
        if series.is_some_and(|want| uid != want) {
            continue;
        }
        let got_series = measured.iter().find(|s| &s["series_instance_uid"] == uid);
        let Some(s) = got_series else {
            rows.push(Difference {
                series_instance_uid: uid.as_str().unwrap_or("").into(),
                level: String::new(),
                side: String::new(),
                field: "series",
                reference: rs["status"].clone(),
                value: Value::Null,
                within_tolerance: false,
            });
            continue;
        };
        if s["status"] != rs["status"] {
            rows.push(Difference {
                series_instance_uid: uid.as_str().unwrap_or("").into(),
                level: String::new(),
                side: String::new(),
                field: "status",
                reference: rs["status"].clone(),
                value: s["status"].clone(),
                within_tolerance: false,
            });
        }
        for r in rs["levels"].as_array().into_iter().flatten() {
            compared += 1;
            let got = find_level(s, &r["level"], &r["side"]);
            foramen_rows(s, r, got, tol, true, &mut rows);
        }
    }
    Ok(Comparison {
        against: "report",
        tolerance: tol,
        compared,
        rows,
    })
}

fn find_level<'a>(series: &'a Value, level: &Value, side: &Value) -> Option<&'a Value> {
    series["levels"]
        .as_array()?
        .iter()
        .find(|l| &l["level"] == level && &l["side"] == side)
}

/// Rows for one foramen: every compared field, within tolerance or not.
fn foramen_rows(
    series: &Value,
    reference: &Value,
    got: Option<&Value>,
    tol: Tolerance,
    between_reports: bool,
    rows: &mut Vec<Difference>,
) {
    let null = Value::Null;
    let got = got.unwrap_or(&null);
    let mut push = |field: &'static str, ok: bool| {
        rows.push(Difference {
            series_instance_uid: series["series_instance_uid"].as_str().unwrap_or("").into(),
            level: reference["level"].as_str().unwrap_or("").into(),
            side: reference["side"].as_str().unwrap_or("").into(),
            field,
            reference: reference[field].clone(),
            value: got[field].clone(),
            within_tolerance: ok,
        });
    };
    let area_tol = |r: f64| (tol.area_rel * r.abs()).max(tol.area_abs_mm2);
    let numeric = |field: &str, allowed: &dyn Fn(f64) -> f64| -> bool {
        match (reference[field].as_f64(), got[field].as_f64()) {
            (Some(r), Some(g)) => (g - r).abs() <= allowed(r),
            (None, None) => true,
            _ => false,
        }
    };
    push("min_area_mm2", numeric("min_area_mm2", &area_tol));
    push("height_mm", numeric("height_mm", &|_| tol.length_mm));
    if !reference["width_mm"].is_null() || between_reports {
        push("width_mm", numeric("width_mm", &|_| tol.length_mm));
    }
    if between_reports {
        push("grade", reference["grade"] == got["grade"]);
        push("flagged", reference["flagged"] == got["flagged"]);
        push("confidence", numeric("confidence", &|_| tol.confidence));
    } else {
        // Grades against truth are reported, not judged: the rule thresholds decide
        // them and docs/validation.md gives their agreement.
        push("grade", true);
    }
}

/// A plain-text table of the rows, differences first.
pub fn table(c: &Comparison, all: bool) -> String {
    let fmt = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::Number(n) => n.as_f64().map_or(n.to_string(), |f| {
            format!("{}", (f * 100.0).round() / 100.0)
        }),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = format!(
        "{:<7} {:<6} {:<13} {:>12} {:>12} {:>10}  {}\n",
        "level", "side", "field", "reference", "value", "delta", "status"
    );
    let mut rows: Vec<&Difference> = c
        .rows
        .iter()
        .filter(|d| all || !d.within_tolerance)
        .collect();
    rows.sort_by_key(|d| d.within_tolerance);
    for d in rows {
        let delta = match (d.reference.as_f64(), d.value.as_f64()) {
            (Some(r), Some(v)) => format!("{:+.2}", v - r),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{:<7} {:<6} {:<13} {:>12} {:>12} {:>10}  {}\n",
            d.level,
            d.side,
            d.field,
            fmt(&d.reference),
            fmt(&d.value),
            delta,
            if d.within_tolerance { "ok" } else { "DIFFERS" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(area: Option<f64>, grade: &str) -> Value {
        json!({
            "schema": "foramen.report/1",
            "series": [{
                "series_instance_uid": "1.2.3", "status": "measured", "modality": "MR",
                "levels": [{"level": "L4-L5", "side": "left", "min_area_mm2": area,
                            "height_mm": 15.0, "width_mm": 7.0, "grade": grade,
                            "flagged": false, "confidence": 0.8}]
            }]
        })
    }

    #[test]
    fn identical_reports_have_no_differences() {
        let a = report(Some(100.0), "normal");
        let c = compare(&a, &a, None, None).unwrap();
        assert_eq!(c.failures(), 0);
        assert_eq!(c.compared, 1);
    }

    #[test]
    fn moves_beyond_tolerance_and_lost_measurements_count() {
        let base = report(Some(100.0), "normal");
        let small = compare(&report(Some(101.5), "normal"), &base, None, None).unwrap();
        assert_eq!(
            small.failures(),
            0,
            "1.5% is within the 2% regression tolerance"
        );
        let big = compare(&report(Some(110.0), "normal"), &base, None, None).unwrap();
        assert_eq!(big.failures(), 1);
        let lost = compare(&report(None, "normal"), &base, None, None).unwrap();
        assert_eq!(lost.failures(), 1);
        let regraded = compare(&report(Some(100.0), "mild"), &base, None, None).unwrap();
        assert_eq!(regraded.failures(), 1);
        assert!(table(&regraded, false).contains("DIFFERS"));
    }

    #[test]
    fn truth_uses_the_larger_of_relative_and_absolute_tolerance() {
        let truth = json!({"schema": "foramen.truth/1", "modality": "MR",
            "levels": [{"level": "L4-L5", "side": "left", "min_area_mm2": 60.0,
                        "height_mm": 15.5, "width_mm": 7.2, "grade": "mild"}]});
        // 60 mm²: 15% is 9, so the 12 mm² floor applies.
        let ok = compare(&report(Some(71.0), "normal"), &truth, None, None).unwrap();
        assert_eq!(ok.failures(), 0, "{}", table(&ok, true));
        let off = compare(&report(Some(73.0), "normal"), &truth, None, None).unwrap();
        assert_eq!(off.failures(), 1);
    }

    #[test]
    fn unknown_files_are_refused() {
        let a = report(Some(1.0), "normal");
        assert!(compare(&a, &json!({"schema": "other"}), None, None).is_err());
        assert!(compare(&json!({}), &a, None, None).is_err());
    }
}
