"""``python3 -m gameday_chaos``: run the extension (what the layer's launcher does)."""

from __future__ import annotations

import sys

from .extension import main

sys.exit(main())
