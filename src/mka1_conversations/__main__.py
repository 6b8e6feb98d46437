"""``python -m mka1_conversations`` is the CLI."""

from .cli import main

raise SystemExit(main())
