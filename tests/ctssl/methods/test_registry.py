"""Every registered method holds together: options, CLI flags, sampler, smallest batch, torch side."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest
import torch

from ctssl.methods import METHODS, find_method
from ctssl.methods import voco as voco_package

ALL = list(METHODS.values())


def _every_options(method):
    return [
        options for name in method.recipe_names for options in (method.recipe(name).options, method.recipe(name).tiny)
    ]


@pytest.mark.parametrize("method", ALL, ids=lambda m: m.name)
def test_options_round_trip_through_plain_json(method):
    for options in _every_options(method):
        assert type(options) is type(method.paper)
        data = json.loads(json.dumps(options.to_dict()))
        assert method.options_from_dict(data) == options
    with pytest.raises(ValueError, match="bogus"):
        method.options_from_dict({"bogus": 1})


@pytest.mark.parametrize("method", ALL, ids=lambda m: m.name)
def test_every_flag_sets_an_option(method):
    names = {field.name for field in fields(method.paper)}
    for option in method.cli_options:
        destination = option(lambda: None).__click_params__[0].name
        assert destination in names, f"{method.name}: flag for {destination!r}, which its options lack"


@pytest.mark.parametrize("method", ALL, ids=lambda m: m.name)
def test_samplers_follow_the_options_and_tiny_trains_with_the_demo_batch(method):
    for options in _every_options(method):
        params = method.sampler(options).make_params(np.random.default_rng(0), (300, 300, 200), None)
        assert len(params.crops) == len(params.out_sizes) > 0
    assert all(1 <= method.min_batch_size(method.recipe(name).tiny) <= 2 for name in method.recipe_names)


@pytest.mark.parametrize("method", ALL, ids=lambda m: m.name)
def test_the_torch_side_builds_the_tiny_model_and_exports_it(method):
    training = method.training()
    tiny = method.recipe().tiny
    model = training.build(tiny)
    assert isinstance(model, torch.nn.Module)
    weights, target = training.export(model, tiny)
    assert weights and all(isinstance(value, torch.Tensor) for value in weights.values())
    assert target["class"].startswith("monai.networks.nets.")


def test_each_default_lives_in_one_place():
    sampler = voco_package.METHOD.sampler(voco_package.defaults.PAPER)
    assert sampler.grid == (4, 4) and sampler.region_size == (256, 256, 64)  # the paper's, from its options
    large = voco_package.METHOD.sampler(voco_package.METHOD.recipe().options)
    assert large.grid == (3, 3) and large.region_size == (192, 192, 64)  # the default: the large-scale release's


@pytest.mark.parametrize("method", ALL, ids=lambda m: m.name)
def test_every_recipe_is_reachable_and_an_unknown_one_names_the_known_ones(method):
    assert method.recipe().name == method.default_recipe and "paper" in method.recipe_names
    assert method.recipe("paper").options == method.paper and method.recipe("paper").optimisation == method.optimisation
    with pytest.raises(ValueError, match="expected one of paper"):
        method.recipe("bogus")


def test_an_unknown_method_names_the_known_ones():
    with pytest.raises(ValueError, match="expected one of voco, pcrlv2"):
        find_method("simclr")
