"""One error type for an unknown name, wherever names are looked up."""

from __future__ import annotations

import pickle

import pytest

from dso.errors import UnknownNameError


def test_message_type_and_pickling() -> None:
    err = UnknownNameError("generator", "x", ["dso-tiny", "trellis"])
    assert str(err) == "unknown generator 'x'; known: dso-tiny, trellis"
    assert isinstance(err, ValueError) and isinstance(err, KeyError)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.known == ("dso-tiny", "trellis")


def test_every_lookup_raises_it() -> None:
    from dso.data.sampling import BatchSource
    from dso.models import get_generator
    from dso.physics import OracleConfig
    from dso.world.families import get_family

    cases = [(lambda: get_generator("nope"), "generator 'nope'; known: dso-tiny"),
             (lambda: get_family("nope"), "family 'nope'; known: "),
             (lambda: OracleConfig.from_preset("nope"), "preset 'nope'; known: accurate, dso"),
             (lambda: BatchSource(None, "nope", 4, seed=0),
              "objective 'nope'; known: dpo, dro, sft")]
    for call, message in cases:
        with pytest.raises(UnknownNameError, match=message):
            call()
