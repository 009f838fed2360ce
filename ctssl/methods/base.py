"""What a pre-training method is to the CLI, the demo and the training loop.

A method is one package, ctssl/methods/<name>/, whose ``METHOD`` (a
:class:`Method`, importable without torch) carries its options with the
paper's values and a CPU-sized variant, its optimisation defaults, other
recipes (a released code's options and optimisation, say) and which one a run
takes by default, its command-line flags and its crop sampler; ``training()``
loads the torch side (:class:`Training`: model, views and augmentation,
export, per-step hooks). ctssl.methods.METHODS lists the methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import click

from corpus.spec import known_fields
from ctssl.samplers.base import Sampler

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class MethodOptions:
    """Base of each method's architecture and crop options: frozen, and a plain dict in checkpoints."""

    def to_dict(self) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        values = known_fields(cls, data)
        return cls(**{name: tuple(value) if isinstance(value, list) else value for name, value in values.items()})


@dataclass(frozen=True)
class Optimisation:
    """Optimisation defaults from a paper's implementation details; each is a `corpus pretrain` option."""

    optimizer: str  # adamw | sgd | larc
    lr: float  # peak learning rate
    weight_decay: float
    warmup_steps: int  # linear warmup before the cosine decay
    batch_size: int  # per process
    grad_clip: float  # max gradient norm, 0 = off


Options = TypeVar("Options", bound=MethodOptions)
PAPER_RECIPE = "paper"


@dataclass(frozen=True)
class Recipe(Generic[Options]):
    """One way to train a method: its options, their CPU-sized variant, its optimisation, and what they follow."""

    name: str
    follows: str  # where the values come from, for --help (the README cites the files)
    options: Options
    tiny: Options
    optimisation: Optimisation


CliOption = Callable[[Any], Any]  # a click.option decorator whose destination is a field of the options


@dataclass(frozen=True)
class Training(Generic[Options]):
    """The torch side of a method: loaded to train or to export, never for the CLI's help."""

    build: Callable[[Options], nn.Module]
    # (loader batch, options, device, this rank's generator, a generator every rank shares) -> the model's arguments
    inputs: Callable[[dict[str, Any], Options, torch.device, torch.Generator, torch.Generator], dict[str, Any]]
    # (model, options) -> (encoder weights under the fine-tuning model's keys, what loads them: encoder.json's target)
    export: Callable[[nn.Module, Options], tuple[dict[str, torch.Tensor], dict[str, Any]]]
    find_unused_parameters: bool = False  # DDP: a step leaves some parameters without a gradient
    # (model, options) -> further artifacts beside encoder.pt: name -> (weights, target), written as <name>.pt/.json
    exports: Callable[[nn.Module, Options], dict[str, tuple[dict[str, torch.Tensor], dict[str, Any]]]] | None = None
    # (model, step, steps) -> extra keyword arguments of this step's forward (a training stage, a loss weight that
    # fades); runs before it, so no-grad updates of the model that every process makes alike go here too (an EMA
    # teacher, re-normalising, re-clustering)
    before_forward: Callable[[nn.Module, int, int], dict[str, Any]] | None = None
    # (model, step, steps) after backward, before clipping and the optimizer step (dropping some gradients, say)
    after_backward: Callable[[nn.Module, int, int], None] | None = None
    # (options, step, steps, warmup steps) -> multiplier of --lr; None: warmup, then cosine over the whole run
    lr_factor: Callable[[Options, int, int, int], float] | None = None
    # options -> the extra forward arguments of the method's most memory-hungry step (the memory check runs that
    # step's forward on the meta device); None: the forward takes only what ``inputs`` gives
    peak_step: Callable[[Options], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Method(Generic[Options]):
    name: str
    summary: str  # one line for `corpus pretrain --help`
    paper: Options  # the paper's architecture and crops
    tiny: Options  # small enough for a CPU (the demo, smoke tests); not for pre-training
    optimisation: Optimisation
    cli_options: tuple[CliOption, ...]
    sampler: Callable[[Options], Sampler]
    min_batch_size: Callable[[Options], int]  # per process: the fewest samples its batch norms can work with
    training: Callable[[], Training[Options]]
    recipes: tuple[Recipe[Options], ...] = ()  # ways to train it besides the paper's (a released code's), --recipe
    default_recipe: str = PAPER_RECIPE  # what a run takes when --recipe is not given

    def options_from_dict(self, data: dict[str, Any]) -> Options:
        return type(self.paper).from_dict(data)

    def recipe(self, name: str | None = None) -> Recipe[Options]:
        """The recipe called ``name`` (None: the default); "paper" is the paper's options and optimisation."""
        chosen = name or self.default_recipe
        every = {recipe.name: recipe for recipe in self._recipes()}
        if chosen not in every:
            raise ValueError(f"{self.name} has no recipe {chosen!r}: expected one of {', '.join(every)}")
        return every[chosen]

    @property
    def recipe_names(self) -> tuple[str, ...]:
        return tuple(recipe.name for recipe in self._recipes())

    def _recipes(self) -> tuple[Recipe[Options], ...]:
        paper = Recipe(PAPER_RECIPE, "the paper", self.paper, self.tiny, self.optimisation)
        return (paper, *self.recipes)


def training_in(module: str) -> Callable[[], Training[Any]]:
    """Loads ``module``'s ``TRAINING`` when called: the torch side stays unimported until a run needs it."""
    return lambda: import_module(module).TRAINING


class IntTuple(click.ParamType):
    """A fixed count of positive whole numbers: ``3x3`` or ``32,64,128,256,512``."""

    name = "ints"

    def __init__(self, separator: str, count: int) -> None:
        self.separator, self.count = separator, count

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        parts = str(value).lower().split(self.separator)
        if len(parts) != self.count or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
            self.fail(
                f"expected {self.count} positive whole numbers separated by {self.separator!r}, got {value!r}",
                param,
                ctx,
            )
        return tuple(int(part) for part in parts)
