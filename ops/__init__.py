"""The operations library behind ``noxfile.py`` and ``tasks.py``."""
