"""``python -m service`` runs the ``cra`` command line."""

from service.cli import main

main()
