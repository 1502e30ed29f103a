"""The ``carebridge`` command."""
