//! Connected-component labelling of binary images (4-connectivity).

use ndarray::Array2;

/// Size, border contact and centroid sums of one connected component.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ComponentStats {
    /// Number of pixels.
    pub area: usize,
    /// Sums of the row and column indices (centroid = sum / area).
    pub sum_i: f64,
    pub sum_j: f64,
    /// Whether a pixel lies on the first or last row or column.
    pub border: bool,
}

/// Connected-component labelling: the 4-connected components of the pixels where
/// `inside(i, j)` holds, numbered in raster-scan order of their first pixel, with
/// their statistics. Hand-written two-pass union-find: callers that label the same
/// region at many levels need only the statistics, which imageproc's
/// `connected_components` (an image in, an image out) cannot give without allocating
/// and rescanning images each time.
pub struct Labelling {
    /// Component id + 1 per pixel, 0 outside; row-major.
    pub labels: Vec<u32>,
    /// Image width (row stride of `labels`).
    pub w: usize,
    /// Statistics of component `id` at index `id`.
    pub comps: Vec<ComponentStats>,
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

impl Labelling {
    pub fn new(h: usize, w: usize, inside: impl Fn(usize, usize) -> bool) -> Labelling {
        let mut labels = vec![0u32; h * w];
        let mut parent: Vec<u32> = vec![0];
        for i in 0..h {
            for j in 0..w {
                if !inside(i, j) {
                    continue;
                }
                let up = if i > 0 { labels[(i - 1) * w + j] } else { 0 };
                let left = if j > 0 { labels[i * w + j - 1] } else { 0 };
                let l = match (up, left) {
                    (0, 0) => {
                        let n = parent.len() as u32;
                        parent.push(n);
                        n
                    }
                    (a, 0) | (0, a) => a,
                    (a, b) => {
                        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                        if ra != rb {
                            parent[ra.max(rb) as usize] = ra.min(rb);
                        }
                        ra.min(rb)
                    }
                };
                labels[i * w + j] = l;
            }
        }
        // Compact the roots to ids 1..=n in scan order (deterministic).
        let mut id = vec![0u32; parent.len()];
        let mut comps: Vec<ComponentStats> = Vec::new();
        for (k, label) in labels.iter_mut().enumerate() {
            let l = *label;
            if l == 0 {
                continue;
            }
            let r = find(&mut parent, l) as usize;
            if id[r] == 0 {
                comps.push(ComponentStats::default());
                id[r] = comps.len() as u32;
            }
            let c = id[r];
            *label = c;
            let (i, j) = (k / w, k % w);
            let s = &mut comps[c as usize - 1];
            s.area += 1;
            s.sum_i += i as f64;
            s.sum_j += j as f64;
            s.border |= i == 0 || j == 0 || i + 1 == h || j + 1 == w;
        }
        Labelling { labels, w, comps }
    }

    /// The pixels `(row, column)` of component `id`, in raster order.
    pub fn pixels(&self, id: usize) -> Vec<(usize, usize)> {
        let want = id as u32 + 1;
        self.labels
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == want)
            .map(|(k, _)| (k / self.w, k % self.w))
            .collect()
    }
}

/// One connected component: its pixels in raster order and whether it touches the
/// image border.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub pixels: Vec<(usize, usize)>,
    pub touches_border: bool,
}

/// The 4-connected components of a mask, numbered in raster-scan order of their first
/// pixel (see [`Labelling`]).
pub fn connected_components(mask: &Array2<bool>) -> Vec<Component> {
    let (h, w) = mask.dim();
    let lab = Labelling::new(h, w, |i, j| mask[[i, j]]);
    let mut pixels: Vec<Vec<(usize, usize)>> = vec![Vec::new(); lab.comps.len()];
    for (k, &l) in lab.labels.iter().enumerate() {
        if l > 0 {
            pixels[l as usize - 1].push((k / w, k % w));
        }
    }
    lab.comps
        .iter()
        .zip(pixels)
        .map(|(s, px)| Component {
            pixels: px,
            touches_border: s.border,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mask from rows of '#' (inside) and '.'.
    pub(crate) fn mask(rows: &[&str]) -> Array2<bool> {
        Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| {
            rows[i].as_bytes()[j] == b'#'
        })
    }

    #[test]
    fn diagonal_neighbours_are_not_connected() {
        let m = mask(&["#..", ".#.", "..#"]);
        let c = connected_components(&m);
        assert_eq!(c.len(), 3);
        assert_eq!(c[1].pixels, vec![(1, 1)]);
        assert!(c[0].touches_border && !c[1].touches_border && c[2].touches_border);
    }

    #[test]
    fn a_u_shape_is_one_component_after_its_arms_merge() {
        // The arms get different provisional labels and meet on the bottom row.
        let m = mask(&[".....", ".#.#.", ".#.#.", ".###.", "....."]);
        let c = connected_components(&m);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].pixels.len(), 7);
        assert!(!c[0].touches_border);
        let lab = Labelling::new(5, 5, |i, j| m[[i, j]]);
        // Centroid: rows 1+1+2+2+3+3+3 = 15, columns 1+3+1+3+1+2+3 = 14.
        assert_eq!(
            lab.comps,
            vec![ComponentStats {
                area: 7,
                sum_i: 15.0,
                sum_j: 14.0,
                border: false
            }]
        );
        assert_eq!(lab.pixels(0), c[0].pixels);
        assert!(lab.pixels(1).is_empty());
    }

    #[test]
    fn components_are_numbered_in_scan_order_of_their_first_pixel() {
        // The right blob starts on row 0, the left one on row 1.
        let m = mask(&["...#", "#..#", "#..."]);
        let c = connected_components(&m);
        assert_eq!(c[0].pixels, vec![(0, 3), (1, 3)]);
        assert_eq!(c[1].pixels, vec![(1, 0), (2, 0)]);
        assert!(connected_components(&mask(&["...."])).is_empty());
    }
}
