"""``python -m wireproto``: the command line."""

from wireproto._cli import main

raise SystemExit(main())
