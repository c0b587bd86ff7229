"""The simulated board: a first-class driver whose lines lead to simulated far ends.

- :mod:`~hotline.drivers.sim.board`: :class:`SimBoard` (the :class:`~hotline.drivers.base.Board`),
  its in-process far ends (:class:`FarEndHandle`) and its Unix-socket server;
- :mod:`~hotline.drivers.sim.protocol`: the JSON-lines protocol between the board and far ends;
- :mod:`~hotline.drivers.sim.farend`: asyncio clients over the socket (:class:`SimCaller`,
  :class:`SimPhone`, :class:`SimAnswerer`) with a transcript recorder;
- :mod:`~hotline.drivers.sim.script`: key scripts and ``hotlinectl test-call`` (:func:`run_test_call`);
- :mod:`~hotline.drivers.sim.phone`: an interactive caller or station phone in a terminal (:func:`run_phone`).
"""

from hotline.drivers.sim.board import FarEndError, FarEndHandle, SimBoard

__all__ = ["FarEndError", "FarEndHandle", "SimBoard"]
