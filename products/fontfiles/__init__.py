"""Font files shipped with airwarn (a package so that setuptools installs its ``*.otf``/``*.txt``).

``NotoSansCJKsc-Regular.otf``: Noto Sans CJK SC Regular, version 1.004, © 2014, 2015 Adobe Systems
Incorporated, SIL Open Font License 1.1 (``OFL.txt``); taken unmodified from the ``mplfonts`` 0.0.11
wheel on PyPI, which redistributes Google's noto-cjk release. Covers GB 2312 / GB 18030 Hanzi and
Latin, so every label, unit name and bulletin text renders without boxes.
"""
