"""Grid and resampling: exactness on linear fields, the numpy oracle and SimpleITK, physical extent, clipping."""

from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.phantom import affine_from, render, rotation_x, rotation_z
from corpus.preprocess.grid import EDGE_TOLERANCE, Grid, target_grid
from corpus.preprocess.resample import resample
from corpus.readers.arrival import Arrival, decode_in_background
from tests.corpus.preprocess import numpy_resample

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def signed_permutation(order: tuple[int, ...], signs: tuple[int, ...]) -> np.ndarray:
    matrix = np.zeros((3, 3))
    for column, (row, sign) in enumerate(zip(order, signs, strict=True)):
        matrix[row, column] = sign
    return matrix


def world_of(grid_affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    index = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).reshape(-1, 3)
    return index @ grid_affine[:3, :3].T + grid_affine[:3, 3]


def input_index(affine: np.ndarray, world: np.ndarray) -> np.ndarray:
    inverse = np.linalg.inv(affine)
    return world @ inverse[:3, :3].T + inverse[:3, 3]


shapes = st.tuples(*[st.integers(2, 9)] * 3)
spacings = st.tuples(*[st.floats(0.5, 4.0)] * 3)


@st.composite
def affines(draw: st.DrawFn, oblique: bool) -> np.ndarray:
    spacing = draw(spacings)
    if oblique:
        rotation = random_rotation(np.random.default_rng(draw(st.integers(0, 2**31))))
    else:
        order = draw(st.permutations([0, 1, 2]))
        signs = draw(st.tuples(*[st.sampled_from([-1, 1])] * 3))
        rotation = signed_permutation(tuple(order), signs)
    origin = draw(st.tuples(*[st.floats(-200, 200)] * 3))
    affine = np.eye(4)
    affine[:3, :3] = rotation * np.asarray(spacing)
    affine[:3, 3] = origin
    return affine


@settings(max_examples=60, deadline=None)
@given(shape=shapes, target=spacings, oblique=st.booleans(), data=st.data())
def test_linear_fields_are_reproduced_exactly_and_the_rim_is_filled(shape, target, oblique, data):
    """Trilinear interpolation reproduces any linear HU field; beyond the field of view comes the fill."""
    affine = data.draw(affines(oblique))
    slope = np.array([3.0, -2.0, 5.0])
    values = world_of(affine, shape) @ slope
    array = values.reshape(shape)
    grid = target_grid(shape, affine, target)
    out = resample(array, affine, grid, fill=np.nan).reshape(-1)

    world = world_of(grid.affine, grid.shape)
    index = input_index(affine, world)
    within_centres = np.all((index >= -1e-6) & (index <= np.asarray(shape) - 1 + 1e-6), axis=1)
    outside_field = np.any((index < -0.5 - 1e-4) | (index > np.asarray(shape) - 0.5 + 1e-4), axis=1)
    inside_field = np.all((index > -0.5 + 1e-4) & (index < np.asarray(shape) - 0.5 - 1e-4), axis=1)
    np.testing.assert_allclose(out[within_centres], (world @ slope)[within_centres], rtol=1e-4, atol=1e-2)
    assert np.all(np.isnan(out[outside_field]))
    assert not np.any(np.isnan(out[inside_field]))


@settings(max_examples=40, deadline=None)
@given(shape=st.tuples(*[st.integers(1, 40)] * 3), source=spacings, target=spacings)
def test_grid_extent_matches_the_field_of_view_within_one_target_voxel(shape, source, target):
    affine = np.diag([*source, 1.0])
    grid = target_grid(shape, affine, target)
    extent_in = np.asarray(shape) * np.asarray(source)
    extent_out = np.asarray(grid.shape) * np.asarray(target)
    # Centres within EDGE_TOLERANCE output voxels of the field-of-view edge count as outside (both sides).
    assert np.all(np.abs(extent_out - extent_in) <= np.asarray(target) * (1 + 2 * EDGE_TOLERANCE) + 1e-6)
    # The lattice is anchored at the first input voxel centre (MONAI's anchor).
    steps = (np.asarray(grid.origin) - affine[:3, 3]) / np.asarray(target)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)


@pytest.mark.parametrize(
    ("n", "source", "tolerance"), [(30, 3.0, 0), (164, 1.5, 0), (512, 0.488, 0), (101, 0.7, 1), (60, 2.5, 1)]
)
def test_grid_sizes_match_monai_spacing_below_3mm(n, source, tolerance):
    """MONAI Spacing gives round((n - 1) * source / target + 1) voxels; ours the lattice points inside the FOV."""
    grid = target_grid((n, n, n), np.diag([source, source, source, 1.0]), (1.5, 1.5, 1.5))
    monai = round((n - 1) * source / 1.5 + 1)
    assert abs(grid.shape[0] - monai) <= tolerance


def test_thick_slices_keep_the_outer_half_slices_that_monai_drops():
    """5 mm slices: each outer slice reaches 2.5 mm beyond its centre, so one more target voxel per side."""
    grid = target_grid((28, 28, 28), np.diag([5.0, 5.0, 5.0, 1.0]), (1.5, 1.5, 1.5))
    monai = round(27 * 5.0 / 1.5 + 1)
    assert grid.shape == (monai + 2,) * 3
    assert grid.origin == (-1.5, -1.5, -1.5)


ORIENTATIONS = {
    "identity": np.eye(3),
    "permuted": signed_permutation((2, 0, 1), (1, -1, 1)),
    "permuted_lps": signed_permutation((1, 2, 0), (-1, -1, 1)),
    "oblique": rotation_z(17) @ rotation_x(9),
}
CLIP = (-1024.0, 3071.0)


def assert_same_as_oracle(array, affine, grid, positions=None):
    """Float within 0.01 HU of the numpy oracle; int16 identical but for ties (x.5 before rounding)."""
    floored = np.maximum(array, np.asarray(CLIP[0]).astype(array.dtype))
    reference = numpy_resample.resample(floored, affine, grid, CLIP[0], positions)
    ours = resample(array, affine, grid, CLIP[0], positions, floor=CLIP[0])
    np.testing.assert_allclose(ours, reference, atol=1e-2)
    stored = resample(array, affine, grid, CLIP[0], positions, floor=CLIP[0], clip=CLIP, threads=2)
    expected = np.rint(np.clip(reference, *CLIP))
    tie = np.abs(np.abs(np.clip(reference, *CLIP) % 1.0) - 0.5) < 1e-3
    assert stored.dtype == np.int16
    assert np.all(stored[~tie] == expected[~tie])
    assert np.all(np.abs(stored[tie] - expected[tie]) <= 1)


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
@pytest.mark.parametrize("fortran", [False, True], ids=["c_order", "nifti_order"])
def test_compiled_sampler_matches_the_numpy_oracle(orientation, fortran):
    shape = (40, 30, 20)
    affine = affine_from((0.9, 1.3, 2.2), ORIENTATIONS[orientation], (5.0, -3.0, 10.0), shape)
    array = np.rint(render(affine, shape, noise_hu=20.0, seed=4)).astype(np.int16)
    array[:4] = -3024  # out-of-field marker: air before interpolation
    array = np.asfortranarray(array) if fortran else array
    assert_same_as_oracle(array, affine, target_grid(shape, affine, (1.5, 1.5, 1.5)))


@pytest.mark.parametrize("tilt", [0.0, 18.5])
def test_uneven_and_tilted_stacks_match_the_numpy_oracle(tilt):
    """Uneven gaps (4, 1 and 7 mm) interpolate between real neighbours; a tilt shears the stack axis."""
    gaps = [4.0] * 6 + [1.0] + [7.0] * 5
    positions = np.r_[0.0, np.cumsum(gaps)]
    shape = (48, 40, len(positions))
    affine = np.eye(4)
    affine[:3, :3] = np.diag([0.7, 0.7, 1.0])
    affine[:3, 2] = [0.0, np.sin(np.deg2rad(tilt)), np.cos(np.deg2rad(tilt))]  # unit: mm along the stack
    world = affine.copy()
    world[:3, 2] *= positions[1]
    array = np.rint(render(world, shape, noise_hu=20.0, seed=2)).astype(np.float32)
    grid = target_grid(shape, affine, (1.5, 1.5, 1.5), positions)
    assert_same_as_oracle(array, affine, grid, positions)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, target=spacings, oblique=st.booleans(), seed=st.integers(0, 2**31), data=st.data())
def test_stored_voxels_match_the_numpy_oracle_for_any_geometry(shape, target, oblique, seed, data):
    affine = data.draw(affines(oblique))
    array = np.random.default_rng(seed).integers(-3100, 3500, size=shape).astype(np.int16)
    assert_same_as_oracle(array, affine, target_grid(shape, affine, target))


def test_threads_and_byte_order_do_not_change_a_voxel():
    shape = (50, 40, 30)
    affine = affine_from((0.8, 0.8, 2.0), rotation_z(17) @ rotation_x(9), (0.0, 0.0, 20.0), shape)
    array = np.rint(render(affine, shape, noise_hu=20.0)).astype(np.int16)
    grid = target_grid(shape, affine, (1.5, 1.5, 1.5))
    one = resample(array, affine, grid, CLIP[0], floor=CLIP[0], clip=CLIP, threads=1)
    two = resample(array, affine, grid, CLIP[0], floor=CLIP[0], clip=CLIP, threads=2)
    swapped = resample(array.astype(">i2"), affine, grid, CLIP[0], floor=CLIP[0], clip=CLIP, threads=2)
    assert np.array_equal(one, two) and np.array_equal(one, swapped)


def test_oblique_resampling_matches_simpleitk():
    shape = (60, 50, 30)
    affine = affine_from((0.8, 0.8, 2.0), rotation_z(17) @ rotation_x(9), (0.0, 0.0, 20.0), shape)
    array = render(affine, shape, noise_hu=0.0)
    grid = target_grid(shape, affine, (1.5, 1.5, 1.5))
    ours = resample(array, affine, grid, fill=-1024.0)
    reference = sitk_resample(array, affine, grid, fill=-1024.0)
    difference = np.abs(ours - reference)
    assert np.mean(difference) < 0.5
    assert np.percentile(difference, 99.9) < 2.0


TILT = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, np.sin(np.deg2rad(15))], [0.0, 0.0, np.cos(np.deg2rad(15))]])


@pytest.mark.parametrize(
    "axes",
    [ORIENTATIONS["identity"], ORIENTATIONS["permuted_lps"], ORIENTATIONS["oblique"], TILT],
    ids=["identity", "permuted_lps", "oblique", "gantry_tilt"],
)
def test_stored_int16_voxels_match_simpleitk(axes):
    """The whole fast path (floor at air, trilinear, clip, int16) against ITK on the same mm lattice.

    SimpleITK: Maximum(floor) -> Resample linear -> clip -> round. Axis-aligned inputs take the
    neighbour-table loop, oblique and sheared (gantry-tilted) ones the per-voxel loop.
    """
    shape = (48, 40, 24)
    affine = affine_from((0.9, 0.7, 2.5), axes, (4.0, -6.0, 12.0), shape)
    array = np.rint(render(affine, shape, noise_hu=20.0, seed=7)).astype(np.int16)
    array[:, :5] = -3024  # below the floor: counts as air before interpolation
    grid = target_grid(shape, affine, (1.5, 1.5, 1.5))
    stored = resample(array, affine, grid, CLIP[0], floor=CLIP[0], clip=CLIP, threads=2)
    floored = np.maximum(array, np.int16(CLIP[0])).astype(np.float32)
    reference = np.rint(np.clip(sitk_resample(floored, affine, grid, fill=CLIP[0]), *CLIP))
    difference = np.abs(stored - reference)
    assert stored.shape == reference.shape and (reference > CLIP[0]).mean() > 0.3
    assert difference.max() <= 1  # rounding ties and float32 sums
    assert np.mean(difference > 0) < 0.001


def sitk_resample(array: np.ndarray, affine: np.ndarray, grid: Grid, fill: float) -> np.ndarray:
    """Independent reference: ITK linear interpolation onto the same RAS grid."""
    lps = LPS @ affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    image = sitk.GetImageFromArray(array.transpose(2, 1, 0).astype(np.float32))
    image.SetSpacing(spacing.tolist())
    image.SetDirection((lps[:3, :3] / spacing).ravel().tolist())
    image.SetOrigin(lps[:3, 3].tolist())
    out_lps = LPS @ grid.affine
    result = sitk.Resample(
        image,
        list(grid.shape),
        sitk.Transform(),
        sitk.sitkLinear,
        out_lps[:3, 3].tolist(),
        list(grid.spacing),
        (out_lps[:3, :3] / np.asarray(grid.spacing)).ravel().tolist(),
        fill,
        sitk.sitkFloat32,
    )
    return sitk.GetArrayFromImage(result).transpose(2, 1, 0)


@pytest.mark.parametrize("orientation", ["permuted_lps", "oblique"])
def test_resampling_as_planes_arrive_gives_the_same_voxels(orientation):
    """A decoder thread hands over z-planes a few at a time; slabs wait for the planes they need."""
    shape = (40, 30, 64)
    affine = affine_from((0.9, 1.3, 2.2), ORIENTATIONS[orientation], (5.0, -3.0, 10.0), shape)
    complete = np.asfortranarray(np.rint(render(affine, shape, noise_hu=20.0, seed=5)).astype(np.int16))
    grid = target_grid(shape, affine, (1.5, 1.5, 1.5))
    expected = resample(complete, affine, grid, CLIP[0], floor=CLIP[0], clip=CLIP, threads=2)
    arriving = np.zeros_like(complete)  # Fortran order, like a NIfTI being decoded

    def decode(arrival: Arrival) -> None:
        for plane in range(shape[2]):
            arriving[:, :, plane] = complete[:, :, plane]
            arrival.arrived(plane + 1)
            time.sleep(0.001)

    arrival = decode_in_background(shape[2], decode)
    stored = resample(arriving, affine, grid, CLIP[0], floor=CLIP[0], clip=CLIP, threads=2, arrival=arrival)
    assert np.array_equal(stored, expected)


def stored_as_is(values: np.ndarray, clip: tuple[float, float]) -> np.ndarray:
    """Values on an identity grid: only the clip and the rounding act."""
    column = np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)
    grid = Grid(column.shape, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    return resample(column, np.eye(4), grid, clip[0], clip=clip).reshape(-1)


@settings(deadline=None)  # the first example may compile the sampler
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=1, max_size=50),
    st.integers(-2000, 0),
    st.integers(1, 4000),
)
def test_stored_values_stay_within_the_clip(values, low, high):
    stored = stored_as_is(np.asarray(values), (low, high))
    assert stored.dtype == np.int16
    assert stored.min() >= low and stored.max() <= high


def test_rounding_is_to_nearest_and_ties_to_even():
    stored = stored_as_is(np.array([-0.6, -0.4, 0.4, 0.6, 40.49, 40.51, 0.5, 1.5, -2.5]), (-1024, 3071))
    assert stored.tolist() == [-1, 0, 0, 1, 40, 41, 0, 2, -2]
