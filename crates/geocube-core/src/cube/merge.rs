//! Merging patches into a chunk, and the pixel rule of the whole cube:
//! **NaN and the source's nodata never overwrite data already in the cube**,
//! but are written where the cube has nothing yet, so source values stay
//! bit-exact (smart-geocubes keeps NaN borders from overwriting; we extend
//! that to the nodata value).

use std::sync::Arc;

use ndarray::{Array2, ArrayD, Axis, Ix2, IxDyn, Slice};
use zarrs::array::Array;

use super::cache::ChunkSource;
use super::store::IcechunkSyncStore;
use super::write::{ChunkJob, PatchPlan};
use super::{corrupt_chunk, u64s};
use crate::dataset::CubeElement;
use crate::patch::Patch;
use crate::{Error, Result, Window};

/// Decode a chunk once, merge every member patch into it in order, encode
/// it once, and keep the merged chunk in the cache.
pub(super) fn merge_chunk<T: CubeElement>(
    array: &Array<IcechunkSyncStore>,
    source: &ChunkSource<'_>,
    job: &ChunkJob,
    name: &str,
    members: &[usize],
    patches: &[Patch],
    plans: &[PatchPlan],
) -> Result<()> {
    let (ch, cw) = job.chunk_shape;
    let chunk_window = Window {
        row: job.ty * ch,
        col: job.tx * cw,
        height: ch,
        width: cw,
    };
    let mut idx = vec![job.ty, job.tx];
    let mut full_shape = vec![ch, cw];
    if let Some(t) = job.t {
        idx.insert(0, t);
        full_shape.insert(0, 1);
    }
    let idx = u64s(&idx);
    let bad_shape =
        |e: ndarray::ShapeError| corrupt_chunk(array, &idx, format!("unexpected shape: {e}"));
    let mut chunk: Array2<T> = match source.take_cached::<T>(array, &idx) {
        // Out of the cache: no copy unless a reader still holds it.
        Some(cached) => Arc::unwrap_or_clone(cached),
        None => array
            .retrieve_chunk_if_exists::<ArrayD<T>>(&idx)
            .map_err(Error::zarr)?
            .unwrap_or_else(|| ArrayD::from_elem(IxDyn(&full_shape), T::fill()))
            .into_shape_with_order((ch, cw))
            .map_err(bad_shape)?,
    };
    {
        let mut view = chunk.view_mut();
        for &i in members {
            let (patch, plan) = (&patches[i], &plans[i]);
            let Some(layer) = patch.layers.get(name) else {
                continue;
            };
            let Some(data) = layer.data.as_array::<T>() else {
                continue;
            };
            let data =
                data.view()
                    .into_dimensionality::<Ix2>()
                    .map_err(|e| Error::InvalidPatch {
                        id: patch.id.clone(),
                        reason: format!("variable `{name}` is not 2-D: {e}"),
                    })?;
            let Some(inter) = plan.cube_window.intersection(&chunk_window) else {
                continue;
            };
            let nodata = layer.nodata;
            // Both sides as 2-D views of the intersection, zipped row-major:
            // no per-pixel index arithmetic or bounds checks.
            let (pr, pc) = (
                inter.row - plan.cube_window.row + plan.patch_window.row,
                inter.col - plan.cube_window.col + plan.patch_window.col,
            );
            let (cr, cc) = (inter.row - chunk_window.row, inter.col - chunk_window.col);
            let src = data
                .slice_axis(Axis(0), Slice::from(pr..pr + inter.height))
                .slice_axis_move(Axis(1), Slice::from(pc..pc + inter.width));
            let dst = view
                .view_mut()
                .slice_axis_move(Axis(0), Slice::from(cr..cr + inter.height))
                .slice_axis_move(Axis(1), Slice::from(cc..cc + inter.width));
            ndarray::Zip::from(dst).and(src).for_each(|old, &new| {
                let invalid = new.is_fill() || nodata.is_some_and(|n| new.is_nodata(n));
                if !invalid || old.is_fill() {
                    *old = new;
                }
            });
        }
    }
    let chunk = chunk.into_shape_with_order(full_shape).map_err(bad_shape)?;
    array.store_chunk(&idx, &chunk).map_err(Error::zarr)?;
    let chunk = chunk.into_shape_with_order((ch, cw)).map_err(bad_shape)?;
    source.keep(array, &idx, Arc::new(chunk));
    Ok(())
}
