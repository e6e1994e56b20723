"""``python -m wireproto``: the command line."""

from wireproto.cli import main

raise SystemExit(main())
