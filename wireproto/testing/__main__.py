"""``python -m wireproto.testing TARGET ...``: the same as ``wireproto fuzz``."""

from wireproto.testing._cli import main

raise SystemExit(main())
