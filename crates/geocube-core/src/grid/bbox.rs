//! [`BoundingBox`]: an axis-aligned rectangle in some CRS.

use std::fmt;

use geo::{Coord, Polygon, Rect};
use serde::{Deserialize, Serialize};

/// An axis-aligned rectangle `[left, bottom, right, top]` in some CRS.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Minimum x.
    pub left: f64,
    /// Minimum y.
    pub bottom: f64,
    /// Maximum x.
    pub right: f64,
    /// Maximum y.
    pub top: f64,
}

impl BoundingBox {
    /// A box from its four edges (no validation; see [`BoundingBox::is_empty`]).
    #[must_use]
    pub fn new(left: f64, bottom: f64, right: f64, top: f64) -> BoundingBox {
        BoundingBox {
            left,
            bottom,
            right,
            top,
        }
    }

    /// `right - left`.
    #[must_use]
    pub fn width(&self) -> f64 {
        self.right - self.left
    }

    /// `top - bottom`.
    #[must_use]
    pub fn height(&self) -> f64 {
        self.top - self.bottom
    }

    /// True when the box has no area, is inverted or has a non-finite edge.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !(self.left.is_finite()
            && self.right.is_finite()
            && self.bottom.is_finite()
            && self.top.is_finite())
            || self.right <= self.left
            || self.top <= self.bottom
    }

    /// The common part of two boxes, `None` when they do not overlap with a
    /// positive area.
    #[must_use]
    pub fn intersection(&self, other: &BoundingBox) -> Option<BoundingBox> {
        let b = BoundingBox::new(
            self.left.max(other.left),
            self.bottom.max(other.bottom),
            self.right.min(other.right),
            self.top.min(other.top),
        );
        (!b.is_empty()).then_some(b)
    }

    /// The smallest box holding both.
    #[must_use]
    pub fn union(&self, other: &BoundingBox) -> BoundingBox {
        BoundingBox::new(
            self.left.min(other.left),
            self.bottom.min(other.bottom),
            self.right.max(other.right),
            self.top.max(other.top),
        )
    }

    /// Whether `other` lies inside this box, allowing `tol` (CRS units) slack.
    #[must_use]
    pub fn contains_bbox(&self, other: &BoundingBox, tol: f64) -> bool {
        other.left >= self.left - tol
            && other.right <= self.right + tol
            && other.bottom >= self.bottom - tol
            && other.top <= self.top + tol
    }

    /// The box as a `geo` rectangle.
    #[must_use]
    pub fn to_rect(&self) -> Rect<f64> {
        Rect::new(
            Coord {
                x: self.left,
                y: self.bottom,
            },
            Coord {
                x: self.right,
                y: self.top,
            },
        )
    }

    /// The box as a closed polygon (counter-clockwise from the bottom-left).
    #[must_use]
    pub fn to_polygon(&self) -> Polygon<f64> {
        self.to_rect().to_polygon()
    }

    /// The bounding box of a `geo` rectangle.
    #[must_use]
    pub fn from_rect(r: Rect<f64>) -> BoundingBox {
        BoundingBox::new(r.min().x, r.min().y, r.max().x, r.max().y)
    }
}

impl fmt::Display for BoundingBox {
    /// `[left, bottom, right, top]`; values of 10¹⁵ and beyond in exponent
    /// form (`1e308`), so an absurd box stays readable in a message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Num(f64);
        impl fmt::Display for Num {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.0.is_finite() && self.0.abs() >= 1e15 {
                    write!(f, "{:e}", self.0)
                } else {
                    write!(f, "{}", self.0)
                }
            }
        }
        write!(
            f,
            "[{}, {}, {}, {}]",
            Num(self.left),
            Num(self.bottom),
            Num(self.right),
            Num(self.top)
        )
    }
}
