"""The ``sim2real`` command line: thin shims that parse, call the library and print."""
