"""Jinja2 templates of the products (a package so that setuptools installs the ``*.j2`` files)."""
