//! Anatomical verification of a labelled chain: the names are trusted only when the
//! lumbar part of the chain looks like a lumbar spine standing on a sacrum. Every check
//! rests on proportions that hold in any scanner and contrast, never on intensities:
//! - the lumbar vertebrae (body + disc) are nearly equally tall: neighbouring spacings
//!   differ by less than a third (L5 is a little shorter, thoracic ones shorter still);
//! - the discs lie on one smooth column (the lordosis bends it gently, it never jumps);
//! - the segments between the lumbar discs are vertebral bodies alike one another;
//! - the field of view reaches at least 0.6 vertebra below the lowest disc, where the
//!   sacrum must be (whether that bone looks like S1 is not judged: texture does not
//!   carry across scanners, and a texture check fired on correct phantoms);
//! - the lumbosacral disc is tilted (the sacral slope), not horizontal.
//!
//! A failed check does not rename anything: it adds a warning starting with
//! [`UNVERIFIED`] and the labels' confidence drops below one half.

use ndarray::Array2;

use super::super::canonical::CanonicalStack;
use super::super::discs::Candidate;
use super::chain::{BodyReference, body_core};

/// Prefix of the warnings that say the level names themselves are in doubt (as opposed
/// to generic remarks about contrast or weighting).
pub const UNVERIFIED: &str = "level names unverified";

/// Confidence factor applied when a check fails: keeps every label below one half.
pub const UNVERIFIED_FACTOR: f64 = 0.45;

/// Largest ratio between neighbouring lumbar spacings (a vertebra is 25-35 mm with its
/// disc; L5 over L4 is rarely below 0.8).
const MAX_SPACING_RATIO: f64 = 1.33;

/// Largest distance (mm) of a lumbar disc from the straight line through its two
/// neighbours: the lordosis bends the column by a few millimetres per level.
const MAX_COLUMN_OFFSET_MM: f64 = 12.0;

/// The lumbosacral disc is tilted at least this much (degrees): the sacral slope is
/// 25-50° and the L5-S1 disc follows the sacral endplate within about 15°.
const MIN_LUMBOSACRAL_TILT_DEG: f64 = 10.0;

/// Checks the lowest (up to) six discs of a chain, head to feet, with their tilts
/// (degrees). Returns one sentence per failed check.
pub fn verify_lumbar_chain(
    cands: &[Candidate],
    tilts_deg: &[f64],
    img: &Array2<f32>,
    stack: &CanonicalStack,
) -> Vec<String> {
    let px = stack.pixel_mm;
    let mut problems = Vec::new();
    let n = cands.len();
    if n < 3 {
        return problems;
    }
    let low = &cands[n.saturating_sub(6)..];
    let pos = |c: &Candidate| [c.r * px, c.c * px];
    let steps: Vec<f64> = low
        .windows(2)
        .map(|w| {
            let (a, b) = (pos(&w[0]), pos(&w[1]));
            ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt()
        })
        .collect();
    if let Some((i, r)) = steps
        .windows(2)
        .enumerate()
        .map(|(i, w)| (i, w[0].max(w[1]) / w[0].min(w[1]).max(1e-9)))
        .find(|(_, r)| *r > MAX_SPACING_RATIO)
    {
        problems.push(format!(
            "disc spacings {:.0} and {:.0} mm next to each other (ratio {r:.2}): a disc missed or a band taken for one",
            steps[i],
            steps[i + 1]
        ));
    }
    for w in low.windows(3) {
        let (a, b, c) = (pos(&w[0]), pos(&w[1]), pos(&w[2]));
        let d = [c[0] - a[0], c[1] - a[1]];
        let len = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-9);
        let off = ((b[0] - a[0]) * d[1] - (b[1] - a[1]) * d[0]).abs() / len;
        if off > MAX_COLUMN_OFFSET_MM {
            problems.push(format!(
                "a disc lies {off:.0} mm off the line of its neighbours: the chain leaves the column of vertebral bodies"
            ));
            break;
        }
    }
    let cores: Vec<Option<(f64, f64)>> = low
        .windows(2)
        .map(|w| body_core(img, &w[0], &w[1], px))
        .collect();
    let known: Vec<(f64, f64)> = cores.iter().flatten().copied().collect();
    let body = BodyReference::from_cores(&known);
    if let Some(body) = &body
        && cores.iter().flatten().any(|core| body.oddness(*core) > 0.5)
    {
        problems.push(
            "a segment between the lumbar discs does not look like the other vertebral bodies"
                .into(),
        );
    }
    // S1: the bone one body below the lowest disc, like the bodies above it.
    let last = &low[low.len() - 1];
    let step = {
        let mut s = steps.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    let along = |mm: f64| Candidate {
        r: last.r + last.normal[0] * mm / px,
        c: last.c + last.normal[1] * mm / px,
        ..*last
    };
    let (_, h, w) = stack.dim();
    let end = along(0.6 * step);
    let in_image = end.r >= 0.0 && end.c >= 0.0 && end.r < h as f64 && end.c < w as f64;
    let s1 = body_core(img, last, &along(0.8 * step), px);
    match (&body, s1) {
        (_, _) if !in_image => problems.push(
            "the image ends within 0.6 vertebra below the lowest disc: the sacrum is not seen"
                .into(),
        ),
        _ => {}
    }
    if let Some(&tilt) = tilts_deg.last()
        && tilt < MIN_LUMBOSACRAL_TILT_DEG
    {
        problems.push(format!(
            "the lowest disc is nearly horizontal ({tilt:.0}°), unlike the lumbosacral disc on the sacral slope"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// A uniform 1 mm plane of bone, 300 × 200 px, and a column of discs every `steps`
    /// mm (from row 40, column 100), each tilted `tilt` degrees.
    fn setup(steps: &[f64], tilts: &[f64]) -> (Vec<Candidate>, CanonicalStack, Array2<f32>) {
        let stack = CanonicalStack {
            data: Array3::zeros((1, 300, 200)),
            pixel_mm: 1.0,
            down: [0.0, 0.0, -1.0],
            back: [0.0, 1.0, 0.0],
            normal: [1.0, 0.0, 0.0],
            centres: vec![[0.0; 3]],
            plane_spacing_mm: 3.0,
            plane_thickness_mm: 3.0,
        };
        let mut r = 40.0;
        let mut cands = Vec::new();
        for (i, t) in tilts.iter().enumerate() {
            let a = t.to_radians();
            cands.push(Candidate {
                r,
                c: 100.0,
                normal: [a.cos(), a.sin()],
                response: 1.0,
            });
            r += steps.get(i).copied().unwrap_or(0.0);
        }
        (cands, stack, Array2::from_elem((300, 200), 1.0))
    }

    #[test]
    fn a_regular_column_on_bone_passes() {
        let tilts = [0.0, 5.0, 10.0, 15.0, 30.0];
        let (c, st, img) = setup(&[36.0, 36.0, 35.0, 33.0], &tilts);
        assert!(verify_lumbar_chain(&c, &tilts, &img, &st).is_empty());
    }

    #[test]
    fn irregular_spacing_a_flat_lowest_disc_and_a_cut_image_are_said() {
        let tilts = [0.0, 5.0, 10.0, 15.0, 30.0];
        // A disc missed: 36 then 70 mm.
        let (c, st, img) = setup(&[36.0, 36.0, 70.0, 33.0], &tilts);
        let p = verify_lumbar_chain(&c, &tilts, &img, &st);
        assert!(p.iter().any(|s| s.contains("spacings")), "{p:?}");
        // A horizontal lowest disc.
        let flat = [0.0, 5.0, 10.0, 15.0, 2.0];
        let (c, st, img) = setup(&[36.0, 36.0, 35.0, 33.0], &flat);
        let p = verify_lumbar_chain(&c, &flat, &img, &st);
        assert!(p.iter().any(|s| s.contains("horizontal")), "{p:?}");
        // Lowest disc 10 mm above the image's lower edge: no sacrum seen.
        let (mut c, st, img) = setup(&[36.0, 36.0, 35.0, 33.0], &tilts);
        for x in &mut c {
            x.r += 290.0 - (40.0 + 140.0);
        }
        let p = verify_lumbar_chain(&c, &tilts, &img, &st);
        assert!(p.iter().any(|s| s.contains("sacrum is not seen")), "{p:?}");
    }
}
