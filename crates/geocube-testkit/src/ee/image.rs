//! Images as the evaluator builds them: named, typed bands over a tree of
//! operations, rendered row by row over a grid into interleaved pixels.
//!
//! Band selection and renaming are not nodes: [`Image::select`] pushes
//! the choice of bands down to the mosaics and constants, so that a
//! request for 3 of 64 bands computes 3. Casts change types only: values
//! travel as f64 and take their band's type when written.
//!
//! Each band has a mask and each pixel a footprint (where the image is
//! defined at all, e.g. inside a clip's geometry): `unmask` with
//! `sameFootprint` fills masked pixels only inside the footprint.

use std::sync::Arc;

use rayon::prelude::*;

use super::catalog::{self, Collection};
use super::geometry::Polygon;
use super::grid::PixelGrid;
use super::pixel_type::PixelType;

/// A band of an image.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Band {
    pub(crate) name: String,
    pub(crate) ty: PixelType,
}

/// The operations of an image, each node with as many bands as its image.
#[derive(Clone, Debug)]
enum Node {
    /// The mosaic of `images` of `collection`, bands `bands`.
    Mosaic {
        collection: &'static Collection,
        images: Arc<[usize]>,
        bands: Vec<usize>,
    },
    /// Constant bands, defined everywhere.
    Constant { values: Vec<f64> },
    /// Masked, and outside the footprint, where the centre is not in `polygon`.
    Clip {
        input: Box<Node>,
        polygon: Arc<Polygon>,
    },
    /// Masked pixels of `input` take `value`'s (one band for all, or one
    /// per band).
    Unmask {
        input: Box<Node>,
        value: Box<Node>,
        value_bands: usize,
        same_footprint: bool,
    },
}

/// An image: its bands and how to compute them.
#[derive(Clone, Debug)]
pub(crate) struct Image {
    pub(crate) bands: Vec<Band>,
    node: Node,
}

/// One row of an image being rendered: per pixel its band values, band
/// masks and footprint, pixel-major (`values[x * bands + b]`).
struct Row {
    bands: usize,
    values: Vec<f64>,
    valid: Vec<bool>,
    footprint: Vec<bool>,
}

impl Row {
    fn new(width: usize, bands: usize) -> Self {
        Self {
            bands,
            values: vec![0.0; width * bands],
            valid: vec![false; width * bands],
            footprint: vec![false; width],
        }
    }
}

impl Node {
    fn render(&self, centres: &[Option<(f64, f64)>], out: &mut Row) {
        let nb = out.bands;
        match self {
            Node::Mosaic {
                collection,
                images,
                bands,
            } => {
                for (x, centre) in centres.iter().enumerate() {
                    let px = x * nb..(x + 1) * nb;
                    let cell = centre.and_then(|(lon, lat)| catalog::cell(lon, lat));
                    let (covered, image) = cell
                        .as_ref()
                        .map_or((false, None), |c| collection.mosaic(images, c));
                    out.footprint[x] = covered;
                    match (image, cell) {
                        (Some(i), Some(c)) => {
                            collection.values(i, bands, &c, &mut out.values[px.clone()]);
                            out.valid[px].fill(true);
                        }
                        _ => {
                            out.values[px.clone()].fill(0.0);
                            out.valid[px].fill(false);
                        }
                    }
                }
            }
            Node::Constant { values } => {
                for x in 0..centres.len() {
                    out.values[x * nb..(x + 1) * nb].copy_from_slice(values);
                }
                out.valid.fill(true);
                out.footprint.fill(true);
            }
            Node::Clip { input, polygon } => {
                input.render(centres, out);
                for (x, centre) in centres.iter().enumerate() {
                    let inside = centre.is_some_and(|(lon, lat)| polygon.contains(lon, lat));
                    if !inside {
                        out.footprint[x] = false;
                        out.valid[x * nb..(x + 1) * nb].fill(false);
                    }
                }
            }
            Node::Unmask {
                input,
                value,
                value_bands,
                same_footprint,
            } => {
                input.render(centres, out);
                let mut fill = Row::new(centres.len(), *value_bands);
                value.render(centres, &mut fill);
                for x in 0..centres.len() {
                    if *same_footprint && !out.footprint[x] {
                        continue;
                    }
                    for b in 0..nb {
                        let vb = if *value_bands == 1 { 0 } else { b };
                        let (i, j) = (x * nb + b, x * value_bands + vb);
                        if !out.valid[i] && fill.valid[j] {
                            out.values[i] = fill.values[j];
                            out.valid[i] = true;
                        }
                    }
                    if !*same_footprint {
                        out.footprint[x] |= fill.footprint[x];
                    }
                }
            }
        }
    }

    /// This node with only bands `picks` (indices, in that order).
    fn select(self, picks: &[usize]) -> Node {
        match self {
            Node::Mosaic {
                collection,
                images,
                bands,
            } => Node::Mosaic {
                collection,
                images,
                bands: picks.iter().map(|&p| bands[p]).collect(),
            },
            Node::Constant { values } => Node::Constant {
                values: picks.iter().map(|&p| values[p]).collect(),
            },
            Node::Clip { input, polygon } => Node::Clip {
                input: Box::new(input.select(picks)),
                polygon,
            },
            Node::Unmask {
                input,
                value,
                value_bands,
                same_footprint,
            } => {
                let (value, value_bands) = if value_bands == 1 {
                    (value, 1)
                } else {
                    (Box::new(value.select(picks)), picks.len())
                };
                Node::Unmask {
                    input: Box::new(input.select(picks)),
                    value,
                    value_bands,
                    same_footprint,
                }
            }
        }
    }
}

impl Image {
    /// The mosaic of `images` (indices in collection order) of
    /// `collection`. Like Earth Engine's, the mosaic of no images has no
    /// bands (a date filter that matches nothing leaves nothing to select).
    pub(crate) fn mosaic(collection: &'static Collection, images: Arc<[usize]>) -> Self {
        let bands: Vec<usize> = if images.is_empty() {
            Vec::new()
        } else {
            (0..collection.bands.len()).collect()
        };
        Self {
            bands: bands
                .iter()
                .map(|&b| Band {
                    name: collection.bands[b].name.clone(),
                    ty: collection.bands[b].ty,
                })
                .collect(),
            node: Node::Mosaic {
                collection,
                images,
                bands,
            },
        }
    }

    /// `Image.constant`: one band per value, named `constant` (one value)
    /// or `constant_0`, `constant_1`, ….
    pub(crate) fn constant(values: Vec<f64>) -> Self {
        let bands = if values.len() == 1 {
            vec![Band {
                name: "constant".into(),
                ty: PixelType::of_constant(values[0]),
            }]
        } else {
            values
                .iter()
                .enumerate()
                .map(|(i, &v)| Band {
                    name: format!("constant_{i}"),
                    ty: PixelType::of_constant(v),
                })
                .collect()
        };
        Self {
            bands,
            node: Node::Constant { values },
        }
    }

    /// The constant values, if the image is a constant.
    pub(crate) fn constant_values(&self) -> Option<&[f64]> {
        match &self.node {
            Node::Constant { values } => Some(values),
            _ => None,
        }
    }

    /// `Image.clip`.
    #[must_use]
    pub(crate) fn clip(self, polygon: Arc<Polygon>) -> Self {
        Self {
            bands: self.bands,
            node: Node::Clip {
                input: Box::new(self.node),
                polygon,
            },
        }
    }

    /// Bands `picks` (indices, in that order), renamed to `names` if given.
    #[must_use]
    pub(crate) fn select(self, picks: &[usize], names: Option<Vec<String>>) -> Self {
        let mut bands: Vec<Band> = picks.iter().map(|&p| self.bands[p].clone()).collect();
        if let Some(names) = names {
            for (b, n) in bands.iter_mut().zip(names) {
                b.name = n;
            }
        }
        Self {
            bands,
            node: self.node.select(picks),
        }
    }

    /// Every band cast to `ty` (`Image.toFloat` casts to f32).
    #[must_use]
    pub(crate) fn cast(mut self, ty: PixelType) -> Self {
        for b in &mut self.bands {
            b.ty = ty;
        }
        self
    }

    /// `Image.unmask(value, sameFootprint)`; `value` has one band or one
    /// per band of `self` (checked by the caller). Band types follow
    /// [`PixelType::unmasked_with`] for constants and
    /// [`PixelType::union`] otherwise.
    #[must_use]
    pub(crate) fn unmask(self, value: Image, same_footprint: bool) -> Self {
        let value_bands = value.bands.len();
        let constant = value.constant_values().map(<[f64]>::to_vec);
        let bands = self
            .bands
            .iter()
            .enumerate()
            .map(|(b, band)| {
                let vb = if value_bands == 1 { 0 } else { b };
                let ty = match &constant {
                    Some(values) => band.ty.unmasked_with(values[vb]),
                    None => band.ty.union(value.bands[vb].ty),
                };
                Band {
                    name: band.name.clone(),
                    ty,
                }
            })
            .collect();
        Self {
            bands,
            node: Node::Unmask {
                input: Box::new(self.node),
                value: Box::new(value.node),
                value_bands,
                same_footprint,
            },
        }
    }

    /// Bytes per pixel of all bands.
    pub(crate) fn pixel_bytes(&self) -> usize {
        self.bands.iter().map(|b| b.ty.bytes()).sum()
    }

    /// The pixels over `grid`: rows top to bottom, per pixel the bands in
    /// order, each little-endian in its type; masked pixels are 0 (what
    /// Earth Engine sends for them). Rows are rendered in parallel.
    pub(crate) fn render(&self, grid: &PixelGrid) -> Vec<u8> {
        let width = grid.width as usize;
        let row_bytes = width * self.pixel_bytes();
        let mut out = vec![0u8; row_bytes * grid.height as usize];
        if row_bytes == 0 {
            return out;
        }
        let offsets: Vec<usize> = self
            .bands
            .iter()
            .scan(0, |at, b| {
                let o = *at;
                *at += b.ty.bytes();
                Some(o)
            })
            .collect();
        out.par_chunks_mut(row_bytes).enumerate().for_each_init(
            || (Vec::with_capacity(width), Row::new(width, self.bands.len())),
            |(centres, row), (y, bytes)| {
                grid.centres(u32::try_from(y).unwrap_or(u32::MAX), centres);
                self.node.render(centres, row);
                let nb = self.bands.len();
                for (x, pixel) in bytes.chunks_exact_mut(row_bytes / width).enumerate() {
                    for (b, band) in self.bands.iter().enumerate() {
                        let i = x * nb + b;
                        let v = if row.valid[i] { row.values[i] } else { 0.0 };
                        let at = offsets[b];
                        band.ty.write_le(v, &mut pixel[at..at + band.ty.bytes()]);
                    }
                }
            },
        );
        out
    }
}
