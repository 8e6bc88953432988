//! Counting lumbar-type vertebrae and placing the named vertebrae between the discs.

use super::{Disc, VERTEBRAE_FROM_SACRUM, Vertebra};
use crate::volume::geometry::{add, scale};

/// Counts lumbar-type vertebrae above the sacrum from the spacing of the discs (a
/// vertebra's body plus disc height): thoracic vertebrae are shorter and their discs
/// thinner, so the spacing drops at the thoracolumbar junction. The junction is the
/// split of the spacings (from the sacrum up) that best separates a taller lower group
/// from a shorter upper one; it is trusted only when the drop is clear (≥ 10%) and
/// both groups have at least two vertebrae. Returns `None` when it cannot be told.
pub(crate) fn count_lumbar(
    discs: &[Disc],
    steps: &[f64],
    warnings: &mut Vec<String>,
) -> Option<u8> {
    let n = discs.len();
    if n < 6 {
        return None;
    }
    // Vertebra i (from the sacrum up) spans steps[n - 2 - i].
    let from_bottom: Vec<f64> = (0..n - 1).map(|i| steps[n - 2 - i]).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut best: Option<(usize, f64)> = None;
    for k in 2..=from_bottom.len() - 2 {
        let (lower, upper) = (mean(&from_bottom[..k]), mean(&from_bottom[k..]));
        let drop = (lower - upper) / lower;
        if best.is_none_or(|(_, d)| drop > d) {
            best = Some((k, drop));
        }
    }
    let (k, drop) = best?;
    if drop < 0.10 {
        return None;
    }
    // Spacing also grows gently down a normal lumbar spine, so a split elsewhere than
    // above the fifth vertebra must be clearly better than that one to be believed; a
    // split leaving fewer than four or more than six lumbar-type vertebrae is not an
    // anatomical variant but noise in the spacings.
    if k != 5 {
        // Squared residuals of the two-group model split above vertebra `j`.
        let sse = |j: usize| {
            let (lower, upper) = (&from_bottom[..j], &from_bottom[j..]);
            let (ml, mu) = (mean(lower), mean(upper));
            lower.iter().map(|v| (v - ml).powi(2)).sum::<f64>()
                + upper.iter().map(|v| (v - mu).powi(2)).sum::<f64>()
        };
        // Without two vertebrae above the fifth, the usual count cannot be ruled out.
        let clearly_better = 5 <= from_bottom.len() - 2 && sse(k) <= 0.5 * sse(5);
        if !(4..=6).contains(&k) || !clearly_better {
            return None;
        }
        let kind = if k < 5 {
            "possible sacralised L5 (four lumbar vertebrae)"
        } else {
            "possible lumbarised S1 (six lumbar vertebrae)"
        };
        warnings.push(format!(
            "the vertebra spacing drops by {:.0}% above the {k}th vertebra from the sacrum: {k} lumbar-type vertebrae, {kind}; transitional anatomy makes level names uncertain (counted from the sacrum)",
            100.0 * drop
        ));
    }
    Some(k as u8)
}

pub(crate) fn vertebrae(discs: &[Disc], steps: &[f64], sacrum_in_view: bool) -> Vec<Vertebra> {
    let n = discs.len();
    let mut out = Vec::new();
    let median_step = {
        let mut v = steps.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    // Above the top disc: the vertebra whose lower endplate it touches.
    let top = &discs[0];
    let above = add(top.center_mm, scale(top.axis, -0.5 * median_step));
    if let Some(name) = VERTEBRAE_FROM_SACRUM.get(n - 1) {
        out.push(Vertebra {
            name: name.to_string(),
            center_mm: above,
        });
    }
    for j in 0..n - 1 {
        let from_bottom = n - 2 - j;
        if let Some(name) = VERTEBRAE_FROM_SACRUM.get(from_bottom) {
            let (a, b) = (discs[j].center_mm, discs[j + 1].center_mm);
            out.push(Vertebra {
                name: name.to_string(),
                center_mm: scale(add(a, b), 0.5),
            });
        }
    }
    if sacrum_in_view {
        let low = &discs[n - 1];
        out.push(Vertebra {
            name: "S1".into(),
            center_mm: add(low.center_mm, scale(low.axis, 0.45 * median_step)),
        });
    }
    // Head to feet, and only names that exist.
    out.sort_by(|a, b| b.center_mm[2].total_cmp(&a.center_mm[2]));
    out
}
