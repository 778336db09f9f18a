"""The optimizers the book compares: one table, read by the widgets and by chapter 3.3.

Code names an optimizer by its id (``"sgd"``, ``"momentum"``, ``"adam"`` …): the keys of
``OPTIMIZERS``, ``OptimizerRace(racers=[...])``, ``GradientFlowDashboard(optimizer=...)``.
The Chinese ``label`` is only what the reader sees (check boxes, drop-downs, legends, printed
tables), so changing a label changes no key.
"""

from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import optim

MOMENTUM = 0.9  # μ of the momentum methods unless a control or a caller sets another


@dataclass(frozen=True)
class OptimizerEntry:
    """One row of ``OPTIMIZERS``.

    ``make(params, lr, momentum=MOMENTUM)`` builds the optimizer (``momentum`` is ignored by
    the methods without one); ``velocity_key`` is the state entry that plays the part of a
    velocity (drawn, negated, as the race's dashed arrow), or ``None``.
    """

    label: str
    make: Callable = field(repr=False)
    velocity_key: Optional[str] = None


def _sgd(params, lr, momentum=MOMENTUM):
    return optim.SGD(params, lr=lr)


def _momentum(params, lr, momentum=MOMENTUM):
    return optim.SGD(params, lr=lr, momentum=momentum)


def _nesterov(params, lr, momentum=MOMENTUM):
    return optim.SGD(params, lr=lr, momentum=momentum, nesterov=True)


def _adagrad(params, lr, momentum=MOMENTUM):
    return optim.Adagrad(params, lr=lr)


def _rmsprop(params, lr, momentum=MOMENTUM):
    return optim.RMSprop(params, lr=lr)


def _adam(params, lr, momentum=MOMENTUM):
    return optim.Adam(params, lr=lr)


OPTIMIZERS = {
    "sgd": OptimizerEntry("SGD", _sgd),
    "momentum": OptimizerEntry("动量", _momentum, velocity_key="momentum_buffer"),
    "nesterov": OptimizerEntry("Nesterov", _nesterov, velocity_key="momentum_buffer"),
    "adagrad": OptimizerEntry("AdaGrad", _adagrad),
    "rmsprop": OptimizerEntry("RMSProp", _rmsprop),
    "adam": OptimizerEntry("Adam", _adam, velocity_key="exp_avg"),
}


def check_ids(ids):
    """Refuse ids that are not keys of ``OPTIMIZERS`` (a label is not an id)."""
    unknown = [i for i in ids if i not in OPTIMIZERS]
    if unknown:
        raise ValueError(f"unknown optimizers {unknown}; expected ids from {list(OPTIMIZERS)}")
