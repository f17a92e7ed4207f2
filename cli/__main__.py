"""``python -m cli``: the ``socialdesk`` command without the installed script."""
from __future__ import annotations

from cli.main import main

raise SystemExit(main())
