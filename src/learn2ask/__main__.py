"""``python -m learn2ask`` is the same as the ``learn2ask`` console script."""

from learn2ask.cli import main

raise SystemExit(main())
