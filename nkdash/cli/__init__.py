"""The ``nkdash`` command line: one module per group of commands, each a thin caller of the library."""
