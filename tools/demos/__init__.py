"""The end-to-end demos run by ``python tools/demo.py NAME`` (a package so they share :mod:`.common`)."""
