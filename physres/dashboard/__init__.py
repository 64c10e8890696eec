"""``physres dashboard``: a live web page over the bus, a recording player, a Foxglove bridge.

Panels are chosen from each stream's own description (:mod:`.panels`), fed and
downsampled on the server (:mod:`.reduce`, :mod:`.board`), served by Starlette
and uvicorn (:mod:`.app`); controls (e-stop, prompt, runs) are bus commands
(:mod:`.controls`); :mod:`.live` feeds the board from the bus, :mod:`.player`
from a recording; :mod:`.foxglove_bridge` speaks Foxglove's schemas for the
export and the live server. Import from those modules: every ``physres``
command loads this package's CLI entry points, and none should pay for
Starlette, uvicorn or OpenCV unless it serves a page.
"""

__all__: list[str] = []
