//! The outline of a binary mask as a closed polygon along pixel edges, so that the
//! polygon's area equals the mask's pixel count (and a viewer's area of the SCOORD
//! matches the reported area).

use std::collections::HashMap;

use ndarray::Array2;

/// Outer boundary of the largest region of `mask`, as corner points `(row, col)` where
/// `(r, c)` is the top-left corner of pixel `(r, c)`. Clockwise on screen, first point
/// repeated at the end. `None` for an empty mask.
pub fn outline(mask: &Array2<bool>) -> Option<Vec<(i64, i64)>> {
    let (h, w) = mask.dim();
    let at = |r: i64, c: i64| {
        r >= 0 && c >= 0 && (r as usize) < h && (c as usize) < w && mask[[r as usize, c as usize]]
    };
    // Directed boundary edges with the inside on the right (row axis points down).
    let mut out: HashMap<(i64, i64), Vec<(i64, i64)>> = HashMap::new();
    let mut n_edges = 0usize;
    for ((r, c), &v) in mask.indexed_iter() {
        if !v {
            continue;
        }
        let (r, c) = (r as i64, c as i64);
        let mut edge = |a: (i64, i64), b: (i64, i64)| {
            out.entry(a).or_default().push(b);
            n_edges += 1;
        };
        if !at(r - 1, c) {
            edge((r, c), (r, c + 1));
        }
        if !at(r, c + 1) {
            edge((r, c + 1), (r + 1, c + 1));
        }
        if !at(r + 1, c) {
            edge((r + 1, c + 1), (r + 1, c));
        }
        if !at(r, c - 1) {
            edge((r + 1, c), (r, c));
        }
    }
    // Deterministic start order (HashMap iteration is not).
    let mut starts: Vec<(i64, i64)> = out.keys().copied().collect();
    starts.sort_unstable();
    let mut best: Option<(i64, Vec<(i64, i64)>)> = None;
    for s in starts {
        while let Some(next) = out.get_mut(&s).and_then(|v| v.pop()) {
            let mut lp = vec![s];
            let mut cur = next;
            // Every vertex has as many edges in as out, so the walk returns to `s`.
            let mut guard = 0;
            while cur != s && guard <= n_edges {
                lp.push(cur);
                match out.get_mut(&cur).and_then(|v| v.pop()) {
                    Some(n) => cur = n,
                    None => break,
                }
                guard += 1;
            }
            lp.push(s);
            let area2 = twice_area(&lp);
            if best.as_ref().is_none_or(|(a, _)| area2 > *a) {
                best = Some((area2, lp));
            }
        }
    }
    best.filter(|(a, _)| *a > 0).map(|(_, lp)| simplify(lp))
}

/// Twice the signed shoelace area with x = column, y = row (clockwise on screen > 0).
pub fn twice_area(lp: &[(i64, i64)]) -> i64 {
    lp.windows(2)
        .map(|p| p[0].1 * p[1].0 - p[1].1 * p[0].0)
        .sum()
}

/// Drops vertices in the middle of straight runs.
fn simplify(lp: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    let n = lp.len() - 1; // closed: last == first
    if n < 3 {
        return lp;
    }
    let mut out: Vec<(i64, i64)> = (0..n)
        .filter(|&i| {
            let a = lp[(i + n - 1) % n];
            let b = lp[i];
            let c = lp[(i + 1) % n];
            (b.0 - a.0) * (c.1 - b.1) != (b.1 - a.1) * (c.0 - b.0)
        })
        .map(|i| lp[i])
        .collect();
    if let Some(&f) = out.first() {
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_and_l_shape_areas_match_pixel_counts() {
        let mut m = Array2::from_elem((6, 7), false);
        for r in 1..4 {
            for c in 2..5 {
                m[[r, c]] = true;
            }
        }
        let o = outline(&m).unwrap();
        assert_eq!(o.len(), 5, "{o:?}");
        assert_eq!(twice_area(&o), 18);
        m[[4, 2]] = true;
        m[[5, 2]] = true;
        let o = outline(&m).unwrap();
        assert_eq!(o.first(), o.last());
        assert_eq!(twice_area(&o), 22);
    }

    #[test]
    fn picks_the_largest_region_and_ignores_holes() {
        let mut m = Array2::from_elem((10, 10), false);
        m[[0, 0]] = true;
        for r in 3..8 {
            for c in 3..8 {
                m[[r, c]] = r != 5 || c != 5;
            }
        }
        let o = outline(&m).unwrap();
        assert_eq!(twice_area(&o), 50);
        assert!(outline(&Array2::from_elem((3, 3), false)).is_none());
    }

    #[test]
    fn diagonal_touch_does_not_break_the_walk() {
        let mut m = Array2::from_elem((4, 4), false);
        m[[1, 1]] = true;
        m[[2, 2]] = true;
        let a = twice_area(&outline(&m).unwrap());
        // One pixel, or both walked as a figure of eight.
        assert!(a == 2 || a == 4, "{a}");
    }
}
