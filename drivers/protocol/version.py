"""Which versions of the ITB link protocol this side speaks.

Separate because the error types, the framing and the message catalogue all need these two
numbers and none of them should import another just to read them.
"""

from __future__ import annotations

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
