//! Merging patches into a chunk, and the pixel rule of the whole cube:
//! **NaN and the source's nodata never overwrite data already in the cube**,
//! but are written where the cube has nothing yet, so source values stay
//! bit-exact (smart-geocubes keeps NaN borders from overwriting; we extend
//! that to the nodata value).

use ndarray::{Array2, Axis, Ix2, Slice};

use super::write::PatchPlan;
use crate::dataset::CubeElement;
use crate::patch::Patch;
use crate::{Error, Result, Window};

/// Merge `patch`'s variable `name` into `chunk`, the decoded chunk covering
/// `chunk_window` of the cube, under the pixel rule: NaN and nodata only
/// fill pixels the cube has nothing in yet.
pub(super) fn merge_patch_into<T: CubeElement>(
    chunk: &mut Array2<T>,
    chunk_window: Window,
    name: &str,
    patch: &Patch,
    plan: &PatchPlan,
) -> Result<()> {
    let Some(layer) = patch.layers.get(name) else {
        return Ok(());
    };
    let Some(data) = layer.data.as_array::<T>() else {
        return Ok(());
    };
    let data = data
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|e| Error::InvalidPatch {
            id: patch.id.clone(),
            reason: format!("variable `{name}` is not 2-D: {e}"),
        })?;
    let Some(inter) = plan.cube_window.intersection(&chunk_window) else {
        return Ok(());
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
    let dst = chunk
        .view_mut()
        .slice_axis_move(Axis(0), Slice::from(cr..cr + inter.height))
        .slice_axis_move(Axis(1), Slice::from(cc..cc + inter.width));
    ndarray::Zip::from(dst).and(src).for_each(|old, &new| {
        let invalid = new.is_fill() || nodata.is_some_and(|n| new.is_nodata(n));
        if !invalid || old.is_fill() {
            *old = new;
        }
    });
    Ok(())
}

/// Re-apply our change of one pixel onto a chunk another writer changed
/// since our base: where we changed the pixel (`ours` differs from `base`),
/// ours wins unless it holds no data (fill or `nodata`) and theirs does:
/// the pixel rule, seen from the other side. Where we did not, theirs stays.
pub(super) fn merge_three_way<T: CubeElement>(
    theirs: &mut Array2<T>,
    ours: &Array2<T>,
    base: &Array2<T>,
    nodata: Option<f64>,
) {
    let no_data = |v: T| v.is_fill() || nodata.is_some_and(|n| v.is_nodata(n));
    let same = |a: T, b: T| a == b || (a.is_fill() && b.is_fill());
    ndarray::Zip::from(theirs)
        .and(ours)
        .and(base)
        .for_each(|t, &o, &b| {
            if !same(o, b) && (!no_data(o) || no_data(*t)) {
                *t = o;
            }
        });
}
