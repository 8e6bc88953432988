//! The lower end of the chain: the lumbosacral disc and the sacrum below it.

use super::super::canonical::CanonicalStack;
use super::super::discs::{Candidate, DiscContrast};
use super::candidates::contrast_candidates;
use super::{Disc, Evidence};

/// Corrects the lower end of the chain, where the lumbosacral disc differs most from
/// the others: a degenerated L5-S1 disc can show the opposite contrast (dark on T2)
/// and be missed, and an S1-S2 remnant below L5-S1 can be taken for a mobile disc.
pub(crate) fn refine_lumbosacral(
    picked: &mut Vec<(Candidate, DiscContrast)>,
    evidence: &Evidence,
    own: &[Candidate],
    contrast: DiscContrast,
    notes: &mut Vec<String>,
) {
    let Evidence {
        stack,
        all_responses,
        params,
        is_ct,
        focus_x_mm,
        ..
    } = *evidence;
    let px = stack.pixel_mm;
    let tilt = |c: &Candidate| c.normal[1].atan2(c.normal[0]).to_degrees();
    let step_mm =
        |a: &Candidate, b: &Candidate| ((b.r - a.r).powi(2) + (b.c - a.c).powi(2)).sqrt() * px;
    let median_of = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let median_response = median_of(picked.iter().map(|(c, _)| c.response).collect());
    // The lumbosacral disc is the most tilted mobile disc (sacral slope). Bands further
    // down (sacral segments, pelvic structures) are not mobile discs: the chain ends at
    // the first disc, from the top, whose tilt comes within 6° of the steepest one.
    let steepest = picked.iter().map(|(c, _)| tilt(c)).fold(f64::MIN, f64::max);
    if steepest >= 15.0
        && let Some(j) = picked
            .iter()
            .position(|(c, _)| tilt(c) >= (steepest - 6.0).max(15.0))
        && j + 1 < picked.len()
        && j >= 1
    {
        let dropped = picked.len() - 1 - j;
        notes.push(format!(
            "{dropped} band(s) below the most tilted disc ({:.0}°) taken for sacral segments or pelvic structures, not mobile discs",
            tilt(&picked[j].0)
        ));
        picked.truncate(j + 1);
        // The steepest disc is the lumbosacral one: nothing to search below it.
        return;
    }
    // An S1-S2 remnant: steeper than a lumbosacral disc above it, and weaker.
    if picked.len() >= 3 {
        let n = picked.len();
        let (low, prev) = (&picked[n - 1].0, &picked[n - 2].0);
        if tilt(prev) >= 22.0
            && tilt(low) - tilt(prev) >= 6.0
            && low.response < 0.75 * median_response
        {
            notes.push(format!(
                "a weak band {:.0}° steeper than the disc above it was taken for the S1-S2 remnant, not a mobile disc",
                tilt(low) - tilt(prev)
            ));
            picked.pop();
            return;
        }
    }
    // A missing lumbosacral disc: the lowest disc found is not tilted like one, and one
    // vertebra further down there is a band of either contrast.
    let (low, _) = picked[picked.len() - 1];
    if tilt(&low) >= 30.0 || picked.len() < 2 {
        return;
    }
    let steps: Vec<f64> = picked
        .windows(2)
        .map(|w| step_mm(&w[0].0, &w[1].0))
        .collect();
    let step = median_of(steps);
    let other = match contrast {
        DiscContrast::Darker => DiscContrast::Brighter,
        DiscContrast::Brighter => DiscContrast::Darker,
    };
    // On CT the opposite contrast is cortical bone (endplates), never a disc.
    let others = if is_ct {
        Vec::new()
    } else {
        contrast_candidates(
            stack,
            all_responses,
            other,
            params,
            focus_x_mm,
            evidence.detector,
        )
        .map(|(c, _)| c)
        .unwrap_or_default()
    };
    let reference = |set: &[Candidate]| median_of(set.iter().take(8).map(|c| c.response).collect());
    let (ref_own, ref_other) = (reference(own), reference(&others));
    let best = own
        .iter()
        .map(|c| (c, contrast, c.response / ref_own.max(1e-12)))
        .chain(
            others
                .iter()
                .map(|c| (c, other, c.response / ref_other.max(1e-12))),
        )
        .filter(|(c, _, rel)| {
            // One (possibly wedge-shaped, short) vertebra below, roughly along the axis.
            let d = [(c.r - low.r) * px, (c.c - low.c) * px];
            let len = (d[0] * d[0] + d[1] * d[1]).sqrt();
            let along = (d[0] * low.normal[0] + d[1] * low.normal[1]) / len.max(1e-9);
            let tilt_gain = tilt(c) - tilt(&low);
            (0.4 * step..=1.3 * step).contains(&len)
                && along >= 50f64.to_radians().cos()
                && *rel >= 0.3
                && (0.0..=45.0).contains(&tilt_gain)
                && tilt(c) >= 12.0
        })
        .max_by(|a, b| a.2.total_cmp(&b.2));
    tracing::debug!(
        "rescue below {:?}: step {step:.1} mm, tilt {:.1}, best {:?}",
        (low.r, low.c),
        tilt(&low),
        best.map(|(c, k, rel)| (c.r, c.c, tilt(c), k, rel, step_mm(&low, c)))
    );
    if let Some((c, found_contrast, _)) = best {
        if found_contrast != contrast {
            notes.push(format!(
                "the lowest disc appears with the opposite contrast to the others ({}): degenerated disc?",
                if found_contrast == DiscContrast::Darker { "darker than bone" } else { "brighter than bone" }
            ));
        }
        let mut c = *c;
        // Its response is on another scale; rank it as a typical disc of this chain.
        c.response = c.response.min(median_response);
        picked.push((c, found_contrast));
    }
}

/// Checks that the lowest disc sits on a sacrum: enough field of view below it and a
/// sacral-slope tilt. Returns whether the sacrum is in view and a confidence factor for
/// the labels.
pub(crate) fn check_sacrum(
    discs: &[Disc],
    stack: &CanonicalStack,
    warnings: &mut Vec<String>,
) -> (bool, f64) {
    let lowest = discs.last().expect("at least two discs");
    let (_, h, w) = stack.dim();
    let px = stack.pixel_mm;
    // Distance from the lowest disc to the edge of the image along the spine axis.
    let n = [lowest.axis[0], lowest.axis[1], lowest.axis[2]];
    let (nr, nc) = (
        n[0] * stack.down[0] + n[1] * stack.down[1] + n[2] * stack.down[2],
        n[0] * stack.back[0] + n[1] * stack.back[1] + n[2] * stack.back[2],
    );
    let [_, r, c] = lowest.canonical;
    let mut below_mm = 0.0;
    while below_mm < 60.0 {
        let (rr, cc) = (r + nr * below_mm / px, c + nc * below_mm / px);
        if rr < 0.0 || cc < 0.0 || rr >= h as f64 || cc >= w as f64 {
            break;
        }
        below_mm += 1.0;
    }
    let mut factor: f64 = 1.0;
    let in_view = below_mm >= 18.0;
    if !in_view {
        warnings.push(format!(
            "sacrum not in the field of view (image ends {below_mm:.0} mm below the lowest disc): levels are counted from the lowest visible disc and may be shifted"
        ));
        factor = 0.3;
    }
    // The lumbosacral disc is the most tilted one (sacral slope ~25-50°).
    let tilt = lowest.tilt_deg;
    let max_other = discs[..discs.len() - 1]
        .iter()
        .map(|d| d.tilt_deg)
        .fold(f64::MIN, f64::max);
    if in_view && tilt < 12.0 {
        warnings.push(format!(
            "the lowest disc is nearly horizontal ({tilt:.0}°), unlike a lumbosacral disc: no sacrum recognised in the field of view; level names assume this disc is L5-S1 and are uncertain"
        ));
        factor = factor.min(0.5);
    } else if in_view && tilt + 3.0 < max_other {
        warnings.push(format!(
            "the lowest disc ({tilt:.0}°) is less tilted than a disc above it ({max_other:.0}°): check the lumbosacral level"
        ));
        factor = factor.min(0.7);
    }
    (in_view, factor)
}

/// A lowest disc far thinner than the lumbar discs above it is a rudimentary disc
/// (transitional anatomy), the S1-S2 junction taken for L5-S1, or a collapsed L5-S1:
/// the count from the sacrum rests on it, so it is said. Returns whether it was.
pub(crate) fn thin_lowest_disc(discs: &[Disc], warnings: &mut Vec<String>) -> bool {
    let mut above: Vec<f64> = discs
        .iter()
        .rev()
        .skip(1)
        .take(4)
        .filter_map(|d| d.height_mm)
        .collect();
    let Some(lowest) = discs.last().and_then(|d| d.height_mm) else {
        return false;
    };
    if above.len() < 2 {
        return false;
    }
    above.sort_by(f64::total_cmp);
    let median = above[above.len() / 2];
    if lowest >= 0.45 * median {
        return false;
    }
    warnings.push(format!(
        "the lowest disc is far thinner than the discs above ({lowest:.1} mm against {median:.1} mm): a rudimentary disc (transitional anatomy), the S1-S2 junction, or a collapsed L5-S1; check the lumbosacral level"
    ));
    true
}
