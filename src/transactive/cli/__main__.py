from __future__ import annotations

from transactive.cli import main

raise SystemExit(main())
