//! Collects the labelled primitives of the anatomy; the structures add themselves in
//! the modules `vertebra`, `disc`, `foramen` and `canal`.

use super::{Level, P_CORTEX, P_MARROW, Prim, Role, Tissue, Vertebra};
use crate::phantom::shapes::{Frame, Shape};
use crate::volume::geometry::Vec3;

#[derive(Default)]
pub(super) struct Builder {
    pub prims: Vec<Prim>,
}

impl Builder {
    pub(super) fn push(&mut self, label: Tissue, priority: u8, shape: Shape) {
        self.push_role(label, priority, Role::Tissue, shape);
    }

    pub(super) fn push_role(&mut self, label: Tissue, priority: u8, role: Role, shape: Shape) {
        let aabb = shape.aabb();
        self.prims.push(Prim {
            label,
            priority,
            role,
            shape,
            aabb,
        });
    }

    /// A bone: cortical outer superquadric and a marrow core `cortex_mm` inside it
    /// (none where the bone is too thin for one).
    pub(super) fn bone(
        &mut self,
        frame: Frame,
        radii: Vec3,
        exps: [u8; 3],
        v_max: f64,
        cortex_mm: f64,
    ) {
        self.push(
            Tissue::Cortical,
            P_CORTEX,
            Shape::SuperQuadric {
                frame,
                radii_mm: radii,
                exps,
                v_max_mm: v_max,
            },
        );
        let inner = radii.map(|r| r - cortex_mm);
        if inner.iter().all(|&r| r > 0.8) {
            self.push(
                Tissue::Marrow,
                P_MARROW,
                Shape::SuperQuadric {
                    frame,
                    radii_mm: inner,
                    exps,
                    v_max_mm: v_max - cortex_mm,
                },
            );
        }
    }

    /// `v`'s frame moved to the local point `centre` (u, v, w of the vertebra).
    pub(super) fn local(&self, v: &Vertebra, centre: Vec3) -> Frame {
        v.frame.with_origin(v.frame.to_world(centre))
    }

    /// The primitives by descending priority (stable: equal priorities keep the order
    /// they were added in), with each foramen of `levels` pointed at its envelope.
    pub(super) fn into_sorted(self, levels: &mut [Level]) -> Vec<Prim> {
        let mut prims = self.prims;
        prims.sort_by_key(|p| std::cmp::Reverse(p.priority));
        for (idx, p) in prims.iter().enumerate() {
            if let Role::Envelope(level, side) = p.role
                && let Some(f) = levels[level].foramina.as_mut()
            {
                f[side.index()].envelope = idx;
            }
        }
        prims
    }
}
