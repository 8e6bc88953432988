//! The left-right midline of the posterior elements at a disc (mirror symmetry).

use super::roi::sample_at;
use crate::volume::Volume;
use crate::volume::geometry::{Vec3, add, cross, dot, normalize, scale, sub};

/// Left-right offset (mm, along `normal`) of the mirror plane of the posterior elements
/// around a disc from the disc centre the level search reported (`centre`; `axis` is the
/// spine axis there, toward the feet). The foramina are
/// searched on either side of the midline, and a disc centre a few millimetres off to one
/// side shifts both search windows; the pedicles, canal and facets are close to
/// mirror-symmetric, so the plane about which the image best matches its mirror image is
/// taken as the midline. Sampled on a millimetre grid from the image alone.
pub(super) fn midline_offset(v: &Volume, centre: Vec3, axis: Vec3, s: f64, normal: Vec3) -> f64 {
    let up = scale(axis, -1.0);
    let Some(up) = normalize(sub(up, scale(normal, dot(up, normal)))) else {
        return 0.0;
    };
    let mut back = cross(normal, up);
    if back[1] < 0.0 {
        back = scale(back, -1.0);
    }
    let (du, dvw) = (1.0, 1.5);
    let reach = (1.4 * s / du).round() as i64;
    let nu = (2 * reach + 1) as usize;
    let vs: Vec<f64> = (0..)
        .map(|k| -0.2 * s + k as f64 * dvw)
        .take_while(|&x| x <= 1.25 * s)
        .collect();
    let ws: Vec<f64> = (0..)
        .map(|k| -0.6 * s + k as f64 * dvw)
        .take_while(|&x| x <= 0.6 * s)
        .collect();
    // grid[u][k] over the (v, w) samples k.
    let grid: Vec<Vec<f32>> = (0..nu)
        .map(|iu| {
            let u = (iu as i64 - reach) as f64 * du;
            let mut col = Vec::with_capacity(vs.len() * ws.len());
            for &vv in &vs {
                for &ww in &ws {
                    let p = add(
                        centre,
                        add(scale(normal, u), add(scale(back, vv), scale(up, ww))),
                    );
                    col.push(sample_at(v, p));
                }
            }
            col
        })
        .collect();
    // Mirror about half-index m/2 (0.5 mm steps): columns m - k and k.
    let u_min = (3.0 / du).round() as i64;
    let u_max = (1.0 * s / du).round() as i64;
    let shift_max = (0.4 * s / du * 2.0).round() as i64;
    let mut best = (f64::NEG_INFINITY, 0i64);
    for m2 in -shift_max..=shift_max {
        // Mirror centre in grid units: c = m2 / 2.
        let (mut n, mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0);
        for d in u_min..=u_max {
            // Pairs c - d' and c + d' with c = m2/2: indices (m2 - t) and t, t = ceil.
            let hi = (m2 + 2 * d + 1).div_euclid(2);
            let lo = m2 - hi;
            let (ih, il) = (hi + reach, lo + reach);
            if ih < 0 || il < 0 || ih as usize >= nu || il as usize >= nu {
                continue;
            }
            for (a, b) in grid[ih as usize].iter().zip(&grid[il as usize]) {
                if a.is_finite() && b.is_finite() {
                    let (a, b) = (*a as f64, *b as f64);
                    n += 1.0;
                    sa += a;
                    sb += b;
                    saa += a * a;
                    sbb += b * b;
                    sab += a * b;
                }
            }
        }
        if n < 100.0 {
            continue;
        }
        let cov = sab / n - sa / n * sb / n;
        let va = saa / n - (sa / n).powi(2);
        let vb = sbb / n - (sb / n).powi(2);
        let r = cov / (va * vb).sqrt().max(1e-12);
        if r > best.0 {
            best = (r, m2);
        }
    }
    if best.0.is_finite() {
        best.1 as f64 * 0.5 * du
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Modality};
    use ndarray::Array3;

    /// 1 mm voxels, sagittal slices from x = 50 down to x = -50; the image is mirror
    /// symmetric about x = 0 (two bright "pedicles" at x = ±8 mm) and varies along y.
    fn symmetric_volume() -> Volume {
        let g = Geometry::new(
            [50.0, -30.0, 30.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, -1.0],
            [1.0, 1.0, 1.0],
            1.0,
        )
        .unwrap();
        let voxels = Array3::from_shape_fn((101, 80, 60), |(k, r, c)| {
            let p = g.index_to_lps([k as f64, r as f64, c as f64]);
            let d = p[0].abs() - 8.0;
            (1000.0 / (1.0 + d * d / 4.0) * (1.0 + 0.3 * (p[1] / 5.0).sin())) as f32
        });
        Volume {
            voxels,
            geometry: g,
            modality: Modality::MR,
        }
    }

    #[test]
    fn the_mirror_plane_of_a_symmetric_image_is_found() {
        let v = symmetric_volume();
        assert_eq!(v.geometry.index_to_lps([100.0, 0.0, 0.0])[0], -50.0);
        // Disc centre 4 mm left of the midline (+x): the midline is 4 mm to its right.
        let centre = [4.0, 0.0, 0.0];
        let off = midline_offset(&v, centre, [0.0, 0.0, -1.0], 35.0, [1.0, 0.0, 0.0]);
        assert_eq!(off, -4.0);
        // Half-millimetre steps: a centre at x = -2.5 gives +2.5.
        let off = midline_offset(
            &v,
            [-2.5, 0.0, 0.0],
            [0.0, 0.0, -1.0],
            35.0,
            [1.0, 0.0, 0.0],
        );
        assert_eq!(off, 2.5);
    }
}
