"""``python -m pseudolabel``: the same as the ``pseudolabel`` console script."""

from pseudolabel.cli import main

raise SystemExit(main())
