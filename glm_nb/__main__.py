"""`python -m glm_nb ...` is the `glm-nb` command."""

from .cli import main

raise SystemExit(main())
