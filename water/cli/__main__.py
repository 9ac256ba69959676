"""``python -m water.cli``: the ``water`` command."""

from water.cli import main

if __name__ == "__main__":
    main()
