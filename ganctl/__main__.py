"""`python -m ganctl` runs the command-line interface."""

from ganctl.cli.app import main

if __name__ == "__main__":
    main()
