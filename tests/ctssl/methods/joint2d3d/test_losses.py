"""Joint 2D/3D losses against values computed by hand on tiny inputs."""

from __future__ import annotations

import math

import pytest
import torch

from ctssl.methods.joint2d3d.deepcluster import EmbeddingBank, recluster, spherical_kmeans
from ctssl.methods.joint2d3d.losses import (
    deepcluster_loss,
    masked_embedding_loss,
    sinkhorn,
    soft_cross_entropy,
    swav_loss,
)

E = math.e


def _double(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_sinkhorn_one_iteration_by_hand():
    codes = sinkhorn(_double([[2, 0], [1, 0]]), epsilon=1.0, iterations=1)
    expected = [[2 * E / (3 * E + 1), (E + 1) / (3 * E + 1)], [2 / (E + 3), (E + 1) / (E + 3)]]
    torch.testing.assert_close(codes, _double(expected), atol=1e-12, rtol=0)  # 0.593845 0.406155 ...
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(2, dtype=torch.float64))


def test_sinkhorn_converges_to_equal_prototype_totals():
    three = sinkhorn(_double([[2, 0], [1, 0]]), epsilon=1.0, iterations=3)
    torch.testing.assert_close(three, _double([[0.622358, 0.377642], [0.377439, 0.622561]]), atol=1e-6, rtol=0)
    codes = sinkhorn(_double([[2, 0], [1, 0]]), epsilon=1.0, iterations=2000)
    a = 1 / (1 + math.exp(-0.5))  # the cross-ratio of exp(scores) is e, so (a / (1 - a))^2 = e
    torch.testing.assert_close(codes, _double([[a, 1 - a], [1 - a, a]]), atol=1e-9, rtol=0)
    torch.testing.assert_close(codes.sum(dim=0), torch.ones(2, dtype=torch.float64), atol=1e-9, rtol=0)  # B/K = 1


def test_sinkhorn_splits_samples_that_prefer_one_prototype():
    codes = sinkhorn(_double([[1, 0], [1, 0]]), epsilon=1.0, iterations=1)
    torch.testing.assert_close(codes, torch.full((2, 2), 0.5, dtype=torch.float64))
    scores = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    for iterations in (1, 3, 200):
        torch.testing.assert_close(sinkhorn(scores, 0.5, iterations).sum(dim=1), torch.ones(6))
    torch.testing.assert_close(sinkhorn(scores, 0.5, 200).sum(dim=0), torch.full((3,), 2.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(sinkhorn(scores + 7.0, 0.05, 3), sinkhorn(scores, 0.05, 3))  # a shift changes nothing


def test_the_swav_term_and_its_gradient_by_hand():
    scores = torch.tensor([[0.1, 0.0]], requires_grad=True)
    loss = soft_cross_entropy(scores, torch.tensor([[0.5, 0.5]]), temperature=0.1)
    assert float(loss.detach()) == pytest.approx(math.log(1 + E) - 0.5, abs=1e-6)  # 0.813262
    loss.backward()
    torch.testing.assert_close(scores.grad, torch.tensor([[2.310586, -2.310586]]), atol=1e-5, rtol=0)


def test_codes_carry_no_gradient():
    generator = torch.Generator().manual_seed(1)
    scores_s = torch.randn(4, 5, generator=generator).requires_grad_(True)
    scores_t = torch.randn(4, 5, generator=generator).requires_grad_(True)
    swav_loss(scores_s, scores_t, temperature=0.1, epsilon=0.05, iterations=3).backward()
    codes_t = sinkhorn(scores_t.detach(), 0.05, 3)
    # only l(z_s, q_t) reaches scores_s, through its softmax: (softmax(S_s / tau) - q_t) / (tau N), halved
    expected = 0.5 * (torch.softmax(scores_s.detach() / 0.1, dim=1) - codes_t) / (0.1 * 4)
    torch.testing.assert_close(scores_s.grad, expected)


def test_deepcluster_swapped_cross_entropy_by_hand():
    centroids = torch.eye(2)
    z_s, z_t = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    loss = deepcluster_loss(z_s @ centroids.T, z_t @ centroids.T, temperature=1.0)
    assert float(loss) == pytest.approx(math.log(1 + E), abs=1e-6)  # 1.313262: each view predicts the other's cluster


def test_spherical_kmeans_finds_two_tight_clusters():
    generator = torch.Generator().manual_seed(0)
    near_x = torch.tensor([1.0, 0.0]) + 0.01 * torch.randn(10, 2, generator=generator)
    near_y = torch.tensor([0.0, 1.0]) + 0.01 * torch.randn(10, 2, generator=generator)
    points = torch.nn.functional.normalize(torch.cat([near_x, near_y]), dim=1)
    centroids = spherical_kmeans(points, 2, iterations=10, generator=torch.Generator().manual_seed(3))
    means = torch.nn.functional.normalize(torch.stack([points[:10].mean(0), points[10:].mean(0)]), dim=1)
    order = centroids[:, 0].argsort(descending=True)
    torch.testing.assert_close(centroids[order], means, atol=1e-6, rtol=0)


def test_the_bank_keeps_the_newest_rows_in_order_and_clusters_once_it_holds_enough():
    bank = EmbeddingBank(size=4, dim=1)
    bank.push(torch.tensor([[0.0], [1.0], [2.0]]))
    torch.testing.assert_close(bank.held()[:, 0], torch.tensor([0.0, 1.0, 2.0]))
    bank.push(torch.tensor([[3.0], [4.0]]))
    torch.testing.assert_close(bank.held()[:, 0], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    heads = torch.nn.ModuleList([torch.nn.Linear(1, 5, bias=False)])
    assert not recluster(bank, heads, step=0) and int(bank.clusterings) == 0  # 4 rows for 5 clusters
    heads = torch.nn.ModuleList([torch.nn.Linear(1, 2, bias=False)])
    assert recluster(bank, heads, step=0) and int(bank.clusterings) == 1


def test_the_masked_loss_scores_masked_slices_only():
    targets = torch.tensor([[[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [0.0, 0.0]]], requires_grad=True)
    predictions = torch.tensor([[[100.0, 100.0], [0.0, 0.0], [-50.0, 7.0], [6.0, 8.0]]], requires_grad=True)
    mask = torch.tensor([[False, True, False, True]])
    loss = masked_embedding_loss(targets, predictions, mask)
    assert float(loss.detach()) == pytest.approx((5 + 10) / 2)  # |(3, 4)| and |(6, 8)|, unsquared, averaged
    loss.backward()
    assert predictions.grad is not None and torch.all(predictions.grad[0, [0, 2]] == 0)
    assert torch.all(predictions.grad[0, [1, 3]] != 0)
    assert targets.grad is None  # the input embeddings are a target, not trained by this loss
    changed = predictions.detach().clone()
    changed[0, [0, 2]] = 1e6
    assert float(masked_embedding_loss(targets, changed, mask)) == pytest.approx(7.5)


def test_the_masked_loss_averages_per_volume_then_over_volumes():
    targets = torch.zeros(2, 3, 1)
    predictions = torch.tensor([[[1.0], [2.0], [9.0]], [[4.0], [0.0], [0.0]]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert float(masked_embedding_loss(targets, predictions, mask)) == pytest.approx((1.5 + 4.0) / 2)
