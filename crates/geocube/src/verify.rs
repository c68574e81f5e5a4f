//! `verify`: is the cube what its `loaded_patches` say it is?
//!
//! Both directions of the contract "pixels and id: both or neither":
//! every recorded id has its chunks in the repository, and every chunk in
//! the repository lies under a recorded id's footprint. Optionally, a
//! number of recorded patches are downloaded again and their valid pixels
//! compared with the cube's.
//!
//! Footprints come from the source (`Source::patch_refs`, EPSG:4326) and
//! are mapped onto the cube grid by their bounding box, which the round trip
//! through lon/lat may widen by a pixel or so; a patch's chunks are
//! therefore those its window *inset* by `EDGE_TOLERANCE_PX` (2) touches, and a
//! written chunk is accounted for when it touches a recorded window *grown*
//! by as much.
//!
//! Zarr stores no chunk that is all fill value (zarrs and zarr-python
//! alike), so a variable may lack a chunk its patch did write: over the
//! sea, ArcticDEM's datamask chunks are all `false`, the fill, and absent,
//! while the dem chunks beside them (nodata -9999, not the fill NaN) are
//! there. A write puts every variable of a chunk in one commit, so a
//! recorded patch's chunk counts as missing only when no variable holds it.
//! (A patch whose pixels are the fill in every variable of a chunk leaves
//! nothing to find and is reported missing there.)

use std::collections::BTreeSet;

use geocube_core::cube::ChunkAddr;
use geocube_core::{CubeElement, PatchRef, TypedArray, Window, with_typed_array};
use ndarray::{ArrayD, Axis, Slice};
use serde::Serialize;

use crate::{Accessor, Error, Result};

/// Pixels by which footprint windows are shrunk (for "this id's chunks must
/// exist") or grown (for "this chunk belongs to an id"); see the module docs.
pub(crate) const EDGE_TOLERANCE_PX: usize = 2;

/// What [`Accessor::verify`] checks beyond the bookkeeping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Download this many recorded patches again (spread evenly over the
    /// recorded ids) and compare their valid pixels with the cube's: those a
    /// write puts over existing data (not NaN, not the integer fill 0, not
    /// the source's nodata), outside other recorded patches' footprints.
    pub check_source: usize,
}

/// A recorded patch whose chunk of a variable is not in the repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MissingChunk {
    /// The patch id.
    pub id: String,
    /// The variable.
    pub variable: String,
    /// `(time index, chunk row, chunk column)`.
    pub chunk: (Option<usize>, usize, usize),
}

/// A downloaded patch whose valid pixels differ from the cube's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceMismatch {
    /// The patch id.
    pub id: String,
    /// The variable.
    pub variable: String,
    /// Valid source pixels compared (outside other patches' footprints).
    pub compared: usize,
    /// Of those, how many differ in the cube.
    pub differing: usize,
}

/// The findings of [`Accessor::verify`]; [`VerifyReport::is_consistent`]
/// says whether there are any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Recorded ids.
    pub ids: usize,
    /// Chunks in the repository.
    pub chunks: usize,
    /// Recorded ids the source does not know (no footprint to check).
    pub unknown_ids: Vec<String>,
    /// Chunks a recorded patch should have written but the repository lacks.
    pub missing_chunks: Vec<MissingChunk>,
    /// Chunks in the repository under no recorded patch's footprint:
    /// `(variable, time index, chunk row, chunk column)`.
    pub orphan_chunks: Vec<(String, Option<usize>, usize, usize)>,
    /// Patches downloaded again and compared.
    pub source_checked: Vec<String>,
    /// Of those, the ones whose pixels differ.
    pub source_mismatches: Vec<SourceMismatch>,
}

impl VerifyReport {
    /// Whether every recorded id has its pixels and every chunk its id.
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        self.unknown_ids.is_empty()
            && self.missing_chunks.is_empty()
            && self.orphan_chunks.is_empty()
            && self.source_mismatches.is_empty()
    }
}

/// A recorded patch on the cube grid.
struct Placed {
    patch: PatchRef,
    window: Window,
    time: Option<usize>,
}

impl Accessor {
    /// Check the cube against its `loaded_patches` in both directions, and
    /// optionally against the source (see [`VerifyOptions`]). Reads only
    /// the branch tip; concurrent loads may make a running verify see a
    /// state that is already gone, never an inconsistent one.
    ///
    /// # Errors
    /// [`Error::NotCreated`]; storage and source errors (a failed download
    /// of a spot check is an error, not a finding).
    pub fn verify(&self, opts: VerifyOptions) -> Result<VerifyReport> {
        let cube = self.cube()?;
        let layout = cube.layout();
        let ids = cube.loaded_patches()?;
        let written = cube.written_chunks()?;
        let refs: Vec<PatchRef> = self.index_of(&ids)?;
        let known: BTreeSet<&str> = refs.iter().map(|p| p.id.as_str()).collect();
        let mut report = VerifyReport {
            ids: ids.len(),
            chunks: written.len(),
            unknown_ids: ids
                .iter()
                .filter(|id| !known.contains(id.as_str()))
                .cloned()
                .collect(),
            ..VerifyReport::default()
        };
        let wgs84 = geocube_core::Crs::wgs84();
        let mut placed = Vec::new();
        for p in refs {
            let time = match (&layout.time, p.time) {
                (Some(axis), Some(t)) => axis.iter().position(|s| *s == t),
                _ => None,
            };
            if let Some((window, _)) = layout.geobox.crop_geometry(&p.geometry, &wgs84)? {
                placed.push(Placed {
                    patch: p,
                    window,
                    time,
                });
            }
        }
        let tiles = layout
            .geobox
            .tiles(layout.chunk_shape.0, layout.chunk_shape.1);
        let full = layout.geobox.full_window();
        let mut accounted: BTreeSet<(Option<usize>, usize, usize)> = BTreeSet::new();
        for pl in &placed {
            for (row, col) in tiles.touching_window(grow(pl.window, full)) {
                accounted.insert((pl.time, row, col));
            }
            let Some(inner) = inset(pl.window) else {
                continue;
            };
            for (row, col) in tiles.touching_window(inner) {
                let addr = |v: &geocube_core::cube::VariableLayout| ChunkAddr {
                    variable: v.name.clone(),
                    time: pl.time,
                    row,
                    col,
                };
                // Zarr stores no chunk that is all fill value, so one
                // variable may rightly lack a chunk another holds (see the
                // module docs); the chunk is missing when none holds it.
                if layout.variables.iter().any(|v| written.contains(&addr(v))) {
                    continue;
                }
                for v in &layout.variables {
                    report.missing_chunks.push(MissingChunk {
                        id: pl.patch.id.clone(),
                        variable: v.name.clone(),
                        chunk: (pl.time, row, col),
                    });
                }
            }
        }
        report.orphan_chunks = written
            .iter()
            .filter(|c| !accounted.contains(&(c.time, c.row, c.col)))
            .map(|c| (c.variable.clone(), c.time, c.row, c.col))
            .collect();
        if opts.check_source > 0 && !placed.is_empty() {
            let n = opts.check_source.min(placed.len());
            for k in 0..n {
                let i = k * placed.len() / n;
                self.check_against_source(&cube, &placed, i, &mut report)?;
            }
        }
        Ok(report)
    }

    /// Download `placed[i]` again and compare its valid pixels with the
    /// cube's, outside every other recorded patch's footprint (where a later
    /// patch may rightly have overwritten them).
    fn check_against_source(
        &self,
        cube: &geocube_core::Cube,
        placed: &[Placed],
        i: usize,
        report: &mut VerifyReport,
    ) -> Result<()> {
        let pl = &placed[i];
        let patch = self
            .source()
            .download(&pl.patch)
            .map_err(|e| Error::Verify {
                id: pl.patch.id.clone(),
                source: e,
            })?;
        report.source_checked.push(pl.patch.id.clone());
        let Some((cube_w, patch_w)) = cube.layout().geobox.overlap_roi(&patch.geobox)? else {
            return Ok(());
        };
        let time = pl.time.map(|t| vec![t]);
        let read = cube.read_window(cube_w, time.as_deref())?;
        // Pixels of the window that other recorded patches may rightly have
        // overwritten: marked once, not looked up per pixel.
        let mut shared = ndarray::Array2::from_elem((cube_w.height, cube_w.width), false);
        let full = cube.layout().geobox.full_window();
        for (_, o) in placed
            .iter()
            .enumerate()
            .filter(|(j, o)| *j != i && o.time == pl.time)
        {
            if let Some(w) = grow(o.window, full).intersection(&cube_w) {
                let (r0, c0) = (w.row - cube_w.row, w.col - cube_w.col);
                shared
                    .slice_axis_mut(Axis(0), Slice::from(r0..r0 + w.height))
                    .slice_axis_move(Axis(1), Slice::from(c0..c0 + w.width))
                    .fill(true);
            }
        }
        let (h, w) = patch.geobox.shape();
        for (name, layer) in &patch.layers {
            let Some(var) = read.variable(name) else {
                continue;
            };
            // A source's patch is checked like a write checks it: a layer off
            // its grid is the source's error, not a finding (and no panic).
            if layer.data.shape() != [h, w] {
                return Err(geocube_core::Error::InvalidPatch {
                    id: pl.patch.id.clone(),
                    reason: format!(
                        "variable `{name}` has shape {:?} but the patch grid is {h}x{w}",
                        layer.data.shape()
                    ),
                }
                .into());
            }
            let src = as_f64(&layer.data);
            let integral = !matches!(layer.data, TypedArray::Float32(_) | TypedArray::Float64(_));
            let dst = as_f64(&var.data);
            // The cube's window is `(h, w)`, or `(1, h, w)` on a temporal cube.
            let dst = dst.to_shape((cube_w.height, cube_w.width)).map_err(|e| {
                geocube_core::Error::GridMismatch(format!(
                    "the cube's window of patch `{}` is not {}x{}: {e}",
                    pl.patch.id, cube_w.height, cube_w.width
                ))
            })?;
            let (mut compared, mut differing) = (0, 0);
            for ((r, c), &skip) in shared.indexed_iter() {
                let s = src[[patch_w.row + r, patch_w.col + c]];
                // The merge rule: fill (NaN, integer 0) and nodata never
                // overwrite data, so the cube may rightly differ there.
                if skip
                    || s.is_nan()
                    || (integral && s == 0.0)
                    || layer.nodata.is_some_and(|n| s == n)
                {
                    continue;
                }
                compared += 1;
                if dst[[r, c]].to_bits() != s.to_bits() {
                    differing += 1;
                }
            }
            if differing > 0 {
                report.source_mismatches.push(SourceMismatch {
                    id: pl.patch.id.clone(),
                    variable: name.clone(),
                    compared,
                    differing,
                });
            }
        }
        Ok(())
    }
}

fn as_f64(a: &TypedArray) -> ArrayD<f64> {
    with_typed_array!(a, |x: T| x.mapv(CubeElement::to_f64))
}

fn inset(w: Window) -> Option<Window> {
    let k = EDGE_TOLERANCE_PX;
    (w.height > 2 * k && w.width > 2 * k)
        .then(|| Window::new(w.row + k, w.col + k, w.height - 2 * k, w.width - 2 * k))
}

fn grow(w: Window, full: Window) -> Window {
    let k = EDGE_TOLERANCE_PX;
    let (r0, c0) = (w.row.saturating_sub(k), w.col.saturating_sub(k));
    let (r1, c1) = (
        (w.row + w.height + k).min(full.height),
        (w.col + w.width + k).min(full.width),
    );
    Window::new(r0, c0, r1 - r0, c1 - c0)
}

/// What [`Accessor::repair`] did, and what `verify` says afterwards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// Ids taken out of `loaded_patches`: missing chunks, unknown to the
    /// source, or pixels that differ from it.
    pub forgotten: Vec<String>,
    /// Orphan chunks erased.
    pub erased: usize,
    /// Forgotten ids the source knows, downloaded and written again.
    pub reloaded: Vec<String>,
    /// `verify` (without source checks) after the repair.
    pub after: VerifyReport,
}

impl Accessor {
    /// Repair what [`Accessor::verify`] found: drop the ids whose pixels are
    /// missing or wrong (and ids the source does not know), erase orphan
    /// chunks, both in one commit, then download the dropped patches the
    /// source knows again. Ends with a fresh `verify`.
    ///
    /// # Errors
    /// [`Error::MissingPatches`] for an offline accessor that would have to
    /// download; storage, source and download errors.
    pub fn repair(&self, found: &VerifyReport) -> Result<RepairReport> {
        let cube = self.cube()?;
        let mut forget: BTreeSet<String> = found.unknown_ids.iter().cloned().collect();
        forget.extend(found.missing_chunks.iter().map(|m| m.id.clone()));
        forget.extend(found.source_mismatches.iter().map(|m| m.id.clone()));
        let erase: Vec<ChunkAddr> = found
            .orphan_chunks
            .iter()
            .map(|(variable, time, row, col)| ChunkAddr {
                variable: variable.clone(),
                time: *time,
                row: *row,
                col: *col,
            })
            .collect();
        let forget: Vec<String> = forget.into_iter().collect();
        let out = cube.forget(&forget, &erase)?;
        let known: Vec<String> = out
            .forgotten
            .iter()
            .filter(|id| !found.unknown_ids.contains(id))
            .cloned()
            .collect();
        let refs = self.index_of(&known)?;
        let mut reloaded: Vec<String> = refs.iter().map(|p| p.id.clone()).collect();
        reloaded.sort();
        if !refs.is_empty() {
            self.fetch(&cube, refs, &crate::NoProgress)?;
        }
        Ok(RepairReport {
            forgotten: out.forgotten,
            erased: out.erased,
            reloaded,
            after: self.verify(VerifyOptions::default())?,
        })
    }
}
