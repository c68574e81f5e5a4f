//! [`Window`]: a rectangle of pixel indices.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// A rectangle of pixels: `height` rows from `row`, `width` columns from `col`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// First row.
    pub row: usize,
    /// First column.
    pub col: usize,
    /// Number of rows.
    pub height: usize,
    /// Number of columns.
    pub width: usize,
}

impl Window {
    /// A window from its first row/column and size.
    #[must_use]
    pub fn new(row: usize, col: usize, height: usize, width: usize) -> Window {
        Window {
            row,
            col,
            height,
            width,
        }
    }

    /// The row indices covered.
    #[must_use]
    pub fn rows(&self) -> Range<usize> {
        self.row..self.row + self.height
    }

    /// The column indices covered.
    #[must_use]
    pub fn cols(&self) -> Range<usize> {
        self.col..self.col + self.width
    }

    /// True when the window holds no pixel.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.height == 0 || self.width == 0
    }

    /// The pixels two windows share, `None` when none.
    #[must_use]
    pub fn intersection(&self, other: &Window) -> Option<Window> {
        let r0 = self.row.max(other.row);
        let r1 = (self.row + self.height).min(other.row + other.height);
        let c0 = self.col.max(other.col);
        let c1 = (self.col + self.width).min(other.col + other.width);
        (r1 > r0 && c1 > c0).then(|| Window::new(r0, c0, r1 - r0, c1 - c0))
    }

    /// Whether `other` lies entirely inside this window.
    #[must_use]
    pub fn contains(&self, other: &Window) -> bool {
        other.row >= self.row
            && other.col >= self.col
            && other.row + other.height <= self.row + self.height
            && other.col + other.width <= self.col + self.width
    }
}

pub(super) fn bounding_window(a: &Window, b: &Window) -> Window {
    let r0 = a.row.min(b.row);
    let c0 = a.col.min(b.col);
    let r1 = (a.row + a.height).max(b.row + b.height);
    let c1 = (a.col + a.width).max(b.col + b.width);
    Window::new(r0, c0, r1 - r0, c1 - c0)
}
