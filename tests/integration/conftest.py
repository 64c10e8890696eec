"""Integration fixtures: the motor-board firmware behind a pseudo-terminal.

Every firmware test runs twice: on the real ATmega328P ELF in simavr and on
the host build of the same C logic. Where the AVR toolchain or simavr is
missing the simavr variant is skipped *with the reason in the report* (``-ra``)
and the host variant still runs, so the fallback is never silent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from physres.drivers.bucket.firmware import BucketFirmware, simavr_missing


@pytest.fixture(params=["simavr", "host"])
def firmware(request: pytest.FixtureRequest) -> Iterator[BucketFirmware]:
    if request.param == "simavr" and (why := simavr_missing()):
        pytest.skip(f"simavr variant skipped ({why}); the host build of the firmware runs instead")
    with BucketFirmware(request.param) as fw:
        yield fw
