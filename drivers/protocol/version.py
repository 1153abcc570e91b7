"""Which versions of the ITB link protocol this side speaks.

Separate because the error types, the framing and the message catalogue all need these two
numbers and none of them should import another just to read them.
"""

from __future__ import annotations

#: Version 2 appends ``event_total`` and ``serial`` to STATUS (docs/protocol.md, "Versions");
#: every other payload is as in version 1, which the console still speaks to older pumps.
PROTOCOL_VERSION = 2
SUPPORTED_VERSIONS = frozenset({1, 2})
